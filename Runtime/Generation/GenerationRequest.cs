using System;
using System.Collections.Generic;
using System.Globalization;
using Sd3Tex.Models;
using Sd3Tex.Sampling;
using Sd3Tex.Vae;

namespace Sd3Tex.Generation
{
    /// <summary>
    /// What to generate. Sampling fields left null take the model family's preset (<see cref="GenerationPresets"/>).
    /// Image i of a batch uses seed <see cref="Seed"/> + i, so any image of a batch can be regenerated alone.
    /// </summary>
    public sealed class GenerationRequest
    {
        public string Prompt { get; set; } = "";
        public string NegativePrompt { get; set; } = "";
        public long Seed { get; set; }
        /// <summary>Images to generate (seed + i each).</summary>
        public int Count { get; set; } = 1;
        /// <summary>Image size in pixels: multiples of 16 (8 for the VAE times the MMDiT's patch size 2).</summary>
        public int Width { get; set; } = 1024;
        public int Height { get; set; } = 1024;
        public int? Steps { get; set; }
        public float? Cfg { get; set; }
        public float? Shift { get; set; }
        public SamplerKind? Sampler { get; set; }
        /// <summary>Encode with T5-XXL when the weights have it (off: its context rows are zeros).</summary>
        public bool UseT5 { get; set; } = true;
        /// <summary>Axes along which the texture wraps (the decoder pads circularly; the sampler rolls the latent).</summary>
        public SeamlessAxes Seamless { get; set; }
        /// <summary>Optional initial noise [Count, 16, Height/8, Width/8]; it takes the place of the seed, to match
        /// another implementation's run exactly.</summary>
        public float[] InitialNoise { get; set; }
        /// <summary>Keep tokens, conditioning and every step's latent in the result (for checking against references).</summary>
        public bool CaptureIntermediates { get; set; }

        /// <summary>Latent channels of every SD3 model.</summary>
        public const int LatentChannels = 16;
        /// <summary>Pixels per latent cell (the VAE's scale).</summary>
        public const int VaeScale = 8;
        /// <summary>Sizes must be multiples of this (the VAE's 8 × the MMDiT's patch 2).</summary>
        public const int SizeMultiple = 16;
        /// <summary>The largest side accepted before the position table is checked (guards against typos).</summary>
        public const int MaxSide = 8192;

        public GenerationRequest Clone()
        {
            var r = (GenerationRequest)MemberwiseClone();
            if (InitialNoise != null) r.InitialNoise = (float[])InitialNoise.Clone();
            return r;
        }

        /// <summary>The request's problems that need no model: each a sentence saying what to change.</summary>
        public List<string> Problems()
        {
            var p = new List<string>();
            if (Prompt == null) p.Add("the prompt is missing (null); pass \"\" for an empty prompt.");
            if (Count < 1) p.Add($"count is {Count}; it must be at least 1.");
            foreach (var (name, v) in new[] { ("width", Width), ("height", Height) })
            {
                if (v < SizeMultiple) p.Add($"{name} is {v}; it must be at least {SizeMultiple}.");
                else if (v % SizeMultiple != 0)
                    p.Add($"{name} {v} is not a multiple of {SizeMultiple}; use {RoundSize(v)}.");
                else if (v > MaxSide) p.Add($"{name} {v} is larger than {MaxSide}.");
            }
            if (Steps.HasValue && Steps.Value < 1) p.Add($"steps is {Steps.Value}; it must be at least 1.");
            if (Cfg.HasValue && (float.IsNaN(Cfg.Value) || float.IsInfinity(Cfg.Value) || Cfg.Value < 0)) p.Add($"cfg {Cfg.Value} must be a finite number ≥ 0.");
            if (Shift.HasValue && !(Shift.Value > 0 && !float.IsInfinity(Shift.Value))) p.Add($"shift {Shift.Value} must be a positive number.");
            if (InitialNoise != null)
            {
                long expected = (long)Count * LatentChannels * (Height / VaeScale) * (Width / VaeScale);
                if (InitialNoise.Length != expected)
                    p.Add($"the initial noise holds {InitialNoise.Length} values; [{Count}, {LatentChannels}, {Height / VaeScale}, {Width / VaeScale}] = {expected} are needed.");
            }
            return p;
        }

        /// <summary>The nearest valid size (a multiple of 16, at least 16).</summary>
        public static int RoundSize(int v) => Math.Max(SizeMultiple, (int)Math.Round(v / (double)SizeMultiple, MidpointRounding.AwayFromZero) * SizeMultiple);

        /// <summary>The request with every preset field filled in from <paramref name="preset"/>.</summary>
        public ResolvedRequest Resolve(GenerationPreset preset)
        {
            if (preset == null) throw new ArgumentNullException(nameof(preset));
            return new ResolvedRequest(this, Steps ?? preset.Steps, Cfg ?? preset.Cfg, Shift ?? preset.Shift, Sampler ?? preset.Sampler);
        }

        public override string ToString() =>
            $"\"{Prompt}\" seed {Seed.ToString(CultureInfo.InvariantCulture)} ×{Count} {Width}x{Height}";
    }

    /// <summary>A request with its sampling settings decided.</summary>
    public sealed class ResolvedRequest
    {
        public GenerationRequest Request { get; }
        public int Steps { get; }
        public float Cfg { get; }
        public float Shift { get; }
        public SamplerKind Sampler { get; }
        public int LatentHeight => Request.Height / GenerationRequest.VaeScale;
        public int LatentWidth => Request.Width / GenerationRequest.VaeScale;

        public ResolvedRequest(GenerationRequest request, int steps, float cfg, float shift, SamplerKind sampler)
        {
            Request = request; Steps = steps; Cfg = cfg; Shift = shift; Sampler = sampler;
        }
    }

    /// <summary>A request that cannot run: the message lists every problem and what to change. Nothing was computed.</summary>
    public sealed class GenerationRequestException : ArgumentException
    {
        public IReadOnlyList<string> Problems { get; }

        public GenerationRequestException(IReadOnlyList<string> problems)
            : base("the generation request cannot run: " + string.Join(" ", problems))
        {
            Problems = problems;
        }
    }

    /// <summary>A component did not fit in memory; the message names it and the ways out.</summary>
    public sealed class GenerationMemoryException : Exception
    {
        /// <summary>"text encoders", "transformer" or "decoder".</summary>
        public string Component { get; }

        public GenerationMemoryException(string component, string message, Exception inner = null) : base(message, inner)
        {
            Component = component;
        }
    }
}
