using System;
using System.Collections.Generic;
using Sd3Tex.Checkpoints;
using Sd3Tex.Models;

namespace Sd3Tex.Vae
{
    /// <summary>
    /// The device buffers <see cref="VaeDecoder"/> decodes a [batch, C, h, w] latent with, in floats: two "big"
    /// buffers that take turns holding the running activation and the GroupNorm+SiLU output of a block's input (both
    /// sized for the largest activation, for the latent, and for the mid attention's q, k, v and output), one "mid"
    /// buffer for the first convolution of every ResNet block (the largest block output; the attention's score rows go
    /// there too), and the group norm's statistics scratch.
    /// </summary>
    public readonly struct VaeWorkspaceSize
    {
        public readonly long BigFloats, MidFloats, ScratchFloats;

        public VaeWorkspaceSize(long big, long mid, long scratch) { BigFloats = big; MidFloats = mid; ScratchFloats = scratch; }

        /// <summary>Bytes of all buffers: 2 big + mid + scratch.</summary>
        public long Bytes => (2 * BigFloats + MidFloats + ScratchFloats) * sizeof(float);
    }

    /// <summary>How a decode runs: whole (all images at once or one at a time) or in overlapping tiles, with the
    /// memory that is predicted for it.</summary>
    public sealed class VaePlan
    {
        /// <summary>Decoded in tiles (false: each pass decodes whole images).</summary>
        public bool Tiled { get; set; }
        /// <summary>Tile size in latent cells (the latent's own size when not tiled).</summary>
        public int TileHeight { get; set; }
        public int TileWidth { get; set; }
        /// <summary>Latent cells shared by neighbouring tiles.</summary>
        public int Overlap { get; set; }
        /// <summary>Images per pass (the batch when it fits at once, else 1).</summary>
        public int BatchPerPass { get; set; }
        /// <summary>Predicted peak device bytes: weights + the workspace of one pass.</summary>
        public long PeakBytes { get; set; }
        /// <summary>Predicted peak of decoding the whole batch at once, for comparison.</summary>
        public long WholePeakBytes { get; set; }
        /// <summary>The budget the plan was made for.</summary>
        public long BudgetBytes { get; set; }

        public override string ToString() =>
            (Tiled ? $"tiles of {TileWidth}×{TileHeight} latent cells (overlap {Overlap})" : $"whole images, {BatchPerPass} per pass") +
            $", predicted peak {VaeMemoryPlanner.Format(PeakBytes)} (whole batch at once: {VaeMemoryPlanner.Format(WholePeakBytes)}; " +
            $"budget {VaeMemoryPlanner.Format(BudgetBytes)})";
    }

    /// <summary>Thrown when not even the smallest tile fits the memory budget.</summary>
    public sealed class VaeMemoryException : Exception
    {
        public VaeMemoryException(string message) : base(message) { }
    }

    /// <summary>
    /// Predicts the device memory of a VAE decode (weights + the largest live activations, exactly the buffers
    /// <see cref="VaeDecoder"/> allocates) and chooses how to decode within a budget: the whole batch at once, one image
    /// at a time, or the largest square tile that fits (tiles of one image, blended over <see cref="DefaultOverlap"/>
    /// cells).
    /// </summary>
    public static class VaeMemoryPlanner
    {
        /// <summary>GroupNorm's groups.</summary>
        public const int Groups = 32;
        /// <summary>Smallest tile edge in latent cells the planner chooses by itself.</summary>
        public const int MinTile = 4;
        /// <summary>The default budget of the CPU accelerator and the reference (host memory): 16 GiB.</summary>
        public const long HostDefaultBudget = 16L << 30;

        /// <summary>The default overlap of tiles of <paramref name="tile"/> cells: a quarter of the tile, 1 to 16 cells.</summary>
        public static int DefaultOverlap(int tile) => Math.Max(1, Math.Min(16, tile / 4));

        /// <summary>The workspace of a [batch, C, h, w] latent (see <see cref="VaeWorkspaceSize"/>).</summary>
        public static VaeWorkspaceSize Workspace(VaeConfig cfg, int batch, int height, int width)
        {
            if (cfg == null) throw new ArgumentNullException(nameof(cfg));
            if (batch < 1 || height < 1 || width < 1) throw new ArgumentException($"latent [{batch}, {height}, {width}] must be positive.");
            long hw = (long)height * width;
            int top = cfg.TopChannels;
            long big = Math.Max((long)cfg.LatentChannels * hw, 4L * top * hw); // latent; attention hn / hnT→v / q / k
            long mid = 0;
            void Block(long cin, long cout, long pixels)
            {
                big = Math.Max(big, Math.Max(cin, cout) * pixels);
                mid = Math.Max(mid, cout * pixels);
            }
            Block(top, top, hw);            // mid.block_1
            Block(top, top, hw);            // mid.block_2
            long cinL = top, px = hw;
            for (int level = cfg.Levels - 1; level >= 0; level--)
            {
                long cout = (long)cfg.BaseChannels * cfg.ChannelMult[level];
                for (int j = 0; j < cfg.BlocksPerLevel; j++) { Block(cinL, cout, px); cinL = cout; }
                if (level > 0)
                {
                    px *= 4;
                    big = Math.Max(big, cout * px); // upsample.conv output
                }
            }
            big = Math.Max(big, Math.Max(cinL, cfg.OutChannels) * px); // norm_out, conv_out
            mid = Math.Max(mid, hw);                                   // at least one attention score row
            long scratch = (long)Groups * (GroupNormScratchPerGroup) + 1024;
            return new VaeWorkspaceSize(big * batch, mid * batch, scratch * batch);
        }

