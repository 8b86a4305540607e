using System;
using System.Linq;
using ILGPU;
using ILGPU.Runtime;
using NUnit.Framework;
using Sd3Tex.Kernels;

namespace Sd3Tex.Tests.Kernels
{
    /// <summary>The VAE's kernels (convolution, group norm, spatial attention) against their plain C# references, on
    /// every accelerator present and on a 256-thread CPU device (so the GPU tiles run here too).</summary>
    [TestFixtureSource(typeof(ConvTests), nameof(ConvDevices))]
    public sealed class ConvTests : DeviceTestBase
    {
        public ConvTests(string device) : base(device) { }

        public static System.Collections.IEnumerable ConvDevices
        {
            get
            {
                foreach (var d in Devices) yield return d;
                yield return WideCpu;
            }
        }

        const double Atol = 2e-5, Rtol = 2e-5;

        Conv2d _tiles, _threads;
        GroupNorm _gn;

        [OneTimeSetUp]
        public void CreateKernels()
        {
            _tiles = new Conv2d(Device, 0, KernelPath.Groups);
            _threads = new Conv2d(Device, 0, KernelPath.Threads);
            _gn = new GroupNorm(Device);
        }

        [OneTimeTearDown]
        public void DisposeKernels() => _gn?.Dispose();

        internal static float[] Rand(int n, int seed, float lo = -1f, float hi = 1f) => GemmTests.Random(n, seed, lo, hi);

        /// <summary>Decoded weights as the reference sees them and the device view the kernel gets.</summary>
        static (float[] decoded, MemoryBuffer1D<float, Stride1D.Dense> f32, MemoryBuffer1D<ushort, Stride1D.Dense> bits, WeightView view)
            Upload(Accelerator acc, DType type, float[] w)
        {
            if (type == DType.F32)
            {
                var f = acc.Allocate1D(w);
                return (w, f, null, WeightView.FromF32(f.View));
            }
            var bits = new ushort[w.Length];
            for (int i = 0; i < w.Length; i++) bits[i] = type == DType.F16 ? DTypes.FloatToHalf(w[i]) : DTypes.FloatToBFloat16(w[i]);
            var b = acc.Allocate1D(bits);
            return (GemmReference.Decode(type, bits), null, b, WeightView.FromBits(type, b.View));
        }

        void CheckConv(int batch, int cin, int cout, int h, int w, int k, bool up, PadMode px, PadMode py, DType type, bool residual, int seed)
        {
            var acc = Device.Accelerator;
            var x = Rand(batch * cin * h * w, seed);
            var (wd, wf, wb, view) = Upload(acc, type, Rand(cout * cin * k * k, seed + 1, -0.5f, 0.5f));
            var bias = Rand(cout, seed + 2);
            int oh = up ? 2 * h : h, ow = up ? 2 * w : w;
            var expected = ConvReference.Conv2d(x, batch, cin, h, w, wd, bias, cout, k, up, px, py);
            var res = residual ? Rand(expected.Length, seed + 3) : null;
            if (residual) for (int i = 0; i < expected.Length; i++) expected[i] += res[i];
            using var dx = acc.Allocate1D(x);
            using var db = acc.Allocate1D(bias);
            // the residual is added in place: the output buffer starts as the residual
            using var dy = residual ? acc.Allocate1D(res) : acc.Allocate1D<float>(expected.Length);
            try
            {
                foreach (var conv in new[] { _tiles, _threads })
                {
                    if (residual) dy.CopyFromCPU(res);
                    conv.Run(dx.View, view, db.View, residual ? dy.View : default, dy.View, batch, cin, cout, h, w, k, up, px, py);
                    KernelAssert.Close(expected, dy.GetAsArray1D(), Atol, Rtol,
                        $"conv {k}×{k} B{batch} {cin}→{cout} {h}×{w}{(up ? " ×2" : "")} pad {px}/{py} {type} " +
                        (conv.Path == KernelPath.Groups ? $"tile {conv.TileFor(batch * oh * ow, cout)}" : "threads"));
                }
            }
            finally { wf?.Dispose(); wb?.Dispose(); }
        }

