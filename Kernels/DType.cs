using System;
using System.Runtime.CompilerServices;

namespace Sd3Tex
{
    /// <summary>Element types that appear in safetensors checkpoints.</summary>
    public enum DType
    {
        F32, F16, BF16, F8_E4M3, F8_E5M2, F64,
        I64, I32, I16, I8, U8, U16, U32, U64, Bool,
    }

    /// <summary>Sizes, names and scalar conversions of <see cref="DType"/>. The conversions are plain integer
    /// arithmetic, so the same functions run inside ILGPU kernels (weights stay on the device in their stored type).</summary>
    public static class DTypes
    {
        public static int SizeOf(DType t)
        {
            switch (t)
            {
                case DType.F64: case DType.I64: case DType.U64: return 8;
                case DType.F32: case DType.I32: case DType.U32: return 4;
                case DType.F16: case DType.BF16: case DType.I16: case DType.U16: return 2;
                default: return 1;
            }
        }

        /// <summary>The safetensors spelling of a dtype ("F32", "BF16", "F8_E4M3", "BOOL" ...).</summary>
        public static string Name(DType t) => t == DType.Bool ? "BOOL" : t.ToString();

        public static bool TryParse(string name, out DType t)
        {
            switch (name)
            {
                case "F32": t = DType.F32; return true;
                case "F16": t = DType.F16; return true;
                case "BF16": t = DType.BF16; return true;
                case "F8_E4M3": t = DType.F8_E4M3; return true;
                case "F8_E5M2": t = DType.F8_E5M2; return true;
                case "F64": t = DType.F64; return true;
                case "I64": t = DType.I64; return true;
                case "I32": t = DType.I32; return true;
                case "I16": t = DType.I16; return true;
                case "I8": t = DType.I8; return true;
                case "U8": t = DType.U8; return true;
                case "U16": t = DType.U16; return true;
                case "U32": t = DType.U32; return true;
                case "U64": t = DType.U64; return true;
                case "BOOL": t = DType.Bool; return true;
                default: t = DType.F32; return false;
            }
        }

        /// <summary>True for the types that hold weights: F32, F16, BF16, F8_E4M3, F8_E5M2 and F64.</summary>
        public static bool IsFloat(DType t) =>
            t == DType.F32 || t == DType.F16 || t == DType.BF16 || t == DType.F8_E4M3 || t == DType.F8_E5M2 || t == DType.F64;

        /// <summary>IEEE binary16 bits to float (exact, including subnormals, infinities and NaN).</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static float HalfToFloat(ushort h)
        {
            uint sign = (uint)(h & 0x8000) << 16;
            uint exp = (uint)(h >> 10) & 0x1F;
            uint mant = (uint)h & 0x3FF;
            uint bits;
            if (exp == 0x1F)
                bits = sign | 0x7F800000u | (mant << 13);
            else if (exp != 0)
                bits = sign | ((exp + 112u) << 23) | (mant << 13);
            else if (mant == 0)
                bits = sign;
            else
            {
                // subnormal half: value = mant * 2^-24, exactly representable as a normal float
                int e = -1;
                uint m = mant;
                do { e++; m <<= 1; } while ((m & 0x400) == 0);
                bits = sign | ((uint)(112 - e) << 23) | ((m & 0x3FF) << 13);
            }
            return Int32BitsToSingle((int)bits);
        }

        /// <summary>Float to IEEE binary16 bits, round to nearest even (used by writers and tests).</summary>
        public static ushort FloatToHalf(float f)
        {
            uint x = (uint)SingleToInt32Bits(f);
            uint sign = (x >> 16) & 0x8000;
            int exp = (int)((x >> 23) & 0xFF);
            uint mant = x & 0x7FFFFF;
            if (exp == 0xFF) return (ushort)(sign | 0x7C00 | (mant != 0 ? 0x200 | (mant >> 13) : 0));
            int e = exp - 127 + 15;
            if (e >= 0x1F) return (ushort)(sign | 0x7C00);
            if (e <= 0)
            {
                if (e < -10) return (ushort)sign;
                mant |= 0x800000;
                int shift = 14 - e;
                uint half = mant >> shift;
                uint rem = mant & ((1u << shift) - 1);
                uint mid = 1u << (shift - 1);
                if (rem > mid || (rem == mid && (half & 1) != 0)) half++;
                return (ushort)(sign | half);
            }
            uint h = (uint)(e << 10) | (mant >> 13);
            uint r = mant & 0x1FFF;
            if (r > 0x1000 || (r == 0x1000 && (h & 1) != 0)) h++;
            return (ushort)(sign | h);
        }

        /// <summary>bfloat16 bits to float (exact).</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static float BFloat16ToFloat(ushort b) => Int32BitsToSingle(b << 16);

        /// <summary>Float to bfloat16 bits, round to nearest even; NaN stays NaN.</summary>
        public static ushort FloatToBFloat16(float f)
        {
            uint x = (uint)SingleToInt32Bits(f);
            if ((x & 0x7FFFFFFF) > 0x7F800000) return (ushort)((x >> 16) | 0x40);
            uint rounding = 0x7FFF + ((x >> 16) & 1);
            return (ushort)((x + rounding) >> 16);
        }

        /// <summary>F8 E4M3FN (as in t5xxl_fp8_e4m3fn): bias 7, no infinities, S.1111.111 is NaN, max 448.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static float F8E4M3ToFloat(byte v)
        {
            uint sign = (uint)(v & 0x80) << 24;
            uint exp = (uint)(v >> 3) & 0xF;
            uint mant = (uint)v & 0x7;
            if (exp == 0xF && mant == 0x7) return Int32BitsToSingle((int)(sign | 0x7FC00000u));
            if (exp == 0)
            {
                // subnormal: mant/8 * 2^-6
                float s = mant * 0.001953125f; // 2^-9
                return sign != 0 ? -s : s;
            }
            return Int32BitsToSingle((int)(sign | ((exp + 120u) << 23) | (mant << 20)));
        }

        /// <summary>Float to F8 E4M3FN, round to nearest even, saturating to ±448 (NaN stays NaN).</summary>
        public static byte FloatToF8E4M3(float f)
        {
            if (float.IsNaN(f)) return 0x7F;
            byte sign = (byte)(f < 0 || (f == 0 && SingleToInt32Bits(f) < 0) ? 0x80 : 0);
            float a = Math.Abs(f);
            if (a >= 448f) return (byte)(sign | 0x7E);
            // brute force over the 127 magnitudes: fine for a writer, exact by construction
            byte best = 0; float bestErr = float.MaxValue;
            for (int c = 0; c <= 0x7E; c++)
            {
                float v = F8E4M3ToFloat((byte)c);
                float err = Math.Abs(v - a);
                if (err < bestErr || (err == bestErr && (c & 1) == 0)) { best = (byte)c; bestErr = err; }
            }
            return (byte)(sign | best);
        }

        /// <summary>F8 E5M2: the top byte of a binary16.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static float F8E5M2ToFloat(byte v) => HalfToFloat((ushort)(v << 8));

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        static float Int32BitsToSingle(int i) => BitConverter.Int32BitsToSingle(i);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        static int SingleToInt32Bits(float f) => BitConverter.SingleToInt32Bits(f);
    }
}
