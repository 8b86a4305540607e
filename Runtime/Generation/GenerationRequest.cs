using System;
using System.Collections.Generic;
using System.Globalization;
using Sd3Tex.Imaging;
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

        /// <summary>
        /// Image-to-image: the picture to start from (alpha ignored), or null for text-to-image. It is stretched to
        /// <see cref="Width"/> × <see cref="Height"/> with a Lanczos-3 filter when its size differs (as the reference
        /// resizes with PIL's LANCZOS), encoded by the VAE, and sampling starts from noise·σ₀ + (1 − σ₀)·latent at the
        /// first sigma <see cref="Strength"/> keeps. Images of a batch (<see cref="Count"/>, seeds seed … seed + N − 1)
        /// are variations of it.
        /// </summary>
        public ImageRgba8 InitImage { get; set; }
        /// <summary>How much of the init image is repainted, 0 &lt; s ≤ 1 (the reference's <c>denoise</c>, default 0.8): the
        /// txt2img schedule of <see cref="Steps"/> steps runs without its first int(steps × (1 − s)) sigmas. 1 ignores the
        /// image's content (it equals text-to-image from the same noise) unless a mask keeps part of it.</summary>
        public float Strength { get; set; } = DefaultStrength;
        /// <summary>Inpainting: white = repaint, black = keep (grey repaints partly; alpha multiplies), the init image's
        /// size. Pixels the mask leaves black come out as the init image's (see <see cref="InpaintMask"/>).</summary>
        public ImageRgba8 Mask { get; set; }
        /// <summary>Feathering of the mask in pixels: the repaint fades in over this many pixels inside the white area
        /// (0: a hard edge).</summary>
        public int MaskBlur { get; set; }
        /// <summary>Skip-layer guidance (null or inactive: off, the default; see <see cref="Generation.SkipLayerGuidance"/>).</summary>
        public SkipLayerGuidance SkipLayerGuidance { get; set; }

        /// <summary>The reference's default denoising strength.</summary>
        public const float DefaultStrength = 0.8f;

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
            if (SkipLayerGuidance != null) r.SkipLayerGuidance = SkipLayerGuidance.Clone();
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
            var inv = CultureInfo.InvariantCulture;
            if (InitImage != null && StrengthProblem(Strength) is string sp) p.Add(sp);
            if (Mask != null)
            {
                if (InitImage == null) p.Add("a mask needs an init image to repaint: give the init image as well.");
                else if (Mask.Width != InitImage.Width || Mask.Height != InitImage.Height)
                    p.Add($"the mask is {Mask.Width}x{Mask.Height} but the init image is {InitImage.Width}x{InitImage.Height}: the mask must have the image's size.");
            }
            if (MaskBlur < 0) p.Add($"mask blur {MaskBlur} must not be negative (0 for a hard edge).");
            // guidance naming layers is checked whole (an empty layer list is simply off)
            if (SkipLayerGuidance?.Layers != null && SkipLayerGuidance.Layers.Length > 0) p.AddRange(SkipLayerGuidance.Problems());
            return p;
        }

        /// <summary>The problem of a strength outside (0, 1], or null (for callers that check it while the init image could not be read).</summary>
        public static string StrengthProblem(float strength) => strength > 0 && strength <= 1 ? null :
            $"strength {strength.ToString(CultureInfo.InvariantCulture)} is outside (0, 1]: use a value above 0 and at most 1 (0.8 by default; lower keeps more of the init image).";

        /// <summary>The nearest valid size (a multiple of 16, at least 16).</summary>
        public static int RoundSize(int v) => Math.Max(SizeMultiple, (int)Math.Round(v / (double)SizeMultiple, MidpointRounding.AwayFromZero) * SizeMultiple);

        /// <summary>The request with every preset field filled in from <paramref name="preset"/>.</summary>
        public ResolvedRequest Resolve(GenerationPreset preset)
        {
            if (preset == null) throw new ArgumentNullException(nameof(preset));
            return new ResolvedRequest(this, Steps ?? preset.Steps, Cfg ?? preset.Cfg, Shift ?? preset.Shift, Sampler ?? preset.Sampler);
        }

        /// <summary>Image-to-image: the skipped share of the schedule as the reference computes it (in decimal terms:
        /// strength 0.6 of 5 steps skips int(5 × 0.4) = 2, not int(5 × 0.39999998) = 1).</summary>
        public double Denoise => InitImage == null ? 1.0 : (double)(decimal)Strength;

        public override string ToString() =>
            $"\"{Prompt}\" seed {Seed.ToString(CultureInfo.InvariantCulture)} ×{Count} {Width}x{Height}" +
            (InitImage != null ? $" from a {InitImage.Width}x{InitImage.Height} image, strength {Strength.ToString(CultureInfo.InvariantCulture)}" + (Mask != null ? ", masked" : "") : "");
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