        [Test]
        public void ConvolutionMatchesTheReference([Values(1, 3)] int k, [Values(false, true)] bool upsample,
                                                   [Values(PadMode.Zeros, PadMode.Circular)] PadMode padX, [Values(PadMode.Zeros, PadMode.Circular)] PadMode padY)
        {
            // sizes off every tile edge: 2 × 5 × 9 pixels (×4 upsampled), 7 → 19 channels, K = 63 across BK
            CheckConv(2, 7, 19, 5, 9, k, upsample, padX, padY, DType.F32, false, 10 * k + (upsample ? 1 : 0));
        }

        [Test]
        public void ConvolutionStoredWeightTypesAndResidual([Values(DType.F32, DType.F16, DType.BF16)] DType type)
        {
            CheckConv(1, 33, 40, 6, 7, 3, false, PadMode.Circular, PadMode.Zeros, type, true, 3);
            CheckConv(1, 40, 17, 6, 7, 1, false, PadMode.Zeros, PadMode.Zeros, type, true, 4);
        }

        [Test]
        public void ConvolutionLargerThanOneTile()
        {
            // 70 output channels × 2·11·13 pixels: several tiles both ways, and a wrap on a 1-pixel-wide axis
            CheckConv(2, 12, 70, 11, 13, 3, false, PadMode.Circular, PadMode.Circular, DType.BF16, false, 5);
            CheckConv(1, 3, 5, 1, 4, 3, true, PadMode.Circular, PadMode.Circular, DType.F32, false, 6);
            CheckConv(1, 3, 5, 1, 1, 3, false, PadMode.Circular, PadMode.Circular, DType.F32, false, 7);
        }

        void CheckDownsample(int batch, int cin, int cout, int h, int w, PadMode px, PadMode py, DType type, int seed)
        {
            var acc = Device.Accelerator;
            var x = Rand(batch * cin * h * w, seed);
            var (wd, wf, wb, view) = Upload(acc, type, Rand(cout * cin * 9, seed + 1, -0.5f, 0.5f));
            var bias = Rand(cout, seed + 2);
            var expected = ConvReference.Downsample2d(x, batch, cin, h, w, wd, bias, cout, px, py);
            Assert.That(expected.Length, Is.EqualTo(batch * cout * (h / 2) * (w / 2)), "output size H/2 × W/2");
            using var dx = acc.Allocate1D(x);
            using var db = acc.Allocate1D(bias);
            using var dy = acc.Allocate1D<float>(expected.Length);
            try
            {
                foreach (var conv in new[] { _tiles, _threads })
                {
                    dy.MemSetToZero();
                    conv.Downsample(dx.View, view, db.View, dy.View, batch, cin, cout, h, w, px, py);
                    KernelAssert.Close(expected, dy.GetAsArray1D(), Atol, Rtol,
                        $"downsample B{batch} {cin}→{cout} {h}×{w} pad {px}/{py} {type} " +
                        (conv.Path == KernelPath.Groups ? $"tile {conv.TileFor(batch * (h / 2) * (w / 2), cout)}" : "threads"));
                }
            }
            finally { wf?.Dispose(); wb?.Dispose(); }
        }

        [Test]
        public void DownsampleMatchesTheReference([Values(PadMode.Zeros, PadMode.Circular)] PadMode padX, [Values(PadMode.Zeros, PadMode.Circular)] PadMode padY)
        {
            // even sizes (the padded row and column are read) and odd ones (they are not), off every tile edge
            CheckDownsample(2, 7, 19, 6, 10, padX, padY, DType.F32, 20);
            CheckDownsample(1, 5, 9, 7, 5, padX, padY, DType.F32, 21);
        }

        [Test]
        public void DownsampleStoredWeightTypesAndSeveralTiles([Values(DType.F16, DType.BF16)] DType type)
        {
            // 70 output channels × 2·9·11 pixels: several tiles of the implicit GEMM both ways
            CheckDownsample(2, 12, 70, 18, 22, PadMode.Circular, PadMode.Zeros, type, 22);
            CheckDownsample(1, 3, 5, 2, 2, PadMode.Circular, PadMode.Circular, type, 23);
        }

