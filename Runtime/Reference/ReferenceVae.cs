using System;
using System.Collections.Generic;
using Sd3Tex.Checkpoints;
using Sd3Tex.Kernels;
using Sd3Tex.Models;
using Sd3Tex.Vae;

namespace Sd3Tex.Reference
{
    /// <summary>
    /// The SD3 VAE decoder in plain C# (<see cref="ConvReference"/>'s ops, sums in double): the reference the device
    /// decoder is tested against, and <c>--device reference</c> of the command-line tool. The structure follows the
    /// LDM decoder (<c>sd3_impls.py</c> VAEDecoder):
    /// conv_in → mid.block_1 → mid.attn_1 → mid.block_2 → for level = L−1 … 0: up.{level}.block.0..n (ResNet blocks),
    /// then up.{level}.upsample (nearest ×2, conv 3×3) when level &gt; 0 → norm_out → SiLU → conv_out.
    /// A ResNet block is GN → SiLU → conv3×3 → GN → SiLU → conv3×3 plus the input (through the 1×1 nin_shortcut when
    /// the channels change); the attention block is GN, 1×1 q/k/v, one head over all positions with scale 1/√C,
    /// 1×1 proj_out, plus the input. GroupNorm: 32 groups, eps 1e-6, affine. Weights of any float type are read as F32.
    /// </summary>
    public sealed class ReferenceVae : IVaeDecoder
    {
        readonly ReferenceVaeBlocks _b;

        public VaeConfig Config { get; }
        public long WeightBytes { get; }
        public long DefaultMemoryBudget => VaeMemoryPlanner.HostDefaultBudget;

        /// <param name="weights">The VAE's weights, names without <c>first_stage_model.</c> (the encoder is ignored).</param>
        public ReferenceVae(IReadOnlyDictionary<string, Weight> weights)
        {
            Config = VaeConfig.Infer(weights);
            VaeBlocks.Require(Config.Check(weights), "VAE");
            _b = new ReferenceVaeBlocks(weights, Config.Tensors());
            WeightBytes = VaeMemoryPlanner.WeightBytes(Config, DType.F32);
        }

        /// <summary>Decodes sampler-space latents (see <see cref="VaeTiling.Decode(IVaeDecoder, float[], int, int, int, VaeDecodeOptions)"/>).</summary>
        public VaeImage Decode(float[] latent, int batch, int height, int width, VaeDecodeOptions options = null)
            => VaeTiling.Decode(this, latent, batch, height, width, options);

        /// <inheritdoc />
        public float[] DecodeRaw(float[] z, int batch, int height, int width, PadMode padX, PadMode padY)
        {
            var cfg = Config;
            if (z.LongLength != (long)batch * cfg.LatentChannels * height * width)
                throw new ArgumentException($"the latent holds {z.Length} values, not [{batch}, {cfg.LatentChannels}, {height}, {width}].");
            int h = height, w = width, top = cfg.TopChannels;
            var x = _b.Conv("decoder.conv_in", z, batch, cfg.LatentChannels, top, h, w, 3, false, padX, padY);
            x = _b.ResBlock("decoder.mid.block_1", x, batch, top, top, h, w, padX, padY);
            x = _b.AttnBlock("decoder.mid.attn_1", x, batch, top, h * w);
            x = _b.ResBlock("decoder.mid.block_2", x, batch, top, top, h, w, padX, padY);
            int cin = top;
            for (int level = cfg.Levels - 1; level >= 0; level--)
            {
                int cout = cfg.BaseChannels * cfg.ChannelMult[level];
                for (int j = 0; j < cfg.BlocksPerLevel; j++)
                {
                    x = _b.ResBlock($"decoder.up.{level}.block.{j}", x, batch, cin, cout, h, w, padX, padY);
                    cin = cout;
                }
                if (level > 0)
                {
                    x = _b.Conv($"decoder.up.{level}.upsample.conv", x, batch, cin, cin, h, w, 3, true, padX, padY);
                    h *= 2; w *= 2;
                }
            }
            x = _b.Norm("decoder.norm_out", x, batch, cin, h * w, true);
            return _b.Conv("decoder.conv_out", x, batch, cin, cfg.OutChannels, h, w, 3, false, padX, padY);
        }