        /// <summary>
        /// The workspace of encoding [batch, 3, 8·h, 8·w] images into [batch, 2·C, h, w] moments (<see cref="VaeEncoder"/>,
        /// h and w in latent cells): the same three buffers as the decoder's, walked from the full-resolution conv_in down
        /// to the mid block's attention and conv_out.
        /// </summary>
        public static VaeWorkspaceSize EncoderWorkspace(VaeConfig cfg, int batch, int height, int width)
        {
            if (cfg == null) throw new ArgumentNullException(nameof(cfg));
            if (batch < 1 || height < 1 || width < 1) throw new ArgumentException($"latent [{batch}, {height}, {width}] must be positive.");
            int s = cfg.Scale;
            long px = (long)height * s * width * s, hw = (long)height * width;
            long big = (long)cfg.OutChannels * px, mid = 0;
            long c = cfg.BaseChannels;
            big = Math.Max(big, c * px);                                  // conv_in
            for (int level = 0; level < cfg.Levels; level++)
            {
                long cout = (long)cfg.BaseChannels * cfg.ChannelMult[level];
                for (int j = 0; j < cfg.EncoderBlocksPerLevel; j++)
                {
                    big = Math.Max(big, Math.Max(c, cout) * px);
                    mid = Math.Max(mid, cout * px);
                    c = cout;
                }
                if (level < cfg.Levels - 1) px /= 4;                       // the downsample's output (smaller than its input)
            }
            big = Math.Max(big, Math.Max(4L * c * hw, 2L * cfg.LatentChannels * hw)); // attention slots, conv_out
            mid = Math.Max(mid, Math.Max(c * hw, hw));                    // mid blocks, one attention score row
            long scratch = (long)Groups * GroupNormScratchPerGroup + 1024;
            return new VaeWorkspaceSize(big * batch, mid * batch, scratch * batch);
        }

        /// <summary>Statistics floats per (batch, group) of <see cref="Kernels.GroupNorm"/>: up to 64 chunks of
        /// (count, mean, M2), plus (mean, rstd).</summary>
        const long GroupNormScratchPerGroup = Kernels.GroupNorm.MaxSplits * 3 + 2;

        /// <summary>Device bytes of the weights as <see cref="VaeDecoder"/> (or, with <paramref name="encoder"/>,
        /// <see cref="VaeEncoder"/>) holds them: convolution weights in their stored type (F32, F16 or BF16), everything
        /// else as F32.</summary>
        public static long WeightBytes(VaeConfig cfg, DType convolutionWeights, bool encoder = false)
        {
            long total = 0;
            int convSize = convolutionWeights == DType.F16 || convolutionWeights == DType.BF16 ? 2 : 4;
            foreach (var s in encoder ? cfg.EncoderTensors(required: true) : cfg.Tensors()) total += s.ElementCount * (s.Shape.Length == 4 ? convSize : 4);
            return total;
        }

        /// <summary>The same for actual weights (their stored types).</summary>
        public static long WeightBytes(VaeConfig cfg, IReadOnlyDictionary<string, Weight> weights, bool encoder = false)
        {
            long total = 0;
            foreach (var s in encoder ? cfg.EncoderTensors(required: true) : cfg.Tensors())
            {
                if (!weights.TryGetValue(s.Name, out var w)) continue;
                bool bits = s.Shape.Length == 4 && (w.DType == DType.F16 || w.DType == DType.BF16);
                total += s.ElementCount * (bits ? 2 : 4);
            }
            return total;
        }

        /// <summary>Predicted peak device bytes of decoding a [batch, C, h, w] latent whole.</summary>
        public static long PeakBytes(VaeConfig cfg, long weightBytes, int batch, int height, int width)
            => weightBytes + Workspace(cfg, batch, height, width).Bytes;

