using System;
using System.Runtime.CompilerServices;
#if NET8_0_OR_GREATER
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
#endif

namespace Sd3Tex.Kernels.Cpu
{
    /// <summary>One run of tokens for <see cref="CpuAttention"/>: host pointers at the q, k and v offsets (element
    /// (b, t, h, d) of q is <c>Q[(b·Tokens + t)·RowStride + h·D + d]</c>) and the output.</summary>
    public unsafe struct CpuSegment
    {
        public float* Q, K, V, Output;
        public int Tokens, RowStride, OutRowStride;
    }

    /// <summary>
    /// The managed backend's attention, flash style: per (batch, head) the keys are packed once as Kᵀ micro-panels and
    /// the values as V panels; then each block of <see cref="CpuGemm.MR"/> queries walks the keys in blocks of
    /// <see cref="KeyBlock"/>: scores S = q·kᵀ on the GEMM micro-kernel, an online softmax per row (running max and sum,
    /// the accumulator rescaled when the max grows), and O += P·V on the micro-kernel again. The tokens × tokens
    /// matrix never exists; a thread holds one MR × KeyBlock score tile. Causal masking, an additive bias [H, T, T]
    /// and the two-segment (joint) sequence are those of <see cref="Attention.Run"/>.
    /// <para>The MMDiT's attention (no mask, no bias, head size a multiple of 16) takes a fused AVX-512 path instead
    /// (<see cref="RunFused"/>): the scores are computed transposed, keys × <see cref="FusedQueries"/> queries, so
    /// that every query is a vector lane: the online softmax's max, exp and sum run down the columns with no
    /// horizontal reduction and no transposition, and the probability tile is already the broadcast operand of
    /// the ·V micro-kernel.</para>
    /// </summary>
    public static unsafe class CpuAttention
    {
        const int MR = CpuGemm.MR, NR = CpuGemm.NR;
        /// <summary>Keys per online-softmax step (a multiple of NR).</summary>
        public const int KeyBlock = 128;