        public void Dispose() { }
    }

    /// <summary>The LDM blocks of the reference decoder and encoder on <see cref="ConvReference"/>: a ResNet block is
    /// GN → SiLU → conv3×3 → GN → SiLU → conv3×3 plus the input (through the 1×1 nin_shortcut when the channels change);
    /// the attention block is GN, 1×1 q/k/v, one head over all positions with scale 1/√C, 1×1 proj_out, plus the input.
    /// GroupNorm: 32 groups, eps 1e-6, affine. Weights of any float type are read as F32.</summary>
    internal sealed class ReferenceVaeBlocks
    {
        const double Eps = 1e-6;
        const int Groups = 32;

        readonly Dictionary<string, float[]> _w = new Dictionary<string, float[]>(StringComparer.Ordinal);

        public ReferenceVaeBlocks(IReadOnlyDictionary<string, Weight> weights, IEnumerable<Models.TensorSpec> specs)
        {
            foreach (var spec in specs) _w[spec.Name] = weights[spec.Name].ReadFloats();
        }

        public float[] Conv(string name, float[] x, int batch, int cin, int cout, int h, int w, int k, bool upsample, PadMode padX, PadMode padY)
            => ConvReference.Conv2d(x, batch, cin, h, w, _w[name + ".weight"], _w[name + ".bias"], cout, k, upsample, padX, padY);

        public float[] Downsample(string name, float[] x, int batch, int c, int h, int w, PadMode padX, PadMode padY)
            => ConvReference.Downsample2d(x, batch, c, h, w, _w[name + ".weight"], _w[name + ".bias"], c, padX, padY);

        public float[] Norm(string name, float[] x, int batch, int channels, int hw, bool silu)
            => ConvReference.GroupNorm(x, batch, channels, hw, Groups, _w[name + ".weight"], _w[name + ".bias"], Eps, silu);

        public float[] ResBlock(string name, float[] x, int batch, int cin, int cout, int h, int w, PadMode padX, PadMode padY)
        {
            var t = Norm(name + ".norm1", x, batch, cin, h * w, true);
            t = Conv(name + ".conv1", t, batch, cin, cout, h, w, 3, false, padX, padY);
            t = Norm(name + ".norm2", t, batch, cout, h * w, true);
            t = Conv(name + ".conv2", t, batch, cout, cout, h, w, 3, false, padX, padY);
            var skip = cin != cout ? Conv(name + ".nin_shortcut", x, batch, cin, cout, h, w, 1, false, PadMode.Zeros, PadMode.Zeros) : x;
            for (long i = 0; i < t.LongLength; i++) t[i] += skip[i];
            return t;
        }

        public float[] AttnBlock(string name, float[] x, int batch, int c, int hw)
        {
            var hn = Norm(name + ".norm", x, batch, c, hw, false);
            var q = Conv(name + ".q", hn, batch, c, c, 1, hw, 1, false, PadMode.Zeros, PadMode.Zeros);
            var k = Conv(name + ".k", hn, batch, c, c, 1, hw, 1, false, PadMode.Zeros, PadMode.Zeros);
            var v = Conv(name + ".v", hn, batch, c, c, 1, hw, 1, false, PadMode.Zeros, PadMode.Zeros);
            var o = ConvReference.SpatialAttention(q, k, v, batch, c, hw, 1 / Math.Sqrt(c));
            var y = Conv(name + ".proj_out", o, batch, c, c, 1, hw, 1, false, PadMode.Zeros, PadMode.Zeros);
            for (long i = 0; i < y.LongLength; i++) y[i] += x[i];
            return y;
        }
    }
}
