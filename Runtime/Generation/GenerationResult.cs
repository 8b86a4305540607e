using System;
using System.Collections.Generic;
using Sd3Tex.Encoders;
using Sd3Tex.Imaging;
using Sd3Tex.Text;
using Sd3Tex.Vae;

namespace Sd3Tex.Generation
{
    /// <summary>One generated image: its pixels, the float image the decoder produced, and what produced it.</summary>
    public sealed class GeneratedImage
    {
        /// <summary>Index in the request's batch (its seed is the request's seed + Index).</summary>
        public int Index { get; }
        public long Seed { get; }
        /// <summary>RGBA8 pixels, row 0 at the top.</summary>
        public ImageRgba8 Image { get; }
        /// <summary>The decoder's float image [1, 3, H, W] (nominally in [-1, 1]).</summary>
        public VaeImage Decoded { get; }
        /// <summary>What produced the image, as written into its PNG.</summary>
        public GenerationParameters Parameters { get; }
        /// <summary>Tokens, conditioning and latents, when the request asked to capture them; else null.</summary>
        public GenerationIntermediates Intermediates { get; }

        public GeneratedImage(int index, long seed, ImageRgba8 image, VaeImage decoded, GenerationParameters parameters, GenerationIntermediates intermediates)
        {
            Index = index; Seed = seed; Image = image; Decoded = decoded; Parameters = parameters; Intermediates = intermediates;
        }

        /// <summary>The PNG file's bytes, with the parameters as A1111 "parameters" text and as JSON.</summary>
        public byte[] EncodePng() => PngWriter.Encode(Image, Parameters.ToPngTexts(), alpha: false);

        /// <summary>Writes the PNG atomically (a temporary file, then a rename).</summary>
        public void SavePng(string path) => PngWriter.Write(path, Image, Parameters.ToPngTexts(), alpha: false);
    }

    /// <summary>What a request computed on the way to an image (see <see cref="GenerationRequest.CaptureIntermediates"/>).</summary>
    public sealed class GenerationIntermediates
    {
        public TokenizedPrompt Tokens { get; set; }
        public TokenizedPrompt NegativeTokens { get; set; }
        public Sd3Conditioning Cond { get; set; }
        public Sd3Conditioning Uncond { get; set; }
        public float[] Noise { get; set; }
        public float[] Sigmas { get; set; }
        /// <summary>The latent after each step: [steps][16·h·w].</summary>
        public List<float[]> LatentsPerStep { get; } = new List<float[]>();
        public float[] FinalLatent { get; set; }
        /// <summary>The decoder's input (latent / 1.5305 + 0.0609).</summary>
        public float[] VaeInput { get; set; }
        /// <summary>Image-to-image: the init image's latent (the VAE encoder's mean, scaled), else null.</summary>
        public float[] InitLatent { get; set; }
        /// <summary>Inpainting: the latent-grid mask [h·w] the sampler blended with, else null.</summary>
        public float[] LatentMask { get; set; }
        /// <summary>Inpainting: the decoder's image before the composite with the init image, else null.</summary>
        public VaeImage Uncomposited { get; set; }
    }

    /// <summary>Wall time per stage of one request.</summary>
    public sealed class StageTimings
    {
        public TimeSpan Loading { get; set; }
        public TimeSpan CompilingKernels { get; set; }
        public TimeSpan Encoding { get; set; }
        public TimeSpan Sampling { get; set; }
        public TimeSpan Decoding { get; set; }
        public TimeSpan Total { get; set; }

        public override string ToString() =>
            $"loading {Loading.TotalSeconds:0.000} s, compiling kernels {CompilingKernels.TotalSeconds:0.000} s, encoding {Encoding.TotalSeconds:0.000} s, " +
            $"sampling {Sampling.TotalSeconds:0.000} s, decoding {Decoding.TotalSeconds:0.000} s, total {Total.TotalSeconds:0.000} s";
    }

    /// <summary>The images of one request.</summary>
    public sealed class GenerationResult
    {
        public IReadOnlyList<GeneratedImage> Images { get; }
        /// <summary>The request with the preset's values filled in.</summary>
        public ResolvedRequest Request { get; }
        /// <summary>Things the user should know (a prompt cut short, T5 asked for but absent ...).</summary>
        public IReadOnlyList<string> Warnings { get; }
        public StageTimings Timings { get; }

        public GenerationResult(IReadOnlyList<GeneratedImage> images, ResolvedRequest request, IReadOnlyList<string> warnings, StageTimings timings)
        {
            Images = images ?? throw new ArgumentNullException(nameof(images));
            Request = request; Warnings = warnings ?? Array.Empty<string>(); Timings = timings;
        }
    }
}
