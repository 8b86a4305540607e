using System;
using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;

namespace Sd3Tex.Kernels
{
    /// <summary>
    /// The MMDiT's shape changes at its two ends and the timestep's sinusoidal features:
    /// <see cref="Patchify"/> (x_embedder: a p×p stride-p convolution of the latent into tokens),
    /// <see cref="Unpatchify"/> (final tokens back to a latent) and <see cref="TimestepEmbedding"/>.
    /// Kernels are compiled once per device; calls enqueue on the default stream and allocate nothing.
    /// </summary>
    public sealed class ShapeOps
    {
        readonly Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, PatchArgs> _patchify;
        readonly Action<Index1D, ArrayView<float>, ArrayView<float>, PatchArgs> _unpatchify;
        readonly Action<Index1D, ArrayView<float>, ArrayView<float>, TimestepArgs> _timestep;

        public ComputeDevice Device { get; }

        public ShapeOps(ComputeDevice device)
        {
            Device = device ?? throw new ArgumentNullException(nameof(device));
            if (device.IsManaged) return; // the managed CPU backend runs Cpu.CpuOps instead of the kernels
            var acc = device.Accelerator;
            _patchify = acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, PatchArgs>(PatchifyKernel);
            _unpatchify = acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, PatchArgs>(UnpatchifyKernel);
            _timestep = acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, TimestepArgs>(TimestepKernel);
        }

        /// <summary>Copies host values into a new device buffer (weights converted to F32 on the host first).</summary>
        public MemoryBuffer1D<float, Stride1D.Dense> Upload(float[] values) => Device.Accelerator.Allocate1D(values);

        /// <summary>
        /// x_embedder: latent [B, C, H, W] → tokens [B, (H/p)*(W/p), hidden], patches row-major (token t = i*(W/p) + j):
        /// <c>tokens[b, t, o] = bias[o] + Σ_{c,py,px} weight[o, c, py, px] * latent[b, c, i*p+py, j*p+px]</c>,
        /// weight [hidden, C, p, p], bias [hidden]. H and W must be multiples of p.
        /// </summary>
        public void Patchify(ArrayView<float> latent, ArrayView<float> weight, ArrayView<float> bias, ArrayView<float> tokens,
                             int batch, int channels, int height, int width, int hidden, int patch)
        {
            var a = Args(batch, channels, height, width, hidden, patch);
            long n = (long)batch * a.GridH * a.GridW * hidden;
            Need(latent, (long)batch * channels * height * width, "latent [B, C, H, W]");
            Need(weight, (long)hidden * channels * patch * patch, "weight [hidden, C, p, p]");
            Need(bias, hidden, "bias [hidden]");
            Need(tokens, n, "tokens [B, T, hidden]");
            if (Device.IsManaged)
            {
                unsafe { Cpu.CpuOps.Patchify(P(latent), P(weight), P(bias), P(tokens), batch, channels, height, width, hidden, patch); }
                return;
            }
            _patchify((int)n, latent, weight, bias, tokens, a);
        }

        /// <summary>
        /// tokens [B, T, p*p*C] → image [B, C, H, W] with T = (H/p)*(W/p), gw = W/p and features ordered (py, px, c):
        /// <c>image[b, c, i*p+py, j*p+px] = tokens[b, i*gw + j, (py*p + px)*C + c]</c>.
        /// </summary>
        public void Unpatchify(ArrayView<float> tokens, ArrayView<float> image, int batch, int channels, int height, int width, int patch)
        {
            var a = Args(batch, channels, height, width, 1, patch);
            long n = (long)batch * channels * height * width;
            Need(tokens, n, "tokens [B, T, p*p*C]");
            Need(image, n, "image [B, C, H, W]");
            if (Device.IsManaged)
            {
                unsafe { Cpu.CpuOps.Unpatchify(P(tokens), P(image), batch, channels, height, width, patch); }
                return;
            }
            _unpatchify((int)n, tokens, image, a);
        }

        /// <summary>
        /// Sinusoidal timestep features: timesteps [B] (already sigma*1000 for SD3, or sigmas with timestepScale 1000)
        /// → output [B, dim]: with half = dim/2, f_i = exp(-ln(maxPeriod) * i / half), a = t * f_i:
        /// <c>output[b, i] = cos(a)</c>, <c>output[b, half + i] = sin(a)</c> (cos FIRST), and a zero last column when dim is odd.
        /// The arithmetic follows the reference's float32 order.
        /// </summary>
        public void TimestepEmbedding(ArrayView<float> timesteps, ArrayView<float> output, int batch, int dim = 256,
                                      float maxPeriod = 10000f, float timestepScale = 1f)
        {
            if (batch < 1 || dim < 2) throw new ArgumentOutOfRangeException(nameof(dim), "batch must be positive and dim at least 2");
            Need(timesteps, batch, "timesteps [B]");
            Need(output, (long)batch * dim, "output [B, dim]");
            if (Device.IsManaged)
            {
                unsafe { Cpu.CpuOps.TimestepEmbedding(P(timesteps), P(output), batch, dim, (float)-Math.Log(maxPeriod), timestepScale); }
                return;
            }
            _timestep(batch * dim, timesteps, output, new TimestepArgs
            {
                Dim = dim, Half = dim / 2, NegLogMaxPeriod = (float)-Math.Log(maxPeriod), Scale = timestepScale,
            });
        }

