using System;

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
    }
}
