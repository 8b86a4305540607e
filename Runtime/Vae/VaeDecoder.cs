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
    /// The SD3 VAE decoder on an ILGPU accelerator, with the structure of <see cref="Reference.ReferenceVae"/> (which it is
    /// tested against): implicit-GEMM convolutions (<see cref="Conv2d"/>; nearest ×2 upsampling fused into the
    /// following conv, bias and residual adds fused into the epilogue, zero or circular padding per axis), split
    /// GroupNorm with fused SiLU (<see cref="GroupNorm"/>), and the mid block's one-head attention over all positions
    /// as chunked products on the convolution kernel (<see cref="SpatialAttention"/>; its head size is the channel
    /// count, 512 in SD3). On ILGPU's CPU accelerator every kernel family runs its barrier-free
    /// <see cref="KernelPath.Threads"/> implementation.
    /// <para>Convolution weights stay in their stored type (F32, F16 or BF16, decoded in the kernels); norms and
    /// biases are F32. Activations live in three reused device buffers (<see cref="VaeWorkspaceSize"/>): two that take
    /// turns holding the running activation and a block's normalised input, and one for each block's first conv
    /// output; the attention's q, k, v and score rows are carved out of them. <see cref="VaeMemoryPlanner"/> predicts
    /// exactly these sizes.</para>
    /// </summary>
    public sealed class VaeDecoder : IVaeDecoder
    {
        readonly ComputeDevice _device;
        readonly bool _ownsDevice;
        readonly VaeBlocks _blocks;
        VaeWorkspace _ws;

        public VaeConfig Config { get; }
        public ComputeDevice Device => _device;
        /// <summary>Bytes of the weights: device copies plus, on the managed CPU backend, those read in place from the memory map.</summary>
        public long WeightBytes => _blocks.WeightBytes;
        /// <summary>Device bytes of the current workspace (0 before the first decode).</summary>
        public long WorkspaceBytes => _ws?.Bytes ?? 0;

        /// <param name="weights">The VAE's weights, names without <c>first_stage_model.</c> (the encoder is ignored).</param>
        /// <param name="device">The device; disposed with the decoder when <paramref name="ownsDevice"/>.</param>
        public VaeDecoder(IReadOnlyDictionary<string, Weight> weights, ComputeDevice device, bool ownsDevice = false)
        {
            Config = VaeConfig.Infer(weights);
            VaeBlocks.Require(Config.Check(weights), "VAE");
            _device = device ?? throw new ArgumentNullException(nameof(device));
            _ownsDevice = ownsDevice;
            _blocks = new VaeBlocks(weights, Config.Tensors(), device);
        }

        /// <summary>
        /// The budget when the options give none: on CUDA the free memory (90 % of it) plus what this decoder already
        /// holds; on OpenCL 90 % of the device memory; on ILGPU's CPU accelerator <see cref="VaeMemoryPlanner.HostDefaultBudget"/>.
        /// </summary>
        public long DefaultMemoryBudget => VaeBlocks.DefaultBudget(_device, WeightBytes + WorkspaceBytes);

        /// <summary>Decodes sampler-space latents (see <see cref="VaeTiling.Decode(IVaeDecoder, float[], int, int, int, VaeDecodeOptions)"/>).</summary>
        public VaeImage Decode(float[] latent, int batch, int height, int width, VaeDecodeOptions options = null)
            => VaeTiling.Decode(this, latent, batch, height, width, options);

        /// <inheritdoc />
        public float[] DecodeRaw(float[] z, int batch, int height, int width, PadMode padX, PadMode padY)
        {
            var cfg = Config;
            if (batch < 1 || height < 1 || width < 1) throw new ArgumentException($"latent [{batch}, {height}, {width}] must be positive.");
            long n = (long)batch * cfg.LatentChannels * height * width;
            if (z.LongLength != n) throw new ArgumentException($"the latent holds {z.Length} values, not [{batch}, {cfg.LatentChannels}, {height}, {width}].");
            var ws = VaeWorkspace.Ensure(ref _ws, _device.Accelerator, VaeMemoryPlanner.Workspace(cfg, batch, height, width));
            ArrayView<float> x = ws.BigA.View, t1 = ws.BigB.View, t2 = ws.Mid.View;
            int h = height, w = width, top = cfg.TopChannels;
            var b = _blocks;

            t1.SubView(0, n).CopyFromCPU(z);
            b.Conv("decoder.conv_in", t1, default, x, batch, cfg.LatentChannels, top, h, w, 3, false, padX, padY);
            b.ResBlock("decoder.mid.block_1", ref x, ref t1, t2, batch, top, top, h, w, padX, padY);
            b.AttnBlock("decoder.mid.attn_1", x, t1, t2, batch, top, h * w);
            b.ResBlock("decoder.mid.block_2", ref x, ref t1, t2, batch, top, top, h, w, padX, padY);
            int cin = top;
            for (int level = cfg.Levels - 1; level >= 0; level--)
            {
                int cout = cfg.BaseChannels * cfg.ChannelMult[level];
                for (int j = 0; j < cfg.BlocksPerLevel; j++)
                {
                    b.ResBlock($"decoder.up.{level}.block.{j}", ref x, ref t1, t2, batch, cin, cout, h, w, padX, padY);
                    cin = cout;
                }
                if (level > 0)
                {
                    b.Conv($"decoder.up.{level}.upsample.conv", x, default, t1, batch, cin, cin, h, w, 3, true, padX, padY);
                    VaeBlocks.Swap(ref x, ref t1);
                    h *= 2; w *= 2;
                }
            }
            b.Norm("decoder.norm_out", x, t1, batch, cin, h * w, true);
            b.Conv("decoder.conv_out", t1, default, x, batch, cin, cfg.OutChannels, h, w, 3, false, padX, padY);
            var result = new float[(long)batch * cfg.OutChannels * h * w];
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
