using System.Runtime.CompilerServices;
using ILGPU;
using ILGPU.Algorithms;

namespace Sd3Tex.Kernels
{
    /// <summary>
    /// Device-side scalar helpers shared by the kernels: weight decoding, activations and a group-wide sum.
    /// Everything here is plain arithmetic on primitives (plus <see cref="XMath"/>, <see cref="Interop"/>,
    /// <see cref="Group"/>), so it compiles for ILGPU's CPU, PTX and OpenCL backends alike, and host code may call
    /// the scalar functions too (the group sum only inside a kernel).
    /// </summary>
    public static class KernelMath
    {
        /// <summary>√(2/π), the GELU-tanh constant.</summary>
        public const float SqrtTwoOverPi = 0.7978845608028654f;

        /// <summary>1/√2, the erf-GELU constant.</summary>
        public const float InvSqrt2 = 0.7071067811865476f;

        /// <summary>IEEE binary16 bits to float (exact, including subnormals, infinities and NaN); no loops, so cheap
        /// in a kernel's tile load.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static float HalfToFloat(ushort h)
        {
            uint sign = (uint)(h & 0x8000) << 16;
            uint exp = ((uint)h >> 10) & 0x1Fu;
            uint mant = (uint)h & 0x3FFu;
            if (exp == 0)
            {
                // zero or subnormal: mant · 2^-24, exact in float
                float v = (int)mant * 5.9604644775390625e-8f;
                return sign != 0 ? -v : v;
            }
            uint bits = exp == 0x1F
                ? sign | 0x7F800000u | (mant << 13)
                : sign | ((exp + 112u) << 23) | (mant << 13);
            return Interop.IntAsFloat(bits);
        }

        /// <summary>bfloat16 bits to float (exact: the top half of a float).</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static float BFloat16ToFloat(ushort b) => Interop.IntAsFloat((uint)b << 16);

        /// <summary>SiLU: x · sigmoid(x).</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static float Silu(float x) => x / (1f + XMath.Exp(-x));

        /// <summary>GELU, tanh approximation: 0.5·x·(1 + tanh(√(2/π)(x + 0.044715x³))), evaluated as the identical
        /// x · sigmoid(2u), which keeps its accuracy in the far negative tail where 1 + tanh(u) cancels.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static float GeluTanh(float x)
        {
            float u = SqrtTwoOverPi * (x + 0.044715f * x * x * x);
            return x / (1f + XMath.Exp(-2f * u));
        }

        /// <summary>quick_gelu (CLIP): x · sigmoid(1.702x).</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static float QuickGelu(float x) => x / (1f + XMath.Exp(-1.702f * x));

        /// <summary>Exact GELU: 0.5·x·(1 + erf(x/√2)).</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static float GeluErf(float x) => 0.5f * x * (1f + Erf(x * InvSqrt2));

        /// <summary>
        /// erf(x) in single precision, max error about 1 ulp (abs ≤ 6.4e-8, rel ≤ 9.5e-8 over [-6, 6], also without
        /// fused multiply-add). Minimax polynomials after N. Juffa's erff: an odd polynomial in x for |x| ≤ 0.9277,
        /// 1 - exp(p(|x|)) above. ILGPU's <see cref="XMath"/> has no erf.
        /// </summary>
        public static float Erf(float a)
        {
            float t = XMath.Abs(a);
            float s = a * a;
            float r;
            if (t > 0.927734375f)
            {
                r = -1.72853470e-5f * t + 3.83197126e-4f;
                float u = -3.88396438e-3f * t + 2.42546219e-2f;
                r = r * s + u;
                r = r * t - 1.06777877e-1f;
                r = r * t - 6.34846687e-1f;
                r = r * t - 1.28717512e-1f;
                r = r * t - t;
                r = 1f - XMath.Exp(r);
                return a < 0f ? -r : r;
            }
            r = -5.96761703e-4f;
            r = r * s + 4.99119423e-3f;
            r = r * s - 2.67681349e-2f;
            r = r * s + 1.12819925e-1f;
            r = r * s - 3.76125336e-1f;
            r = r * s + 1.28379166e-1f;
            return r * a + a;
        }

        /// <summary>
        /// Sum of <paramref name="value"/> over the threads of the group (1-D groups whose size is a power of two),
        /// returned to every thread: a tree reduction in <paramref name="scratch"/> (shared memory, at least one float
        /// per thread). Every thread of the group must call it (it contains barriers); the scratch may be reused
        /// right after it returns.
        /// </summary>
        public static float GroupSum(ArrayView<float> scratch, float value)
        {
            int tid = Group.IdxX;
            scratch[tid] = value;
            Group.Barrier();
            for (int s = Group.DimX >> 1; s > 0; s >>= 1)
            {
                if (tid < s) scratch[tid] += scratch[tid + s];
                Group.Barrier();
            }
            float sum = scratch[0];
            Group.Barrier();
            return sum;
        }
    }

    /// <summary>How a weight element stored as <typeparamref name="T"/> becomes a float inside a kernel. Implemented by
    /// empty structs so that a generic kernel is specialised (and the call inlined) per stored type.</summary>
    public interface IWeightDecoder<T> where T : unmanaged
    {
        float Decode(T stored);
    }

    /// <summary>F32 weights: stored as float.</summary>
    public struct F32Decoder : IWeightDecoder<float>
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public float Decode(float stored) => stored;
    }

    /// <summary>F16 weights: raw IEEE binary16 bits.</summary>
    public struct F16Decoder : IWeightDecoder<ushort>
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public float Decode(ushort stored) => KernelMath.HalfToFloat(stored);
    }

    /// <summary>BF16 weights: raw bfloat16 bits.</summary>
    public struct BF16Decoder : IWeightDecoder<ushort>
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public float Decode(ushort stored) => KernelMath.BFloat16ToFloat(stored);
    }
}
