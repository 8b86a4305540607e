using System;
using ILGPU;
using ILGPU.Runtime;
using NUnit.Framework;
using Sd3Tex.Kernels;

namespace Sd3Tex.Tests.Kernels
{
    [TestFixtureSource(typeof(GemmTests), nameof(GemmDevices))]
    public sealed class GemmTests : DeviceTestBase
    {
        public GemmTests(string device) : base(device) { }

        /// <summary>Every accelerator present, plus a CPU device with 256 threads per group so that the GPU tiles
        /// (32 and 64) are checked on the CPU too.</summary>
        public static System.Collections.IEnumerable GemmDevices
        {
            get
            {
                foreach (var d in Devices) yield return d;
                yield return WideCpu;
            }
        }

        // (M, N, K): single elements, sizes below, across and at tile edges (16, 32, 64), K across BK = 16.
        static readonly int[][] Shapes =
        {
            new[] { 1, 1, 1 }, new[] { 5, 7, 3 }, new[] { 17, 33, 65 }, new[] { 64, 64, 64 }, new[] { 3, 130, 70 },
            new[] { 70, 3, 16 },
        };

        const double Atol = 2e-5, Rtol = 1e-5;

        Gemm _small, _auto;

        [OneTimeSetUp]
        public void CreateGemms()
        {
            _small = new Gemm(Device, 16);
            _auto = new Gemm(Device);
        }

        Gemm Pick(int tile) => tile == 16 ? _small : _auto;

        internal static float[] Random(int n, int seed, float lo = -1f, float hi = 1f)
        {
            var r = new System.Random(seed);
            var a = new float[n];
            for (int i = 0; i < n; i++) a[i] = lo + (float)r.NextDouble() * (hi - lo);
            return a;
        }

        /// <summary>Weights as the kernel gets them (device buffer) and as the reference sees them (decoded floats).</summary>
        sealed class Weights : IDisposable
        {
            public float[] Decoded;
            public MemoryBuffer1D<float, Stride1D.Dense> F32;
            public MemoryBuffer1D<ushort, Stride1D.Dense> Bits;
            public WeightView View;

            public Weights(Accelerator acc, DType type, float[] w)
            {
                if (type == DType.F32)
                {
                    Decoded = w;
                    F32 = acc.Allocate1D(w);
                    View = WeightView.FromF32(F32.View);
                    return;
                }
                var bits = new ushort[w.Length];
                for (int i = 0; i < w.Length; i++) bits[i] = type == DType.F16 ? DTypes.FloatToHalf(w[i]) : DTypes.FloatToBFloat16(w[i]);
                Decoded = GemmReference.Decode(type, bits);
                Bits = acc.Allocate1D(bits);
                View = WeightView.FromBits(type, Bits.View);
            }

            public void Dispose() { F32?.Dispose(); Bits?.Dispose(); }
        }

        [Test]
        public void MatchesTheReference([Values(DType.F32, DType.F16, DType.BF16)] DType type,
                                        [Values(GemmEpilogue.None, GemmEpilogue.GeluTanh, GemmEpilogue.GatedResidual)] GemmEpilogue epilogue,
                                        [Values(16, 0)] int tile)
        {
            var gemm = Pick(tile);
            var acc = Device.Accelerator;
            foreach (var s in Shapes)
            {
                int m = s[0], n = s[1], k = s[2];
                string what = $"{type} {epilogue} tile {gemm.TileFor(m, n)} (M,N,K)=({m},{n},{k})";
                var a = Random(m * k, 1 + m);
                var bias = Random(n, 2 + n);
                int tokens = Math.Max(1, (m + 1) / 2), gateStride = n + 3;
                var gate = Random(((m - 1) / tokens + 1) * gateStride, 3 + k);
                var resid = Random(m * n, 4 + k);
                var expected = new float[m * n];
                using (var w = new Weights(acc, type, Random(n * k, 5 + n + k)))
                using (var da = acc.Allocate1D(a))
                using (var db = acc.Allocate1D(bias))
                using (var dg = acc.Allocate1D(gate))
                using (var dr = acc.Allocate1D(resid))
                using (var dc = acc.Allocate1D<float>(m * n))
                {
                    switch (epilogue)
                    {
                        case GemmEpilogue.None:
                            GemmReference.Linear(expected, a, w.Decoded, bias, m, n, k);
                            gemm.Linear(da.View, w.View, db.View, dc.View, m, n, k);
                            break;
                        case GemmEpilogue.GeluTanh:
                            GemmReference.LinearGeluTanh(expected, a, w.Decoded, bias, m, n, k);
                            gemm.LinearGeluTanh(da.View, w.View, db.View, dc.View, m, n, k);
                            break;
                        default:
                            GemmReference.LinearGatedResidual(expected, a, w.Decoded, bias, resid, gate, m, n, k, tokens, gateStride);
                            gemm.LinearGatedResidual(da.View, w.View, db.View, dr.View, dg.View, dc.View, m, n, k, tokens, gateStride);
                            break;
                    }
                    AssertClose.Arrays(expected, dc.GetAsArray1D(), Atol, Rtol, what);
                }
            }
        }