        [Test]
        public void CircularDownsampleCommutesWithEvenRolls()
        {
            // on the torus the downsample is equivariant to shifts by 2: roll(x, 2·(dy, dx)) → roll(out, (dy, dx))
            int c = 3, h = 8, w = 6;
            var x = Rand(c * h * w, 31);
            var wt = Rand(4 * c * 9, 32, -0.5f, 0.5f);
            var a = ConvReference.Downsample2d(x, 1, c, h, w, wt, null, 4, PadMode.Circular, PadMode.Circular);
            var rolled = new float[x.Length];
            for (int ch = 0; ch < c; ch++)
                for (int y = 0; y < h; y++)
                    for (int xx = 0; xx < w; xx++) rolled[(ch * h + (y + 2) % h) * w + (xx + 4) % w] = x[(ch * h + y) * w + xx];
            var r = ConvReference.Downsample2d(rolled, 1, c, h, w, wt, null, 4, PadMode.Circular, PadMode.Circular);
            int oh = h / 2, ow = w / 2;
            for (int ch = 0; ch < 4; ch++)
                for (int y = 0; y < oh; y++)
                    for (int xx = 0; xx < ow; xx++)
                        Assert.That(r[(ch * oh + (y + 1) % oh) * ow + (xx + 2) % ow], Is.EqualTo(a[(ch * oh + y) * ow + xx]).Within(1e-5));
        }

        [Test]
        public void BadShapesAreRejected()
        {
            using var d = Device.Accelerator.Allocate1D<float>(10);
            var e = Assert.Throws<ArgumentException>(() => _tiles.Run(d.View, WeightView.FromF32(d.View), default, default, d.View, 1, 1, 1, 2, 3, 5));
            Assert.That(e.Message, Does.Contain("kernel 5"));
            e = Assert.Throws<ArgumentException>(() => _threads.Run(d.View, WeightView.FromF32(d.View), default, default, d.View, 1, 2, 1, 2, 3, 3));
            Assert.That(e.Message, Does.Contain("input holds 10"));
            e = Assert.Throws<ArgumentException>(() => _gn.Run(d.View, d.View, d.View, d.View, 1, 6, 1, 4));
            Assert.That(e.Message, Does.Contain("do not split"));
            e = Assert.Throws<ArgumentException>(() => _tiles.Downsample(d.View, WeightView.FromF32(d.View), default, d.View, 1, 1, 1, 1, 4));
            Assert.That(e.Message, Does.Contain("at least 2 × 2"));
        }
    }

    /// <summary>Group norm and the VAE's spatial attention against their references, on every accelerator present
    /// (their reductions use the widest group the device allows, so the 256-thread CPU device would only be slow).</summary>
    [TestFixtureSource(typeof(DeviceTestBase), nameof(DeviceTestBase.Devices))]
    public sealed class GroupNormTests : DeviceTestBase
    {
        public GroupNormTests(string device) : base(device) { }

        GroupNorm _gnGroups, _gnThreads;
        SpatialAttention _attnGroups, _attnThreads;

        [OneTimeSetUp]
        public void CreateKernels()
        {
            _gnGroups = new GroupNorm(Device, KernelPath.Groups);
            _gnThreads = new GroupNorm(Device, KernelPath.Threads);
            _attnGroups = new SpatialAttention(Device, null, KernelPath.Groups);
            _attnThreads = new SpatialAttention(Device, null, KernelPath.Threads);
        }

        [OneTimeTearDown]
        public void DisposeKernels()
        {
            _gnGroups?.Dispose();
            _gnThreads?.Dispose();
        }

        static float[] Rand(int n, int seed, float lo = -1f, float hi = 1f) => ConvTests.Rand(n, seed, lo, hi);

