using System;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
#if NET8_0_OR_GREATER
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
#endif

namespace Sd3Tex.Kernels.Cpu
{
    /// <summary>
    /// The managed backend's matrix product, the core of the linear layers, the convolution (implicit GEMM) and the
    /// attention: <c>C = A · B</c> on packed panels. A is packed in micro-panels of <see cref="MR"/> rows, k-major
    /// (<c>ap[k·MR + i]</c>); B in micro-panels of <see cref="NR"/> columns, k-major (<c>bp[k·NR + j]</c>), 16-bit
    /// weights converted to F32 while packing. The register-tiled micro-kernel keeps an MR × NR tile of C in 24
    /// AVX-512 registers (12 rows × two 16-float vectors) and adds one rank-1 update per k: two vector loads of B, 12
    /// broadcasts of A, 24 FMAs.
    /// <para>Linear layers: A = activations [M, K], B = Wᵀ (W [N, K] as stored). Threads take B panels (N/NR of them);
    /// A is packed once per K block (<see cref="KC"/>) and shared, so each weight element is decoded once per call.
    /// Small M (≤ <see cref="GemvRows"/>, e.g. the CFG batch's adaLN rows) is a decode-and-dot loop over W instead.</para>
    /// </summary>
    public static unsafe class CpuGemm
    {
        /// <summary>Rows of a micro-tile (A broadcasts) and columns (B vectors).</summary>
        public const int MR = 12, NR = 32;
        /// <summary>K block: a B panel of KC × NR floats (64 KB) stays in L2 while every A micro-panel streams past it,
        /// and the packed A of a K block (M × KC floats, 4 MB at M = 2048) stays in L3. Longer K accumulates in an F32
        /// scratch (the epilogue may read C as its residual, so C cannot hold partial sums).</summary>
        public const int KC = 512;
        /// <summary>Up to this many rows the product is a matrix-vector loop over W (memory bound).</summary>
        public const int GemvRows = 4;

        // ---------------------------------------------------------------------------------------------------------
        // micro-kernel

