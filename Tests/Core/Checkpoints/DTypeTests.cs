using System;
using NUnit.Framework;

namespace Sd3Tex.Tests.Checkpoints
{
    /// <summary>Scalar conversions against formulas written independently from the bit-twiddling ones.</summary>
    public sealed class DTypeTests
    {
        static double Reference(int sign, int exp, int mant, int mantBits, int bias)
        {
            double frac = mant / Math.Pow(2, mantBits);
            double v = exp == 0 ? frac * Math.Pow(2, 1 - bias) : (1 + frac) * Math.Pow(2, exp - bias);
            return sign != 0 ? -v : v;
        }

        [Test]
        public void EveryHalfConvertsExactly()
        {
            for (int h = 0; h < 65536; h++)
            {
                float got = DTypes.HalfToFloat((ushort)h);
                int sign = h >> 15, exp = (h >> 10) & 0x1F, mant = h & 0x3FF;
                if (exp == 31)
                {
                    if (mant == 0) Assert.That(float.IsInfinity(got) && (got < 0) == (sign != 0), Is.True, $"0x{h:x4}");
                    else Assert.That(float.IsNaN(got), Is.True, $"0x{h:x4}");
                    continue;
                }
                Assert.That((double)got, Is.EqualTo(Reference(sign, exp, mant, 10, 15)), $"0x{h:x4}");
                // and back, exactly (negative zero included)
                Assert.That(DTypes.FloatToHalf(got), Is.EqualTo((ushort)h), $"round trip 0x{h:x4}");
            }
        }

        [Test]
        public void EveryF8E4M3ConvertsExactly()
        {
            for (int b = 0; b < 256; b++)
            {
                float got = DTypes.F8E4M3ToFloat((byte)b);
                int sign = b >> 7, exp = (b >> 3) & 0xF, mant = b & 7;
                if (exp == 15 && mant == 7) { Assert.That(float.IsNaN(got), Is.True, $"0x{b:x2}"); continue; }
                Assert.That((double)got, Is.EqualTo(Reference(sign, exp, mant, 3, 7)), $"0x{b:x2}");
                Assert.That(DTypes.FloatToF8E4M3(got), Is.EqualTo((byte)b), $"round trip 0x{b:x2}");
            }
            Assert.That(DTypes.F8E4M3ToFloat(0x7E), Is.EqualTo(448f));
            Assert.That(DTypes.FloatToF8E4M3(1e6f), Is.EqualTo((byte)0x7E), "saturates");
        }

        [Test]
        public void BFloat16AndF8E5M2()
        {
            for (int h = 0; h < 65536; h += 7)
            {
                float got = DTypes.BFloat16ToFloat((ushort)h);
                int sign = h >> 15, exp = (h >> 7) & 0xFF, mant = h & 0x7F;
                if (exp == 255) continue;
                Assert.That((double)got, Is.EqualTo(Reference(sign, exp, mant, 7, 127)), $"0x{h:x4}");
                Assert.That(DTypes.FloatToBFloat16(got), Is.EqualTo((ushort)h));
            }
            for (int b = 0; b < 256; b++)
            {
                int exp = (b >> 2) & 0x1F;
                if (exp == 31) continue;
                Assert.That((double)DTypes.F8E5M2ToFloat((byte)b), Is.EqualTo(Reference(b >> 7, exp, b & 3, 2, 15)));
            }
        }

        [TestCase(1.0f + 1.0f / 2048, (ushort)0x3C00)]       // tie: rounds to even (down)
        [TestCase(1.0f + 3.0f / 2048, (ushort)0x3C02)]       // tie: rounds to even (up)
        [TestCase(65520f, (ushort)0x7C00)]                   // rounds to infinity
        [TestCase(5.9604645e-08f, (ushort)0x0001)]           // smallest subnormal
        public void HalfRounding(float f, ushort expected) => Assert.That(DTypes.FloatToHalf(f), Is.EqualTo(expected));

        [Test]
        public void NamesRoundTrip()
        {
            foreach (DType t in Enum.GetValues(typeof(DType)))
            {
                Assert.That(DTypes.TryParse(DTypes.Name(t), out var back), Is.True);
                Assert.That(back, Is.EqualTo(t));
            }
            Assert.That(DTypes.TryParse("F4", out _), Is.False);
        }
    }
}
