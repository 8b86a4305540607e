using System;
using System.Collections.Generic;
using System.Runtime.CompilerServices;
using ILGPU;
using ILGPU.Runtime;

namespace Sd3Tex.Kernels
{
    /// <summary>What a GEMM does to each output after adding the bias.</summary>
    public enum GemmEpilogue
    {
        /// <summary>out[m,n] = acc + bias[n].</summary>
        None = 0,
        /// <summary>out[m,n] = gelu_tanh(acc + bias[n]).</summary>
        GeluTanh = 1,
        /// <summary>out[m,n] = residual[m,n] + gate[m / tokensPerBatch, n] · (acc + bias[n]).</summary>
        GatedResidual = 2,
    }

    /// <summary>
    /// A linear layer's weight <c>W [out, in]</c> (PyTorch layout, row-major) on the device in its stored type:
    /// F32 as floats, F16 and BF16 as their raw 16-bit patterns (decoded inside the kernel).
    /// </summary>
    public readonly struct WeightView
    {
        public readonly DType Type;
        /// <summary>The elements when <see cref="Type"/> is F32.</summary>
        public readonly ArrayView<float> F32;
        /// <summary>The raw bits when <see cref="Type"/> is F16 or BF16.</summary>
        public readonly ArrayView<ushort> Bits;

        WeightView(DType type, ArrayView<float> f32, ArrayView<ushort> bits) { Type = type; F32 = f32; Bits = bits; }

        public static WeightView FromF32(ArrayView<float> w) => new WeightView(DType.F32, w, default);
        public static WeightView FromF16(ArrayView<ushort> bits) => new WeightView(DType.F16, default, bits);
        public static WeightView FromBF16(ArrayView<ushort> bits) => new WeightView(DType.BF16, default, bits);

        /// <summary>16-bit weights of the given type (F16 or BF16).</summary>
        public static WeightView FromBits(DType type, ArrayView<ushort> bits)
        {
            if (type != DType.F16 && type != DType.BF16) throw new ArgumentException($"16-bit weights are F16 or BF16, not {type}.", nameof(type));
            return new WeightView(type, default, bits);
        }

        /// <summary>Number of elements.</summary>
        public long Length => Type == DType.F32 ? F32.Length : Bits.Length;
    }

    /// <summary>The scalar arguments of the GEMM kernel (built by <see cref="Gemm"/>).</summary>
    public struct GemmParams
    {
        /// <summary>C is M × N; the reduction runs over K.</summary>
        public int M, N, K;
        /// <summary>Row strides (elements) of A and of C/residual; W's row stride is K.</summary>
        public int Lda, Ldc;
        /// <summary>1 when a bias is added.</summary>
        public int HasBias;
        /// <summary>A <see cref="GemmEpilogue"/> value.</summary>
        public int Epilogue;
        /// <summary>Gated residual: rows per batch (batch of row m is m / TokensPerBatch) and the gate's batch stride.</summary>
        public int TokensPerBatch, GateStride;
    }

    /// <summary>A block tile of the GEMM: <c>BM × BN</c> outputs per group, K consumed <c>BK</c> at a time, each thread
    /// computing a 4 × 4 micro-tile, so a group has (BM/4)·(BN/4) threads. Implemented by empty structs: the sizes are
    /// compile-time constants of the specialised kernel (static shared memory needs them).</summary>
    public interface IGemmTile
    {
        int BM { get; }
        int BN { get; }
        int BK { get; }
        /// <summary>Shared floats of the A tile: BK rows of BM + 1 (padding against bank conflicts).</summary>
        int ASize { get; }
        /// <summary>Shared floats of the W tile: BK rows of BN + 1.</summary>
        int WSize { get; }
    }

    /// <summary>16 × 16 outputs, 16 threads (accelerators with tiny groups).</summary>
    public struct GemmTile16 : IGemmTile
    {
        public int BM => 16; public int BN => 16; public int BK => 16;
        public int ASize => 16 * 17; public int WSize => 16 * 17;
    }

    /// <summary>32 × 32 outputs, 64 threads (the CPU device).</summary>
    public struct GemmTile32 : IGemmTile
    {
        public int BM => 32; public int BN => 32; public int BK => 16;
        public int ASize => 16 * 33; public int WSize => 16 * 33;
    }

