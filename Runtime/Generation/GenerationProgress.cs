using System;

namespace Sd3Tex.Generation
{
    /// <summary>The stages of a generation, in order.</summary>
    public enum GenerationStage
    {
        /// <summary>Reading weights and moving them to the device.</summary>
        Loading,
        /// <summary>Compiling the kernels for the device (once per process and device).</summary>
        CompilingKernels,
        /// <summary>Tokenizing and running the text encoders (and the VAE encoder on an init image).</summary>
        Encoding,
        /// <summary>Sampler steps through the transformer (<see cref="GenerationProgress.Step"/> of <see cref="GenerationProgress.Steps"/>).</summary>
        Sampling,
        /// <summary>The VAE decoder.</summary>
        Decoding,
        /// <summary>Everything is done.</summary>
        Done,
    }

    /// <summary>One progress report of a generation.</summary>
    public readonly struct GenerationProgress
    {
        public GenerationStage Stage { get; }
        /// <summary>The image of the batch being worked on (0-based) and the batch size.</summary>
        public int Image { get; }
        public int Images { get; }
        /// <summary>Sampler steps done for the current image, and per image (0 outside sampling).</summary>
        public int Step { get; }
        public int Steps { get; }
        /// <summary>Fraction of the whole request done, 0 to 1.</summary>
        public double Fraction { get; }
        /// <summary>Estimated time left; null until there is a measurement to base it on.</summary>
        public TimeSpan? Eta { get; }
        /// <summary>Time since the request started.</summary>
        public TimeSpan Elapsed { get; }

        public GenerationProgress(GenerationStage stage, int image, int images, int step, int steps, double fraction, TimeSpan? eta, TimeSpan elapsed)
        {
            Stage = stage; Image = image; Images = images; Step = step; Steps = steps;
            Fraction = Math.Max(0, Math.Min(1, fraction)); Eta = eta; Elapsed = elapsed;
        }

        /// <summary>A short description, e.g. "image 1/2 · step 3/28" or "compiling kernels".</summary>
        public string Describe()
        {
            string what;
            switch (Stage)
            {
                case GenerationStage.Loading: what = "loading weights"; break;
                case GenerationStage.CompilingKernels: what = "compiling kernels"; break;
                case GenerationStage.Encoding: what = "encoding the prompt"; break;
                case GenerationStage.Sampling: what = $"step {Step}/{Steps}"; break;
                case GenerationStage.Decoding: what = "decoding"; break;
                default: what = "done"; break;
            }
            if (Images > 1 && Stage != GenerationStage.Loading && Stage != GenerationStage.CompilingKernels && Stage != GenerationStage.Done)
                what = $"image {Image + 1}/{Images} · {what}";
            return what;
        }

        public override string ToString() =>
            $"{Describe()} {Fraction * 100:0}%" + (Eta.HasValue ? $" ETA {FormatSpan(Eta.Value)}" : "");

        /// <summary>"42 s", "3 min 05 s" or "1 h 02 min".</summary>
        public static string FormatSpan(TimeSpan t)
        {
            if (t.TotalSeconds < 60) return $"{t.TotalSeconds:0} s";
            if (t.TotalMinutes < 60) return $"{(int)t.TotalMinutes} min {t.Seconds:00} s";
            return $"{(int)t.TotalHours} h {t.Minutes:00} min";
        }
    }
}
