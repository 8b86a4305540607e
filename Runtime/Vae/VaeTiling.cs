using System;
using Sd3Tex.Kernels;
using Sd3Tex.Sampling;

namespace Sd3Tex.Vae
{
    /// <summary>
    /// Where the tiles of one axis start, and how much each one counts at each of its pixels. Tiles are
    /// <see cref="Tile"/> latent cells long and overlap their neighbours by at least the requested overlap; along a
    /// seamless (circular) axis they run around the ring (the last one wraps over the border into the first),
    /// otherwise they are spread evenly from 0 to the end. Inside an overlap, the two tiles' weights are linear
    /// ramps that sum to one (linear feathering).
    /// </summary>
    public sealed class TileAxis
    {
        public int Length { get; }
        public int Tile { get; }
        public bool Circular { get; }
        public int[] Starts { get; }
        /// <summary>One tile covers the whole axis (no blending; the convolutions pad with the axis' own mode).</summary>
        public bool Whole => Starts.Length == 1 && Tile == Length;

        TileAxis(int length, int tile, bool circular, int[] starts) { Length = length; Tile = tile; Circular = circular; Starts = starts; }

        public static TileAxis Create(int length, int tile, int overlap, bool circular)
        {
            if (length < 1) throw new ArgumentException("an axis needs at least one cell.");
            if (tile >= length) return new TileAxis(length, length, circular, new[] { 0 });
            if (overlap < 1 || overlap >= tile) throw new ArgumentException($"overlap {overlap} must be in [1, {tile}).");
            int step = tile - overlap;
            int n;
            int[] s;
            if (circular)
            {
                n = (length + step - 1) / step;
                s = new int[n];
                for (int i = 0; i < n; i++) s[i] = (int)(((long)i * length + n / 2) / n);
            }
            else
            {
                n = (length - overlap + step - 1) / step;
                if (n < 2) n = 2;
                s = new int[n];
                for (int i = 0; i < n; i++) s[i] = (int)(((long)i * (length - tile) * 2 + (n - 1)) / (2L * (n - 1)));
            }
            return new TileAxis(length, tile, circular, s);
        }

        /// <summary>Cells tile i shares with the one before it (0 for the first tile of an open axis).</summary>
        public int OverlapBefore(int i)
        {
            if (Whole) return 0;
            if (i > 0) return Starts[i - 1] + Tile - Starts[i];
            return Circular ? Starts[Starts.Length - 1] + Tile - Length - Starts[0] : 0;
        }

        /// <summary>Cells tile i shares with the one after it (0 for the last tile of an open axis).</summary>
        public int OverlapAfter(int i)
        {
            if (Whole) return 0;
            if (i < Starts.Length - 1) return Starts[i] + Tile - Starts[i + 1];
            return Circular ? Starts[i] + Tile - (Starts[0] + Length) : 0;
        }

        /// <summary>The blending weights of tile i's <c>Tile·scale</c> pixels (scale = pixels per latent cell).</summary>
        public float[] Weights(int i, int scale)
        {
            int n = Tile * scale;
            float before = Math.Max(0, OverlapBefore(i)) * scale, after = Math.Max(0, OverlapAfter(i)) * scale;
            var w = new float[n];
            for (int x = 0; x < n; x++)
            {
                float v = 1f;
                if (before > 0) v = Math.Min(v, (x + 0.5f) / before);
                if (after > 0) v = Math.Min(v, (n - x - 0.5f) / after);
                w[x] = v;
            }
            return w;
        }
    }

    /// <summary>
    /// Decoding sampler-space latents with any <see cref="IVaeDecoder"/>: un-scaling (latent / 1.5305 + 0.0609),
    /// seamless axes, and memory planning (<see cref="VaeMemoryPlanner"/>): whole batches, one image at a time, or
    /// overlapping tiles blended with linear feathering. Tiles see their own GroupNorm statistics and mid-block
    /// attention, so tiled output differs slightly from whole decoding (blending hides the seams, it cannot make
    /// the two equal); along a seamless axis the tiles run around the ring, so the result still tiles.
    /// </summary>
    public static class VaeTiling
    {
        /// <summary>The plan <see cref="Decode"/> follows for these sizes and options.</summary>
        public static VaePlan PlanFor(IVaeDecoder decoder, int batch, int height, int width, VaeDecodeOptions options = null)
        {
            options = options ?? new VaeDecodeOptions();
            long budget = options.MemoryBudget > 0 ? options.MemoryBudget : decoder.DefaultMemoryBudget;
            return VaeMemoryPlanner.Plan(decoder.Config, decoder.WeightBytes, batch, height, width, budget, options.TileSize, options.TileOverlap);
        }

        /// <summary>Decodes sampler-space latents [batch, C, height, width] into images [batch, 3, 8·height, 8·width].</summary>
        public static VaeImage Decode(IVaeDecoder decoder, float[] latent, int batch, int height, int width, VaeDecodeOptions options = null)
            => Decode(decoder, latent, batch, height, width, options, out _);