        [Test]
        public void GroupNormMatchesTheReference([Values(1, 7, 300)] int hw, [Values(false, true)] bool silu,
                                                 [Values(KernelPath.Groups, KernelPath.Threads)] KernelPath path)
        {
            var gn = path == KernelPath.Groups ? _gnGroups : _gnThreads;
            int batch = 2, channels = 64, groups = 32;
            // an offset mean (3) so that a one-pass variance would lose digits
            var x = Rand(batch * channels * hw, hw, 2f, 4f);
            var gamma = Rand(channels, 1, 0.5f, 1.5f);
            var beta = Rand(channels, 2);
            var expected = ConvReference.GroupNorm(x, batch, channels, hw, groups, gamma, beta, 1e-6, silu);
            var acc = Device.Accelerator;
            using var dx = acc.Allocate1D(x);
            using var dg = acc.Allocate1D(gamma);
            using var db = acc.Allocate1D(beta);
            using var dy = acc.Allocate1D<float>(x.Length);
            gn.Run(dx.View, dg.View, db.View, dy.View, batch, channels, hw, groups, 1e-6f, silu);
            KernelAssert.Close(expected, dy.GetAsArray1D(), 3e-5, 3e-5, $"group norm hw {hw} silu {silu} {path}");
            // in place
            gn.Run(dx.View, dg.View, db.View, dx.View, batch, channels, hw, groups, 1e-6f, silu);
            KernelAssert.Close(expected, dx.GetAsArray1D(), 3e-5, 3e-5, "in place");
        }

        [Test]
        public void GroupNormSplitsLargeGroupsExactly([Values(KernelPath.Groups, KernelPath.Threads)] KernelPath path)
        {
            // one group of 2 × 20000 elements: split into chunks whose statistics are merged
            var gn = path == KernelPath.Groups ? _gnGroups : _gnThreads;
            int channels = 2, hw = 20000;
            var x = Rand(channels * hw, 9, -1f, 7f);
            var gamma = new float[] { 1f, 2f };
            var beta = new float[] { 0f, -1f };
            int splits = gn.SplitsFor(1, channels * hw);
            Assert.That(splits, Is.GreaterThan(1));
            var expected = ConvReference.GroupNorm(x, 1, channels, hw, 1, gamma, beta, 1e-6, true);
            var acc = Device.Accelerator;
            using var dx = acc.Allocate1D(x);
            using var dg = acc.Allocate1D(gamma);
            using var db = acc.Allocate1D(beta);
            // the statistics alone, then the whole norm in place
            using var stats = acc.Allocate1D<float>(2);
            gn.Statistics(dx.View, stats.View, 1, channels, hw, 1, 1e-6f);
            var refStats = ConvReference.GroupNormStatistics(x, 1, channels, hw, 1, 1e-6);
            KernelAssert.Close(refStats.Select(v => (float)v).ToArray(), stats.GetAsArray1D(), 1e-5, 1e-5, "statistics");
            gn.Run(dx.View, dg.View, db.View, dx.View, 1, channels, hw, 1, 1e-6f, true);
            KernelAssert.Close(expected, dx.GetAsArray1D(), 3e-5, 3e-5, $"{splits} splits, {path}");
        }

        [Test]
        public void SpatialAttentionMatchesTheReference([Values(1000, 40)] int scratchFloats, [Values(KernelPath.Groups, KernelPath.Threads)] KernelPath path)
        {
            // 2 batch items, 24 channels, 5 × 6 = 30 tokens; a 40-float scratch forces one query row per chunk
            var attn = path == KernelPath.Groups ? _attnGroups : _attnThreads;
            int batch = 2, c = 24, t = 30;
            var q = Rand(batch * c * t, 1);
            var k = Rand(batch * c * t, 2);
            var v = Rand(batch * c * t, 3);
            var expected = ConvReference.SpatialAttention(q, k, v, batch, c, t, 1 / Math.Sqrt(c));
            var acc = Device.Accelerator;
            using var dq = acc.Allocate1D(q);
            using var dk = acc.Allocate1D(k);
            using var dv = acc.Allocate1D(v);
            using var qT = acc.Allocate1D<float>(q.Length);
            using var vT = acc.Allocate1D<float>(v.Length);
            using var oT = acc.Allocate1D<float>(q.Length);
            using var o = acc.Allocate1D<float>(q.Length);
            using var s = acc.Allocate1D<float>(scratchFloats);
            attn.Transpose(dq.View, qT.View, batch, c, t);
            attn.Transpose(dv.View, vT.View, batch, c, t);
            attn.Run(qT.View, dk.View, vT.View, oT.View, s.View, batch, c, t);
            attn.Transpose(oT.View, o.View, batch, t, c);
            KernelAssert.Close(expected, o.GetAsArray1D(), 2e-5, 2e-5, $"attention, {SpatialAttention.RowsPerChunk(scratchFloats, t)} rows per chunk, {path}");
        }
    }

