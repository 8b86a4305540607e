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
    /// <para>Linear layers: A = activations [M, K], B = Wᵀ (W [N, K] as stored). Per row chunk (<see cref="MC"/>) and K
    /// block (<see cref="KC"/>), A is packed once and shared, and threads take B panels (N/NR of them), so each weight
    /// element is decoded once per chunk. Both packings are 16 × 16 register transposes on AVX-512.
    /// Small M (≤ <see cref="GemvRows"/>, e.g. the CFG batch's adaLN rows) is a decode-and-dot loop over W instead.</para>
    /// </summary>
    public static unsafe class CpuGemm
    {
        /// <summary>Rows of a micro-tile (A broadcasts) and columns (B vectors).</summary>
        public const int MR = 12, NR = 32;
        /// <summary>Longest K block: a B panel of KC × NR floats (96 KB) stays in L2 while every A micro-panel of the row
        /// chunk streams past it, and the packed A of a K block (<see cref="MC"/> × KC floats, 6 MB) stays in L3. K is
        /// cut into equal blocks of at most KC (a multiple of 16): 1536 → 2 × 768, 6144 → 8 × 768. Longer K
        /// accumulates in C, or in an F32 scratch when the epilogue reads C as its residual.</summary>
        public const int KC = 768;
        /// <summary>Most rows of A one pass over the K blocks takes (equal chunks, multiples of <see cref="MR"/>): a
        /// 1024² CFG batch (8192 + 2 × 154 rows) runs as chunks of about 2048 rows, so its A block stays in L3 as at 512²;
        /// each B panel is packed again per chunk, which costs about 1 % of the chunk's products.</summary>
        public const int MC = 2048;
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
#if NET8_0_OR_GREATER
            if (Avx512F.IsSupported && kc >= 16)
            {
                // 16 k at a time: the rows × 16 block transposed in registers, each k's MR values stored at once
                int kk = 0;
                for (; kk + 16 <= kc; kk += 16) Transpose16(a + k0 + kk, lda, rows, dst + kk * MR, MR, MR);
                if (kk < kc) PackAScalar(a, lda, rows, k0 + kk, kc - kk, dst + kk * MR);
                return;
            }
#endif
            PackAScalar(a, lda, rows, k0, kc, dst);
        }

        static void PackAScalar(float* a, long lda, int rows, int k0, int kc, float* dst)
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

        /// <summary>Floats of the temporary that <see cref="PackBFromRows"/> needs for a K block of kc.</summary>
        public static int PackTempFloats(int kc) => Math.Max(kc, 256);

        /// <summary>Packs Bᵀ rows: dst[kk·NR + j] = W[n0 + j, k0 + kk] for j &lt; cols (zero past cols), W row-major
        /// with row stride <paramref name="ld"/> in its stored type, decoded through <paramref name="tmp"/>
        /// (<see cref="PackTempFloats"/> floats).</summary>
        public static void PackBFromRows(WeightPtr w, long ld, int n0, int cols, int k0, int kc, float* dst, float* tmp)
        {
#if NET8_0_OR_GREATER
            if (Avx512F.IsSupported && kc >= 16)
            {
                // 16 columns × 16 k at a time: 16-bit weights decoded into a 16 × 16 tile in tmp, F32 weights read
                // in place; then transposed in registers, each k's 16 columns stored at once
                int kk = 0;
                for (; kk + 16 <= kc; kk += 16)
                    for (int jb = 0; jb < NR; jb += 16)
                    {
                        int rows = Math.Min(16, cols - jb);
                        float* out0 = dst + kk * NR + jb;
                        if (rows <= 0) { ZeroColumns16(out0, NR); continue; }
                        if (w.Type == DType.F32) Transpose16(w.F32 + (n0 + jb) * ld + k0 + kk, ld, rows, out0, NR, 16);
                        else
                        {
                            Decode16Rows(w.Type, w.Bits + (n0 + jb) * ld + k0 + kk, ld, rows, tmp);
                            Transpose16(tmp, 16, rows, out0, NR, 16);
                        }
                    }
                if (kk < kc) PackBScalar(w, ld, n0, cols, k0 + kk, kc - kk, dst + kk * NR, tmp);
                return;
            }
#endif
            PackBScalar(w, ld, n0, cols, k0, kc, dst, tmp);
        }

        static void PackBScalar(WeightPtr w, long ld, int n0, int cols, int k0, int kc, float* dst, float* tmp)
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