        static unsafe float* P(ArrayView<float> v) => Cpu.CpuBackend.Ptr(v);

        static PatchArgs Args(int batch, int channels, int height, int width, int hidden, int patch)
        {
            if (batch < 1 || channels < 1 || hidden < 1 || patch < 1 || height < 1 || width < 1)
                throw new ArgumentOutOfRangeException(nameof(batch), "sizes must be positive");
            if (height % patch != 0 || width % patch != 0)
                throw new ArgumentException($"latent {height}×{width} is not a multiple of the patch size {patch}.");
            if ((long)batch * Math.Max(channels, hidden) * height * width > int.MaxValue) throw new ArgumentException("tensor larger than 2^31 elements.");
            return new PatchArgs
            {
                Channels = channels, Height = height, Width = width, Hidden = hidden, Patch = patch,
                GridH = height / patch, GridW = width / patch,
            };
        }

        static void Need(ArrayView<float> v, long n, string what)
        {
            if (!v.IsValid || v.Length < n) throw new ArgumentException($"{what} needs {n} elements, got {(v.IsValid ? v.Length : 0)}.");
        }

        // ---------------------------------------------------------------------------------------------------------
        // kernels (argument blocks are public only because ILGPU's CPU backend emits code that must see them)

        /// <summary>Argument block of the patch kernels.</summary>
        public struct PatchArgs
        {
            public int Channels, Height, Width, Hidden, Patch, GridH, GridW;
        }

        /// <summary>Argument block of the timestep kernel.</summary>
        public struct TimestepArgs
        {
            public int Dim, Half;
            public float NegLogMaxPeriod, Scale;
        }

        /// <summary>One thread per token feature (b, t, o); neighbouring threads share the patch and walk the weight rows.</summary>
        static void PatchifyKernel(Index1D index, ArrayView<float> x, ArrayView<float> w, ArrayView<float> bias, ArrayView<float> tokens, PatchArgs p)
        {
            int o = index % p.Hidden;
            int bt = index / p.Hidden;
            int T = p.GridH * p.GridW;
            int b = bt / T, t = bt - b * T;
            int i = t / p.GridW, j = t - i * p.GridW;
            int pp = p.Patch * p.Patch;
            float acc = bias[o];
            for (int c = 0; c < p.Channels; c++)
            {
                int xBase = ((b * p.Channels + c) * p.Height + i * p.Patch) * p.Width + j * p.Patch;
                int wBase = (o * p.Channels + c) * pp;
                for (int py = 0; py < p.Patch; py++)
                    for (int px = 0; px < p.Patch; px++)
                        acc += w[wBase + py * p.Patch + px] * x[xBase + py * p.Width + px];
            }
            tokens[index] = acc;
        }

        /// <summary>One thread per image element (b, c, y, x).</summary>
        static void UnpatchifyKernel(Index1D index, ArrayView<float> tokens, ArrayView<float> image, PatchArgs p)
        {
            int xx = index % p.Width;
            int r = index / p.Width;
            int y = r % p.Height;
            r /= p.Height;
            int c = r % p.Channels;
            int b = r / p.Channels;
            int i = y / p.Patch, py = y - i * p.Patch;
            int j = xx / p.Patch, px = xx - j * p.Patch;
            int features = p.Patch * p.Patch * p.Channels;
            int t = i * p.GridW + j;
            image[index] = tokens[(b * p.GridH * p.GridW + t) * features + (py * p.Patch + px) * p.Channels + c];
        }

        /// <summary>One thread per output element (b, i): cos for i &lt; half, sin for half ≤ i &lt; 2*half, 0 past that.</summary>
        static void TimestepKernel(Index1D index, ArrayView<float> timesteps, ArrayView<float> output, TimestepArgs p)
        {
            int b = index / p.Dim, i = index - b * p.Dim;
            float v = 0f;
            if (i < 2 * p.Half)
            {
                int k = i < p.Half ? i : i - p.Half;
                // torch: exp((-ln(max_period) * arange(half, float32)) / half), then t * freqs, all float32
                float e = p.NegLogMaxPeriod * k;
                float f = XMath.Exp(e / p.Half);
                float a = timesteps[b] * p.Scale * f;
                v = i < p.Half ? XMath.Cos(a) : XMath.Sin(a);
            }
            output[index] = v;
        }
    }
}