    /// <summary>64 × 64 outputs, 256 threads (GPUs).</summary>
    public struct GemmTile64 : IGemmTile
    {
        public int BM => 64; public int BN => 64; public int BK => 16;
        public int ASize => 16 * 65; public int WSize => 16 * 65;
    }

    /// <summary>
    /// Linear layers on the device: <c>C[M,N] = A[M,K] · W[N,K]ᵀ (+ bias[N])</c>, then an optional fused epilogue
    /// (<see cref="GemmEpilogue"/>). A, bias, C, residual and gate are F32; W is F32, F16 or BF16
    /// (<see cref="WeightView"/>). Any M, N, K. Kernels are compiled on first use and cached; a call allocates nothing
    /// and is asynchronous on the accelerator's default stream.
    /// <para>The reference it must match is <see cref="GemmReference"/>.</para>
    /// </summary>
    public sealed class Gemm
    {
        /// <summary>The tile edges this class can use, smallest first.</summary>
        public static readonly int[] TileSizes = { 16, 32, 64 };

        readonly ComputeDevice _device;
        readonly int _largestTile; // index into TileSizes
        readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, GemmParams>[] _f32 =
            new Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, GemmParams>[3];
        readonly Action<KernelConfig, ArrayView<float>, ArrayView<ushort>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, GemmParams>[] _f16 =
            new Action<KernelConfig, ArrayView<float>, ArrayView<ushort>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, GemmParams>[3];
        readonly Action<KernelConfig, ArrayView<float>, ArrayView<ushort>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, GemmParams>[] _bf16 =
            new Action<KernelConfig, ArrayView<float>, ArrayView<ushort>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, GemmParams>[3];

        /// <param name="device">The accelerator.</param>
        /// <param name="maxTile">Largest tile edge to use (16, 32 or 64; 0 = the largest the accelerator holds).</param>
        public Gemm(ComputeDevice device, int maxTile = 0)
        {
            _device = device ?? throw new ArgumentNullException(nameof(device));
            _largestTile = TilePlan.LargestFitting(device, TileSizes, maxTile, ThreadsFor, SharedBytesFor, "GEMM");
        }

        /// <summary>Threads per group of a tile edge: one per 4 × 4 outputs.</summary>
        public static int ThreadsFor(int tile) => (tile / 4) * (tile / 4);

        /// <summary>Shared memory per group of a tile edge (A and W tiles, BK = 16, one float of padding per row).</summary>
        public static int SharedBytesFor(int tile) => 2 * 16 * (tile + 1) * sizeof(float);

        /// <summary>The largest tile edge this instance uses.</summary>
        public int MaxTile => TileSizes[_largestTile];

        /// <summary>The tile edge a launch of an M × N output uses: the largest allowed, stepped down while that leaves
        /// multiprocessors idle (small outputs get more, smaller groups).</summary>
        public int TileFor(int m, int n) => TileSizes[TileIndexFor(m, n)];

        int TileIndexFor(int m, int n) => TilePlan.IndexFor(_device, TileSizes, _largestTile, m, n);

        /// <summary><c>C[M,N] = A[M,K] · W[N,K]ᵀ + bias[N]</c>. Pass <c>default</c> for no bias.</summary>
        public void Linear(ArrayView<float> a, WeightView w, ArrayView<float> bias, ArrayView<float> c, int m, int n, int k) =>
            Run(a, w, bias, c, m, n, k, GemmEpilogue.None, default, default, 1, 0);

        /// <summary><c>C[M,N] = gelu_tanh(A[M,K] · W[N,K]ᵀ + bias[N])</c> (the MMDiT MLP's first layer).</summary>
        public void LinearGeluTanh(ArrayView<float> a, WeightView w, ArrayView<float> bias, ArrayView<float> c, int m, int n, int k) =>
            Run(a, w, bias, c, m, n, k, GemmEpilogue.GeluTanh, default, default, 1, 0);

