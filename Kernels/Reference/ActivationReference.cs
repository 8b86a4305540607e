using System;

namespace Sd3Tex.Kernels
{
    /// <summary>
    /// Plain C# activations and the gated residual add, the readable reference for <see cref="Activations"/>,
    /// computed in double from the textbook formulas (the kernels use equivalent, cheaper float forms).
    /// </summary>
    public static class ActivationReference
    {
        /// <summary>SiLU: x · sigmoid(x).</summary>
        public static double Silu(double x) => x / (1.0 + Math.Exp(-x));

        /// <summary>GELU, tanh approximation: 0.5·x·(1 + tanh(√(2/π)(x + 0.044715x³))).</summary>
        public static double GeluTanh(double x) => 0.5 * x * (1.0 + Math.Tanh(Math.Sqrt(2.0 / Math.PI) * (x + 0.044715 * x * x * x)));

        /// <summary>quick_gelu: x · sigmoid(1.702x).</summary>
        public static double QuickGelu(double x) => x / (1.0 + Math.Exp(-1.702 * x));

        /// <summary>Exact GELU: 0.5·x·(1 + erf(x/√2)).</summary>
        public static double GeluErf(double x) => 0.5 * x * (1.0 + Erf(x / Math.Sqrt(2.0)));

        /// <summary>The activation <paramref name="f"/> of x.</summary>
        public static double Apply(Activation f, double x)
        {
            switch (f)
            {
                case Activation.Silu: return Silu(x);
                case Activation.GeluTanh: return GeluTanh(x);
                case Activation.QuickGelu: return QuickGelu(x);
                case Activation.GeluErf: return GeluErf(x);
                default: throw new ArgumentOutOfRangeException(nameof(f));
            }
        }

        /// <summary><c>y[i] = f(x[i])</c> for every element; x, y [n].</summary>
        public static void Apply(Activation f, float[] x, float[] y)
        {
            for (int i = 0; i < x.Length; i++) y[i] = (float)Apply(f, x[i]);
        }

        /// <summary>
        /// erf in double, to about 1e-15: the Maclaurin series 2/√π Σ (−1)ⁿ x²ⁿ⁺¹ / (n!(2n+1)) below |x| = 2, the
        /// continued fraction erfc(x) = e^(−x²)/√π · 1/(x + ½/(x + 1/(x + (3/2)/(x + …)))) above.
        /// </summary>
        public static double Erf(double x)
        {
            double ax = Math.Abs(x);
            double r;
            if (ax < 2.0)
            {
                double x2 = ax * ax, term = ax, sum = ax;
                for (int n = 1; n < 200; n++)
                {
                    term *= -x2 / n;                 // (−1)ⁿ x²ⁿ⁺¹ / n!
                    double t = term / (2 * n + 1);
                    sum += t;
                    if (Math.Abs(t) < 1e-17 * Math.Abs(sum)) break;
                }
                r = sum * 2.0 / Math.Sqrt(Math.PI);
            }
            else
            {
                double f = ax;                       // evaluated from the tail up
                for (int n = 80; n >= 1; n--) f = ax + n * 0.5 / f;
                r = 1.0 - Math.Exp(-ax * ax) / Math.Sqrt(Math.PI) / f;
            }
            return x < 0 ? -r : r;
        }

        /// <summary>
        /// <c>outp[r,i] = residual[r,i] + gate[b·gateStride + i] · y[r,i]</c>, b = r / tokensPerBatch, over [rows, hidden]
        /// (outp may be residual).
        /// </summary>
        public static void GatedResidual(float[] outp, float[] residual, float[] y, float[] gate, int rows, int hidden,
                                         int tokensPerBatch, int gateStride)
        {
            for (int r = 0; r < rows; r++)
            {
                int g = (r / tokensPerBatch) * gateStride;
                for (int i = 0; i < hidden; i++)
                    outp[r * hidden + i] = (float)(residual[r * hidden + i] + (double)gate[g + i] * y[r * hidden + i]);
            }
        }
    }
}
