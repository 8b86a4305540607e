using System;

namespace Sd3Tex.Kernels.Reference
{
    /// <summary>
    /// Plain C# attention, written to be read: the whole score row is formed, softmaxed and applied, in double.
    /// The fast kernels in <see cref="Attention"/> are tested against it. Layouts are the ones the model uses:
    /// a qkv buffer [B, T, 3*H*D] holds per token <c>[3][H][D]</c> (q, then k, then v, each head after head).
    /// </summary>
    public static class AttentionReference
    {
        /// <summary>
        /// Multi-head self-attention. qkv [B, T, 3*H*D] → out [B, T, H*D]:
        /// <c>out[b, i, h, :] = Σ_j softmax_j(scale * q[b,i,h]·k[b,j,h] + bias[h,i,j]) v[b,j,h,:]</c>,
        /// j restricted to j ≤ i when causal. bias is [H, T, T] or null.
        /// </summary>
        public static float[] SelfAttention(float[] qkv, int batch, int tokens, int heads, int headDim,
                                            float scale, bool causal = false, float[] bias = null)
        {
            int H = heads, D = headDim, T = tokens, HD = H * D, row = 3 * HD;
            var output = new float[batch * T * HD];
            var scores = new double[T];
            for (int b = 0; b < batch; b++)
                for (int h = 0; h < H; h++)
                    for (int i = 0; i < T; i++)
                    {
                        int qBase = (b * T + i) * row + 0 * HD + h * D;
                        int last = causal ? i : T - 1;
                        // scores and their max
                        double max = double.NegativeInfinity;
                        for (int j = 0; j <= last; j++)
                        {
                            int kBase = (b * T + j) * row + 1 * HD + h * D;
                            double dot = 0;
                            for (int d = 0; d < D; d++) dot += (double)qkv[qBase + d] * qkv[kBase + d];
                            double s = scale * dot;
                            if (bias != null) s += bias[(h * T + i) * T + j];
                            scores[j] = s;
                            if (s > max) max = s;
                        }
                        // softmax
                        double sum = 0;
                        for (int j = 0; j <= last; j++)
                        {
                            scores[j] = Math.Exp(scores[j] - max);
                            sum += scores[j];
                        }
                        // weighted sum of v
                        int oBase = (b * T + i) * HD + h * D;
                        for (int d = 0; d < D; d++)
                        {
                            double acc = 0;
                            for (int j = 0; j <= last; j++) acc += scores[j] * qkv[(b * T + j) * row + 2 * HD + h * D + d];
                            output[oBase + d] = (float)(acc / sum);
                        }
                    }
            return output;
        }

        /// <summary>
        /// SD3 joint attention, exactly as the reference writes it: concatenate q, k, v of the context tokens and then
        /// the image tokens along the token axis (context FIRST), attend, split the output back.
        /// contextQkv [B, Tc, 3*H*D], imageQkv [B, Tx, 3*H*D] → contextOut [B, Tc, H*D], imageOut [B, Tx, H*D].
        /// </summary>
        public static void JointAttention(float[] contextQkv, int contextTokens, float[] imageQkv, int imageTokens,
                                          int batch, int heads, int headDim, float scale,
                                          out float[] contextOut, out float[] imageOut, bool causal = false, float[] bias = null)
        {
            int row = 3 * heads * headDim, T = contextTokens + imageTokens;
            var qkv = ConcatTokens(contextQkv, contextTokens, imageQkv, imageTokens, batch, row);
            var all = SelfAttention(qkv, batch, T, heads, headDim, scale, causal, bias);
            SplitTokens(all, batch, contextTokens, imageTokens, heads * headDim, out contextOut, out imageOut);
        }

        /// <summary>[B, Ta, F] ++ [B, Tb, F] along tokens → [B, Ta+Tb, F].</summary>
        public static float[] ConcatTokens(float[] a, int ta, float[] b, int tb, int batch, int features)
        {
            var r = new float[batch * (ta + tb) * features];
            for (int n = 0; n < batch; n++)
            {
                Array.Copy(a, n * ta * features, r, n * (ta + tb) * features, ta * features);
                Array.Copy(b, n * tb * features, r, (n * (ta + tb) + ta) * features, tb * features);
            }
            return r;
        }

        /// <summary>[B, Ta+Tb, F] → [B, Ta, F] and [B, Tb, F].</summary>
        public static void SplitTokens(float[] x, int batch, int ta, int tb, int features, out float[] a, out float[] b)
        {
            a = new float[batch * ta * features];
            b = new float[batch * tb * features];
            for (int n = 0; n < batch; n++)
            {
                Array.Copy(x, n * (ta + tb) * features, a, n * ta * features, ta * features);
                Array.Copy(x, (n * (ta + tb) + ta) * features, b, n * tb * features, tb * features);
            }
        }

        /// <summary>
        /// SD3.5's qk norm, in place on qkv [B, T, 3*H*D]: per token and head,
        /// <c>q = q * rsqrt(mean(q²) + eps) * qWeight</c>, <c>k = k * rsqrt(mean(k²) + eps) * kWeight</c> (weights [D]).
        /// </summary>
        public static void QkRmsNorm(float[] qkv, int batch, int tokens, int heads, int headDim,
                                     float[] qWeight, float[] kWeight, float eps = 1e-6f)
        {
            int HD = heads * headDim, row = 3 * HD;
            for (int r = 0; r < batch * tokens; r++)
                for (int which = 0; which < 2; which++)
                    for (int h = 0; h < heads; h++)
                    {
                        int bas = r * row + which * HD + h * headDim;
                        var w = which == 0 ? qWeight : kWeight;
                        double ss = 0;
                        for (int d = 0; d < headDim; d++) ss += (double)qkv[bas + d] * qkv[bas + d];
                        double inv = 1.0 / Math.Sqrt(ss / headDim + eps);
                        for (int d = 0; d < headDim; d++) qkv[bas + d] = (float)(qkv[bas + d] * inv * w[d]);
                    }
        }
    }
}
