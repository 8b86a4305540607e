using System;
using ILGPU;
using ILGPU.Runtime;
using NUnit.Framework;
using Sd3Tex.Kernels;

namespace Sd3Tex.Tests.Kernels
{
    [TestFixtureSource(typeof(DeviceTestBase), nameof(DeviceTestBase.Devices))]
    public sealed class ActivationTests : DeviceTestBase
    {
        public ActivationTests(string device) : base(device) { }

        Activations _act;

        [OneTimeSetUp]
        public void CreateActivations() => _act = new Activations(Device);

        /// <summary>n values over [−12, 12] plus zeros and far tails.</summary>
        static float[] Inputs(int n, int seed)
        {
            var x = GemmTests.Random(n, seed, -12f, 12f);
            float[] special = { 0f, -0f, 1f, -1f, 40f, -40f, 1e-6f, -1e-6f, 100f, -100f };
            for (int i = 0; i < special.Length && i < n; i++) x[i] = special[i];
            return x;
        }

        [Test]
        public void MatchesTheReference([Values(Activation.Silu, Activation.GeluTanh, Activation.QuickGelu, Activation.GeluErf)] Activation f, [Values(1, 1000, 4097)] int n)
        {
            var x = Inputs(n, n);
            var expected = new float[n];
            ActivationReference.Apply(f, x, expected);
            var acc = Device.Accelerator;
            using var dx = acc.Allocate1D(x);
            using var dy = acc.Allocate1D<float>(n);
            _act.Apply(f, dx.View, dy.View, n);
            AssertClose.Arrays(expected, dy.GetAsArray1D(), 1e-6, 2e-6, $"{f} n {n}");
        }

        [Test]
        public void InPlace([Values(Activation.Silu, Activation.GeluTanh, Activation.QuickGelu, Activation.GeluErf)] Activation f)
        {
            int n = 300;
            var x = Inputs(n, 77);
            var expected = new float[n];
            ActivationReference.Apply(f, x, expected);
            using var dx = Device.Accelerator.Allocate1D(x);
            _act.Apply(f, dx.View, dx.View, n);
            AssertClose.Arrays(expected, dx.GetAsArray1D(), 1e-6, 2e-6, f.ToString());
        }

        [Test]
        public void GatedResidualMatchesTheReference([Values(true, false)] bool inPlace)
        {
            // 7 rows of 33 in batches of 3; the gate is chunk 1 of a [3, 2·33 + 1] tensor
            int rows = 7, hidden = 33, tokens = 3, stride = 2 * hidden + 1;
            var resid = GemmTests.Random(rows * hidden, 1);
            var y = GemmTests.Random(rows * hidden, 2);
            var mod = GemmTests.Random(3 * stride, 3);
            var gate = new float[mod.Length - hidden];
            Array.Copy(mod, hidden, gate, 0, gate.Length);
            var expected = new float[rows * hidden];
            ActivationReference.GatedResidual(expected, resid, y, gate, rows, hidden, tokens, stride);
            var acc = Device.Accelerator;
            using var dr = acc.Allocate1D(resid);
            using var dy = acc.Allocate1D(y);
            using var dm = acc.Allocate1D(mod);
            using var dout = acc.Allocate1D<float>(rows * hidden);
            var outView = inPlace ? dr.View : dout.View;
            _act.GatedResidual(dr.View, dy.View, dm.View.SubView(hidden, mod.Length - hidden), outView, rows, hidden, tokens, stride);
            AssertClose.Arrays(expected, (inPlace ? dr : dout).GetAsArray1D(), 1e-6, 1e-6);
        }

        [Test]
        public void TooShortViewsAreRejected()
        {
            using var d = Device.Accelerator.Allocate1D<float>(10);
            var e = Assert.Throws<ArgumentException>(() => _act.Silu(d.View, d.View, 11));
            Assert.That(e.Message, Does.Contain("x holds 10"));
        }
    }

    /// <summary>Hand-computed cases of the plain reference itself, the kernel-side erf, and GPU portability.</summary>
    public sealed class ActivationReferenceTests
    {
        [Test]
        public void ReferenceErfMatchesKnownValues()
        {
            // values of erf to 16 digits (e.g. Python's math.erf)
            double[,] cases =
            {
                { 0.001, 0.0011283787909692365 }, { -0.3, -0.3286267594591274 }, { 0.5, 0.5204998778130465 },
                { 1, 0.8427007929497149 }, { 2, 0.9953222650189527 }, { 2.9, 0.9999589021219005 },
                { 3, 0.9999779095030014 }, { 3.5, 0.9999992569016276 }, { 0, 0 },
            };
            for (int i = 0; i < cases.GetLength(0); i++)
                Assert.That(ActivationReference.Erf(cases[i, 0]), Is.EqualTo(cases[i, 1]).Within(1e-15), $"erf({cases[i, 0]})");
            Assert.That(ActivationReference.Erf(10), Is.EqualTo(1.0));
        }

        [Test]
        public void ReferenceActivationsByHand()
        {
            // gelu_tanh(±1, 2), gelu(±1, 2), silu, quick_gelu (to 1e-15, from the formulas in double)
            Assert.That(ActivationReference.GeluTanh(1), Is.EqualTo(0.8411919906082768).Within(1e-15));
            Assert.That(ActivationReference.GeluTanh(-1), Is.EqualTo(-0.15880800939172324).Within(1e-15));
            Assert.That(ActivationReference.GeluTanh(2), Is.EqualTo(1.954597694087775).Within(1e-15));
            Assert.That(ActivationReference.GeluErf(1), Is.EqualTo(0.8413447460685429).Within(1e-15));
            Assert.That(ActivationReference.GeluErf(-1), Is.EqualTo(-0.15865525393145707).Within(1e-15));
            Assert.That(ActivationReference.GeluErf(2), Is.EqualTo(1.9544997361036416).Within(1e-15));
            Assert.That(ActivationReference.Silu(1), Is.EqualTo(0.7310585786300049).Within(1e-15));
            Assert.That(ActivationReference.Silu(-1), Is.EqualTo(-0.2689414213699951).Within(1e-15));
            Assert.That(ActivationReference.QuickGelu(1), Is.EqualTo(0.8457957659328212).Within(1e-15));
            Assert.That(ActivationReference.QuickGelu(2), Is.EqualTo(1.9356586231442083).Within(1e-15));
        }

        [Test]
        public void KernelErfIsAccurateToAboutAnUlp()
        {
            double worst = 0, worstAt = 0;
            for (int i = -60000; i <= 60000; i++)
            {
                float x = i * 1e-4f;
                double d = Math.Abs(KernelMath.Erf(x) - ActivationReference.Erf(x));
                if (d > worst) { worst = d; worstAt = x; }
            }
            Assert.That(worst, Is.LessThan(1.2e-7), $"max |erf error| at x = {worstAt}");
        }

        [Test]
        public void KernelsCompileForPtxAndOpenCL([Values(nameof(Activations.SiluKernel), nameof(Activations.GeluTanhKernel),
                                                          nameof(Activations.QuickGeluKernel), nameof(Activations.GeluErfKernel),
                                                          nameof(Activations.GatedResidualKernel))] string name)
        {
            var (ptx, cl) = CrossCompile.Both(typeof(Activations).GetMethod(name), false);
            Assert.That(ptx, Does.Contain(".entry"));
            Assert.That(cl, Does.Contain("kernel"));
        }
    }
}
