using System;
using System.Collections.Generic;
using System.Globalization;
using System.Threading;
using System.Threading.Tasks;
using Sd3Tex.Imaging;
using Sd3Tex.Sampling;
using Sd3Tex.Vae;

namespace Sd3Tex.Generation
{
    /// <summary>
    /// What "make seamless" works on: an image that does not tile, the axes to make it tile along, and the generation
    /// settings of the repaint. The result has the image's size rounded to multiples of 16 (the image is resized to it
    /// with Lanczos-3 when needed).
    /// </summary>
    public sealed class MakeSeamlessRequest
    {
        public ImageRgba8 Image { get; set; }
        /// <summary>X (left and right edges meet), Y (top and bottom) or Both (the default).</summary>
        public SeamlessAxes Axes { get; set; } = SeamlessAxes.Both;
        /// <summary>Width in pixels of the band repainted over each seam (0: a quarter of the shorter side, a multiple of
        /// 8, at least 16). Its middle half is repainted fully, its outer quarters fade to the image.</summary>
        public int BandWidth { get; set; }
        public string Prompt { get; set; } = "";
        public string NegativePrompt { get; set; } = "";
        public long Seed { get; set; }
        /// <summary>Results to make (seeds seed … seed + count − 1).</summary>
        public int Count { get; set; } = 1;
        public int? Steps { get; set; }
        public float? Cfg { get; set; }
        public float? Shift { get; set; }
        public SamplerKind? Sampler { get; set; }
        /// <summary>Denoising strength of the band (default 1: the band is generated anew from noise, guided by the image
        /// around it at every step).</summary>
        public float Strength { get; set; } = 1f;
        public bool UseT5 { get; set; } = true;
        public SkipLayerGuidance SkipLayerGuidance { get; set; }

        /// <summary>The output size for an image side: the nearest multiple of 16.</summary>
        public static int SideFor(int side) => GenerationRequest.RoundSize(side);

        /// <summary>The band width used for an output of <paramref name="width"/> × <paramref name="height"/>.</summary>
        public int EffectiveBand(int width, int height) => BandWidth > 0 ? BandWidth : Math.Max(16, Math.Min(width, height) / 4 / 8 * 8);

        /// <summary>The problems that need no model, each saying what to change.</summary>
        public List<string> Problems()
        {
            var p = new List<string>();
            if (Image == null) { p.Add("make seamless needs an image (the one to make tile)."); return p; }
            if (Axes == SeamlessAxes.None) p.Add("make seamless needs an axis: x, y or xy.");
            int w = SideFor(Image.Width), h = SideFor(Image.Height), band = EffectiveBand(w, h), limit = 0;
            if ((Axes & SeamlessAxes.X) != 0) limit = w / 2;
            if ((Axes & SeamlessAxes.Y) != 0) limit = limit == 0 ? h / 2 : Math.Min(limit, h / 2);
            if (BandWidth < 0 || (Axes != SeamlessAxes.None && (band < 4 || band > limit)))
                p.Add($"the seam band of {band} pixels must be between 4 and {limit} (half the side it crosses).");
            return p;
        }

        /// <summary>The inpainting request make-seamless runs on the rolled image (without the image and mask, which
        /// <see cref="TextureGenerator.MakeSeamless"/> fills in).</summary>
        public GenerationRequest ToGenerationRequest(int width, int height) => new GenerationRequest
        {
            Prompt = Prompt ?? "", NegativePrompt = NegativePrompt ?? "", Seed = Seed, Count = Count, Width = width, Height = height,
            Steps = Steps, Cfg = Cfg, Shift = Shift, Sampler = Sampler, Strength = Strength, UseT5 = UseT5, Seamless = Axes,
            SkipLayerGuidance = SkipLayerGuidance?.Clone(),
        };
    }

    /// <summary>The tiling images and how visible their seams are (<see cref="SeamMetric"/>: about 1 for an image that
    /// tiles, larger when its edges do not match) before and after.</summary>
    public sealed class MakeSeamlessResult
    {
        /// <summary>The images, rolled back to the input's framing (their centre is the input's centre).</summary>
        public GenerationResult Generation { get; }
        /// <summary>The input's seam metric (after resizing to the output size) along the request's axes.</summary>
        public double SeamBefore { get; }
        /// <summary>Each output's seam metric along the same axes.</summary>
        public IReadOnlyList<double> SeamAfter { get; }
        public int BandWidth { get; }

        public MakeSeamlessResult(GenerationResult generation, double before, IReadOnlyList<double> after, int band)
        {
            Generation = generation; SeamBefore = before; SeamAfter = after; BandWidth = band;
        }
    }