        /// <summary>c[i·ldc + j] = (add ? c[i·ldc + j] : 0) + Σ_p a[p·MR + i] · b[p·NR + j] for i &lt; MR, j &lt; NR
        /// (the full tile is read/written: callers pass a scratch tile at the edges).</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static void Micro(int k, float* a, float* b, float* c, int ldc, bool add)
        {
#if NET8_0_OR_GREATER
            if (Avx512F.IsSupported)
            {
                Micro512(k, a, b, c, ldc, add);
                return;
            }
#endif
            MicroVector(k, a, b, c, ldc, add);
        }

#if NET8_0_OR_GREATER
        /// <summary><see cref="Micro"/> with A rows at a[p·lda + i] (lda ≥ MR): the fused attention reads its
        /// probability tile (48 queries a row) as four 12-row panels in place.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static void MicroStrided(int k, float* a, int lda, float* b, float* c, int ldc, bool add) => Micro512(k, a, lda, b, c, ldc, add);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        static void Micro512(int k, float* a, float* b, float* c, int ldc, bool add) => Micro512(k, a, MR, b, c, ldc, add);

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        static void Micro512(int k, float* a, int lda, float* b, float* c, int ldc, bool add)
        {
            Vector512<float> c0_0, c0_1; Vector512<float> c1_0, c1_1; Vector512<float> c2_0, c2_1; Vector512<float> c3_0, c3_1; Vector512<float> c4_0, c4_1; Vector512<float> c5_0, c5_1; Vector512<float> c6_0, c6_1; Vector512<float> c7_0, c7_1; Vector512<float> c8_0, c8_1; Vector512<float> c9_0, c9_1; Vector512<float> c10_0, c10_1; Vector512<float> c11_0, c11_1;
            if (add)
            {
                c0_0 = Vector512.Load(c + 0 * ldc); c0_1 = Vector512.Load(c + 0 * ldc + 16);
                c1_0 = Vector512.Load(c + 1 * ldc); c1_1 = Vector512.Load(c + 1 * ldc + 16);
                c2_0 = Vector512.Load(c + 2 * ldc); c2_1 = Vector512.Load(c + 2 * ldc + 16);
                c3_0 = Vector512.Load(c + 3 * ldc); c3_1 = Vector512.Load(c + 3 * ldc + 16);
                c4_0 = Vector512.Load(c + 4 * ldc); c4_1 = Vector512.Load(c + 4 * ldc + 16);
                c5_0 = Vector512.Load(c + 5 * ldc); c5_1 = Vector512.Load(c + 5 * ldc + 16);
                c6_0 = Vector512.Load(c + 6 * ldc); c6_1 = Vector512.Load(c + 6 * ldc + 16);
                c7_0 = Vector512.Load(c + 7 * ldc); c7_1 = Vector512.Load(c + 7 * ldc + 16);
                c8_0 = Vector512.Load(c + 8 * ldc); c8_1 = Vector512.Load(c + 8 * ldc + 16);
                c9_0 = Vector512.Load(c + 9 * ldc); c9_1 = Vector512.Load(c + 9 * ldc + 16);
                c10_0 = Vector512.Load(c + 10 * ldc); c10_1 = Vector512.Load(c + 10 * ldc + 16);
                c11_0 = Vector512.Load(c + 11 * ldc); c11_1 = Vector512.Load(c + 11 * ldc + 16);
            }
            else
            {
                c0_0 = c0_1 = c1_0 = c1_1 = c2_0 = c2_1 = c3_0 = c3_1 = c4_0 = c4_1 = c5_0 = c5_1 = c6_0 = c6_1 = c7_0 = c7_1 = c8_0 = c8_1 = c9_0 = c9_1 = c10_0 = c10_1 = c11_0 = c11_1 = Vector512<float>.Zero;
            }
            for (int p = 0; p < k; p++)
            {
                var b0 = Vector512.Load(b); var b1 = Vector512.Load(b + 16);
                { var av = Vector512.Create(a[0]); c0_0 = Avx512F.FusedMultiplyAdd(av, b0, c0_0); c0_1 = Avx512F.FusedMultiplyAdd(av, b1, c0_1); }
                { var av = Vector512.Create(a[1]); c1_0 = Avx512F.FusedMultiplyAdd(av, b0, c1_0); c1_1 = Avx512F.FusedMultiplyAdd(av, b1, c1_1); }
                { var av = Vector512.Create(a[2]); c2_0 = Avx512F.FusedMultiplyAdd(av, b0, c2_0); c2_1 = Avx512F.FusedMultiplyAdd(av, b1, c2_1); }
                { var av = Vector512.Create(a[3]); c3_0 = Avx512F.FusedMultiplyAdd(av, b0, c3_0); c3_1 = Avx512F.FusedMultiplyAdd(av, b1, c3_1); }
                { var av = Vector512.Create(a[4]); c4_0 = Avx512F.FusedMultiplyAdd(av, b0, c4_0); c4_1 = Avx512F.FusedMultiplyAdd(av, b1, c4_1); }
                { var av = Vector512.Create(a[5]); c5_0 = Avx512F.FusedMultiplyAdd(av, b0, c5_0); c5_1 = Avx512F.FusedMultiplyAdd(av, b1, c5_1); }
                { var av = Vector512.Create(a[6]); c6_0 = Avx512F.FusedMultiplyAdd(av, b0, c6_0); c6_1 = Avx512F.FusedMultiplyAdd(av, b1, c6_1); }
                { var av = Vector512.Create(a[7]); c7_0 = Avx512F.FusedMultiplyAdd(av, b0, c7_0); c7_1 = Avx512F.FusedMultiplyAdd(av, b1, c7_1); }
                { var av = Vector512.Create(a[8]); c8_0 = Avx512F.FusedMultiplyAdd(av, b0, c8_0); c8_1 = Avx512F.FusedMultiplyAdd(av, b1, c8_1); }
                { var av = Vector512.Create(a[9]); c9_0 = Avx512F.FusedMultiplyAdd(av, b0, c9_0); c9_1 = Avx512F.FusedMultiplyAdd(av, b1, c9_1); }
                { var av = Vector512.Create(a[10]); c10_0 = Avx512F.FusedMultiplyAdd(av, b0, c10_0); c10_1 = Avx512F.FusedMultiplyAdd(av, b1, c10_1); }
                { var av = Vector512.Create(a[11]); c11_0 = Avx512F.FusedMultiplyAdd(av, b0, c11_0); c11_1 = Avx512F.FusedMultiplyAdd(av, b1, c11_1); }
                a += lda; b += 32;
            }
            c0_0.Store(c + 0 * ldc); c0_1.Store(c + 0 * ldc + 16);
            c1_0.Store(c + 1 * ldc); c1_1.Store(c + 1 * ldc + 16);
            c2_0.Store(c + 2 * ldc); c2_1.Store(c + 2 * ldc + 16);
            c3_0.Store(c + 3 * ldc); c3_1.Store(c + 3 * ldc + 16);
            c4_0.Store(c + 4 * ldc); c4_1.Store(c + 4 * ldc + 16);
            c5_0.Store(c + 5 * ldc); c5_1.Store(c + 5 * ldc + 16);
            c6_0.Store(c + 6 * ldc); c6_1.Store(c + 6 * ldc + 16);
            c7_0.Store(c + 7 * ldc); c7_1.Store(c + 7 * ldc + 16);
            c8_0.Store(c + 8 * ldc); c8_1.Store(c + 8 * ldc + 16);
            c9_0.Store(c + 9 * ldc); c9_1.Store(c + 9 * ldc + 16);
            c10_0.Store(c + 10 * ldc); c10_1.Store(c + 10 * ldc + 16);
            c11_0.Store(c + 11 * ldc); c11_1.Store(c + 11 * ldc + 16);
        }
#endif

