using System;
using System.Collections.Generic;
using NUnit.Framework;

namespace Sd3Tex.Tests
{
    /// <summary>Element-wise comparison of float arrays against a reference, with a failure message that says where
    /// and by how much: the worst element (index, expected, actual), the largest absolute difference and how many
    /// elements are out of tolerance.</summary>
    public static class AssertClose
    {
        /// <summary>
        /// Passes when every |expected[i] − actual[i]| ≤ atol + rtol·|expected[i]|. NaN matches only NaN, an infinity
        /// only the same infinity.
        /// </summary>
        public static void Arrays(IReadOnlyList<float> expected, IReadOnlyList<float> actual, double atol, double rtol, string what = null)
        {
            string label = string.IsNullOrEmpty(what) ? "" : what + ": ";
            Assert.That(actual, Is.Not.Null, label + "no result");
            Assert.That(actual.Count, Is.EqualTo(expected.Count), label + "length");
            int bad = 0, worst = -1, maxAbsAt = -1;
            double worstRatio = 0, maxAbs = 0;
            for (int i = 0; i < expected.Count; i++)
            {
                double e = expected[i], a = actual[i];
                double ratio;
                if (double.IsNaN(e) || double.IsNaN(a) || double.IsInfinity(e) || double.IsInfinity(a))
                    ratio = e.Equals(a) ? 0 : double.PositiveInfinity;
                else
                {
                    double d = Math.Abs(e - a);
                    if (d > maxAbs) { maxAbs = d; maxAbsAt = i; }
                    ratio = d / (atol + rtol * Math.Abs(e));
                }
                if (ratio > 1) bad++;
                if (ratio > worstRatio || (worst < 0 && ratio > 1)) { worstRatio = ratio; worst = i; }
            }
            string message = bad == 0 ? "" :
                $"{label}{bad} of {expected.Count} elements outside atol {atol:G3} + rtol {rtol:G3}·|expected|; " +
                $"worst at [{worst}]: expected {expected[worst]:G9}, actual {actual[worst]:G9} " +
                $"({worstRatio:G3}× the tolerance); max |diff| {maxAbs:G3}" + (maxAbsAt >= 0 ? $" at [{maxAbsAt}]" : "");
            Assert.That(bad, Is.EqualTo(0), message);
        }

        /// <summary>Largest |expected[i] − actual[i]| (for reports).</summary>
        public static double MaxAbsDiff(IReadOnlyList<float> expected, IReadOnlyList<float> actual)
        {
            double m = 0;
            for (int i = 0; i < expected.Count; i++) m = Math.Max(m, Math.Abs((double)expected[i] - actual[i]));
            return m;
        }
    }
}