        /// <summary>
        /// <c>C[m,n] = residual[m,n] + gate[b,n] · (A · Wᵀ + bias)[m,n]</c> with <c>b = m / tokensPerBatch</c>: the MMDiT's
        /// <c>x = x + gate · proj(…)</c>. <paramref name="gate"/> holds row b at <c>b · gateBatchStride</c> (e.g. a chunk
        /// of the adaLN output [B, 6·hidden]: view offset = chunk · hidden, stride = 6·hidden). C may be the residual
        /// itself (in place).
        /// </summary>
        public void LinearGatedResidual(ArrayView<float> a, WeightView w, ArrayView<float> bias, ArrayView<float> residual,
                                        ArrayView<float> gate, ArrayView<float> c, int m, int n, int k,
                                        int tokensPerBatch, int gateBatchStride) =>
            Run(a, w, bias, c, m, n, k, GemmEpilogue.GatedResidual, residual, gate, tokensPerBatch, gateBatchStride);

        /// <summary>
        /// The general launch. Shapes: A [M, lda ≥ K] (row m at m·lda), W [N, K], bias [N] or empty, C and residual
        /// [M, ldc ≥ N] (row m at m·ldc), gate rows of N at b·gateBatchStride. <paramref name="lda"/> and
        /// <paramref name="ldc"/> of 0 mean dense (K and N).
        /// </summary>
        public void Run(ArrayView<float> a, WeightView w, ArrayView<float> bias, ArrayView<float> c, int m, int n, int k,
                        GemmEpilogue epilogue, ArrayView<float> residual, ArrayView<float> gate, int tokensPerBatch,
                        int gateBatchStride, int lda = 0, int ldc = 0)
        {
            if (m < 0 || n < 0 || k < 0) throw new ArgumentException($"GEMM shape ({m}, {n}, {k}) has a negative size.");
            if (lda == 0) lda = k;
            if (ldc == 0) ldc = n;
            if (lda < k || ldc < n) throw new ArgumentException($"row strides lda {lda} < K {k} or ldc {ldc} < N {n}.");
            if (m == 0 || n == 0) return;
            bool hasBias = bias.Length > 0;
            Need("A", a.Length, (long)(m - 1) * lda + k);
            Need("W", w.Length, (long)n * k);
            if (hasBias) Need("bias", bias.Length, n);
            Need("C", c.Length, (long)(m - 1) * ldc + n);
            if (epilogue == GemmEpilogue.GatedResidual)
            {
                if (tokensPerBatch < 1) throw new ArgumentException("tokensPerBatch must be at least 1.", nameof(tokensPerBatch));
                Need("residual", residual.Length, (long)(m - 1) * ldc + n);
                Need("gate", gate.Length, (long)((m - 1) / tokensPerBatch) * gateBatchStride + n);
            }
            else { residual = c; gate = c; tokensPerBatch = 1; gateBatchStride = 0; }
            if ((long)n * k > int.MaxValue || (long)m * ldc > int.MaxValue || (long)m * lda > int.MaxValue)
                throw new ArgumentException("GEMM operands over 2^31 elements: split the call.");
            if (_device.IsManaged)
            {
                RunManaged(a, w, hasBias ? bias : default, c, m, n, k, epilogue, residual, gate, tokensPerBatch, gateBatchStride, lda, ldc);
                return;
            }
            if (!hasBias) bias = c; // a kernel never gets an empty view (its address could not be taken on a GPU)

            var p = new GemmParams
            {
                M = m, N = n, K = k, Lda = lda, Ldc = ldc, HasBias = hasBias ? 1 : 0, Epilogue = (int)epilogue,
                TokensPerBatch = tokensPerBatch, GateStride = gateBatchStride,
            };
            int ti = TileIndexFor(m, n);
            int tile = TileSizes[ti];
            int blocks = ((m + tile - 1) / tile) * ((n + tile - 1) / tile);
            var cfg = new KernelConfig(blocks, ThreadsFor(tile));
            switch (w.Type)
            {
                case DType.F32: F32Kernel(ti)(cfg, a, w.F32, bias, c, residual, gate, p); break;
                case DType.F16: F16Kernel(ti)(cfg, a, w.Bits, bias, c, residual, gate, p); break;
                case DType.BF16: BF16Kernel(ti)(cfg, a, w.Bits, bias, c, residual, gate, p); break;
                default: throw new NotSupportedException($"GEMM weights of type {w.Type}.");
            }
        }