        /// <summary>The portable micro-kernel (<see cref="Vector{T}"/>; row by row, so B is re-read per row).</summary>
        static void MicroVector(int k, float* a, float* b, float* c, int ldc, bool add)
        {
            int w = Vector<float>.Count;
            if (!Vector.IsHardwareAccelerated || NR % w != 0)
            {
                for (int i = 0; i < MR; i++)
                    for (int j = 0; j < NR; j++)
                    {
                        float s = add ? c[i * ldc + j] : 0f;
                        for (int p = 0; p < k; p++) s += a[p * MR + i] * b[p * NR + j];
                        c[i * ldc + j] = s;
                    }
                return;
            }
            for (int i = 0; i < MR; i++)
            {
                float* crow = c + i * ldc;
                for (int j = 0; j < NR; j += 2 * w)
                {
                    var s0 = add ? Unsafe.ReadUnaligned<Vector<float>>(crow + j) : Vector<float>.Zero;
                    var s1 = add ? Unsafe.ReadUnaligned<Vector<float>>(crow + j + w) : Vector<float>.Zero;
                    float* ap = a + i, bp = b + j;
                    for (int p = 0; p < k; p++, ap += MR, bp += NR)
                    {
                        var av = new Vector<float>(*ap);
                        s0 += av * Unsafe.ReadUnaligned<Vector<float>>(bp);
                        s1 += av * Unsafe.ReadUnaligned<Vector<float>>(bp + w);
                    }
                    Unsafe.WriteUnaligned(crow + j, s0);
                    Unsafe.WriteUnaligned(crow + j + w, s1);
                }
            }
        }

        // ---------------------------------------------------------------------------------------------------------
        // packing

        /// <summary>Packs rows [0, rows) (rows ≤ MR; missing rows are zero) × columns [k0, k0 + kc) of a row-major
        /// F32 matrix with row stride <paramref name="lda"/> into dst[kk·MR + i].</summary>
        public static void PackA(float* a, long lda, int rows, int k0, int kc, float* dst)
        {
            for (int i = 0; i < MR; i++)
            {
                if (i < rows)
                {
                    float* src = a + i * lda + k0;
                    for (int kk = 0; kk < kc; kk++) dst[kk * MR + i] = src[kk];
                }
                else for (int kk = 0; kk < kc; kk++) dst[kk * MR + i] = 0f;
            }
        }

        /// <summary><see cref="PackA(float*, long, int, int, int, float*)"/> from a matrix in its stored type (F32 or
        /// 16-bit), decoding through <paramref name="tmp"/> (kc floats).</summary>
        public static void PackA(WeightPtr w, long ld, int row0, int rows, int k0, int kc, float* dst, float* tmp)
        {
            if (w.Type == DType.F32)
            {
                PackA(w.F32 + row0 * ld, ld, rows, k0, kc, dst);
                return;
            }
            for (int i = 0; i < MR; i++)
            {
                if (i < rows)
                {
                    CpuBackend.Decode(w.Type, w.Bits + (row0 + i) * ld + k0, tmp, kc);
                    for (int kk = 0; kk < kc; kk++) dst[kk * MR + i] = tmp[kk];
                }
                else for (int kk = 0; kk < kc; kk++) dst[kk * MR + i] = 0f;
            }
        }

