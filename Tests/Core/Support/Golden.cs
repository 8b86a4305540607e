using System;
using System.Collections.Generic;
using NUnit.Framework;
using Sd3Tex.Checkpoints;

namespace Sd3Tex.Tests
{
    /// <summary>Reads fixture tensors in place and compares results with them.</summary>
    public static class Golden
    {
        public static float[] Floats(string fixture, string file, string name)
        {
            using var f = SafetensorsFile.Open(TestPaths.Fixture(fixture, file));
            var t = f[name] ?? throw new ArgumentException($"{fixture}/{file} has no tensor \"{name}\"");
            return f.ReadFloats(t);
        }

        public static long[] Shape(string fixture, string file, string name)
        {
            using var f = SafetensorsFile.Open(TestPaths.Fixture(fixture, file));
            return f[name].Shape;
        }

        /// <summary>Max |expected − actual|, after checking the lengths agree.</summary>
        public static double MaxAbsDiff(float[] expected, float[] actual, string what = null)
        {
            Assert.That(actual, Is.Not.Null, what);
            Assert.That(actual.Length, Is.EqualTo(expected.Length), (what ?? "") + ": length");
            double max = 0;
            for (int i = 0; i < expected.Length; i++)
            {
                double d = Math.Abs((double)expected[i] - actual[i]);
                if (double.IsNaN(d)) return double.NaN;
                if (d > max) max = d;
            }
            return max;
        }

        /// <summary>Asserts max |expected − actual| ≤ tolerance, naming the tensor and the worst element.</summary>
        public static double AssertClose(float[] expected, float[] actual, double tolerance, string what)
        {
            double max = MaxAbsDiff(expected, actual, what);
            int worst = 0;
            for (int i = 0; i < expected.Length; i++)
                if (Math.Abs((double)expected[i] - actual[i]) >= max) { worst = i; break; }
            Assert.That(max, Is.LessThanOrEqualTo(tolerance),
                $"{what}: max |diff| {max:E3} at [{worst}] (expected {expected[worst]}, got {actual[worst]}), tolerance {tolerance:E1}");
            TestContext.Progress.WriteLine($"  {what}: max |diff| {max:E3} (tolerance {tolerance:E1})");
            return max;
        }
    }
}