        static void Need(string what, long have, long need)
        {
            if (have < need) throw new ArgumentException($"{what} holds {have} elements; the GEMM shape needs {need}.");
        }

        /// <summary>The managed CPU backend's path (<see cref="Cpu.CpuGemm"/>), on the same buffers.</summary>
        static unsafe void RunManaged(ArrayView<float> a, WeightView w, ArrayView<float> bias, ArrayView<float> c, int m, int n, int k,
                                      GemmEpilogue epilogue, ArrayView<float> residual, ArrayView<float> gate, int tokensPerBatch,
                                      int gateBatchStride, int lda, int ldc)
        {
            bool gated = epilogue == GemmEpilogue.GatedResidual;
            using var timed = Cpu.CpuProfile.Enabled ? Cpu.CpuProfile.Time($"linear {m}×{n}×{k} {w.Type} {epilogue}", 2.0 * m * n * k) : default;
            Cpu.CpuGemm.Linear(Cpu.CpuBackend.Ptr(a), lda, Cpu.WeightPtr.Of(w), Cpu.CpuBackend.Ptr(bias), Cpu.CpuBackend.Ptr(c), ldc, m, n, k,
                               epilogue, gated ? Cpu.CpuBackend.Ptr(residual) : null, gated ? Cpu.CpuBackend.Ptr(gate) : null,
                               tokensPerBatch, gateBatchStride);
        }

        Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, GemmParams> F32Kernel(int ti)
        {
            var kr = _f32[ti];
            if (kr != null) return kr;
            var acc = _device.Accelerator;
            switch (ti)
            {
                case 0: kr = acc.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, GemmParams>(GemmKernel<GemmTile16, float, F32Decoder>); break;
                case 1: kr = acc.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, GemmParams>(GemmKernel<GemmTile32, float, F32Decoder>); break;
                default: kr = acc.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, GemmParams>(GemmKernel<GemmTile64, float, F32Decoder>); break;
            }
            return _f32[ti] = kr;
        }

        Action<KernelConfig, ArrayView<float>, ArrayView<ushort>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, GemmParams> F16Kernel(int ti)
        {
            var kr = _f16[ti];
            if (kr != null) return kr;
            var acc = _device.Accelerator;
            switch (ti)
            {
                case 0: kr = acc.LoadStreamKernel<ArrayView<float>, ArrayView<ushort>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, GemmParams>(GemmKernel<GemmTile16, ushort, F16Decoder>); break;
                case 1: kr = acc.LoadStreamKernel<ArrayView<float>, ArrayView<ushort>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, GemmParams>(GemmKernel<GemmTile32, ushort, F16Decoder>); break;
                default: kr = acc.LoadStreamKernel<ArrayView<float>, ArrayView<ushort>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, GemmParams>(GemmKernel<GemmTile64, ushort, F16Decoder>); break;
            }
            return _f16[ti] = kr;
        }

        Action<KernelConfig, ArrayView<float>, ArrayView<ushort>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, GemmParams> BF16Kernel(int ti)
        {
            var kr = _bf16[ti];
            if (kr != null) return kr;
            var acc = _device.Accelerator;
            switch (ti)
            {
                case 0: kr = acc.LoadStreamKernel<ArrayView<float>, ArrayView<ushort>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, GemmParams>(GemmKernel<GemmTile16, ushort, BF16Decoder>); break;
                case 1: kr = acc.LoadStreamKernel<ArrayView<float>, ArrayView<ushort>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, GemmParams>(GemmKernel<GemmTile32, ushort, BF16Decoder>); break;
                default: kr = acc.LoadStreamKernel<ArrayView<float>, ArrayView<ushort>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, GemmParams>(GemmKernel<GemmTile64, ushort, BF16Decoder>); break;
            }
            return _bf16[ti] = kr;
        }