        [Test]
        public void WithoutBias()
        {
            var acc = Device.Accelerator;
            int m = 9, n = 20, k = 35;
            var a = Random(m * k, 11);
            var wf = Random(n * k, 12);
            var expected = new float[m * n];
            GemmReference.Linear(expected, a, wf, null, m, n, k);
            using var da = acc.Allocate1D(a);
            using var dw = acc.Allocate1D(wf);
            using var dc = acc.Allocate1D<float>(m * n);
            _auto.Linear(da.View, WeightView.FromF32(dw.View), default, dc.View, m, n, k);
            AssertClose.Arrays(expected, dc.GetAsArray1D(), Atol, Rtol);
        }

        [Test]
        public void GatedResidualInPlace()
        {
            // x = x + gate · (a·Wᵀ + b), C and the residual being the same buffer; gate is chunk 2 of a [B, 3·N] tensor
            var acc = Device.Accelerator;
            int m = 12, n = 40, k = 19, tokens = 4, batches = 3;
            var a = Random(m * k, 21);
            var wf = Random(n * k, 22);
            var bias = Random(n, 23);
            var mod = Random(batches * 3 * n, 24);
            var x = Random(m * n, 25);
            var gate = new float[mod.Length - 2 * n];
            Array.Copy(mod, 2 * n, gate, 0, gate.Length);
            var expected = new float[m * n];
            GemmReference.LinearGatedResidual(expected, a, wf, bias, x, gate, m, n, k, tokens, 3 * n);
            using var da = acc.Allocate1D(a);
            using var dw = acc.Allocate1D(wf);
            using var db = acc.Allocate1D(bias);
            using var dm = acc.Allocate1D(mod);
            using var dx = acc.Allocate1D(x);
            _auto.LinearGatedResidual(da.View, WeightView.FromF32(dw.View), db.View, dx.View, dm.View.SubView(2 * n, mod.Length - 2 * n), dx.View,
                                      m, n, k, tokens, 3 * n);
            AssertClose.Arrays(expected, dx.GetAsArray1D(), Atol, Rtol);
        }

        [Test]
        public void StridedRowsOfAAndC([Values(16, 0)] int tile)
        {
            // A rows at lda > K, C rows at ldc > N: the columns outside the product are neither read nor written
            var acc = Device.Accelerator;
            int m = 21, n = 18, k = 23, lda = 30, ldc = 25;
            var aWide = Random(m * lda, 31);
            var a = new float[m * k];
            for (int i = 0; i < m; i++) Array.Copy(aWide, i * lda, a, i * k, k);
            var wf = Random(n * k, 32);
            var bias = Random(n, 33);
            var dense = new float[m * n];
            GemmReference.Linear(dense, a, wf, bias, m, n, k);
            var expected = new float[m * ldc];
            for (int i = 0; i < expected.Length; i++) expected[i] = -7f;
            for (int i = 0; i < m; i++) Array.Copy(dense, i * n, expected, i * ldc, n);
            using var da = acc.Allocate1D(aWide);
            using var dw = acc.Allocate1D(wf);
            using var db = acc.Allocate1D(bias);
            using var dc = acc.Allocate1D<float>(m * ldc);
            dc.CopyFromCPU(Fill(m * ldc, -7f));
            Pick(tile).Run(da.View, WeightView.FromF32(dw.View), db.View, dc.View, m, n, k, GemmEpilogue.None,
                           default, default, 1, 0, lda, ldc);
            AssertClose.Arrays(expected, dc.GetAsArray1D(), Atol, Rtol);
        }

        static float[] Fill(int n, float v)
        {
            var r = new float[n];
            for (int i = 0; i < n; i++) r[i] = v;
            return r;
        }

        [Test]
        public void TooShortViewsAreRejected()
        {
            var acc = Device.Accelerator;
            using var da = acc.Allocate1D<float>(10);
            using var dw = acc.Allocate1D<float>(10);
            using var dc = acc.Allocate1D<float>(10);
            var e = Assert.Throws<ArgumentException>(() => _auto.Linear(da.View, WeightView.FromF32(dw.View), default, dc.View, 3, 2, 5));
            Assert.That(e.Message, Does.Contain("A holds 10").And.Contain("15"));
        }

        [Test]
        public void TilesFitTheAccelerator()
        {
            var acc = Device.Accelerator;
            Assert.That(Gemm.ThreadsFor(_auto.MaxTile), Is.LessThanOrEqualTo(acc.MaxNumThreadsPerGroup));
            Assert.That(Gemm.SharedBytesFor(_auto.MaxTile), Is.LessThanOrEqualTo(acc.MaxSharedMemoryPerGroup));
            Assert.That(_small.MaxTile, Is.EqualTo(16));
            if (DeviceName == ComputeDevice.IlgpuCpuName) Assert.That(_auto.MaxTile, Is.EqualTo(16), "the CPU device has 16 threads per group");
            if (DeviceName == WideCpu) Assert.That(_auto.MaxTile, Is.EqualTo(64));
        }

