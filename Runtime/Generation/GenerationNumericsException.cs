using System;
using System.Globalization;

namespace Sd3Tex.Generation
{
    /// <summary>When in a generation a value stopped being finite.</summary>
    public enum NumericsStage { Encoding, Step, Decoding }

    /// <summary>
    /// A component produced NaN or ±Inf values, so the generation stopped instead of writing a black (or garbage) image.
    /// The message names the stage (encoding, step i of n, decoding), the component and the likely remedy: an F16
    /// overflow (use BF16 or F32 weights, or the CPU device) or a damaged checkpoint (<c>sd3tex inspect --values</c>
    /// finds the tensors that hold NaN / Inf; download the file again).
    /// </summary>
    public sealed class GenerationNumericsException : Exception
    {
        public NumericsStage Stage { get; }
        /// <summary>The sampler step (1-based) for <see cref="NumericsStage.Step"/>, else 0.</summary>
        public int Step { get; }
        public int Steps { get; }
        /// <summary>"CLIP-L", "CLIP-G", "T5-XXL", "transformer" or "decoder".</summary>
        public string Component { get; }
        /// <summary>Non-finite values in the component's output, and the output's size.</summary>
        public long Count { get; }
        public long Total { get; }

        public GenerationNumericsException(NumericsStage stage, int step, int steps, string component, long count, long total, string remedy, Exception inner = null)
            : base(Describe(stage, step, steps, component, count, total) + " " + remedy, inner)
        {
            Stage = stage; Step = step; Steps = steps; Component = component; Count = count; Total = total;
        }

        /// <summary>"encoding", "step 3 of 8" or "decoding".</summary>
        public static string StageName(NumericsStage stage, int step, int steps) =>
            stage == NumericsStage.Encoding ? "encoding" : stage == NumericsStage.Decoding ? "decoding"
            : string.Format(CultureInfo.InvariantCulture, "step {0} of {1}", step, steps);

        static string Describe(NumericsStage stage, int step, int steps, string component, long count, long total) =>
            string.Format(CultureInfo.InvariantCulture, "numerical failure at {0}: the {1} produced {2} NaN or infinite value(s) of {3}, so the image would be black; nothing was written.",
                          StageName(stage, step, steps), component, count, total);

        /// <summary>What to try, most likely first: with F16 weights an overflow is the usual cause.</summary>
        public static string Remedy(bool f16Weights, bool onCpu)
        {
            string overflow = "an F16 overflow: use BF16 or F32 weights of the model" + (onCpu ? "" : ", or run on the CPU device (--device cpu, Device = \"cpu\")");
            const string corrupt = "a damaged checkpoint: run `sd3tex inspect --values <weights>`, which lists the tensors holding NaN or Inf, and download the file again";
            return f16Weights ? $"Likely causes: {overflow}; or {corrupt}." : $"Likely causes: {corrupt}; or {overflow}.";
        }
    }
}
