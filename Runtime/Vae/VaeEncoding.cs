using System;
using Sd3Tex.Imaging;
using Sd3Tex.Kernels;
using Sd3Tex.Models;

namespace Sd3Tex.Vae
{
    /// <summary>A VAE encoder that encodes whole images into the posterior's moments; tiling, blending and the latent
    /// scaling are <see cref="VaeEncoding"/>'s. Implemented by <see cref="VaeEncoder"/> (device) and
    /// <see cref="Reference.ReferenceVaeEncoder"/> (plain C#).</summary>
    public interface IVaeEncoder : IDisposable
    {
        VaeConfig Config { get; }

        /// <summary>Bytes the encoder's weights occupy where it runs.</summary>
        long WeightBytes { get; }

        /// <summary>The memory budget used when the options give none.</summary>
        long DefaultMemoryBudget { get; }

        /// <summary>
        /// Encodes images <paramref name="image"/> [batch, 3, height, width] (pixels in [-1, 1]; height and width
        /// multiples of <see cref="VaeConfig.Scale"/>) into the moments [batch, 2·LatentChannels, height / Scale,
        /// width / Scale]: channels 0 … 15 the mean, 16 … 31 the log-variance. Every convolution pads as given per axis.
        /// </summary>
        float[] EncodeRaw(float[] image, int batch, int height, int width, PadMode padX, PadMode padY);
    }

    /// <summary>What the encoder made of images: the moments, their mean and the sampler-space latent
    /// (mean − 0.0609) × 1.5305, each [Batch, C, Height, Width] in latent cells.</summary>
    public sealed class VaeLatent
    {
        public float[] Moments { get; }
        public float[] Mean { get; }
        /// <summary>The sampler's latent: (mean − shift 0.0609) × scale 1.5305 (the reference's <c>SD3LatentFormat.process_in</c>).</summary>
        public float[] Latent { get; }
        public int Batch { get; }
        public int Channels { get; }
        public int Height { get; }
        public int Width { get; }

        public VaeLatent(float[] moments, int batch, int channels, int height, int width)
        {
            if (moments == null) throw new ArgumentNullException(nameof(moments));
            long plane = (long)height * width, per = (long)channels * plane;
            if (moments.LongLength != batch * 2 * per) throw new ArgumentException($"{moments.Length} values are not [{batch}, {2 * channels}, {height}, {width}] moments.");
            Moments = moments; Batch = batch; Channels = channels; Height = height; Width = width;
            Mean = new float[batch * per];
            for (int b = 0; b < batch; b++) Array.Copy(moments, b * 2 * per, Mean, b * per, per);
            Latent = Sampling.Samplers.FromVaeOutput(Mean);
        }
    }

    /// <summary>
    /// Encoding images with any <see cref="IVaeEncoder"/>: pixels to the encoder's input (2·u8/255 − 1, alpha dropped as
    /// the reference's <c>image.convert("RGB")</c>), seamless axes, and memory planning (<see cref="VaeMemoryPlanner.PlanEncode"/>):
    /// whole batches, one image at a time, or overlapping tiles whose moments are blended with linear feathering (the
    /// decoder's <see cref="TileAxis"/>, in latent cells). Tiles see their own GroupNorm statistics and attention, so a
    /// tiled latent differs slightly from a whole one; along a seamless axis tiles run around the ring. The latent is
    /// the posterior's mean (deterministic; the reference samples mean + σ·ε, but a trained VAE's σ is tiny).
    /// <para>Circular padding and the downsample: the encoder's downsample pads one row and column after the last (and
    /// none before); on a seamless axis that padding is the first row / column, so the encoder works on the torus and
    /// commutes with shifts by multiples of 8 pixels: encode(roll(x, 8k)) = roll(encode(x), k).</para>
    /// </summary>
    public static class VaeEncoding
    {
        /// <summary>The encoder's input for an RGBA8 image: [1, 3, H, W] with x = 2·(u8 / 255) − 1 (float arithmetic,
        /// as the reference's numpy), alpha ignored.</summary>
        public static float[] ToEncoderInput(ImageRgba8 image)
        {
            if (image == null) throw new ArgumentNullException(nameof(image));
            long plane = (long)image.Width * image.Height;
            var r = new float[3 * plane];
            var px = image.Pixels;
            for (long i = 0; i < plane; i++)
                for (int c = 0; c < 3; c++) r[c * plane + i] = 2f * (px[i * 4 + c] / 255f) - 1f;
            return r;
        }

        internal static void CheckImage(VaeConfig cfg, float[] image, int batch, int height, int width)
        {
            if (image == null) throw new ArgumentNullException(nameof(image));
            if (batch < 1 || height < 1 || width < 1) throw new ArgumentException($"image [{batch}, {height}, {width}] must be positive.");
            if (height % cfg.Scale != 0 || width % cfg.Scale != 0)
                throw new ArgumentException($"the VAE encodes images whose sides are multiples of {cfg.Scale}, not {width}×{height}.");
            if (image.LongLength != (long)batch * cfg.OutChannels * height * width)
                throw new ArgumentException($"the image holds {image.Length} values, not [{batch}, {cfg.OutChannels}, {height}, {width}].");
        }