#if NET8_0_OR_GREATER
        /// <summary>dst[c·dstStride + r] = src[r·srcStride + c] for r &lt; 16 (rows past <paramref name="rows"/> read as
        /// zero) and c &lt; 16, storing <paramref name="width"/> values of each output row: 16, 12 (the A panels), or 8
        /// with the other 8 at <paramref name="upper"/> floats further (the attention's 8-key K panels): a 16 × 16
        /// transpose in registers (unpack, in-lane shuffle, two 128-bit-lane shuffles).</summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        internal static void Transpose16(float* src, long srcStride, int rows, float* dst, long dstStride, int width, long upper = 0)
        {
            var z = Vector512<float>.Zero;
            var r0 = rows > 0 ? Vector512.Load(src) : z;
            var r1 = rows > 1 ? Vector512.Load(src + srcStride) : z;
            var r2 = rows > 2 ? Vector512.Load(src + 2 * srcStride) : z;
            var r3 = rows > 3 ? Vector512.Load(src + 3 * srcStride) : z;
            var r4 = rows > 4 ? Vector512.Load(src + 4 * srcStride) : z;
            var r5 = rows > 5 ? Vector512.Load(src + 5 * srcStride) : z;
            var r6 = rows > 6 ? Vector512.Load(src + 6 * srcStride) : z;
            var r7 = rows > 7 ? Vector512.Load(src + 7 * srcStride) : z;
            var r8 = rows > 8 ? Vector512.Load(src + 8 * srcStride) : z;
            var r9 = rows > 9 ? Vector512.Load(src + 9 * srcStride) : z;
            var r10 = rows > 10 ? Vector512.Load(src + 10 * srcStride) : z;
            var r11 = rows > 11 ? Vector512.Load(src + 11 * srcStride) : z;
            var r12 = rows > 12 ? Vector512.Load(src + 12 * srcStride) : z;
            var r13 = rows > 13 ? Vector512.Load(src + 13 * srcStride) : z;
            var r14 = rows > 14 ? Vector512.Load(src + 14 * srcStride) : z;
            var r15 = rows > 15 ? Vector512.Load(src + 15 * srcStride) : z;
            // per 128-bit lane L (columns 4L..4L+3): pairs of rows interleaved
            var t0 = Avx512F.UnpackLow(r0, r1); var t1 = Avx512F.UnpackHigh(r0, r1);
            var t2 = Avx512F.UnpackLow(r2, r3); var t3 = Avx512F.UnpackHigh(r2, r3);
            var t4 = Avx512F.UnpackLow(r4, r5); var t5 = Avx512F.UnpackHigh(r4, r5);
            var t6 = Avx512F.UnpackLow(r6, r7); var t7 = Avx512F.UnpackHigh(r6, r7);
            var t8 = Avx512F.UnpackLow(r8, r9); var t9 = Avx512F.UnpackHigh(r8, r9);
            var t10 = Avx512F.UnpackLow(r10, r11); var t11 = Avx512F.UnpackHigh(r10, r11);
            var t12 = Avx512F.UnpackLow(r12, r13); var t13 = Avx512F.UnpackHigh(r12, r13);
            var t14 = Avx512F.UnpackLow(r14, r15); var t15 = Avx512F.UnpackHigh(r14, r15);
            // per lane: column 4L + c of four rows (r0: rows 0-3 column 4L, r1: column 4L+1, ...)
            r0 = Avx512F.Shuffle(t0, t2, 0x44); r1 = Avx512F.Shuffle(t0, t2, 0xEE); r2 = Avx512F.Shuffle(t1, t3, 0x44); r3 = Avx512F.Shuffle(t1, t3, 0xEE);
            r4 = Avx512F.Shuffle(t4, t6, 0x44); r5 = Avx512F.Shuffle(t4, t6, 0xEE); r6 = Avx512F.Shuffle(t5, t7, 0x44); r7 = Avx512F.Shuffle(t5, t7, 0xEE);
            r8 = Avx512F.Shuffle(t8, t10, 0x44); r9 = Avx512F.Shuffle(t8, t10, 0xEE); r10 = Avx512F.Shuffle(t9, t11, 0x44); r11 = Avx512F.Shuffle(t9, t11, 0xEE);
            r12 = Avx512F.Shuffle(t12, t14, 0x44); r13 = Avx512F.Shuffle(t12, t14, 0xEE); r14 = Avx512F.Shuffle(t13, t15, 0x44); r15 = Avx512F.Shuffle(t13, t15, 0xEE);
            // lanes regrouped: t0 = column 0 and 8 of rows 0-7, t4 = columns 4 and 12 of rows 0-7, t8.. rows 8-15
            t0 = Avx512F.Shuffle4x128(r0, r4, 0x88); t1 = Avx512F.Shuffle4x128(r1, r5, 0x88); t2 = Avx512F.Shuffle4x128(r2, r6, 0x88); t3 = Avx512F.Shuffle4x128(r3, r7, 0x88);
            t4 = Avx512F.Shuffle4x128(r0, r4, 0xDD); t5 = Avx512F.Shuffle4x128(r1, r5, 0xDD); t6 = Avx512F.Shuffle4x128(r2, r6, 0xDD); t7 = Avx512F.Shuffle4x128(r3, r7, 0xDD);
            t8 = Avx512F.Shuffle4x128(r8, r12, 0x88); t9 = Avx512F.Shuffle4x128(r9, r13, 0x88); t10 = Avx512F.Shuffle4x128(r10, r14, 0x88); t11 = Avx512F.Shuffle4x128(r11, r15, 0x88);
            t12 = Avx512F.Shuffle4x128(r8, r12, 0xDD); t13 = Avx512F.Shuffle4x128(r9, r13, 0xDD); t14 = Avx512F.Shuffle4x128(r10, r14, 0xDD); t15 = Avx512F.Shuffle4x128(r11, r15, 0xDD);
            // whole columns: output row c = input column c
            Store16(Avx512F.Shuffle4x128(t0, t8, 0x88), dst, width, upper);
            Store16(Avx512F.Shuffle4x128(t1, t9, 0x88), dst + dstStride, width, upper);
            Store16(Avx512F.Shuffle4x128(t2, t10, 0x88), dst + 2 * dstStride, width, upper);
            Store16(Avx512F.Shuffle4x128(t3, t11, 0x88), dst + 3 * dstStride, width, upper);
            Store16(Avx512F.Shuffle4x128(t4, t12, 0x88), dst + 4 * dstStride, width, upper);
            Store16(Avx512F.Shuffle4x128(t5, t13, 0x88), dst + 5 * dstStride, width, upper);
            Store16(Avx512F.Shuffle4x128(t6, t14, 0x88), dst + 6 * dstStride, width, upper);
            Store16(Avx512F.Shuffle4x128(t7, t15, 0x88), dst + 7 * dstStride, width, upper);
            Store16(Avx512F.Shuffle4x128(t0, t8, 0xDD), dst + 8 * dstStride, width, upper);
            Store16(Avx512F.Shuffle4x128(t1, t9, 0xDD), dst + 9 * dstStride, width, upper);
            Store16(Avx512F.Shuffle4x128(t2, t10, 0xDD), dst + 10 * dstStride, width, upper);
            Store16(Avx512F.Shuffle4x128(t3, t11, 0xDD), dst + 11 * dstStride, width, upper);
            Store16(Avx512F.Shuffle4x128(t4, t12, 0xDD), dst + 12 * dstStride, width, upper);
            Store16(Avx512F.Shuffle4x128(t5, t13, 0xDD), dst + 13 * dstStride, width, upper);
            Store16(Avx512F.Shuffle4x128(t6, t14, 0xDD), dst + 14 * dstStride, width, upper);
            Store16(Avx512F.Shuffle4x128(t7, t15, 0xDD), dst + 15 * dstStride, width, upper);
        }

        /// <summary>The first <paramref name="width"/> lanes of v to p: 16; 12 as two stores of 8 and 4; or 8, the
        /// upper 8 lanes then going to p + <paramref name="upper"/>.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        static void Store16(Vector512<float> v, float* p, int width, long upper)
        {
            if (width == 16) v.Store(p);
            else if (width == 8)
            {
                v.GetLower().Store(p);
                v.GetUpper().Store(p + upper);
            }
            else
            {
                v.GetLower().Store(p);
                v.GetUpper().GetLower().Store(p + 8);
            }
        }

        static void ZeroColumns16(float* dst, long dstStride)
        {
            for (int c = 0; c < 16; c++) Vector512<float>.Zero.Store(dst + c * dstStride);
        }

        /// <summary>tile[r·16 + c] = decode(src[r·ld + c]) for r &lt; rows, c &lt; 16 (16-bit weights).</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        static void Decode16Rows(DType type, ushort* src, long ld, int rows, float* tile)
        {
            for (int r = 0; r < rows; r++) CpuBackend.Decode16(type, src + r * ld).Store(tile + r * 16);
        }

        /// <summary><see cref="Gemv"/>'s rows j in [s, e) on AVX-512: each 16 weights decoded in registers and
        /// multiplied into one accumulator per row of A (m ≤ <see cref="GemvRows"/>), no decoded copy of the row.</summary>
        static void Gemv512(float* a, int lda, WeightPtr w, int m, int k, Epilogue e, long s, long end)
        {
            float* sums = stackalloc float[GemvRows];
            for (long j = s; j < end; j++)
            {
                Vector512<float> c0 = default, c1 = default, c2 = default, c3 = default;
                int kk = 0;
                for (; kk + 16 <= k; kk += 16)
                {
                    var wv = w.Type == DType.F32 ? Vector512.Load(w.F32 + j * k + kk) : CpuBackend.Decode16(w.Type, w.Bits + j * k + kk);
                    c0 = Avx512F.FusedMultiplyAdd(Vector512.Load(a + kk), wv, c0);
                    if (m > 1) c1 = Avx512F.FusedMultiplyAdd(Vector512.Load(a + lda + kk), wv, c1);
                    if (m > 2) c2 = Avx512F.FusedMultiplyAdd(Vector512.Load(a + 2 * lda + kk), wv, c2);
                    if (m > 3) c3 = Avx512F.FusedMultiplyAdd(Vector512.Load(a + 3 * lda + kk), wv, c3);
                }
                sums[0] = Vector512.Sum(c0); sums[1] = Vector512.Sum(c1); sums[2] = Vector512.Sum(c2); sums[3] = Vector512.Sum(c3);
                for (; kk < k; kk++)
                {
                    float wk = w[j * k + kk];
                    for (int r = 0; r < m; r++) sums[r] += a[(long)r * lda + kk] * wk;
                }
                for (int r = 0; r < m; r++) e.Store(r, (int)j, sums[r]);
            }
        }