        [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
        static float* Row(float* a, float* b, int ta, int tb, int rsa, int rsb, int batch, int t)
            => t < ta ? a + ((long)batch * ta + t) * rsa : b + ((long)batch * tb + (t - ta)) * rsb;

        /// <summary>Attention over [first ; second] (see <see cref="Attention.Run"/>); bias [H, T, T] or null.</summary>
        public static void Run(CpuSegment first, CpuSegment second, int batch, int heads, int d, float scale, bool causal, float* bias)
        {
            if (!causal && bias == null && FusedApplies(d))
            {
                RunFused(first, second, batch, heads, d, scale);
                return;
            }
            RunTiled(first, second, batch, heads, d, scale, causal, bias);
        }

        /// <summary>True when <see cref="RunFused"/> runs for head size d on this machine (AVX-512, d a multiple of
        /// 32 up to 256).</summary>
        public static bool FusedApplies(int d)
        {
#if NET8_0_OR_GREATER
            return !DisableFused && Avx512F.IsSupported && d % NR == 0 && d <= 256;
#else
            return false;
#endif
        }

        /// <summary>Forces the general tiled path (the kernel lab and tests compare the two).</summary>
        public static bool DisableFused { get; set; }

        /// <summary>The general path: the same micro-kernel for S = q·kᵀ and O += P·V, softmax along score rows.</summary>
        public static void RunTiled(CpuSegment first, CpuSegment second, int batch, int heads, int d, float scale, bool causal, float* bias)
        {
            int T = first.Tokens + second.Tokens;
            int kPanels = (T + NR - 1) / NR, tPad = kPanels * NR;
            int dPanels = (d + NR - 1) / NR, dPad = dPanels * NR;
            CpuBackend.For(batch * heads, bh =>
            {
                int b = bh / heads, h = bh - b * heads;
                int hoff = h * d;
                long need = (long)tPad * d + (long)dPanels * tPad * NR + (long)d * MR + MR * KeyBlock + KeyBlock * MR + MR * dPad + 3 * MR;
                float* kt = ThreadScratch.Get(need);
                float* vp = kt + (long)tPad * d;
                float* qa = vp + (long)dPanels * tPad * NR;
                float* s = qa + (long)d * MR;
                float* pa = s + MR * KeyBlock;
                float* o = pa + KeyBlock * MR;
                float* mrow = o + MR * dPad;
                float* lrow = mrow + MR;

                // Kᵀ panels: kt[(p·d + dd)·NR + j] = k[p·NR + j, dd]; V panels: vp[(dp·tPad + t)·NR + j] = v[t, dp·NR + j]
                for (int t = 0; t < tPad; t++)
                {
                    int p = t / NR, j = t - p * NR;
                    float* kr = t < T ? Row(first.K, second.K, first.Tokens, second.Tokens, first.RowStride, second.RowStride, b, t) + hoff : null;
                    float* vr = t < T ? Row(first.V, second.V, first.Tokens, second.Tokens, first.RowStride, second.RowStride, b, t) + hoff : null;
                    float* kd = kt + (long)p * d * NR + j;
                    for (int dd = 0; dd < d; dd++) kd[dd * NR] = kr != null ? kr[dd] : 0f;
                    for (int dp = 0; dp < dPanels; dp++)
                    {
                        float* vd = vp + ((long)dp * tPad + t) * NR;
                        for (int jj = 0; jj < NR; jj++)
                        {
                            int dd = dp * NR + jj;
                            vd[jj] = vr != null && dd < d ? vr[dd] : 0f;
                        }
                    }
                }

                for (int q0 = 0; q0 < T; q0 += MR)
                {
                    int rows = Math.Min(MR, T - q0);
                    for (int i = 0; i < MR; i++)
                    {
                        float* qr = i < rows ? Row(first.Q, second.Q, first.Tokens, second.Tokens, first.RowStride, second.RowStride, b, q0 + i) + hoff : null;
                        for (int dd = 0; dd < d; dd++) qa[dd * MR + i] = qr != null ? qr[dd] : 0f;
                        mrow[i] = float.NegativeInfinity;
                        lrow[i] = 0f;
                    }
                    for (int e = 0; e < MR * dPad; e++) o[e] = 0f;

                    int kEnd = causal ? Math.Min(T, q0 + MR) : T;
                    for (int k0 = 0; k0 < kEnd; k0 += KeyBlock)
                    {
                        int nk = Math.Min(KeyBlock, kEnd - k0);
                        int panels = (nk + NR - 1) / NR;
                        for (int p = 0; p < panels; p++)
                            CpuGemm.Micro(d, qa, kt + (long)(k0 / NR + p) * d * NR, s + p * NR, KeyBlock, false);
                        int width = panels * NR;
                        for (int i = 0; i < MR; i++)
                        {
                            float* sr = s + i * KeyBlock;
                            int qi = q0 + i;
                            if (i >= rows)
                            {
                                for (int j = 0; j < width; j++) sr[j] = 0f;
                                continue;
                            }
                            CpuBackend.Scale(sr, nk, scale);
                            if (bias != null)
                            {
                                float* br = bias + ((long)h * T + qi) * T + k0;
                                for (int j = 0; j < nk; j++) sr[j] += br[j];
                            }
                            int valid = nk;
                            if (causal) valid = Math.Max(0, Math.Min(nk, qi - k0 + 1));
                            for (int j = valid; j < width; j++) sr[j] = float.NegativeInfinity;
                            float mOld = mrow[i];
                            float mNew = valid > 0 ? Math.Max(mOld, CpuBackend.Max(sr, valid)) : mOld;
                            if (float.IsNegativeInfinity(mNew))
                            {
                                for (int j = 0; j < width; j++) sr[j] = 0f;
                                continue;
                            }
                            float alpha = float.IsNegativeInfinity(mOld) ? 0f : MathF.Exp(mOld - mNew);
                            float sum = CpuBackend.ExpSum(sr, width, 1f, mNew);
                            lrow[i] = lrow[i] * alpha + sum;
                            mrow[i] = mNew;
                            if (alpha != 1f) CpuBackend.Scale(o + i * dPad, dPad, alpha);
                        }
                        // P as an A panel: pa[j·MR + i] = s[i, j]
                        for (int j = 0; j < width; j++)
                            for (int i = 0; i < MR; i++) pa[j * MR + i] = s[i * KeyBlock + j];
                        for (int dp = 0; dp < dPanels; dp++)
                            CpuGemm.Micro(width, pa, vp + ((long)dp * tPad + k0) * NR, o + dp * NR, dPad, true);
                    }

                    for (int i = 0; i < rows; i++)
                    {
                        int t = q0 + i;
                        float* orow = t < first.Tokens
                            ? first.Output + ((long)b * first.Tokens + t) * first.OutRowStride + hoff
                            : second.Output + ((long)b * second.Tokens + (t - first.Tokens)) * second.OutRowStride + hoff;
                        float l = lrow[i];
                        float inv = l > 0f ? 1f / l : 0f;
                        for (int dd = 0; dd < d; dd++) orow[dd] = o[i * dPad + dd] * inv;
                    }
                }
            });
        }

        /// <summary>Queries per fused tile: three 16-lane vectors (the transposed score micro-kernel's width) and four
        /// rows of the 12-row ·V micro-kernel.</summary>
        public const int FusedQueries = 48;
        /// <summary>Keys per online-softmax step of the fused path (a multiple of 8: the score micro-kernel's rows):
        /// 256 keys × 48 queries of scores (48 KB) beside the Qᵀ panel (12 KB at d = 64) in L2. In the kernel lab on a
        /// Zen 4 (2 threads, 1178 / 4250 tokens) 256 ran at about 163 / 185 GFLOP/s against 153 / 181 for 128 and
        /// 152 / 174 for 64; 384 and 512 were no faster.</summary>
        public const int FusedKeys = 256;
        /// <summary>The running max is only raised (and O, l rescaled) when a block's max exceeds it by more than
        /// 2^8: probabilities then stay below 256, far from overflow, and the result is the same up to rounding.</summary>
        const float LazyRescale = 8f;

#if NET8_0_OR_GREATER
        /// <summary>
        /// Fused attention (no mask, no bias, d % 32 == 0, AVX-512): per (batch, head), K is packed as 8-key micro-panels
        /// (kp[(t/8·d + dd)·8 + t%8]) and V as 32-column panels (as <see cref="RunTiled"/>). Each tile of 48 queries
        /// is packed transposed with the softmax scale and log2(e) folded in (qt[dd·48 + q]); then per block of
        /// <see cref="FusedKeys"/> keys: Sᵀ [keys, 48] = K·Qᵀ on an 8 × 48 register tile; per query lane the block
        /// max, a lazy rescale, P = 2^(s − m) and the row sums l, all vertical; O [48, d] += P·V on the 12 × 32
        /// micro-kernel reading P with a row stride of 48. O = O / l at the end.
        /// </summary>
        static void RunFused(CpuSegment first, CpuSegment second, int batch, int heads, int d, float scale)
        {
            const int QB = FusedQueries, KB = FusedKeys;
            int T = first.Tokens + second.Tokens;
            if (T == 0) return;
            int t8 = (T + 7) & ~7;
            int vPanels = d / NR, tPad = (T + NR - 1) / NR * NR;
            float qScale = scale * 1.44269504088896341f; // exp(x) = 2^(x·log2 e)
            CpuBackend.For(batch * heads, bh =>
            {
                int b = bh / heads, h = bh - b * heads;
                int hoff = h * d;
                long need = (long)t8 * d + (long)vPanels * tPad * NR + (long)d * QB + (long)KB * QB + (long)QB * d + 3 * QB;
                float* kp = ThreadScratch.Get(need);
                float* vp = kp + (long)t8 * d;
                float* qt = vp + (long)vPanels * tPad * NR;
                float* st = qt + (long)d * QB;
                float* o = st + KB * QB;
                float* mrow = o + QB * d;
                float* lrow = mrow + QB;

                // (the fused path has d % 32 == 0, so every 16 × 16 block of a key or query row is whole)
                int kFrom = 0;
                for (; kFrom + 16 <= t8; kFrom += 16)
                {
                    // 16 keys of one segment at a time, transposed in registers into two 8-key panels
                    int keys = Math.Min(16, T - kFrom);
                    bool inFirst = kFrom + keys <= first.Tokens, inSecond = kFrom >= first.Tokens;
                    if (!inFirst && !inSecond)
                    {
                        // the 16 keys straddle the two segments: key by key
                        for (int t = kFrom; t < kFrom + 16; t++) PackKey(first, second, b, hoff, d, T, t, kp);
                        continue;
                    }
                    var seg = inFirst ? first : second;
                    float* k0p = Row(first.K, second.K, first.Tokens, second.Tokens, first.RowStride, second.RowStride, b, kFrom) + hoff;
                    float* dst = kp + (long)(kFrom >> 3) * d * 8;
                    for (int dd = 0; dd < d; dd += 16)
                        CpuGemm.Transpose16(k0p + dd, seg.RowStride, keys, dst + dd * 8, 8, 8, (long)d * 8);
                }
                for (int t = kFrom; t < t8; t++) PackKey(first, second, b, hoff, d, T, t, kp);
                for (int t = 0; t < tPad; t++)
                {
                    float* vr = t < T ? Row(first.V, second.V, first.Tokens, second.Tokens, first.RowStride, second.RowStride, b, t) + hoff : null;
                    for (int dp = 0; dp < vPanels; dp++)
                    {
                        float* vd = vp + ((long)dp * tPad + t) * NR;
                        if (vr != null) Buffer.MemoryCopy(vr + dp * NR, vd, NR * 4, NR * 4);
                        else for (int jj = 0; jj < NR; jj++) vd[jj] = 0f;
                    }
                }

                for (int q0 = 0; q0 < T; q0 += QB)
                {
                    int rows = Math.Min(QB, T - q0);
                    for (int g = 0; g < QB; g += 16)
                    {
                        // 16 queries of one segment transposed in registers (then scaled), else query by query
                        int qn = Math.Max(0, Math.Min(16, rows - g)), qa = q0 + g;
                        bool inFirst = qa + qn <= first.Tokens, inSecond = qa >= first.Tokens;
                        if (qn > 0 && (inFirst || inSecond))
                        {
                            float* q0p = Row(first.Q, second.Q, first.Tokens, second.Tokens, first.RowStride, second.RowStride, b, qa) + hoff;
                            for (int dd = 0; dd < d; dd += 16)
                                CpuGemm.Transpose16(q0p + dd, (inFirst ? first : second).RowStride, qn, qt + dd * QB + g, QB, 16);
                            var sv = Vector512.Create(qScale);
                            for (int dd = 0; dd < d; dd++) (Vector512.Load(qt + dd * QB + g) * sv).Store(qt + dd * QB + g);
                            continue;
                        }
                        for (int i = g; i < g + 16; i++)
                        {
                            float* qr = i < rows ? Row(first.Q, second.Q, first.Tokens, second.Tokens, first.RowStride, second.RowStride, b, q0 + i) + hoff : null;
                            if (qr != null) for (int dd = 0; dd < d; dd++) qt[dd * QB + i] = qr[dd] * qScale;
                            else for (int dd = 0; dd < d; dd++) qt[dd * QB + i] = 0f;
                        }
                    }
                    var m0 = Vector512.Create(float.NegativeInfinity);
                    var m1 = m0; var m2 = m0;
                    var l0 = Vector512<float>.Zero; var l1 = l0; var l2 = l0;
                    new Span<float>(o, QB * d).Clear();

                    for (int k0 = 0; k0 < T; k0 += KB)
                    {
                        int nk = Math.Min(KB, T - k0), nk8 = (nk + 7) & ~7;
                        for (int kt = 0; kt < nk8; kt += 8)
                            Scores8x48(d, kp + (long)((k0 + kt) >> 3) * d * 8, qt, st + kt * QB);
                        for (int j = nk; j < nk8; j++)
                        {
                            float* sr = st + j * QB;
                            Vector512.Create(-1e30f).Store(sr); Vector512.Create(-1e30f).Store(sr + 16); Vector512.Create(-1e30f).Store(sr + 32);
                        }
                        // block max per query lane
                        var b0 = Vector512.Load(st); var b1 = Vector512.Load(st + 16); var b2 = Vector512.Load(st + 32);
                        for (int j = 1; j < nk; j++)
                        {
                            float* sr = st + j * QB;
                            b0 = Avx512F.Max(b0, Vector512.Load(sr)); b1 = Avx512F.Max(b1, Vector512.Load(sr + 16)); b2 = Avx512F.Max(b2, Vector512.Load(sr + 32));
                        }
                        var lazy = Vector512.Create(LazyRescale);
                        ulong raise = Vector512.GreaterThan(b0, m0 + lazy).ExtractMostSignificantBits()
                                    | Vector512.GreaterThan(b1, m1 + lazy).ExtractMostSignificantBits()
                                    | Vector512.GreaterThan(b2, m2 + lazy).ExtractMostSignificantBits();
                        if (raise != 0)
                        {
                            // raise every lane's max to this block's (never lowers it); scale O and l by 2^(old − new)
                            var n0 = Avx512F.Max(m0, b0); var n1 = Avx512F.Max(m1, b1); var n2 = Avx512F.Max(m2, b2);
                            var a0 = Exp2(m0 - n0); var a1 = Exp2(m1 - n1); var a2 = Exp2(m2 - n2);
                            l0 *= a0; l1 *= a1; l2 *= a2;
                            a0.Store(mrow); a1.Store(mrow + 16); a2.Store(mrow + 32);
                            for (int i = 0; i < QB; i++)
                            {
                                float a = mrow[i];
                                if (a == 1f) continue;
                                var av = Vector512.Create(a);
                                float* orow = o + i * d;
                                for (int dd = 0; dd < d; dd += 16) (Vector512.Load(orow + dd) * av).Store(orow + dd);
                            }
                            m0 = n0; m1 = n1; m2 = n2;
                        }
                        // P = 2^(s − m) in place, l += Σ_j P
                        for (int j = 0; j < nk8; j++)
                        {
                            float* sr = st + j * QB;
                            var p0 = Exp2(Vector512.Load(sr) - m0); var p1 = Exp2(Vector512.Load(sr + 16) - m1); var p2 = Exp2(Vector512.Load(sr + 32) - m2);
                            p0.Store(sr); p1.Store(sr + 16); p2.Store(sr + 32);
                            l0 += p0; l1 += p1; l2 += p2;
                        }
                        // O[48, d] += P[48, nk] · V[nk, d]: P is read as four 12-row A panels with row stride 48
                        for (int r = 0; r < QB; r += MR)
                            for (int dp = 0; dp < vPanels; dp++)
                                CpuGemm.MicroStrided(nk, st + r, QB, vp + ((long)dp * tPad + k0) * NR, o + r * d + dp * NR, d, true);
                    }

                    l0.Store(lrow); l1.Store(lrow + 16); l2.Store(lrow + 32);
                    for (int i = 0; i < rows; i++)
                    {
                        int t = q0 + i;
                        float* orow = t < first.Tokens
                            ? first.Output + ((long)b * first.Tokens + t) * first.OutRowStride + hoff
                            : second.Output + ((long)b * second.Tokens + (t - first.Tokens)) * second.OutRowStride + hoff;
                        float l = lrow[i];
                        var inv = Vector512.Create(l > 0f ? 1f / l : 0f);
                        float* src = o + i * d;
                        for (int dd = 0; dd < d; dd += 16) (Vector512.Load(src + dd) * inv).Store(orow + dd);
                    }
                }
            });
        }

        /// <summary>Key t of batch b, head offset hoff, into its 8-key panel: kp[(t/8·d + dd)·8 + t%8] (zero past T).</summary>
        static void PackKey(CpuSegment first, CpuSegment second, int b, int hoff, int d, int T, int t, float* kp)
        {
            float* kr = t < T ? Row(first.K, second.K, first.Tokens, second.Tokens, first.RowStride, second.RowStride, b, t) + hoff : null;
            float* kd = kp + (long)(t >> 3) * d * 8 + (t & 7);
            if (kr != null) for (int dd = 0; dd < d; dd++) kd[dd * 8] = kr[dd];
            else for (int dd = 0; dd < d; dd++) kd[dd * 8] = 0f;
        }

        /// <summary>2^x per lane, x ≤ 128 (−inf and anything below −200 give 0): x = n + f with n = round(x), f in
        /// [−½, ½]; 2^f by its degree-6 Taylor polynomial (relative error below 1.3e-7); 2^n applied by vscalefps.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector512<float> Exp2(Vector512<float> x)
        {
            x = Avx512F.Max(x, Vector512.Create(-200f));
            var n = Avx512F.RoundScale(x, 0); // round to nearest
            var f = x - n;
            var p = Vector512.Create(1.5403530393381609e-4f);
            p = Avx512F.FusedMultiplyAdd(p, f, Vector512.Create(1.3333558146428443e-3f));
            p = Avx512F.FusedMultiplyAdd(p, f, Vector512.Create(9.6181291076284772e-3f));
            p = Avx512F.FusedMultiplyAdd(p, f, Vector512.Create(5.5504108664821580e-2f));
            p = Avx512F.FusedMultiplyAdd(p, f, Vector512.Create(2.4022650695910071e-1f));
            p = Avx512F.FusedMultiplyAdd(p, f, Vector512.Create(6.9314718055994531e-1f));
            p = Avx512F.FusedMultiplyAdd(p, f, Vector512<float>.One);
            return Avx512F.Scale(p, n);
        }

        /// <summary>sᵀ[j·48 + q] = Σ_dd kp[dd·8 + j] · qt[dd·48 + q] for 8 keys j and 48 queries q: 24 accumulators
        /// (8 broadcasts of K, 3 vectors of Qᵀ per dd).</summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        static void Scores8x48(int d, float* kp, float* qt, float* st)
        {
            Vector512<float> c00 = default, c01 = default, c02 = default, c10 = default, c11 = default, c12 = default;
            Vector512<float> c20 = default, c21 = default, c22 = default, c30 = default, c31 = default, c32 = default;
            Vector512<float> c40 = default, c41 = default, c42 = default, c50 = default, c51 = default, c52 = default;
            Vector512<float> c60 = default, c61 = default, c62 = default, c70 = default, c71 = default, c72 = default;
            for (int dd = 0; dd < d; dd++)
            {
                var q0 = Vector512.Load(qt); var q1 = Vector512.Load(qt + 16); var q2 = Vector512.Load(qt + 32);
                { var k = Vector512.Create(kp[0]); c00 = Avx512F.FusedMultiplyAdd(k, q0, c00); c01 = Avx512F.FusedMultiplyAdd(k, q1, c01); c02 = Avx512F.FusedMultiplyAdd(k, q2, c02); }
                { var k = Vector512.Create(kp[1]); c10 = Avx512F.FusedMultiplyAdd(k, q0, c10); c11 = Avx512F.FusedMultiplyAdd(k, q1, c11); c12 = Avx512F.FusedMultiplyAdd(k, q2, c12); }
                { var k = Vector512.Create(kp[2]); c20 = Avx512F.FusedMultiplyAdd(k, q0, c20); c21 = Avx512F.FusedMultiplyAdd(k, q1, c21); c22 = Avx512F.FusedMultiplyAdd(k, q2, c22); }
                { var k = Vector512.Create(kp[3]); c30 = Avx512F.FusedMultiplyAdd(k, q0, c30); c31 = Avx512F.FusedMultiplyAdd(k, q1, c31); c32 = Avx512F.FusedMultiplyAdd(k, q2, c32); }
                { var k = Vector512.Create(kp[4]); c40 = Avx512F.FusedMultiplyAdd(k, q0, c40); c41 = Avx512F.FusedMultiplyAdd(k, q1, c41); c42 = Avx512F.FusedMultiplyAdd(k, q2, c42); }
                { var k = Vector512.Create(kp[5]); c50 = Avx512F.FusedMultiplyAdd(k, q0, c50); c51 = Avx512F.FusedMultiplyAdd(k, q1, c51); c52 = Avx512F.FusedMultiplyAdd(k, q2, c52); }
                { var k = Vector512.Create(kp[6]); c60 = Avx512F.FusedMultiplyAdd(k, q0, c60); c61 = Avx512F.FusedMultiplyAdd(k, q1, c61); c62 = Avx512F.FusedMultiplyAdd(k, q2, c62); }
                { var k = Vector512.Create(kp[7]); c70 = Avx512F.FusedMultiplyAdd(k, q0, c70); c71 = Avx512F.FusedMultiplyAdd(k, q1, c71); c72 = Avx512F.FusedMultiplyAdd(k, q2, c72); }
                kp += 8; qt += 48;
            }
            c00.Store(st); c01.Store(st + 16); c02.Store(st + 32);
            c10.Store(st + 48); c11.Store(st + 64); c12.Store(st + 80);
            c20.Store(st + 96); c21.Store(st + 112); c22.Store(st + 128);
            c30.Store(st + 144); c31.Store(st + 160); c32.Store(st + 176);
            c40.Store(st + 192); c41.Store(st + 208); c42.Store(st + 224);
            c50.Store(st + 240); c51.Store(st + 256); c52.Store(st + 272);
            c60.Store(st + 288); c61.Store(st + 304); c62.Store(st + 320);
            c70.Store(st + 336); c71.Store(st + 352); c72.Store(st + 368);
        }
#else
        static void RunFused(CpuSegment first, CpuSegment second, int batch, int heads, int d, float scale)
            => RunTiled(first, second, batch, heads, d, scale, false, null);
#endif
    }
}
