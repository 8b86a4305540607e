using System;
using NUnit.Framework;

namespace Sd3Tex.Tests
{
    /// <summary>Element-wise comparison of kernel output with a reference, reporting the worst element.</summary>
    public static class KernelAssert
    {
        /// <summary>Passes when every |actual - expected| ≤ atol + rtol * |expected| (and nothing is NaN).</summary>
        public static void Close(float[] expected, float[] actual, double atol, double rtol = 0, string what = "output")
        {
            Assert.That(actual, Is.Not.Null, what);
            Assert.That(actual.Length, Is.EqualTo(expected.Length), what + ": length");
            int worst = -1;
            double worstExcess = double.NegativeInfinity, maxAbs = 0;
            for (int i = 0; i < expected.Length; i++)
            {
                double e = expected[i], a = actual[i];
                double diff = Math.Abs(a - e);
                if (double.IsNaN(diff)) diff = double.PositiveInfinity;
                if (diff > maxAbs) maxAbs = diff;
                double excess = diff - (atol + rtol * Math.Abs(e));
                if (excess > worstExcess) { worstExcess = excess; worst = i; }
            }
            if (worst < 0) return;
            Assert.That(worstExcess <= 0, Is.True,
                $"{what}: element {worst} is {actual[worst]:R}, expected {expected[worst]:R} (max |diff| {maxAbs:G3}, atol {atol:G3}, rtol {rtol:G3})");
        }

        /// <summary>The largest |actual - expected|.</summary>
        public static double MaxAbsDiff(float[] expected, float[] actual)
        {
            double m = 0;
            for (int i = 0; i < expected.Length; i++) m = Math.Max(m, Math.Abs((double)actual[i] - expected[i]));
            return m;
        }

        /// <summary>Deterministic uniform values in [-range, range).</summary>
        public static float[] Random(int count, int seed, float range = 1f)
        {
            var r = new Random(seed);
            var a = new float[count];
            for (int i = 0; i < count; i++) a[i] = (float)((r.NextDouble() * 2 - 1) * range);
            return a;
        }
    }
}
