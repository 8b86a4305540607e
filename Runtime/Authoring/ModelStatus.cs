using System;
using Sd3Tex.Generation;
using Sd3Tex.Models;
using Sd3Tex.Vae;

namespace Sd3Tex.Authoring
{
    /// <summary>The window's status line: the model family, the device and the memory the model takes.</summary>
    public static class ModelStatus
    {
        public const string NotLoaded = "No model loaded. Set the model files and press Load, or just Generate (the first run loads it).";

        public static string Describe(TextureGenerator generator)
        {
            if (generator == null) return NotLoaded;
            return Format(generator.Family, generator.HasT5, generator.DeviceDescription,
                          generator.EncoderBytes + generator.TransformerBytes + generator.DecoderBytes, generator.MemoryBudget, generator.Resident);
        }

        /// <summary>"SD3.5 Medium · Cuda NVIDIA H100 (...) · model 9.80 GiB of a 70.00 GiB budget, kept loaded".</summary>
        public static string Format(ModelFamily family, bool hasT5, string device, long modelBytes, long budgetBytes, bool resident)
        {
            if (modelBytes < 0 || budgetBytes < 0) throw new ArgumentOutOfRangeException(nameof(modelBytes), "memory sizes cannot be negative.");
            string name = family == ModelFamily.Unknown ? "Unknown SD3-like model" : ModelFamilies.DisplayName(family);
            return $"{name}{(hasT5 ? "" : " (no T5-XXL)")} · {device} · model {VaeMemoryPlanner.Format(modelBytes)} of a {VaeMemoryPlanner.Format(budgetBytes)} budget, " +
                   (resident ? "kept loaded between runs" : "loaded one part at a time");
        }
    }
}
