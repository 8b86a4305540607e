using System;

namespace Sd3Tex.Reference
{
    /// <summary>
    /// Plain, readable C# versions of the model's ops on float arrays (row-major). They are the permanent reference
    /// every accelerated path is compared against: slow, single-threaded, and written to be obviously right.
    /// </summary>
    public static class ReferenceOps
    {
        /// <summary>y[M, N] = x[M, K] · W[N, K]ᵀ + b[N] (PyTorch Linear layout).</summary>
        public static float[] Linear(float[] x, int m, int k, float[] w, float[] b, int n)
        {
            var y = new float[(long)m * n];
            for (int i = 0; i < m; i++)
                for (int j = 0; j < n; j++)
                {
                    double acc = 0;
                    int xo = i * k, wo = j * k;
                    for (int t = 0; t < k; t++) acc += (double)x[xo + t] * w[wo + t];
                    y[(long)i * n + j] = (float)(acc + (b != null ? b[j] : 0));
                }
            return y;
        }

        public static float Silu(float x) => x / (1f + (float)Math.Exp(-x));

        /// <summary>GELU, tanh approximation: 0.5x(1 + tanh(√(2/π)(x + 0.044715x³))).</summary>
        public static float GeluTanh(float x) => (float)(0.5 * x * (1 + Math.Tanh(Math.Sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x))));

        public static float[] Map(float[] x, Func<float, float> f)
        {
            var y = new float[x.Length];
            for (int i = 0; i < x.Length; i++) y[i] = f(x[i]);
            return y;
        }

        /// <summary>LayerNorm over rows of width d, no affine: (x - mean) / sqrt(var + eps).</summary>
        public static float[] LayerNorm(float[] x, int rows, int d, float eps, float[] weight = null, float[] bias = null)
        {
            var y = new float[x.Length];
            for (int r = 0; r < rows; r++)
            {
                double mean = 0, var = 0;
                for (int i = 0; i < d; i++) mean += x[r * d + i];
                mean /= d;
                for (int i = 0; i < d; i++) { double t = x[r * d + i] - mean; var += t * t; }
                var /= d;
                double inv = 1 / Math.Sqrt(var + eps);
                for (int i = 0; i < d; i++)
                    y[r * d + i] = (float)((x[r * d + i] - mean) * inv * (weight?[i] ?? 1f) + (bias?[i] ?? 0f));
            }
            return y;
        }

        /// <summary>RMSNorm over rows of width d: x · rsqrt(mean(x²) + eps) · weight.</summary>
        public static float[] RmsNorm(float[] x, int rows, int d, float eps, float[] weight)
        {
            var y = new float[x.Length];
            for (int r = 0; r < rows; r++)
            {
                double ms = 0;
                for (int i = 0; i < d; i++) ms += (double)x[r * d + i] * x[r * d + i];
                double inv = 1 / Math.Sqrt(ms / d + eps);
                for (int i = 0; i < d; i++) y[r * d + i] = (float)(x[r * d + i] * inv * weight[i]);
            }
            return y;
        }

        /// <summary>adaLN modulation of tokens x [B, T, D]: x · (1 + scale[b]) + shift[b]; shift/scale are [B, D] slices
        /// taken at <paramref name="shiftAt"/> / <paramref name="scaleAt"/> of rows of width <paramref name="modWidth"/>.</summary>
        public static float[] Modulate(float[] x, int batch, int tokens, int d, float[] mods, int modWidth, int shiftAt, int scaleAt)
        {
            var y = new float[x.Length];
            for (int b = 0; b < batch; b++)
                for (int t = 0; t < tokens; t++)
                    for (int i = 0; i < d; i++)
                    {
                        long o = ((long)b * tokens + t) * d + i;
                        y[o] = x[o] * (1 + mods[b * modWidth + scaleAt + i]) + mods[b * modWidth + shiftAt + i];
                    }
            return y;
        }

        /// <summary>x[B, T, D] += gate[b] · y[B, T, D], gate a [B, D] slice at <paramref name="gateAt"/> of rows of width <paramref name="modWidth"/>.</summary>
        public static void GatedAdd(float[] x, float[] y, int batch, int tokens, int d, float[] mods, int modWidth, int gateAt)
        {
            for (int b = 0; b < batch; b++)
                for (int t = 0; t < tokens; t++)
                    for (int i = 0; i < d; i++)
                    {
                        long o = ((long)b * tokens + t) * d + i;
                        x[o] += mods[b * modWidth + gateAt + i] * y[o];
                    }
        }

        /// <summary>
        /// Softmax attention for one batch item. q [Tq, H, D], k and v [Tk, H, D] (rows of width H·D); out [Tq, H·D].
        /// Optional additive bias [H, Tq, Tk] and causal mask (key j &gt; query i masked).
        /// </summary>
        public static float[] Attention(float[] q, float[] k, float[] v, int tq, int tk, int heads, int d, float scale,
                                        float[] bias = null, bool causal = false)
        {
            var o = new float[tq * heads * d];
            var s = new double[tk];
            int w = heads * d;
            for (int h = 0; h < heads; h++)
                for (int i = 0; i < tq; i++)
                {
                    double max = double.NegativeInfinity;
                    for (int j = 0; j < tk; j++)
                    {
                        if (causal && j > i) { s[j] = double.NegativeInfinity; continue; }
                        double acc = 0;
                        for (int e = 0; e < d; e++) acc += (double)q[i * w + h * d + e] * k[j * w + h * d + e];
                        acc = acc * scale + (bias != null ? bias[((long)h * tq + i) * tk + j] : 0);
                        s[j] = acc;
                        if (acc > max) max = acc;
                    }
                    double sum = 0;
                    for (int j = 0; j < tk; j++) { s[j] = Math.Exp(s[j] - max); sum += s[j]; }
                    for (int e = 0; e < d; e++)
                    {
                        double acc = 0;
                        for (int j = 0; j < tk; j++) acc += s[j] * v[j * w + h * d + e];
                        o[i * w + h * d + e] = (float)(acc / sum);
                    }
                }
            return o;
        }

        /// <summary>Rows [start, start + count) of a [rows, width] matrix.</summary>
        public static float[] Rows(float[] x, int width, int start, int count)
        {
            var r = new float[(long)count * width];
            Array.Copy(x, (long)start * width, r, 0, r.LongLength);
            return r;
        }

        /// <summary>Columns [start, start + count) of a [rows, width] matrix.</summary>
        public static float[] Columns(float[] x, int rows, int width, int start, int count)
        {
            var r = new float[(long)rows * count];
            for (int i = 0; i < rows; i++) Array.Copy(x, (long)i * width + start, r, (long)i * count, count);
            return r;
        }
    }
}
