using System;

namespace Sd3Tex.Kernels
{
    /// <summary>
    /// Plain C# linear layers, the readable reference for <see cref="Gemm"/> (llm.c style: flat row-major arrays,
    /// explicit loops, sums accumulated in double). Slow; for tests and for reading.
    /// </summary>
    public static class GemmReference
    {
        /// <summary>
        /// <c>outp[M,N] = inp[M,K] · weight[N,K]ᵀ + bias[N]</c> (PyTorch's nn.Linear; weight is [out, in]).
        /// bias may be null.
        /// </summary>
        public static void Linear(float[] outp, float[] inp, float[] weight, float[] bias, int m, int n, int k)
        {
            for (int i = 0; i < m; i++)          // row of inp / outp
            {
                for (int o = 0; o < n; o++)      // output feature = row of weight
                {
                    double acc = bias != null ? bias[o] : 0.0;
                    for (int j = 0; j < k; j++)  // input feature
                        acc += (double)inp[i * k + j] * weight[o * k + j];
                    outp[i * n + o] = (float)acc;
                }
            }
        }

        /// <summary><c>outp[M,N] = gelu_tanh(inp[M,K] · weight[N,K]ᵀ + bias[N])</c>.</summary>
        public static void LinearGeluTanh(float[] outp, float[] inp, float[] weight, float[] bias, int m, int n, int k)
        {
            Linear(outp, inp, weight, bias, m, n, k);
            for (int i = 0; i < m * n; i++) outp[i] = (float)ActivationReference.GeluTanh(outp[i]);
        }

        /// <summary>
        /// <c>outp[i,o] = residual[i,o] + gate[b,o] · (inp · weightᵀ + bias)[i,o]</c> with b = i / tokensPerBatch and gate
        /// row b at b·gateStride. Shapes: inp [M,K], weight [N,K], bias [N] or null, residual and outp [M,N].
        /// </summary>
        public static void LinearGatedResidual(float[] outp, float[] inp, float[] weight, float[] bias, float[] residual,
                                               float[] gate, int m, int n, int k, int tokensPerBatch, int gateStride)
        {
            var y = new float[m * n];
            Linear(y, inp, weight, bias, m, n, k);
            ActivationReference.GatedResidual(outp, residual, y, gate, m, n, tokensPerBatch, gateStride);
        }

        /// <summary>Decodes 16-bit weights (F16 or BF16 bit patterns) to floats, exactly.</summary>
        public static float[] Decode(DType type, ushort[] bits)
        {
            var r = new float[bits.Length];
            for (int i = 0; i < bits.Length; i++)
            {
                switch (type)
                {
                    case DType.F16: r[i] = DTypes.HalfToFloat(bits[i]); break;
                    case DType.BF16: r[i] = DTypes.BFloat16ToFloat(bits[i]); break;
                    default: throw new ArgumentException($"16-bit weights are F16 or BF16, not {type}.", nameof(type));
                }
            }
            return r;
        }
    }
}