        /// <summary>The instantiations of <see cref="GemmKernel{TTile, TW, TDec}"/> the launcher uses: every tile × weight type
        /// (listed for <see cref="KernelCatalog"/>, which compiles them for PTX and OpenCL).</summary>
        public static IEnumerable<System.Reflection.MethodInfo> KernelSpecializations()
        {
            var def = typeof(Gemm).GetMethod(nameof(GemmKernel));
            foreach (var tile in new[] { typeof(GemmTile16), typeof(GemmTile32), typeof(GemmTile64) })
            {
                yield return def.MakeGenericMethod(tile, typeof(float), typeof(F32Decoder));
                yield return def.MakeGenericMethod(tile, typeof(ushort), typeof(F16Decoder));
                yield return def.MakeGenericMethod(tile, typeof(ushort), typeof(BF16Decoder));
            }
        }

        /// <summary>
        /// The tiled GEMM kernel. Shapes: a [M, Lda] (uses columns 0..K-1), w [N, K] stored as <typeparamref name="TW"/>,
        /// bias [N] (read when HasBias), c / residual [M, Ldc], gate rows of N at b·GateStride.
        /// Grid: one group per BM × BN output tile (1-D, row-major over the tiles); group: (BM/4)·(BN/4) threads, thread
        /// (ty, tx) owning outputs (m0 + ty + i·BM/4, n0 + tx + j·BN/4), i, j ∈ 0..3 (strided so that a warp's loads
        /// and stores are contiguous). Per K step, A[m0.., k0..k0+BK) and W[n0.., k0..) are staged in shared memory
        /// transposed (k-major; W decoded to float once per element), zero-filled past M, N and K.
        /// </summary>
        public static void GemmKernel<TTile, TW, TDec>(ArrayView<float> a, ArrayView<TW> w, ArrayView<float> bias,
                                                       ArrayView<float> c, ArrayView<float> residual, ArrayView<float> gate,
                                                       GemmParams p)
            where TTile : struct, IGemmTile
            where TW : unmanaged
            where TDec : struct, IWeightDecoder<TW>
        {
            TTile tile = default;
            TDec dec = default;
            int bm = tile.BM, bn = tile.BN, bk = tile.BK;
            int sa = bm + 1, sw = bn + 1;
            int qm = bm / 4, qn = bn / 4;
            int threads = qm * qn;
            var As = SharedMemory.Allocate<float>(tile.ASize);
            var Ws = SharedMemory.Allocate<float>(tile.WSize);

            int tid = Group.IdxX;
            int tilesN = (p.N + bn - 1) / bn;
            int tileM = Grid.IdxX / tilesN;
            int m0 = tileM * bm, n0 = (Grid.IdxX - tileM * tilesN) * bn;
            int ty = tid / qn, tx = tid - ty * qn;

            float c00 = 0, c01 = 0, c02 = 0, c03 = 0;
            float c10 = 0, c11 = 0, c12 = 0, c13 = 0;
            float c20 = 0, c21 = 0, c22 = 0, c23 = 0;
            float c30 = 0, c31 = 0, c32 = 0, c33 = 0;

            for (int k0 = 0; k0 < p.K; k0 += bk)
            {
                for (int e = tid; e < bm * bk; e += threads)
                {
                    int r = e / bk, kk = e - r * bk;
                    int gm = m0 + r, gk = k0 + kk;
                    As[kk * sa + r] = gm < p.M && gk < p.K ? a[gm * p.Lda + gk] : 0f;
                }
                for (int e = tid; e < bn * bk; e += threads)
                {
                    int r = e / bk, kk = e - r * bk;
                    int gn = n0 + r, gk = k0 + kk;
                    Ws[kk * sw + r] = gn < p.N && gk < p.K ? dec.Decode(w[gn * p.K + gk]) : 0f;
                }
                Group.Barrier();

                for (int kk = 0; kk < bk; kk++)
                {
                    int ao = kk * sa + ty, wo = kk * sw + tx;
                    float a0 = As[ao], a1 = As[ao + qm], a2 = As[ao + 2 * qm], a3 = As[ao + 3 * qm];
                    float w0 = Ws[wo], w1 = Ws[wo + qn], w2 = Ws[wo + 2 * qn], w3 = Ws[wo + 3 * qn];
                    c00 += a0 * w0; c01 += a0 * w1; c02 += a0 * w2; c03 += a0 * w3;
                    c10 += a1 * w0; c11 += a1 * w1; c12 += a1 * w2; c13 += a1 * w3;
                    c20 += a2 * w0; c21 += a2 * w1; c22 += a2 * w2; c23 += a2 * w3;
                    c30 += a3 * w0; c31 += a3 * w1; c32 += a3 * w2; c33 += a3 * w3;
                }
                Group.Barrier();
            }

            int m = m0 + ty, n = n0 + tx;
            StoreRow(c, bias, residual, gate, p, m, n, qn, c00, c01, c02, c03);
            StoreRow(c, bias, residual, gate, p, m + qm, n, qn, c10, c11, c12, c13);
            StoreRow(c, bias, residual, gate, p, m + 2 * qm, n, qn, c20, c21, c22, c23);
            StoreRow(c, bias, residual, gate, p, m + 3 * qm, n, qn, c30, c31, c32, c33);
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        static void StoreRow(ArrayView<float> c, ArrayView<float> bias, ArrayView<float> residual, ArrayView<float> gate,
                             GemmParams p, int m, int n, int qn, float v0, float v1, float v2, float v3)
        {
            if (m >= p.M) return;
            Store(c, bias, residual, gate, p, m, n, v0);
            Store(c, bias, residual, gate, p, m, n + qn, v1);
            Store(c, bias, residual, gate, p, m, n + 2 * qn, v2);
            Store(c, bias, residual, gate, p, m, n + 3 * qn, v3);
        }

        /// <summary>The epilogue of one output: bias, then the selected <see cref="GemmEpilogue"/>.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        static void Store(ArrayView<float> c, ArrayView<float> bias, ArrayView<float> residual, ArrayView<float> gate,
                          GemmParams p, int m, int n, float acc)
        {
            if (n >= p.N) return;
            float v = acc;
            if (p.HasBias != 0) v += bias[n];
            int o = m * p.Ldc + n;
            if (p.Epilogue == (int)GemmEpilogue.GeluTanh) v = KernelMath.GeluTanh(v);
            else if (p.Epilogue == (int)GemmEpilogue.GatedResidual) v = residual[o] + gate[(m / p.TokensPerBatch) * p.GateStride + n] * v;
            c[o] = v;
        }
    }

