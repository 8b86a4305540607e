using System;
using ILGPU;
using ILGPU.Runtime;
using NUnit.Framework;
using Sd3Tex.Kernels;

namespace Sd3Tex.Tests.Kernels
{
    [TestFixtureSource(typeof(DeviceTestBase), nameof(DeviceTestBase.Devices))]
    public sealed class NormTests : DeviceTestBase
    {
        public NormTests(string device) : base(device) { }

        const double Atol = 1e-5, Rtol = 1e-5;

        Norms _norms;

        [OneTimeSetUp]
        public void CreateNorms() => _norms = new Norms(Device);

        /// <summary>Rows with an offset mean (3) so that a one-pass variance would lose digits.</summary>
        static float[] Rows(int n, int seed) => GemmTests.Random(n, seed, 2f, 4f);

        [Test]
        public void LayerNormModulateMatchesTheReference([Values(1, 3, 64, 100, 257)] int dim)
        {
            // 7 rows in batches of 3 (3 batches, the last short); shift and scale are chunks 0 and 1 of a [B, 2·dim + 5] tensor
            int rows = 7, tokens = 3, batches = 3, stride = 2 * dim + 5;
            var x = Rows(rows * dim, dim);
            var mod = GemmTests.Random(batches * stride, 100 + dim);
            var shift = mod;
            var scale = new float[mod.Length - dim];
            Array.Copy(mod, dim, scale, 0, scale.Length);
            var expected = new float[rows * dim];
            NormReference.LayerNormModulate(expected, x, shift, scale, rows, dim, tokens, stride);
            var acc = Device.Accelerator;
            using var dx = acc.Allocate1D(x);
            using var dm = acc.Allocate1D(mod);
            using var dy = acc.Allocate1D<float>(rows * dim);
            _norms.LayerNormModulate(dx.View, dm.View, dm.View.SubView(dim, mod.Length - dim), dy.View, rows, dim, tokens, stride);
            AssertClose.Arrays(expected, dy.GetAsArray1D(), Atol, Rtol, $"dim {dim}, group {_norms.GroupFor(dim)}");
        }

        [Test]
        public void LayerNormMatchesTheReference([Values(1, 5, 64, 77, 300)] int dim, [Values(true, false)] bool affine)
        {
            int rows = 4;
            var x = Rows(rows * dim, 7 * dim);
            var w = affine ? GemmTests.Random(dim, 1) : null;
            var b = affine ? GemmTests.Random(dim, 2) : null;
            var expected = new float[rows * dim];
            NormReference.LayerNorm(expected, x, w, b, rows, dim, 1e-5);
            var acc = Device.Accelerator;
            using var dx = acc.Allocate1D(x);
            using var dw = acc.Allocate1D(w ?? new float[1]);
            using var db = acc.Allocate1D(b ?? new float[1]);
            using var dy = acc.Allocate1D<float>(rows * dim);
            if (affine) _norms.LayerNorm(dx.View, dw.View, db.View, dy.View, rows, dim, 1e-5f);
            else _norms.LayerNorm(dx.View, default, default, dy.View, rows, dim, 1e-5f);
            AssertClose.Arrays(expected, dy.GetAsArray1D(), Atol, Rtol, $"dim {dim}");
        }

        [Test]
        public void LayerNormInPlace()
        {
            int rows = 3, dim = 130;
            var x = Rows(rows * dim, 5);
            var w = GemmTests.Random(dim, 6);
            var b = GemmTests.Random(dim, 7);
            var expected = new float[rows * dim];
            NormReference.LayerNorm(expected, x, w, b, rows, dim, 1e-5);
            var acc = Device.Accelerator;
            using var dx = acc.Allocate1D(x);
            using var dw = acc.Allocate1D(w);
            using var db = acc.Allocate1D(b);
            _norms.LayerNorm(dx.View, dw.View, db.View, dx.View, rows, dim);
            AssertClose.Arrays(expected, dx.GetAsArray1D(), Atol, Rtol);
        }

        [Test]
        public void RmsNormMatchesTheReference([Values(1, 7, 64, 200)] int dim, [Values(true, false)] bool weighted)
        {
            int rows = 5;
            var x = GemmTests.Random(rows * dim, 3 * dim, -2f, 2f);
            var w = weighted ? GemmTests.Random(dim, 9) : null;
            var expected = new float[rows * dim];
            NormReference.RmsNorm(expected, x, w, rows, 1, dim, dim);
            var acc = Device.Accelerator;
            using var dx = acc.Allocate1D(x);
            using var dw = acc.Allocate1D(w ?? new float[1]);
            using var dy = acc.Allocate1D<float>(rows * dim);
            _norms.RmsNorm(dx.View, weighted ? dw.View : default, dy.View, rows, dim);
            AssertClose.Arrays(expected, dy.GetAsArray1D(), Atol, Rtol, $"dim {dim}");
        }