        public static VaeImage Decode(IVaeDecoder decoder, float[] latent, int batch, int height, int width, VaeDecodeOptions options, out VaePlan plan)
        {
            if (decoder == null) throw new ArgumentNullException(nameof(decoder));
            if (latent == null) throw new ArgumentNullException(nameof(latent));
            var cfg = decoder.Config;
            if (batch < 1 || height < 1 || width < 1) throw new ArgumentException($"latent [{batch}, {cfg.LatentChannels}, {height}, {width}] must be positive.");
            if (latent.LongLength != (long)batch * cfg.LatentChannels * height * width)
                throw new ArgumentException($"the latent holds {latent.Length} values, not [{batch}, {cfg.LatentChannels}, {height}, {width}].");
            options = options ?? new VaeDecodeOptions();
            plan = PlanFor(decoder, batch, height, width, options);
            var z = Samplers.ToVaeInput(latent);
            int s = cfg.Scale, oc = cfg.OutChannels, H = height * s, W = width * s;
            PadMode padX = options.Seamless.PadX(), padY = options.Seamless.PadY();
            if (!plan.Tiled)
            {
                if (plan.BatchPerPass >= batch) return new VaeImage(decoder.DecodeRaw(z, batch, height, width, padX, padY), batch, oc, H, W);
                var all = new float[(long)batch * oc * H * W];
                long inN = (long)cfg.LatentChannels * height * width, outN = (long)oc * H * W;
                for (int b = 0; b < batch; b++)
                {
                    var one = new float[inN];
                    Array.Copy(z, b * inN, one, 0, inN);
                    Array.Copy(decoder.DecodeRaw(one, 1, height, width, padX, padY), 0, all, b * outN, outN);
                }
                return new VaeImage(all, batch, oc, H, W);
            }
            var ay = TileAxis.Create(height, plan.TileHeight, plan.Overlap, padY == PadMode.Circular);
            var ax = TileAxis.Create(width, plan.TileWidth, plan.Overlap, padX == PadMode.Circular);
            return new VaeImage(DecodeTiles(decoder, z, batch, height, width, ay, ax, padX, padY), batch, oc, H, W);
        }

        /// <summary>Decodes every tile of every image and blends them: out = Σ w·tile / Σ w.</summary>
        static float[] DecodeTiles(IVaeDecoder decoder, float[] z, int batch, int height, int width, TileAxis ay, TileAxis ax,
                                   PadMode padX, PadMode padY)
        {
            var cfg = decoder.Config;
            int c = cfg.LatentChannels, th = ay.Tile, tw = ax.Tile;
            // an axis one tile covers keeps the requested padding; a split axis pads tiles with zeros (their borders
            // are feathered away), and its wrap-around comes from the tiles that run over the border
            PadMode tilePadX = ax.Whole ? padX : PadMode.Zeros, tilePadY = ay.Whole ? padY : PadMode.Zeros;
            var tileIn = new float[(long)c * th * tw];
            return Blend(batch, cfg.OutChannels, ay, ax, cfg.Scale, (b, y0, x0) =>
            {
                for (int ch = 0; ch < c; ch++)
                    for (int y = 0; y < th; y++)
                    {
                        int sy = (y0 + y) % height;
                        long src = (((long)b * c + ch) * height + sy) * width, dst = ((long)ch * th + y) * tw;
                        for (int x = 0; x < tw; x++) tileIn[dst + x] = z[src + (x0 + x) % width];
                    }
                return decoder.DecodeRaw(tileIn, 1, th, tw, tilePadX, tilePadY);
            });
        }

        /// <summary>
        /// Blends overlapping tiles of a [batch, channels, ay.Length·scale, ax.Length·scale] result: <paramref name="tile"/>
        /// (image, first latent row, first latent column) gives one tile's [channels, ay.Tile·scale, ax.Tile·scale]
        /// output; out = Σ w·tile / Σ w with the axes' linear feathering, wrapping around circular axes.
        /// </summary>
        internal static float[] Blend(int batch, int channels, TileAxis ay, TileAxis ax, int scale, Func<int, int, int, float[]> tile)
        {
            int H = ay.Length * scale, W = ax.Length * scale, TH = ay.Tile * scale, TW = ax.Tile * scale;
            var num = new double[(long)batch * channels * H * W];
            var den = new double[(long)H * W];
            for (int b = 0; b < batch; b++)
                for (int iy = 0; iy < ay.Starts.Length; iy++)
                {
                    var wy = ay.Weights(iy, scale);
                    for (int ix = 0; ix < ax.Starts.Length; ix++)
                    {
                        var wx = ax.Weights(ix, scale);
                        int y0 = ay.Starts[iy], x0 = ax.Starts[ix];
                        var img = tile(b, y0, x0);
                        for (int y = 0; y < TH; y++)
                        {
                            int gy = (y0 * scale + y) % H;
                            for (int x = 0; x < TW; x++)
                            {
                                int gx = (x0 * scale + x) % W;
                                double wgt = (double)wy[y] * wx[x];
                                if (b == 0) den[(long)gy * W + gx] += wgt;
                                for (int ch = 0; ch < channels; ch++)
                                    num[(((long)b * channels + ch) * H + gy) * W + gx] += wgt * img[((long)ch * TH + y) * TW + x];
                            }
                        }
                    }
                }
            var result = new float[num.LongLength];
            long plane = (long)H * W;
            for (long i = 0; i < result.LongLength; i++) result[i] = (float)(num[i] / den[i % plane]);
            return result;
        }
    }
}