        /// <summary>Packs Bᵀ rows: dst[kk·NR + j] = W[n0 + j, k0 + kk] for j &lt; cols (zero past cols), W row-major
        /// with row stride <paramref name="ld"/> in its stored type, decoded through <paramref name="tmp"/> (kc floats).</summary>
        public static void PackBFromRows(WeightPtr w, long ld, int n0, int cols, int k0, int kc, float* dst, float* tmp)
        {
            for (int j = 0; j < NR; j++)
            {
                if (j >= cols)
                {
                    for (int kk = 0; kk < kc; kk++) dst[kk * NR + j] = 0f;
                    continue;
                }
                float* src;
                if (w.Type == DType.F32) src = w.F32 + (n0 + j) * ld + k0;
                else
                {
                    CpuBackend.Decode(w.Type, w.Bits + (n0 + j) * ld + k0, tmp, kc);
                    src = tmp;
                }
                for (int kk = 0; kk < kc; kk++) dst[kk * NR + j] = src[kk];
            }
        }

        // ---------------------------------------------------------------------------------------------------------
        // linear layers

        /// <summary>
        /// The linear layer with its epilogue (see <see cref="GemmEpilogue"/>): <c>C[m, n] = epi(Σ_k A[m, k]·W[n, k] +
        /// bias[n])</c>, A row stride lda, C and residual row stride ldc, W [N, K] dense; bias may be null; residual
        /// may be C (in place).
        /// </summary>
        public static void Linear(float* a, int lda, WeightPtr w, float* bias, float* c, int ldc, int m, int n, int k,
                                  GemmEpilogue epi, float* residual, float* gate, int tokensPerBatch, int gateStride)
        {
            var e = new Epilogue { Bias = bias, C = c, Ldc = ldc, Kind = epi, Residual = residual, Gate = gate, TokensPerBatch = Math.Max(1, tokensPerBatch), GateStride = gateStride };
            if (k == 0)
            {
                CpuBackend.For(m, r => { for (int j = 0; j < n; j++) e.Store(r, j, 0f); });
                return;
            }
            if (m <= GemvRows)
            {
                Gemv(a, lda, w, m, n, k, e);
                return;
            }
            int mTiles = (m + MR - 1) / MR, nPanels = (n + NR - 1) / NR;
            int kBlocks = (k + KC - 1) / KC;
            using var aPack = Scratch.Rent((long)mTiles * Math.Min(k, KC) * MR);
            // partial sums over K blocks go straight to C when the epilogue does not read C (no residual) and C does
            // not overlap A; otherwise to an F32 scratch of M × N (fc1 at 1024²: 201 MB spared)
            bool inC = kBlocks > 1 && epi != GemmEpilogue.GatedResidual && !Overlaps(a, (long)(m - 1) * lda + k, c, (long)(m - 1) * ldc + n);
            using var acc = kBlocks > 1 && !inC ? Scratch.Rent((long)m * n) : default;
            long ldAcc = inC ? ldc : n;
            for (int k0 = 0; k0 < k; k0 += KC)
            {
                int kc = Math.Min(KC, k - k0);
                bool first = k0 == 0, last = k0 + kc == k;
                float* ap = aPack.P;
                CpuBackend.For(mTiles, t => PackA(a + (long)t * MR * lda, lda, Math.Min(MR, m - t * MR), k0, kc, ap + (long)t * kc * MR));
                float* accP = inC ? c : acc.P;
                CpuBackend.For(nPanels, jp =>
                {
                    var ts = ThreadScratch.Get(kc * NR + kc + MR * NR);
                    float* bp = ts, tmp = ts + kc * NR, tile = tmp + kc;
                    int n0 = jp * NR, cols = Math.Min(NR, n - n0);
                    PackBFromRows(w, k, n0, cols, k0, kc, bp, tmp);
                    for (int t = 0; t < mTiles; t++)
                    {
                        int m0 = t * MR, rows = Math.Min(MR, m - m0);
                        float* at = ap + (long)t * kc * MR;
                        if (first && last)
                        {
                            Micro(kc, at, bp, tile, NR, false);
                            e.StoreTile(tile, NR, m0, rows, n0, cols);
                        }
                        else if (rows == MR && cols == NR)
                        {
                            // full tiles accumulate straight in the scratch (row stride n)
                            float* ct = accP + (long)m0 * ldAcc + n0;
                            Micro(kc, at, bp, ct, (int)ldAcc, !first);
                            if (last) e.StoreTile(ct, ldAcc, m0, rows, n0, cols);
                        }
                        else
                        {
                            Micro(kc, at, bp, tile, NR, false);
                            for (int i = 0; i < rows; i++)
                            {
                                float* arow = accP + (long)(m0 + i) * ldAcc + n0;
                                float* trow = tile + i * NR;
                                if (first) for (int j = 0; j < cols; j++) arow[j] = trow[j];
                                else if (!last) for (int j = 0; j < cols; j++) arow[j] += trow[j];
                                else for (int j = 0; j < cols; j++) trow[j] += arow[j];
                            }
                            if (last) e.StoreTile(tile, NR, m0, rows, n0, cols);
                        }
                    }
                });
            }
        }