        [Test]
        public void RmsNormPerHeadInsideAFusedQkvRow()
        {
            // SD3.5 q norm: tokens × [q | k | v] with 3 heads of 64 each; only q's heads (the first 192 floats) change, in place
            int rows = 5, heads = 3, headDim = 64, stride = 3 * heads * headDim;
            var qkv = GemmTests.Random(rows * stride, 42, -3f, 3f);
            var w = GemmTests.Random(headDim, 43);
            var expected = (float[])qkv.Clone();
            NormReference.RmsNorm(expected, qkv, w, rows, heads, headDim, stride);
            var acc = Device.Accelerator;
            using var dq = acc.Allocate1D(qkv);
            using var dw = acc.Allocate1D(w);
            _norms.RmsNormPerHead(dq.View, dw.View, dq.View, rows, heads, headDim, stride);
            AssertClose.Arrays(expected, dq.GetAsArray1D(), Atol, Rtol);
        }

        [Test]
        public void GroupsArePowersOfTwoWithinTheAccelerator()
        {
            int max = Device.Accelerator.MaxNumThreadsPerGroup;
            foreach (int d in new[] { 1, 2, 3, 64, 65, 1536, 4096 })
            {
                int g = _norms.GroupFor(d);
                Assert.That(g & (g - 1), Is.EqualTo(0), $"group {g} for dim {d}");
                Assert.That(g, Is.LessThanOrEqualTo(Math.Min(max, Norms.MaxGroup)));
                Assert.That(g, Is.LessThanOrEqualTo(Math.Max(1, 2 * d - 1)));
            }
        }

        [Test]
        public void TooShortViewsAreRejected()
        {
            using var dx = Device.Accelerator.Allocate1D<float>(10);
            var e = Assert.Throws<ArgumentException>(() => _norms.RmsNorm(dx.View, default, dx.View, 3, 4));
            Assert.That(e.Message, Does.Contain("x holds 10").And.Contain("12"));
        }
    }

    /// <summary>Hand-computed cases of the plain reference itself, and the kernels' GPU portability.</summary>
    public sealed class NormReferenceTests
    {
        [Test]
        public void LayerNormByHand()
        {
            // [1, 2, 3, 4]: mean 2.5, variance 1.25, so (x − 2.5)/√1.25 = ±0.4472, ±1.3416; then ·w + b
            var y = new float[4];
            NormReference.LayerNorm(y, new float[] { 1, 2, 3, 4 }, null, null, 1, 4, 0);
            Assert.That(y, Is.EqualTo(new[] { -1.3416408f, -0.4472136f, 0.4472136f, 1.3416408f }).Within(1e-6f));
            NormReference.LayerNorm(y, new float[] { 1, 2, 3, 4 }, new float[] { 2, 2, 2, 2 }, new float[] { 1, 0, 0, 0 }, 1, 4, 0);
            Assert.That(y, Is.EqualTo(new[] { -1.6832816f, -0.8944272f, 0.8944272f, 2.6832816f }).Within(1e-6f));
        }

        [Test]
        public void ModulationByHand()
        {
            // LN([0, 2]) = [−1, 1]; row 0 is batch 0 (shift 1, scale 1 → ·2 + 1), row 1 batch 1 (shift 0, scale −0.5)
            var y = new float[4];
            var shift = new float[] { 1, 1, 0, 0 };
            var scale = new float[] { 1, 1, -0.5f, -0.5f };
            NormReference.LayerNormModulate(y, new float[] { 0, 2, 5, 7 }, shift, scale, 2, 2, 1, 2, 0);
            Assert.That(y, Is.EqualTo(new[] { -1f, 3f, -0.5f, 0.5f }).Within(1e-6f));
        }

        [Test]
        public void RmsNormByHand()
        {
            // [3, 4]: mean square 12.5 → [3, 4]/√12.5 = [0.8485, 1.1314]; per head: two heads [3, 4] and [0, 2] (ms 2 → [0, 1.4142])
            var y = new float[4];
            NormReference.RmsNorm(y, new float[] { 3, 4, 0, 2 }, new float[] { 1, 2 }, 1, 2, 2, 4, 0);
            Assert.That(y, Is.EqualTo(new[] { 0.8485281f, 2.2627417f, 0f, 2.8284271f }).Within(1e-6f));
        }

        [Test]
        public void KernelsCompileForPtxAndOpenCL([Values(nameof(Norms.LayerNormModulateKernel), nameof(Norms.LayerNormKernel),
                                                          nameof(Norms.RmsNormKernel))] string name)
        {
            var (ptx, cl) = CrossCompile.Both(typeof(Norms).GetMethod(name), true);
            Assert.That(ptx, Does.Contain("bar.sync"));
            Assert.That(cl, Does.Contain("barrier"));
        }
    }
}