    /// <summary>The tile choice shared by the GEMM and the convolution: the largest tile edge whose threads and shared
    /// memory fit the accelerator, stepped down per launch while the output would leave multiprocessors idle.</summary>
    internal static class TilePlan
    {
        /// <summary>Index in <paramref name="sizes"/> of the largest edge (at most <paramref name="maxTile"/> when
        /// positive) that fits; a <see cref="DeviceException"/> when none does.</summary>
        public static int LargestFitting(ComputeDevice device, int[] sizes, int maxTile, Func<int, int> threadsFor, Func<int, int> sharedBytesFor, string what)
        {
            var acc = device.Accelerator;
            int largest = -1;
            for (int i = 0; i < sizes.Length; i++)
            {
                int t = sizes[i];
                if (maxTile > 0 && t > maxTile) break;
                if (threadsFor(t) <= acc.MaxNumThreadsPerGroup && sharedBytesFor(t) <= acc.MaxSharedMemoryPerGroup) largest = i;
            }
            if (largest < 0)
                throw new DeviceException($"{device.Name} cannot hold a {sizes[0]}×{sizes[0]} {what} tile " +
                                          $"({threadsFor(sizes[0])} threads, {sharedBytesFor(sizes[0])} bytes of shared memory per group).");
            return largest;
        }

        /// <summary>The tile index an M × N output uses: from <paramref name="largest"/> down while the blocks would
        /// not cover every multiprocessor.</summary>
        public static int IndexFor(ComputeDevice device, int[] sizes, int largest, int m, int n)
        {
            int i = largest;
            int sms = Math.Max(1, device.Accelerator.NumMultiprocessors);
            while (i > 0)
            {
                long t = sizes[i];
                long blocks = ((m + t - 1) / t) * ((n + t - 1) / t);
                if (blocks >= sms) break;
                i--;
            }
            return i;
        }
    }
}