        /// <summary>The plan <see cref="Encode(IVaeEncoder, float[], int, int, int, VaeDecodeOptions)"/> follows (sizes in pixels).</summary>
        public static VaePlan PlanFor(IVaeEncoder encoder, int batch, int height, int width, VaeDecodeOptions options = null)
        {
            if (encoder == null) throw new ArgumentNullException(nameof(encoder));
            options = options ?? new VaeDecodeOptions();
            int s = encoder.Config.Scale;
            long budget = options.MemoryBudget > 0 ? options.MemoryBudget : encoder.DefaultMemoryBudget;
            return VaeMemoryPlanner.PlanEncode(encoder.Config, encoder.WeightBytes, batch, height / s, width / s, budget, options.TileSize, options.TileOverlap);
        }

        /// <summary>Encodes an RGBA8 image (its sides multiples of 8) into its latent.</summary>
        public static VaeLatent Encode(IVaeEncoder encoder, ImageRgba8 image, VaeDecodeOptions options = null)
            => Encode(encoder, ToEncoderInput(image), 1, image.Height, image.Width, options);

        /// <summary>Encodes images [batch, 3, height, width] (pixels in [-1, 1]) into latents [batch, 16, height/8, width/8]
        /// with the options' seamless axes, tiles and memory budget (<see cref="VaeDecodeOptions"/> serve both directions).</summary>
        public static VaeLatent Encode(IVaeEncoder encoder, float[] image, int batch, int height, int width, VaeDecodeOptions options = null)
            => Encode(encoder, image, batch, height, width, options, out _);

        public static VaeLatent Encode(IVaeEncoder encoder, float[] image, int batch, int height, int width, VaeDecodeOptions options, out VaePlan plan)
        {
            if (encoder == null) throw new ArgumentNullException(nameof(encoder));
            var cfg = encoder.Config;
            CheckImage(cfg, image, batch, height, width);
            options = options ?? new VaeDecodeOptions();
            plan = PlanFor(encoder, batch, height, width, options);
            int s = cfg.Scale, mc = 2 * cfg.LatentChannels, h = height / s, w = width / s;
            PadMode padX = options.Seamless.PadX(), padY = options.Seamless.PadY();
            float[] moments;
            if (!plan.Tiled)
            {
                if (plan.BatchPerPass >= batch) moments = encoder.EncodeRaw(image, batch, height, width, padX, padY);
                else
                {
                    moments = new float[(long)batch * mc * h * w];
                    long inN = (long)cfg.OutChannels * height * width, outN = (long)mc * h * w;
                    for (int b = 0; b < batch; b++)
                    {
                        var one = new float[inN];
                        Array.Copy(image, b * inN, one, 0, inN);
                        Array.Copy(encoder.EncodeRaw(one, 1, height, width, padX, padY), 0, moments, b * outN, outN);
                    }
                }
            }
            else
            {
                var ay = TileAxis.Create(h, plan.TileHeight, plan.Overlap, padY == PadMode.Circular);
                var ax = TileAxis.Create(w, plan.TileWidth, plan.Overlap, padX == PadMode.Circular);
                moments = EncodeTiles(encoder, image, batch, height, width, ay, ax, padX, padY);
            }
            return new VaeLatent(moments, batch, cfg.LatentChannels, h, w);
        }

        /// <summary>Encodes every tile of every image and blends their moments (<see cref="VaeTiling.Blend"/>, weights per latent cell).</summary>
        static float[] EncodeTiles(IVaeEncoder encoder, float[] image, int batch, int height, int width, TileAxis ay, TileAxis ax,
                                   PadMode padX, PadMode padY)
        {
            var cfg = encoder.Config;
            int ic = cfg.OutChannels, s = cfg.Scale, TH = ay.Tile * s, TW = ax.Tile * s;
            // as when decoding: an axis one tile covers keeps its padding, a split axis pads its tiles with zeros
            PadMode tilePadX = ax.Whole ? padX : PadMode.Zeros, tilePadY = ay.Whole ? padY : PadMode.Zeros;
            var tileIn = new float[(long)ic * TH * TW];
            return VaeTiling.Blend(batch, 2 * cfg.LatentChannels, ay, ax, 1, (b, y0, x0) =>
            {
                for (int ch = 0; ch < ic; ch++)
                    for (int y = 0; y < TH; y++)
                    {
                        long src = (((long)b * ic + ch) * height + (y0 * s + y) % height) * width, dst = ((long)ch * TH + y) * TW;
                        for (int x = 0; x < TW; x++) tileIn[dst + x] = image[src + (x0 * s + x) % width];
                    }
                return encoder.EncodeRaw(tileIn, 1, TH, TW, tilePadX, tilePadY);
            });
        }
    }
}
