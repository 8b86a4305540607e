using System;
using System.Collections.Generic;
using ILGPU;
using ILGPU.Runtime;
using Sd3Tex.Checkpoints;
using Sd3Tex.Kernels;
using Sd3Tex.Models;

namespace Sd3Tex.Vae
{
    /// <summary>
    /// The SD3 VAE encoder on an ILGPU accelerator or the managed CPU backend, with the structure of
    /// <see cref="Reference.ReferenceVaeEncoder"/> (which it is tested against) and the decoder's kernels
    /// (<see cref="VaeBlocks"/>): conv_in, per level the ResNet blocks and the stride-2 <see cref="Conv2d.Downsample"/>,
    /// the mid block with its one-head attention, norm_out + SiLU and conv_out to the moments. Zero or circular padding
    /// per axis (on a seamless axis the downsample's extra row and column are the first ones). Activations live in the
    /// decoder's three reused buffers, sized by <see cref="VaeMemoryPlanner.EncoderWorkspace"/>; the encoder's weights
    /// are uploaded only when an image is to be encoded, so decoding alone never holds them.
    /// </summary>
    public sealed class VaeEncoder : IVaeEncoder
    {
        readonly ComputeDevice _device;
        readonly bool _ownsDevice;
        readonly VaeBlocks _blocks;
        VaeWorkspace _ws;

        public VaeConfig Config { get; }
        public ComputeDevice Device => _device;
        /// <summary>Bytes of the encoder's weights (device copies plus those read in place on the managed CPU backend).</summary>
        public long WeightBytes => _blocks.WeightBytes;
        /// <summary>Device bytes of the current workspace (0 before the first encode).</summary>
        public long WorkspaceBytes => _ws?.Bytes ?? 0;

        /// <param name="weights">The VAE's weights, names without <c>first_stage_model.</c> (the decoder is ignored).</param>
        /// <param name="device">The device; disposed with the encoder when <paramref name="ownsDevice"/>.</param>
        public VaeEncoder(IReadOnlyDictionary<string, Weight> weights, ComputeDevice device, bool ownsDevice = false)
        {
            Config = VaeConfig.Infer(weights);
            VaeBlocks.RequireEncoder(Config, weights);
            _device = device ?? throw new ArgumentNullException(nameof(device));
            _ownsDevice = ownsDevice;
            _blocks = new VaeBlocks(weights, Config.EncoderTensors(required: true), device);
        }

        /// <summary>The budget when the options give none (as <see cref="VaeDecoder.DefaultMemoryBudget"/>).</summary>
        public long DefaultMemoryBudget => VaeBlocks.DefaultBudget(_device, WeightBytes + WorkspaceBytes);

        /// <summary>Encodes images (see <see cref="VaeEncoding.Encode(IVaeEncoder, float[], int, int, int, VaeDecodeOptions)"/>).</summary>
        public VaeLatent Encode(float[] image, int batch, int height, int width, VaeDecodeOptions options = null)
            => VaeEncoding.Encode(this, image, batch, height, width, options);

        /// <inheritdoc />
        public float[] EncodeRaw(float[] image, int batch, int height, int width, PadMode padX, PadMode padY)
        {
            var cfg = Config;
            VaeEncoding.CheckImage(cfg, image, batch, height, width);
            int s = cfg.Scale;
            var ws = VaeWorkspace.Ensure(ref _ws, _device.Accelerator, VaeMemoryPlanner.EncoderWorkspace(cfg, batch, height / s, width / s));
            ArrayView<float> x = ws.BigA.View, t1 = ws.BigB.View, t2 = ws.Mid.View;
            int h = height, w = width, c = cfg.BaseChannels;
            var b = _blocks;

            t1.SubView(0, image.LongLength).CopyFromCPU(image);
            b.Conv("encoder.conv_in", t1, default, x, batch, cfg.OutChannels, c, h, w, 3, false, padX, padY);
            for (int level = 0; level < cfg.Levels; level++)
            {
                int cout = cfg.BaseChannels * cfg.ChannelMult[level];
                for (int j = 0; j < cfg.EncoderBlocksPerLevel; j++)
                {
                    b.ResBlock($"encoder.down.{level}.block.{j}", ref x, ref t1, t2, batch, c, cout, h, w, padX, padY);
                    c = cout;
                }
                if (level < cfg.Levels - 1)
                {
                    b.Downsample($"encoder.down.{level}.downsample.conv", x, t1, batch, c, h, w, padX, padY);
                    VaeBlocks.Swap(ref x, ref t1);
                    h /= 2; w /= 2;
                }
            }
            b.ResBlock("encoder.mid.block_1", ref x, ref t1, t2, batch, c, c, h, w, padX, padY);
            b.AttnBlock("encoder.mid.attn_1", x, t1, t2, batch, c, h * w);
            b.ResBlock("encoder.mid.block_2", ref x, ref t1, t2, batch, c, c, h, w, padX, padY);
            b.Norm("encoder.norm_out", x, t1, batch, c, h * w, true);
            int mc = 2 * cfg.LatentChannels;
            b.Conv("encoder.conv_out", t1, default, x, batch, c, mc, h, w, 3, false, padX, padY);
            var result = new float[(long)batch * mc * h * w];
            x.SubView(0, result.LongLength).CopyToCPU(result);
            return result;
        }

        public void Dispose()
        {
            _ws?.Dispose();
            _ws = null;
            _blocks?.Dispose();
            if (_ownsDevice) _device.Dispose();
        }
    }
}