        static bool Overlaps(float* a, long aLen, float* b, long bLen) => a < b + bLen && b < a + aLen;

        /// <summary>Few rows: each W row is decoded once and dotted with every row of A.</summary>
        static void Gemv(float* a, int lda, WeightPtr w, int m, int n, int k, Epilogue e)
        {
            CpuBackend.ForRange(n, 16, (s, end) =>
            {
                float* row = ThreadScratch.Get(k);
                for (long j = s; j < end; j++)
                {
                    float* wr;
                    if (w.Type == DType.F32) wr = w.F32 + j * k;
                    else
                    {
                        CpuBackend.Decode(w.Type, w.Bits + j * k, row, k);
                        wr = row;
                    }
                    for (int r = 0; r < m; r++) e.Store(r, (int)j, CpuBackend.Dot(a + (long)r * lda, wr, k));
                }
            });
        }

        /// <summary>Where and how results are stored.</summary>
        struct Epilogue
        {
            public float* Bias, C, Residual, Gate;
            public int Ldc, TokensPerBatch, GateStride;
            public GemmEpilogue Kind;

            [MethodImpl(MethodImplOptions.AggressiveInlining)]
            public void Store(int r, int j, float v)
            {
                if (Bias != null) v += Bias[j];
                long o = (long)r * Ldc + j;
                if (Kind == GemmEpilogue.GeluTanh) v = KernelMath.GeluTanh(v);
                else if (Kind == GemmEpilogue.GatedResidual) v = Residual[o] + Gate[(long)(r / TokensPerBatch) * GateStride + j] * v;
                C[o] = v;
            }

            /// <summary>Stores rows × cols of a tile (row stride <paramref name="ld"/>) at (m0, n0), vectorised along n.</summary>
            public void StoreTile(float* tile, long ld, int m0, int rows, int n0, int cols)
            {
                int w = Vector<float>.Count;
                for (int i = 0; i < rows; i++)
                {
                    int r = m0 + i;
                    float* t = tile + i * ld;
                    float* c = C + (long)r * Ldc + n0;
                    float* res = Residual + (long)r * Ldc + n0;
                    float* g = Gate + (long)(r / TokensPerBatch) * GateStride + n0;
                    float* bias = Bias + n0;
                    int j = 0;
                    if (Vector.IsHardwareAccelerated)
                    {
                        for (; j + w <= cols; j += w)
                        {
                            var v = Unsafe.ReadUnaligned<Vector<float>>(t + j);
                            if (Bias != null) v += Unsafe.ReadUnaligned<Vector<float>>(bias + j);
                            if (Kind == GemmEpilogue.GeluTanh) v = CpuBackend.Activate(Activation.GeluTanh, v);
                            else if (Kind == GemmEpilogue.GatedResidual)
                                v = Unsafe.ReadUnaligned<Vector<float>>(res + j) + Unsafe.ReadUnaligned<Vector<float>>(g + j) * v;
                            Unsafe.WriteUnaligned(c + j, v);
                        }
                    }
                    for (; j < cols; j++) Store(r, n0 + j, t[j]);
                }
            }
        }
    }