        static void DecodeKernel(Index1D i, ArrayView<ushort> bits, ArrayView<float> f16, ArrayView<float> bf16)
        {
            f16[i] = default(F16Decoder).Decode(bits[i]);
            bf16[i] = default(BF16Decoder).Decode(bits[i]);
        }

        [Test]
        public void KernelDecodersMatchDTypesOnEveryPattern()
        {
            var acc = Device.Accelerator;
            var bits = new ushort[65536];
            for (int i = 0; i < bits.Length; i++) bits[i] = (ushort)i;
            var k = acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<ushort>, ArrayView<float>, ArrayView<float>>(DecodeKernel);
            using var db = acc.Allocate1D(bits);
            using var dh = acc.Allocate1D<float>(bits.Length);
            using var dbf = acc.Allocate1D<float>(bits.Length);
            k(bits.Length, db.View, dh.View, dbf.View);
            var h = dh.GetAsArray1D();
            var bf = dbf.GetAsArray1D();
            int badH = -1, badB = -1;
            for (int i = 0; i < bits.Length && (badH < 0 || badB < 0); i++)
            {
                if (badH < 0 && BitConverter.SingleToInt32Bits(h[i]) != BitConverter.SingleToInt32Bits(DTypes.HalfToFloat((ushort)i))) badH = i;
                if (badB < 0 && BitConverter.SingleToInt32Bits(bf[i]) != BitConverter.SingleToInt32Bits(DTypes.BFloat16ToFloat((ushort)i))) badB = i;
            }
            Assert.That(badH, Is.EqualTo(-1), "first F16 pattern decoded differently");
            Assert.That(badB, Is.EqualTo(-1), "first BF16 pattern decoded differently");
        }
    }

    /// <summary>Hand-computed cases of the plain reference itself, and the kernels' GPU portability.</summary>
    public sealed class GemmReferenceTests
    {
        [Test]
        public void KernelsCompileForPtxAndOpenCL(
            [Values(typeof(GemmTile16), typeof(GemmTile32), typeof(GemmTile64))] Type tile,
            [Values(DType.F32, DType.F16, DType.BF16)] DType type)
        {
            var stored = type == DType.F32 ? typeof(float) : typeof(ushort);
            var decoder = type == DType.F32 ? typeof(F32Decoder) : type == DType.F16 ? typeof(F16Decoder) : typeof(BF16Decoder);
            var kernel = typeof(Gemm).GetMethod(nameof(Gemm.GemmKernel)).MakeGenericMethod(tile, stored, decoder);
            var (ptx, cl) = CrossCompile.Both(kernel, true);
            Assert.That(ptx, Does.Contain("bar.sync").And.Contain(".shared"));
            Assert.That(cl, Does.Contain("barrier").And.Contain("local"));
        }

        [Test]
        public void LinearByHand()
        {
            // A [2,2] · W[3,2]ᵀ + b
            var a = new float[] { 1, 2, 3, 4 };
            var w = new float[] { 1, 0, 0, 1, 1, 1 };
            var b = new float[] { 0.5f, -1, 0 };
            var c = new float[6];
            GemmReference.Linear(c, a, w, b, 2, 3, 2);
            Assert.That(c, Is.EqualTo(new float[] { 1.5f, 1, 3, 3.5f, 3, 7 }));
            GemmReference.Linear(c, a, w, null, 2, 3, 2);
            Assert.That(c, Is.EqualTo(new float[] { 1, 2, 3, 3, 4, 7 }));
        }

        [Test]
        public void GatedResidualByHand()
        {
            // rows 0-1 are batch 0 (gate row 0), rows 2-3 batch 1 (gate row 1 at stride 3): out = r + g · (a · w)
            var a = new float[] { 1, 2, 3, 4 };          // [4,1]
            var w = new float[] { 2, -1 };               // [2,1]
            var resid = new float[] { 10, 10, 10, 10, 10, 10, 10, 10 };
            var gate = new float[] { 1, 0.5f, 99, 2, 0, 99 };
            var c = new float[8];
            GemmReference.LinearGatedResidual(c, a, w, null, resid, gate, 4, 2, 1, 2, 3);
            Assert.That(c, Is.EqualTo(new float[] { 12, 9.5f, 14, 9, 22, 10, 26, 10 }));
        }

        [Test]
        public void GeluEpilogueByHand()
        {
            var c = new float[1];
            GemmReference.LinearGeluTanh(c, new float[] { 1 }, new float[] { 1 }, null, 1, 1, 1);
            Assert.That(c[0], Is.EqualTo(0.8411919906082768f).Within(1e-7f));
        }

        [Test]
        public void DecodesSixteenBitWeights()
        {
            Assert.That(GemmReference.Decode(DType.F16, new ushort[] { 0x3C00, 0xC000, 0x0001 }),
                        Is.EqualTo(new[] { 1f, -2f, 5.9604644775390625e-8f }));
            Assert.That(GemmReference.Decode(DType.BF16, new ushort[] { 0x3F80, 0xC040 }), Is.EqualTo(new[] { 1f, -3f }));
        }
    }
}