    /// <summary>Hand-computed cases of the references, and the kernels' GPU portability.</summary>
    public sealed class ConvReferenceTests
    {
        [Test]
        public void ConvolutionByHand()
        {
            // 1 × 3 image [1, 2, 3], kernel [1, 10, 100] along x (3 × 3 with only the middle row set)
            var w = new float[9];
            w[3] = 1; w[4] = 10; w[5] = 100;
            var x = new float[] { 1, 2, 3 };
            // zeros: [0·1 + 1·10 + 2·100, 1 + 20 + 300, 2 + 30 + 0]
            Assert.That(ConvReference.Conv2d(x, 1, 1, 1, 3, w, null, 1, 3), Is.EqualTo(new[] { 210f, 321f, 32f }));
            // circular along x: the left neighbour of 1 is 3, the right neighbour of 3 is 1
            Assert.That(ConvReference.Conv2d(x, 1, 1, 1, 3, w, null, 1, 3, false, PadMode.Circular), Is.EqualTo(new[] { 213f, 321f, 132f }));
            // nearest ×2: rows [1, 1, 2, 2, 3, 3] twice, plus bias 0.5
            Assert.That(ConvReference.Conv2d(x, 1, 1, 1, 3, w, new[] { 0.5f }, 1, 3, true),
                Is.EqualTo(new[] { 110.5f, 211.5f, 221.5f, 322.5f, 332.5f, 33.5f, 110.5f, 211.5f, 221.5f, 322.5f, 332.5f, 33.5f }));
        }

        [Test]
        public void GroupNormByHand()
        {
            // one group of [1, 2, 3, 4] over 2 channels × 2 pixels: mean 2.5, variance 1.25
            var y = ConvReference.GroupNorm(new float[] { 1, 2, 3, 4 }, 1, 2, 2, 1, new float[] { 1, 2 }, new float[] { 0, 1 }, 0);
            Assert.That(y, Is.EqualTo(new[] { -1.3416408f, -0.4472136f, 0.8944272f + 1, 2.6832816f + 1 }).Within(1e-6f));
        }

        [Test]
        public void KernelsCompileForPtxAndOpenCL()
        {
            foreach (var m in new[]
                     {
                         typeof(Conv2d).GetMethod(nameof(Conv2d.ConvKernel)).MakeGenericMethod(typeof(GemmTile64), typeof(ushort), typeof(BF16Decoder)),
                         typeof(Conv2d).GetMethod(nameof(Conv2d.ConvKernel)).MakeGenericMethod(typeof(ConvTile16), typeof(float), typeof(F32Decoder)),
                         typeof(GroupNorm).GetMethod(nameof(GroupNorm.PartialStatsKernel)),
                         typeof(SpatialAttention).GetMethod(nameof(SpatialAttention.RowSoftmaxKernel)),
                     })
            {
                var (ptx, cl) = CrossCompile.Both(m, true);
                Assert.That(ptx, Does.Contain("bar.sync"), m.Name);
                Assert.That(cl, Does.Contain("barrier"), m.Name);
            }
            // the barrier-free (CPU-shaped) kernels and the grid-stride element-wise ones compile for GPUs too
            foreach (var m in new[]
                     {
                         typeof(Conv2d).GetMethod(nameof(Conv2d.DirectConvKernel)).MakeGenericMethod(typeof(ushort), typeof(F16Decoder)),
                         typeof(GroupNorm).GetMethod(nameof(GroupNorm.PartialStatsThreadKernel)),
                         typeof(GroupNorm).GetMethod(nameof(GroupNorm.CombineStatsKernel)),
                         typeof(GroupNorm).GetMethod(nameof(GroupNorm.ApplyKernel)),
                         typeof(SpatialAttention).GetMethod(nameof(SpatialAttention.TransposeKernel)),
                         typeof(SpatialAttention).GetMethod(nameof(SpatialAttention.RowSoftmaxThreadKernel)),
                     })
            {
                var (ptx, cl) = CrossCompile.Both(m, true);
                Assert.That(ptx, Is.Not.Empty, m.Name);
                Assert.That(cl, Is.Not.Empty, m.Name);
            }
        }
    }
}
