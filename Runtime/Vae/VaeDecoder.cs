using System;
using System.Collections.Generic;
using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;
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
        const float Eps = 1e-6f;
        const int Groups = VaeMemoryPlanner.Groups;

        readonly ComputeDevice _device;
        readonly bool _ownsDevice;
        readonly Conv2d _conv;
        readonly GroupNorm _gn;
        readonly SpatialAttention _attn;
        readonly DeviceTensors _weights;
        Workspace _ws;

        public VaeConfig Config { get; }
        public ComputeDevice Device => _device;
        /// <summary>Bytes of the weights: device copies plus, on the managed CPU backend, those read in place from the memory map.</summary>
        public long WeightBytes => _weights.Bytes + _weights.MappedBytes;
        /// <summary>Device bytes of the current workspace (0 before the first decode).</summary>
        public long WorkspaceBytes => _ws?.Bytes ?? 0;

        /// <param name="weights">The VAE's weights, names without <c>first_stage_model.</c> (the encoder is ignored).</param>
        /// <param name="device">The device; disposed with the decoder when <paramref name="ownsDevice"/>.</param>
        public VaeDecoder(IReadOnlyDictionary<string, Weight> weights, ComputeDevice device, bool ownsDevice = false)
        {
            Config = VaeConfig.Infer(weights);
            var check = Config.Check(weights);
            if (!check.IsComplete)
                throw new CheckpointException(null, $"VAE: {check.Missing.Count} tensors missing and {check.WrongShape.Count} wrongly shaped " +
                                                     $"(first: {string.Join(", ", check.Missing)} {string.Join(", ", check.WrongShape)}). Run `sd3tex inspect` for details.");
            _device = device ?? throw new ArgumentNullException(nameof(device));
            _ownsDevice = ownsDevice;
            _weights = new DeviceTensors(device);
            try
            {
                _conv = new Conv2d(device);
                _gn = new GroupNorm(device);
                _attn = new SpatialAttention(device, _conv);
                foreach (var spec in Config.Tensors()) Upload(spec.Name, weights[spec.Name]);
            }
            catch
            {
                DisposeBuffers();
                throw;
            }
        }

        /// <summary>
        /// The budget when the options give none: on CUDA the free memory (90 % of it) plus what this decoder already
        /// holds; on OpenCL 90 % of the device memory; on ILGPU's CPU accelerator <see cref="VaeMemoryPlanner.HostDefaultBudget"/>.
        /// </summary>
        public long DefaultMemoryBudget
        {
            get
            {
                var acc = _device.Accelerator;
                switch (_device.Kind)
                {
                    case DeviceKind.Cuda:
                        long free = acc is CudaAccelerator cuda ? cuda.GetFreeMemory() : acc.MemorySize;
                        return (long)(free * 0.9) + WeightBytes + WorkspaceBytes;
                    case DeviceKind.OpenCL:
                        return (long)(acc.MemorySize * 0.9);
                    default:
                        return VaeMemoryPlanner.HostDefaultBudget;
                }
            }
        }

        /// <summary>Decodes sampler-space latents (see <see cref="VaeTiling.Decode(IVaeDecoder, float[], int, int, int, VaeDecodeOptions)"/>).</summary>
        public VaeImage Decode(float[] latent, int batch, int height, int width, VaeDecodeOptions options = null)
            => VaeTiling.Decode(this, latent, batch, height, width, options);

        /// <summary>Convolution weights (rank 4) feed the kernels in their stored 16-bit type (F8 as F16); everything
        /// else is F32.</summary>
        void Upload(string name, Weight w) => _weights.Put(name, w.Shape.Length == 4, w);

        ArrayView<float> F(string name) => _weights.F(name);

        WeightView Wv(string name) => _weights.Linear(name);

        static ArrayView<float> Part(ArrayView<float> v, long offset, long length) => v.SubView(offset, length);

        /// <summary>The three activation buffers, sized by <see cref="VaeMemoryPlanner.Workspace"/>.</summary>
        sealed class Workspace : IDisposable
        {
            public readonly MemoryBuffer1D<float, Stride1D.Dense> BigA, BigB, Mid;
            public readonly VaeWorkspaceSize Size;

            public Workspace(Accelerator acc, VaeWorkspaceSize size)
            {
                Size = size;
                try
                {
                    BigA = acc.Allocate1D<float>(size.BigFloats);
                    BigB = acc.Allocate1D<float>(size.BigFloats);
                    Mid = acc.Allocate1D<float>(size.MidFloats);
                }
                catch
                {
                    Dispose();
                    throw;
                }
            }

            public long Bytes => (BigA.Length + BigB.Length + Mid.Length) * sizeof(float);

            public bool Holds(VaeWorkspaceSize s) => BigA.Length >= s.BigFloats && Mid.Length >= s.MidFloats;

            public void Dispose() { BigA?.Dispose(); BigB?.Dispose(); Mid?.Dispose(); }
        }

        /// <inheritdoc />
        public float[] DecodeRaw(float[] z, int batch, int height, int width, PadMode padX, PadMode padY)
        {
            var cfg = Config;
            if (batch < 1 || height < 1 || width < 1) throw new ArgumentException($"latent [{batch}, {height}, {width}] must be positive.");
            long n = (long)batch * cfg.LatentChannels * height * width;
            if (z.LongLength != n) throw new ArgumentException($"the latent holds {z.Length} values, not [{batch}, {cfg.LatentChannels}, {height}, {width}].");
            var size = VaeMemoryPlanner.Workspace(cfg, batch, height, width);
            if (_ws == null || !_ws.Holds(size))
            {
                _ws?.Dispose();
                _ws = null;
                _ws = new Workspace(_device.Accelerator, size);
            }
            ArrayView<float> x = _ws.BigA.View, t1 = _ws.BigB.View, t2 = _ws.Mid.View;
            int h = height, w = width, top = cfg.TopChannels;

            t1.SubView(0, n).CopyFromCPU(z);
            Conv("decoder.conv_in", t1, default, x, batch, cfg.LatentChannels, top, h, w, 3, false, padX, padY);
            ResBlock("decoder.mid.block_1", ref x, ref t1, t2, batch, top, top, h, w, padX, padY);
            AttnBlock("decoder.mid.attn_1", x, t1, t2, batch, top, h * w);
            ResBlock("decoder.mid.block_2", ref x, ref t1, t2, batch, top, top, h, w, padX, padY);
            int cin = top;
            for (int level = cfg.Levels - 1; level >= 0; level--)
            {
                int cout = cfg.BaseChannels * cfg.ChannelMult[level];
                for (int j = 0; j < cfg.BlocksPerLevel; j++)
                {
                    ResBlock($"decoder.up.{level}.block.{j}", ref x, ref t1, t2, batch, cin, cout, h, w, padX, padY);
                    cin = cout;
                }
                if (level > 0)
                {
                    Conv($"decoder.up.{level}.upsample.conv", x, default, t1, batch, cin, cin, h, w, 3, true, padX, padY);
                    Swap(ref x, ref t1);
                    h *= 2; w *= 2;
                }
            }
            _gn.Run(x, F("decoder.norm_out.weight"), F("decoder.norm_out.bias"), t1, batch, cin, h * w, Groups, Eps, silu: true);
            Conv("decoder.conv_out", t1, default, x, batch, cin, cfg.OutChannels, h, w, 3, false, padX, padY);
            var result = new float[(long)batch * cfg.OutChannels * h * w];
            x.SubView(0, result.LongLength).CopyToCPU(result);
            return result;
        }

        static void Swap(ref ArrayView<float> a, ref ArrayView<float> b)
        {
            var t = a;
            a = b;
            b = t;
        }

        void Conv(string name, ArrayView<float> input, ArrayView<float> residual, ArrayView<float> output, int batch, int cin, int cout,
                  int h, int w, int k, bool upsample, PadMode padX, PadMode padY)
            => _conv.Run(input, Wv(name + ".weight"), F(name + ".bias"), residual, output, batch, cin, cout, h, w, k, upsample, padX, padY);

        /// <summary>x ← x (or nin_shortcut(x)) + conv2(silu(gn2(conv1(silu(gn1(x)))))); t1 and t2 are scratch; when the
        /// channels change the result lands in t1 and the two swap.</summary>
        void ResBlock(string name, ref ArrayView<float> x, ref ArrayView<float> t1, ArrayView<float> t2, int batch, int cin, int cout,
                      int h, int w, PadMode padX, PadMode padY)
        {
            int hw = h * w;
            _gn.Run(x, F(name + ".norm1.weight"), F(name + ".norm1.bias"), t1, batch, cin, hw, Groups, Eps, silu: true);
            Conv(name + ".conv1", t1, default, t2, batch, cin, cout, h, w, 3, false, padX, padY);
            _gn.Run(t2, F(name + ".norm2.weight"), F(name + ".norm2.bias"), t2, batch, cout, hw, Groups, Eps, silu: true);
            if (cin != cout)
            {
                Conv(name + ".nin_shortcut", x, default, t1, batch, cin, cout, h, w, 1, false, PadMode.Zeros, PadMode.Zeros);
                Conv(name + ".conv2", t2, t1, t1, batch, cout, cout, h, w, 3, false, padX, padY);
                Swap(ref x, ref t1);
            }
            else Conv(name + ".conv2", t2, x, x, batch, cout, cout, h, w, 3, false, padX, padY);
        }

        /// <summary>x ← x + proj_out(attention(q, k, v of gn(x))), one head of c channels over the hw positions.
        /// t1 holds four slots of c·hw floats per image, reused as the inputs are consumed:
        /// [hn → vᵀ | q → k → o | qᵀ | v → oᵀ]; t2 holds the score rows.</summary>
        void AttnBlock(string name, ArrayView<float> x, ArrayView<float> t1, ArrayView<float> t2, int batch, int c, int hw)
        {
            long ct = (long)batch * c * hw;
            ArrayView<float> s0 = Part(t1, 0, ct), s1 = Part(t1, ct, ct), s2 = Part(t1, 2 * ct, ct), s3 = Part(t1, 3 * ct, ct);
            _gn.Run(x, F(name + ".norm.weight"), F(name + ".norm.bias"), s0, batch, c, hw, Groups, Eps, silu: false);
            Conv(name + ".q", s0, default, s1, batch, c, c, 1, hw, 1, false, PadMode.Zeros, PadMode.Zeros);
            _attn.Transpose(s1, s2, batch, c, hw);                                       // qᵀ
            Conv(name + ".k", s0, default, s1, batch, c, c, 1, hw, 1, false, PadMode.Zeros, PadMode.Zeros);
            Conv(name + ".v", s0, default, s3, batch, c, c, 1, hw, 1, false, PadMode.Zeros, PadMode.Zeros);
            _attn.Transpose(s3, s0, batch, c, hw);                                       // vᵀ (hn is consumed)
            _attn.Run(s2, s1, s0, s3, t2, batch, c, hw);                                 // oᵀ
            _attn.Transpose(s3, s1, batch, hw, c);                                       // o (k is consumed)
            Conv(name + ".proj_out", s1, x, x, batch, c, c, 1, hw, 1, false, PadMode.Zeros, PadMode.Zeros);
        }

        void DisposeBuffers()
        {
            _ws?.Dispose();
            _ws = null;
            _weights?.Dispose();
            _gn?.Dispose();
        }

        public void Dispose()
        {
            DisposeBuffers();
            if (_ownsDevice) _device.Dispose();
        }
    }
}
