using System;

namespace Sd3Tex.Kernels
{
    /// <summary>
    /// Plain C# row norms, the readable reference for <see cref="Norms"/> (llm.c style, statistics in double).
    /// </summary>
    public static class NormReference
    {
        /// <summary>
        /// MMDiT adaLN: <c>outp[r,:] = LN(x[r,:]) · (1 + scale[b,:]) + shift[b,:]</c>, LN without affine, b = r / tokensPerBatch,
        /// shift/scale row b at b·modStride. x, outp [rows, dim].
        /// </summary>
        public static void LayerNormModulate(float[] outp, float[] x, float[] shift, float[] scale, int rows, int dim,
                                             int tokensPerBatch, int modStride, double eps = 1e-6)
        {
            for (int r = 0; r < rows; r++)
            {
                Stats(x, r * dim, dim, eps, out double mean, out double rstd);
                int mo = (r / tokensPerBatch) * modStride;
                for (int i = 0; i < dim; i++)
                    outp[r * dim + i] = (float)((x[r * dim + i] - mean) * rstd * (1.0 + scale[mo + i]) + shift[mo + i]);
            }
        }

        /// <summary><c>outp[r,:] = (x[r,:] − mean)/√(var + eps) · weight + bias</c> (weight and bias [dim], or both null).
        /// x, outp [rows, dim].</summary>
        public static void LayerNorm(float[] outp, float[] x, float[] weight, float[] bias, int rows, int dim, double eps = 1e-5)
        {
            for (int r = 0; r < rows; r++)
            {
                Stats(x, r * dim, dim, eps, out double mean, out double rstd);
                for (int i = 0; i < dim; i++)
                {
                    double v = (x[r * dim + i] - mean) * rstd;
                    outp[r * dim + i] = (float)(weight != null ? v * weight[i] + bias[i] : v);
                }
            }
        }

        /// <summary>
        /// RMSNorm of every head vector: token row t at t·rowStride holds <paramref name="heads"/> vectors of
        /// <paramref name="headDim"/>; <c>v ← v · rsqrt(mean(v²) + eps) · weight</c> (weight [headDim] or null).
        /// heads = 1, headDim = rowStride = D is the plain RMSNorm over [rows, D]. Elements outside the vectors are left alone.
        /// </summary>
        public static void RmsNorm(float[] outp, float[] x, float[] weight, int rows, int heads, int headDim, int rowStride,
                                   double eps = 1e-6)
        {
            for (int t = 0; t < rows; t++)
            {
                for (int h = 0; h < heads; h++)
                {
                    int o = t * rowStride + h * headDim;
                    double ss = 0;
                    for (int i = 0; i < headDim; i++) ss += (double)x[o + i] * x[o + i];
                    double rs = 1.0 / Math.Sqrt(ss / headDim + eps);
                    for (int i = 0; i < headDim; i++)
                        outp[o + i] = (float)(x[o + i] * rs * (weight != null ? weight[i] : 1.0));
                }
            }
        }

        /// <summary>Mean and 1/√(var + eps) of x[o .. o+dim), two-pass in double.</summary>
        static void Stats(float[] x, int o, int dim, double eps, out double mean, out double rstd)
        {
            double s = 0;
            for (int i = 0; i < dim; i++) s += x[o + i];
            mean = s / dim;
            double q = 0;
            for (int i = 0; i < dim; i++) { double d = x[o + i] - mean; q += d * d; }
            rstd = 1.0 / Math.Sqrt(q / dim + eps);
        }
    }
}