    /// <summary>A weight matrix in host memory in its stored type (F32, or F16/BF16 bits).</summary>
    public readonly unsafe struct WeightPtr
    {
        public readonly DType Type;
        public readonly float* F32;
        public readonly ushort* Bits;

        public WeightPtr(DType type, float* f32, ushort* bits) { Type = type; F32 = f32; Bits = bits; }

        public static WeightPtr Of(WeightView w) =>
            w.Type == DType.F32 ? new WeightPtr(DType.F32, CpuBackend.Ptr(w.F32), null) : new WeightPtr(w.Type, null, CpuBackend.Ptr(w.Bits));

        public static WeightPtr Of(TableView t) =>
            t.Type == DType.F32 ? new WeightPtr(DType.F32, CpuBackend.Ptr(t.F32), null) : new WeightPtr(t.Type, null, CpuBackend.Ptr(t.Bits));

        public static WeightPtr FromF32(float* p) => new WeightPtr(DType.F32, p, null);

        /// <summary>Element i as a float.</summary>
        public float this[long i] => Type == DType.F32 ? F32[i] : Type == DType.BF16 ? KernelMath.BFloat16ToFloat(Bits[i]) : KernelMath.HalfToFloat(Bits[i]);
    }

    /// <summary>
    /// 64-byte aligned native scratch memory. <see cref="Rent"/> hands out blocks from a small process-wide free list
    /// (a block returns to it on dispose); <see cref="ThreadScratch"/> keeps one growing block per thread. The blocks
    /// are kept for reuse (a step allocates nothing after the first); <see cref="Trim"/> frees the idle ones.
    /// </summary>
    public unsafe struct Scratch : IDisposable
    {
        sealed class Block
        {
            public IntPtr Raw;
            public float* P;
            public long Capacity;
        }

        static readonly System.Collections.Generic.List<Block> Free = new System.Collections.Generic.List<Block>();
        Block _block;

        public float* P => _block == null ? null : _block.P;

        public static Scratch Rent(long floats)
        {
            floats = Math.Max(16, floats);
            lock (Free)
            {
                int best = -1;
                for (int i = 0; i < Free.Count; i++)
                    if (Free[i].Capacity >= floats && (best < 0 || Free[i].Capacity < Free[best].Capacity)) best = i;
                if (best >= 0)
                {
                    var b = Free[best];
                    Free.RemoveAt(best);
                    return new Scratch { _block = b };
                }
            }
            return new Scratch { _block = Allocate(floats) };
        }

        internal static float* AllocateRaw(long floats, out IntPtr raw)
        {
            raw = Marshal.AllocHGlobal(new IntPtr(floats * sizeof(float) + 64));
            return (float*)(((long)raw + 63) & ~63L);
        }

        static Block Allocate(long floats)
        {
            var b = new Block { Capacity = floats };
            b.P = AllocateRaw(floats, out b.Raw);
            return b;
        }

        public void Dispose()
        {
            if (_block == null) return;
            lock (Free)
            {
                Free.Add(_block);
                // keep at most a few idle blocks; free the smallest beyond that
                while (Free.Count > 8)
                {
                    int s = 0;
                    for (int i = 1; i < Free.Count; i++) if (Free[i].Capacity < Free[s].Capacity) s = i;
                    Marshal.FreeHGlobal(Free[s].Raw);
                    Free.RemoveAt(s);
                }
            }
            _block = null;
        }

        /// <summary>Frees every idle block (the next call allocates again).</summary>
        public static void Trim()
        {
            lock (Free)
            {
                foreach (var b in Free) Marshal.FreeHGlobal(b.Raw);
                Free.Clear();
            }
        }
    }

    /// <summary>One growing 64-byte aligned scratch block per thread (panels, tiles, decoded rows).</summary>
    public static unsafe class ThreadScratch
    {
        [ThreadStatic] static IntPtr _raw;
        [ThreadStatic] static float* _p;
        [ThreadStatic] static long _capacity;

        /// <summary>At least <paramref name="floats"/> floats, valid on this thread until its next call.</summary>
        public static float* Get(long floats)
        {
            if (floats > _capacity)
            {
                if (_raw != IntPtr.Zero) Marshal.FreeHGlobal(_raw);
                long cap = Math.Max(floats, 4096);
                _p = Scratch.AllocateRaw(cap, out _raw);
                _capacity = cap;
            }
            return _p;
        }
    }
}