        /// <summary>
        /// The plan for a [batch, C, h, w] latent within <paramref name="budgetBytes"/>. <paramref name="tileSize"/> &gt; 0
        /// forces tiles of that edge (clamped per axis to the latent; an axis the tile covers is not split);
        /// <paramref name="overlap"/> 0 means <see cref="DefaultOverlap"/>. Throws <see cref="VaeMemoryException"/> when
        /// nothing fits.
        /// </summary>
        public static VaePlan Plan(VaeConfig cfg, long weightBytes, int batch, int height, int width, long budgetBytes,
                                   int tileSize = 0, int overlap = 0)
            => Plan(Workspace, "decoder", cfg, weightBytes, batch, height, width, budgetBytes, tileSize, overlap);

        /// <summary>The same for encoding images of [batch, 3, 8·height, 8·width] (height, width and the tile in latent
        /// cells), with <see cref="EncoderWorkspace"/>.</summary>
        public static VaePlan PlanEncode(VaeConfig cfg, long weightBytes, int batch, int height, int width, long budgetBytes,
                                         int tileSize = 0, int overlap = 0)
            => Plan(EncoderWorkspace, "encoder", cfg, weightBytes, batch, height, width, budgetBytes, tileSize, overlap);

        static VaePlan Plan(Func<VaeConfig, int, int, int, VaeWorkspaceSize> workspace, string what, VaeConfig cfg, long weightBytes,
                            int batch, int height, int width, long budgetBytes, int tileSize, int overlap)
        {
            long PeakBytes(VaeConfig c, long wb, int b, int h, int w) => wb + workspace(c, b, h, w).Bytes;
            bool Fits(VaeConfig c, long wb, int b, int h, int w, long budget)
            {
                var ws = workspace(c, b, h, w);
                return wb + ws.Bytes <= budget && ws.BigFloats <= int.MaxValue && ws.MidFloats <= int.MaxValue;
            }

            if (tileSize < 0 || overlap < 0) throw new ArgumentException("tile size and overlap must not be negative.");
            var plan = new VaePlan
            {
                BudgetBytes = budgetBytes, WholePeakBytes = PeakBytes(cfg, weightBytes, batch, height, width),
                TileHeight = height, TileWidth = width, BatchPerPass = batch,
            };
            if (tileSize == 0)
            {
                if (Fits(cfg, weightBytes, batch, height, width, budgetBytes)) { plan.PeakBytes = plan.WholePeakBytes; return plan; }
                plan.BatchPerPass = 1;
                if (Fits(cfg, weightBytes, 1, height, width, budgetBytes)) { plan.PeakBytes = PeakBytes(cfg, weightBytes, 1, height, width); return plan; }
                int t = Math.Max(height, width);
                for (; t >= MinTile; t--)
                    if (Fits(cfg, weightBytes, 1, Math.Min(t, height), Math.Min(t, width), budgetBytes)) break;
                if (t < MinTile)
                    throw new VaeMemoryException($"the VAE {what} does not fit {Format(budgetBytes)}: even {MinTile}×{MinTile}-cell tiles need " +
                                                 $"{Format(PeakBytes(cfg, weightBytes, 1, Math.Min(MinTile, height), Math.Min(MinTile, width)))} " +
                                                 $"(weights {Format(weightBytes)}).");
                tileSize = t;
            }
            plan.BatchPerPass = 1;
            plan.TileHeight = Math.Min(tileSize, height);
            plan.TileWidth = Math.Min(tileSize, width);
            plan.Tiled = plan.TileHeight < height || plan.TileWidth < width;
            if (!plan.Tiled)
            {
                // a tile that covers the image: whole images (all at once when the batch fits)
                plan.BatchPerPass = Fits(cfg, weightBytes, batch, height, width, budgetBytes) ? batch : 1;
                plan.PeakBytes = PeakBytes(cfg, weightBytes, plan.BatchPerPass, height, width);
                return plan;
            }
            plan.Overlap = overlap > 0 ? overlap : DefaultOverlap(tileSize);
            int smaller = Math.Min(plan.TileHeight < height ? plan.TileHeight : int.MaxValue, plan.TileWidth < width ? plan.TileWidth : int.MaxValue);
            if (plan.Overlap >= smaller)
                throw new ArgumentException($"a tile overlap of {plan.Overlap} cells needs tiles larger than {smaller} cells.");
            plan.PeakBytes = PeakBytes(cfg, weightBytes, 1, plan.TileHeight, plan.TileWidth);
            return plan;
        }

        public static string Format(long bytes)
        {
            if (bytes >= 1L << 30) return $"{bytes / (double)(1L << 30):0.00} GiB";
            if (bytes >= 1L << 20) return $"{bytes / (double)(1L << 20):0.0} MiB";
            if (bytes >= 1L << 10) return $"{bytes / 1024.0:0.0} KiB";
            return $"{bytes} B";
        }
    }
}
