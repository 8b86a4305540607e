using System;
using System.Collections.Generic;
using Sd3Tex.Checkpoints;
using Sd3Tex.Kernels;
using Sd3Tex.Models;
using Sd3Tex.Vae;

namespace Sd3Tex.Reference
{
    /// <summary>
    /// The SD3 VAE encoder in plain C# (<see cref="ConvReference"/>'s ops, sums in double): the reference the device
    /// encoder (<see cref="VaeEncoder"/>) is tested against, and the encoder of <c>--device reference</c>. The structure
    /// follows the LDM encoder (<c>sd3_impls.py</c> VAEEncoder): conv_in → for level = 0 … L−1: down.{level}.block.0..n−1
    /// (ResNet blocks, one fewer per level than the decoder), then down.{level}.downsample (pad right and bottom by one,
    /// 3 × 3 stride 2) when level &lt; L−1 → mid.block_1 → mid.attn_1 → mid.block_2 → norm_out → SiLU → conv_out to the
    /// moments (mean and log-variance, 2 × 16 channels). Blocks are the decoder's (<see cref="ReferenceVae"/>).
    /// </summary>
    public sealed class ReferenceVaeEncoder : IVaeEncoder
    {
        readonly ReferenceVaeBlocks _b;

        public VaeConfig Config { get; }
        public long WeightBytes { get; }
        public long DefaultMemoryBudget => VaeMemoryPlanner.HostDefaultBudget;

        /// <param name="weights">The VAE's weights, names without <c>first_stage_model.</c> (the decoder is ignored).</param>
        public ReferenceVaeEncoder(IReadOnlyDictionary<string, Weight> weights)
        {
            Config = VaeConfig.Infer(weights);
            VaeBlocks.RequireEncoder(Config, weights);
            _b = new ReferenceVaeBlocks(weights, Config.EncoderTensors(required: true));
            WeightBytes = VaeMemoryPlanner.WeightBytes(Config, DType.F32, encoder: true);
        }

        /// <summary>Encodes an image into sampler-space latents (see <see cref="VaeEncoding.Encode(IVaeEncoder, float[], int, int, int, VaeDecodeOptions)"/>).</summary>
        public VaeLatent Encode(float[] image, int batch, int height, int width, VaeDecodeOptions options = null)
            => VaeEncoding.Encode(this, image, batch, height, width, options);

        /// <inheritdoc />
        public float[] EncodeRaw(float[] image, int batch, int height, int width, PadMode padX, PadMode padY)
        {
            var cfg = Config;
            VaeEncoding.CheckImage(cfg, image, batch, height, width);
            int h = height, w = width, c = cfg.BaseChannels;
            var x = _b.Conv("encoder.conv_in", image, batch, cfg.OutChannels, c, h, w, 3, false, padX, padY);
            for (int level = 0; level < cfg.Levels; level++)
            {
                int cout = cfg.BaseChannels * cfg.ChannelMult[level];
                for (int j = 0; j < cfg.EncoderBlocksPerLevel; j++)
                {
                    x = _b.ResBlock($"encoder.down.{level}.block.{j}", x, batch, c, cout, h, w, padX, padY);
                    c = cout;
                }
                if (level < cfg.Levels - 1)
                {
                    x = _b.Downsample($"encoder.down.{level}.downsample.conv", x, batch, c, h, w, padX, padY);
                    h /= 2; w /= 2;
                }
            }
            x = _b.ResBlock("encoder.mid.block_1", x, batch, c, c, h, w, padX, padY);
            x = _b.AttnBlock("encoder.mid.attn_1", x, batch, c, h * w);
            x = _b.ResBlock("encoder.mid.block_2", x, batch, c, c, h, w, padX, padY);
            x = _b.Norm("encoder.norm_out", x, batch, c, h * w, true);
            return _b.Conv("encoder.conv_out", x, batch, c, 2 * cfg.LatentChannels, h, w, 3, false, padX, padY);
        }

        public void Dispose() { }
    }
}
