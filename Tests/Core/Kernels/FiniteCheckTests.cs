using System;
using ILGPU;
using ILGPU.Runtime;
using NUnit.Framework;
using Sd3Tex.Kernels;

namespace Sd3Tex.Tests.Kernels
{
    [TestFixtureSource(typeof(DeviceTestBase), nameof(DeviceTestBase.Devices))]
    public sealed class FiniteCheckTests : DeviceTestBase
    {
        public FiniteCheckTests(string device) : base(device) { }

        FiniteCheck _check;

        [OneTimeSetUp]
        public void CreateCheck() => _check = new FiniteCheck(Device);

        [OneTimeTearDown]
        public void DisposeCheck() => _check?.Dispose();

        /// <summary>n values with NaN, +Inf and −Inf at <paramref name="bad"/> positions; large finite values (the
        /// largest float, the smallest subnormal, −0) elsewhere must not count.</summary>
        static float[] Values(int n, params int[] bad)
        {
            var x = GemmTests.Random(n, n + 1, -1e30f, 1e30f);
            float[] edge = { float.MaxValue, -float.MaxValue, float.Epsilon, -0f, 65504f };
            for (int i = 0; i < edge.Length && i < n; i++) x[n - 1 - i] = edge[i];
            float[] special = { float.NaN, float.PositiveInfinity, float.NegativeInfinity, BitConverter.Int32BitsToSingle(unchecked((int)0xFFC00001)) };
            for (int k = 0; k < bad.Length; k++) x[bad[k]] = special[k % special.Length];
            return x;
        }

        [TestCase(1, new int[0])]
        [TestCase(1, new[] { 0 })]
        [TestCase(17, new[] { 16 })]
        [TestCase(1000, new[] { 0, 999, 500, 3 })]
        [TestCase(65537, new[] { 65536, 1, 40000, 2, 7, 65535 })]
        [TestCase(131072, new int[0])]
        public void CountsAsTheReference(int n, int[] bad)
        {
            var x = Values(n, bad);
            long expected = NumericsReference.CountNonFinite(x, n);
            Assert.That(expected, Is.EqualTo(bad.Length));
            using var dx = Device.Accelerator.Allocate1D(x);
            Assert.That(_check.CountNonFinite(dx.View, n), Is.EqualTo(expected), $"n {n}");
            // a prefix and a sub-view: only the elements asked for count
            if (n > 2)
            {
                Assert.That(_check.CountNonFinite(dx.View, n - 1), Is.EqualTo(NumericsReference.CountNonFinite(x, n - 1)));
                var tail = new float[n - 1];
                Array.Copy(x, 1, tail, 0, n - 1);
                Assert.That(_check.CountNonFinite(dx.View.SubView(1, n - 1), n - 1), Is.EqualTo(NumericsReference.CountNonFinite(tail, n - 1)));
            }
            Assert.That(FiniteCheck.CountNonFinite(x), Is.EqualTo(expected), "host arrays");
        }

        [Test]
        public void EverythingNonFiniteAndRepeatedCalls()
        {
            int n = 5003;
            var x = new float[n];
            for (int i = 0; i < n; i++) x[i] = i % 2 == 0 ? float.NaN : float.NegativeInfinity;
            using var dx = Device.Accelerator.Allocate1D(x);
            for (int r = 0; r < 3; r++) Assert.That(_check.CountNonFinite(dx.View, n), Is.EqualTo(n), "the counter is reset on every call");
            Assert.That(_check.CountNonFinite(dx.View, 0), Is.EqualTo(0));
        }
    }
}