    public sealed partial class TextureGenerator
    {
        /// <summary>
        /// Makes an image tile: rolls it by half its size along the axes (its edges meet in the middle as a seam, a cross
        /// for both axes), inpaints a band over the seam with seamless generation on (the transformer sees the latent
        /// rolled, the VAE pads circularly), and rolls the result back, so that the new wrap-around edges lie inside
        /// the repainted band and the rest of the image is the input's. Bad requests throw
        /// <see cref="GenerationRequestException"/> before any work.
        /// </summary>
        public MakeSeamlessResult MakeSeamless(MakeSeamlessRequest request, IProgress<GenerationProgress> progress = null, CancellationToken cancel = default)
        {
            if (request == null) throw new ArgumentNullException(nameof(request));
            var problems = request.Problems();
            if (request.Image == null) throw new GenerationRequestException(problems);
            int w = MakeSeamlessRequest.SideFor(request.Image.Width), h = MakeSeamlessRequest.SideFor(request.Image.Height);
            int band = request.EffectiveBand(w, h);
            var image = ImageResize.Lanczos3(request.Image, w, h);
            var axes = request.Axes;
            int dx = (axes & SeamlessAxes.X) != 0 ? w / 2 : 0, dy = (axes & SeamlessAxes.Y) != 0 ? h / 2 : 0;
            var gen = request.ToGenerationRequest(w, h);
            gen.InitImage = Roll(image, dx, dy);
            // every problem at once: the request's own and those of the inpainting it becomes (steps, model limits ...)
            if (problems.Count == 0) gen.Mask = MaskImage(InpaintMask.SeamBand(w, h, axes, band), w, h);
            foreach (var p in Validate(gen))
                if (!problems.Contains(p)) problems.Add(p);
            if (problems.Count > 0) throw new GenerationRequestException(problems);
            var result = Generate(gen, progress, cancel);

            double before = SeamMetric.Measure(image, axes);
            var images = new List<GeneratedImage>();
            var after = new List<double>();
            foreach (var g in result.Images)
            {
                var back = Roll(g.Image, w - dx, h - dy);
                var decoded = new VaeImage(Roll(g.Decoded.Data, g.Decoded.Channels, h, w, (h - dy) % h, (w - dx) % w), 1, g.Decoded.Channels, h, w);
                double metric = SeamMetric.Measure(back, axes);
                g.Parameters.Extra.Add(new KeyValuePair<string, string>("Make seamless", SeamlessAxesNames.Name(axes)));
                g.Parameters.Extra.Add(new KeyValuePair<string, string>("Seam band", band.ToString(CultureInfo.InvariantCulture)));
                g.Parameters.Extra.Add(new KeyValuePair<string, string>("Seam metric",
                    before.ToString("0.00", CultureInfo.InvariantCulture) + " -> " + metric.ToString("0.00", CultureInfo.InvariantCulture)));
                images.Add(new GeneratedImage(g.Index, g.Seed, back, decoded, g.Parameters, g.Intermediates));
                after.Add(metric);
            }
            var warnings = new List<string>(result.Warnings);
            warnings.RemoveAll(x => x.StartsWith("the init image", StringComparison.Ordinal));
            if (w != request.Image.Width || h != request.Image.Height)
                warnings.Add($"the image ({request.Image.Width}x{request.Image.Height}) was resized to {w}x{h} (sides must be multiples of 16).");
            return new MakeSeamlessResult(new GenerationResult(images, result.Request, warnings, result.Timings), before, after, band);
        }

        /// <summary><see cref="MakeSeamless"/> on a worker thread.</summary>
        public Task<MakeSeamlessResult> MakeSeamlessAsync(MakeSeamlessRequest request, IProgress<GenerationProgress> progress = null, CancellationToken cancel = default)
        {
            if (request == null) throw new ArgumentNullException(nameof(request));
            return Task.Run(() => MakeSeamless(request, progress, cancel), cancel);
        }

        /// <summary>An RGBA8 image rolled by (dx, dy): out[x + dx, y + dy] = in[x, y] (wrapping around).</summary>
        public static ImageRgba8 Roll(ImageRgba8 image, int dx, int dy)
        {
            int w = image.Width, h = image.Height;
            var r = new ImageRgba8(w, h);
            for (int y = 0; y < h; y++)
            {
                int yy = ((y + dy) % h + h) % h;
                for (int x = 0; x < w; x++)
                    Buffer.BlockCopy(image.Pixels, (y * w + x) * 4, r.Pixels, (yy * w + ((x + dx) % w + w) % w) * 4, 4);
            }
            return r;
        }

        /// <summary>A grey mask image of weights in [0, 1].</summary>
        static ImageRgba8 MaskImage(float[] weights, int w, int h)
        {
            var img = new ImageRgba8(w, h);
            for (int i = 0; i < weights.Length; i++)
            {
                byte v = (byte)Math.Round(255 * Math.Max(0f, Math.Min(1f, weights[i])));
                img.Pixels[i * 4] = img.Pixels[i * 4 + 1] = img.Pixels[i * 4 + 2] = v;
                img.Pixels[i * 4 + 3] = 255;
            }
            return img;
        }
    }
}
