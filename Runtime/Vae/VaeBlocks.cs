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
    /// The building blocks the device VAE decoder and encoder share: their weights on the device and the LDM blocks
    /// (<c>sd3_impls.py</c>) on the kernels: convolutions (<see cref="Conv2d"/>, with the encoder's stride-2
    /// <see cref="Conv2d.Downsample"/>), GroupNorm with fused SiLU (<see cref="GroupNorm"/>) and the mid block's
    /// one-head attention (<see cref="SpatialAttention"/>). Convolution weights stay in their stored type (F32, F16 or
    /// BF16, decoded in the kernels); norms and biases are F32.
    /// </summary>
    internal sealed class VaeBlocks : IDisposable
    {
        const float Eps = 1e-6f;
        const int Groups = VaeMemoryPlanner.Groups;

        readonly Conv2d _conv;
        readonly GroupNorm _gn;
        readonly SpatialAttention _attn;
        readonly DeviceTensors _weights;

        public ComputeDevice Device { get; }
        /// <summary>Bytes of the weights: device copies plus those read in place from the memory map (managed backend).</summary>
        public long WeightBytes => _weights.Bytes + _weights.MappedBytes;

        /// <summary>Uploads the tensors <paramref name="specs"/> names from <paramref name="weights"/>.</summary>
        public VaeBlocks(IReadOnlyDictionary<string, Weight> weights, IEnumerable<TensorSpec> specs, ComputeDevice device)
        {
            Device = device ?? throw new ArgumentNullException(nameof(device));
            _weights = new DeviceTensors(device);
            try
            {
                _conv = new Conv2d(device);
                _gn = new GroupNorm(device);
                _attn = new SpatialAttention(device, _conv);
                // convolution weights (rank 4) feed the kernels in their stored 16-bit type (F8 as F16); the rest is F32
                foreach (var spec in specs)
                {
                    var w = weights[spec.Name];
                    _weights.Put(spec.Name, w.Shape.Length == 4, w);
                }
            }
            catch
            {
                Dispose();
                throw;
            }
        }

        /// <summary>Throws the VAE's "incomplete" error when <paramref name="check"/> found missing or misshaped tensors.</summary>
        public static void Require(SchemaCheck check, string what)
        {
            if (!check.IsComplete)
                throw new CheckpointException(null, $"{what}: {check.Missing.Count} tensors missing and {check.WrongShape.Count} wrongly shaped " +
                                                     $"(first: {string.Join(", ", check.Missing)} {string.Join(", ", check.WrongShape)}). Run `sd3tex inspect` for details.");
        }

        /// <summary>Throws a clear error when the VAE has no encoder, or an incomplete one.</summary>
        public static void RequireEncoder(VaeConfig cfg, IReadOnlyDictionary<string, Weight> weights)
        {
            if (!cfg.HasEncoder)
                throw new CheckpointException(null, "the VAE has no encoder (no encoder.* tensors), so images cannot be encoded: use weights that " +
                                                     "include the VAE encoder (the single-file SD3 checkpoints and diffusers folders do).");
            Require(cfg.CheckEncoder(weights), "VAE encoder");
        }

        /// <summary>
        /// The budget when the options give none: on CUDA the free memory (90 % of it) plus what <paramref name="held"/>
        /// bytes the model already holds; on OpenCL 90 % of the device memory; on the CPU <see cref="VaeMemoryPlanner.HostDefaultBudget"/>.
        /// </summary>
        public static long DefaultBudget(ComputeDevice device, long held)
        {
            var acc = device.Accelerator;
            switch (device.Kind)
            {
                case DeviceKind.Cuda:
                    long free = acc is ILGPU.Runtime.Cuda.CudaAccelerator cuda ? cuda.GetFreeMemory() : acc.MemorySize;
                    return (long)(free * 0.9) + held;
                case DeviceKind.OpenCL:
                    return (long)(acc.MemorySize * 0.9);
                default:
                    return VaeMemoryPlanner.HostDefaultBudget;
            }
        }

        ArrayView<float> F(string name) => _weights.F(name);

        WeightView Wv(string name) => _weights.Linear(name);

        static ArrayView<float> Part(ArrayView<float> v, long offset, long length) => v.SubView(offset, length);

        public static void Swap(ref ArrayView<float> a, ref ArrayView<float> b)
        {
            var t = a;
            a = b;
            b = t;
        }

        /// <summary>Convolution <paramref name="name"/> (weight + bias), plus <paramref name="residual"/> when valid.</summary>
        public void Conv(string name, ArrayView<float> input, ArrayView<float> residual, ArrayView<float> output, int batch, int cin, int cout,
                         int h, int w, int k, bool upsample, PadMode padX, PadMode padY)
            => _conv.Run(input, Wv(name + ".weight"), F(name + ".bias"), residual, output, batch, cin, cout, h, w, k, upsample, padX, padY);

        /// <summary>The encoder's downsample <paramref name="name"/>: [batch, c, h, w] → [batch, c, h/2, w/2].</summary>
        public void Downsample(string name, ArrayView<float> input, ArrayView<float> output, int batch, int c, int h, int w, PadMode padX, PadMode padY)
            => _conv.Downsample(input, Wv(name + ".weight"), F(name + ".bias"), output, batch, c, c, h, w, padX, padY);

        /// <summary>GroupNorm <paramref name="name"/> (32 groups, eps 1e-6), then SiLU when <paramref name="silu"/>; may run in place.</summary>
        public void Norm(string name, ArrayView<float> x, ArrayView<float> y, int batch, int channels, int hw, bool silu)
            => _gn.Run(x, F(name + ".weight"), F(name + ".bias"), y, batch, channels, hw, Groups, Eps, silu);

        /// <summary>x ← x (or nin_shortcut(x)) + conv2(silu(gn2(conv1(silu(gn1(x)))))); t1 and t2 are scratch; when the
        /// channels change the result lands in t1 and the two swap.</summary>
        public void ResBlock(string name, ref ArrayView<float> x, ref ArrayView<float> t1, ArrayView<float> t2, int batch, int cin, int cout,
                             int h, int w, PadMode padX, PadMode padY)
        {
            int hw = h * w;
            Norm(name + ".norm1", x, t1, batch, cin, hw, true);
            Conv(name + ".conv1", t1, default, t2, batch, cin, cout, h, w, 3, false, padX, padY);
            Norm(name + ".norm2", t2, t2, batch, cout, hw, true);
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
        public void AttnBlock(string name, ArrayView<float> x, ArrayView<float> t1, ArrayView<float> t2, int batch, int c, int hw)
        {
            long ct = (long)batch * c * hw;
            ArrayView<float> s0 = Part(t1, 0, ct), s1 = Part(t1, ct, ct), s2 = Part(t1, 2 * ct, ct), s3 = Part(t1, 3 * ct, ct);
            Norm(name + ".norm", x, s0, batch, c, hw, false);
            Conv(name + ".q", s0, default, s1, batch, c, c, 1, hw, 1, false, PadMode.Zeros, PadMode.Zeros);
            _attn.Transpose(s1, s2, batch, c, hw);                                       // qᵀ
            Conv(name + ".k", s0, default, s1, batch, c, c, 1, hw, 1, false, PadMode.Zeros, PadMode.Zeros);
            Conv(name + ".v", s0, default, s3, batch, c, c, 1, hw, 1, false, PadMode.Zeros, PadMode.Zeros);
            _attn.Transpose(s3, s0, batch, c, hw);                                       // vᵀ (hn is consumed)
            _attn.Run(s2, s1, s0, s3, t2, batch, c, hw);                                 // oᵀ
            _attn.Transpose(s3, s1, batch, hw, c);                                       // o (k is consumed)
            Conv(name + ".proj_out", s1, x, x, batch, c, c, 1, hw, 1, false, PadMode.Zeros, PadMode.Zeros);
        }

        public void Dispose()
        {
            _weights?.Dispose();
            _gn?.Dispose();
        }
    }

    /// <summary>The three activation buffers of a device VAE pass (sized by <see cref="VaeMemoryPlanner"/>): two that take
    /// turns holding the running activation and a block's normalised input, and one for each block's first conv.</summary>
    internal sealed class VaeWorkspace : IDisposable
    {
        public readonly MemoryBuffer1D<float, Stride1D.Dense> BigA, BigB, Mid;
        public readonly VaeWorkspaceSize Size;

        public VaeWorkspace(Accelerator acc, VaeWorkspaceSize size)
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

        /// <summary><paramref name="current"/> when it holds <paramref name="size"/>, else a new workspace (the old one freed first).</summary>
        public static VaeWorkspace Ensure(ref VaeWorkspace current, Accelerator acc, VaeWorkspaceSize size)
        {
            if (current != null && current.Holds(size)) return current;
            current?.Dispose();
            current = null;
            current = new VaeWorkspace(acc, size);
            return current;
        }

        public void Dispose() { BigA?.Dispose(); BigB?.Dispose(); Mid?.Dispose(); }
    }
}