#endif

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
            int nPanels = (n + NR - 1) / NR;
            int kBlocks = (k + KC - 1) / KC;
            int kcMax = Math.Min(k, ((k + kBlocks - 1) / kBlocks + 15) / 16 * 16); // equal K blocks, multiples of 16
            int chunks = (m + MC - 1) / MC;
            int mc = ((m + chunks - 1) / chunks + MR - 1) / MR * MR;               // equal row chunks, multiples of MR
            using var aPack = Scratch.Rent((long)((Math.Min(mc, m) + MR - 1) / MR) * kcMax * MR);
            // partial sums over K blocks go straight to C when the epilogue does not read C (no residual) and C does
            // not overlap A; otherwise to an F32 scratch of M × N (fc1 at 1024²: 201 MB spared)
            bool inC = kBlocks > 1 && epi != GemmEpilogue.GatedResidual && !Overlaps(a, (long)(m - 1) * lda + k, c, (long)(m - 1) * ldc + n);
            using var acc = kBlocks > 1 && !inC ? Scratch.Rent((long)m * n) : default;
            long ldAcc = inC ? ldc : n;
            for (int mc0 = 0; mc0 < m; mc0 += mc)
            for (int k0 = 0; k0 < k; k0 += kcMax)
            {
                int kc = Math.Min(kcMax, k - k0);
                bool first = k0 == 0, last = k0 + kc == k;
                int chunk0 = mc0, mTiles = (Math.Min(mc, m - mc0) + MR - 1) / MR;
                float* ap = aPack.P;
                CpuBackend.For(mTiles, t => PackA(a + (long)(chunk0 + t * MR) * lda, lda, Math.Min(MR, m - chunk0 - t * MR), k0, kc, ap + (long)t * kc * MR));
                float* accP = inC ? c : acc.P;
                CpuBackend.For(nPanels, jp =>
                {
                    var ts = ThreadScratch.Get(kc * NR + PackTempFloats(kc) + MR * NR);
                    float* bp = ts, tmp = ts + kc * NR, tile = tmp + PackTempFloats(kc);
                    int n0 = jp * NR, cols = Math.Min(NR, n - n0);
                    PackBFromRows(w, k, n0, cols, k0, kc, bp, tmp);
                    for (int t = 0; t < mTiles; t++)
                    {
                        int m0 = chunk0 + t * MR, rows = Math.Min(MR, m - m0);
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
#if NET8_0_OR_GREATER
            if (Avx512F.IsSupported)
            {
                CpuBackend.ForRange(n, 16, (s, end) => Gemv512(a, lda, w, m, k, e, s, end));
                return;
            }
#endif
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
