using System;
using ILGPU;
using ILGPU.Runtime;
using NUnit.Framework;
using Sd3Tex.Kernels;
using Sd3Tex.Kernels.Cpu;
using Sd3Tex.Kernels.Reference;

namespace Sd3Tex.Tests.Kernels
{
    /// <summary>
    /// The managed CPU backend's own edges, beyond the shared op tests: every 16-bit pattern through the vector
    /// decoders, the vector exp, and shapes that cross its blocking (K beyond one K block, several query and key blocks
    /// of the attention with a head size that is not a multiple of the panel width, convolution rows wider than one
    /// pixel panel), each against the plain C# reference.
    /// </summary>
    public sealed class CpuBackendTests
    {
        ComputeDevice _device;

        [OneTimeSetUp]
        public void Open() => _device = ComputeDevice.Open("cpu");

        [OneTimeTearDown]
        public void Close() { _device?.Dispose(); _device = null; }

        [Test]
        public void CpuIsTheManagedBackend()
        {
            Assert.That(_device.IsManaged, Is.True);
            Assert.That(_device.Describe(), Does.Contain("managed"));
            using var ilgpu = ComputeDevice.Open("ilgpu-cpu");
            Assert.That(ilgpu.IsManaged, Is.False);
        }

        [Test]
        public unsafe void DecodersMatchDTypesOnEveryPattern()
        {
            var bits = new ushort[65536 + 5]; // a tail past the vector width too
            for (int i = 0; i < bits.Length; i++) bits[i] = (ushort)i;
            var h = new float[bits.Length];
            var b = new float[bits.Length];
            fixed (ushort* pb = bits)
            fixed (float* ph = h, pf = b)
            {
                CpuBackend.DecodeF16(pb, ph, bits.Length);
                CpuBackend.DecodeBF16(pb, pf, bits.Length);
            }
            int badH = -1, badB = -1;
            for (int i = 0; i < bits.Length; i++)
            {
                if (badH < 0 && BitConverter.SingleToInt32Bits(h[i]) != BitConverter.SingleToInt32Bits(DTypes.HalfToFloat(bits[i]))) badH = i;
                if (badB < 0 && BitConverter.SingleToInt32Bits(b[i]) != BitConverter.SingleToInt32Bits(DTypes.BFloat16ToFloat(bits[i]))) badB = i;
            }
            Assert.That(badH, Is.EqualTo(-1), "first F16 pattern decoded differently");
            Assert.That(badB, Is.EqualTo(-1), "first BF16 pattern decoded differently");
        }

        [Test]
        public unsafe void VectorExpIsAccurate()
        {
            var x = new float[4003];
            for (int i = 0; i < x.Length; i++) x[i] = -100f + 190f * i / (x.Length - 1);
            x[0] = float.NegativeInfinity;
            var y = (float[])x.Clone();
            float sum;
            fixed (float* p = y) sum = CpuBackend.ExpSum(p, y.Length, 1f, 0f);
            Assert.That(y[0], Is.EqualTo(0f), "exp(-inf)");
            double worst = 0, total = 0;
            for (int i = 1; i < x.Length; i++)
            {
                double e = Math.Exp(x[i]);
                total += y[i];
                if (e > 1.2e-38 && e < 3e38) worst = Math.Max(worst, Math.Abs(y[i] - e) / e);
                else if (e <= 1.2e-38) Assert.That(y[i], Is.LessThan(1.2e-38f), $"exp({x[i]}) underflows");
            }
            Assert.That(worst, Is.LessThan(1e-6), "largest relative error");
            Assert.That(sum, Is.EqualTo(total).Within(1e-5).Percent);
        }

        static float[] Random(int n, int seed) => GemmTests.Random(n, seed);

        [Test]
        public void TheProfileTimesEachOpAndShape()
        {
            bool was = CpuProfile.Enabled;
            CpuProfile.Reset();
            CpuProfile.Enabled = true;
            try
            {
                int m = 20, n = 40, k = 30;
                var acc = _device.Accelerator;
                using var da = acc.Allocate1D(Random(m * k, 51));
                using var dw = acc.Allocate1D(Random(n * k, 52));
                using var dc = acc.Allocate1D(new float[m * n]);
                var gemm = new Gemm(_device);
                gemm.Linear(da.View, WeightView.FromF32(dw.View), default, dc.View, m, n, k);
                gemm.Linear(da.View, WeightView.FromF32(dw.View), default, dc.View, m, n, k);
                var report = CpuProfile.Report();
                Assert.That(report, Does.Contain("| linear 20×40×30 F32 None | 2 |"));
                Assert.That(report, Does.Contain("GFLOP/s"));
            }
            finally
            {
                CpuProfile.Enabled = was;
                CpuProfile.Reset();
            }
            Assert.That(CpuProfile.Report(), Is.Empty);
        }

        [TestCase(12, 512, DType.F16)]
        [TestCase(7, 37, DType.BF16)]
        [TestCase(1, 16, DType.F32)]
        [TestCase(12, 15, DType.F16)]
        [TestCase(5, 300, DType.F32)]
        public unsafe void PanelsPackExactly(int rows, int kc, DType type)
        {
            // the packed panels hold exactly the values of the definition, for every row / column count and K tail
            // (the vectorised transposes against the plain loops they replace), 16-bit specials included
            int MR = CpuGemm.MR, NR = CpuGemm.NR, k0 = 3, ld = kc + 9;
            var rnd = new System.Random(kc * 31 + rows);
            var a = Random(MR * ld, 41);
            var packedA = new float[kc * MR];
            fixed (float* pa = a) fixed (float* pd = packedA) CpuGemm.PackA(pa, ld, rows, k0, kc, pd);
            for (int kk = 0; kk < kc; kk++)
                for (int i = 0; i < MR; i++)
                    Assert.That(packedA[kk * MR + i], Is.EqualTo(i < rows ? a[i * ld + k0 + kk] : 0f), $"A k {kk} row {i}");

            foreach (int cols in new[] { NR, 20, 16, 9, 1 })
            {
                int n = 40;
                var f = Random(n * ld, 42);
                var bits = new ushort[f.Length];
                for (int i = 0; i < bits.Length; i++)
                {
                    int pick = rnd.Next(40);
                    bits[i] = pick == 0 ? (ushort)0x7C00 : pick == 1 ? (ushort)0xFC00 : pick == 2 ? (ushort)0x7E01 : pick == 3 ? (ushort)(rnd.Next(1, 1024)) : pick == 4 ? (ushort)0x8000
                        : type == DType.BF16 ? DTypes.FloatToBFloat16(f[i]) : DTypes.FloatToHalf(f[i]);
                }
                var dst = new float[kc * NR];
                var tmp = new float[CpuGemm.PackTempFloats(kc)];
                int n0 = 5;
                fixed (float* pf = f) fixed (ushort* pb = bits) fixed (float* pd = dst) fixed (float* pt = tmp)
                {
                    var w = type == DType.F32 ? WeightPtr.FromF32(pf) : new WeightPtr(type, null, pb);
                    CpuGemm.PackBFromRows(w, ld, n0, Math.Min(cols, n - n0), k0, kc, pd, pt);
                    for (int kk = 0; kk < kc; kk++)
                        for (int j = 0; j < NR; j++)
                        {
                            float want = j < cols ? w[(long)(n0 + j) * ld + k0 + kk] : 0f;
                            float got = dst[kk * NR + j];
                            if (float.IsNaN(want)) Assert.That(float.IsNaN(got), Is.True, $"B k {kk} col {j}: NaN");
                            else Assert.That(BitConverter.SingleToInt32Bits(got), Is.EqualTo(BitConverter.SingleToInt32Bits(want)), $"B cols {cols} k {kk} col {j}");
                        }
                }
            }
        }

        [TestCase(29, 45, 3100, DType.F16)]
        [TestCase(17, 70, 1600, DType.F32)]
        [TestCase(13, 33, 4700, DType.BF16)]
        [TestCase(2 * CpuGemm.MC + 77, 40, 800, DType.F16)] // three row chunks too
        public void GatedGemmAcrossKBlocksInPlace(int m, int n, int k, DType type)
        {
            Assert.That(k, Is.GreaterThan(CpuGemm.KC), "the shape must cross a K block");
            var a = Random(m * k, 1);
            var (bits, w) = Quantise(Random(n * k, 2), type);
            var bias = Random(n, 3);
            var residual = Random(m * n, 4);
            int tokens = 10, batches = (m + tokens - 1) / tokens;
            var gate = Random(batches * n, 5);
            var expected = new float[m * n];
            GemmReference.LinearGatedResidual(expected, a, w, bias, residual, gate, m, n, k, tokens, n);

            var acc = _device.Accelerator;
            using var da = acc.Allocate1D(a);
            using var dbias = acc.Allocate1D(bias);
            using var dx = acc.Allocate1D(residual);
            using var dgate = acc.Allocate1D(gate);
            using var dw = acc.Allocate1D(w);
            using var dbits = acc.Allocate1D(bits ?? new ushort[1]);
            var view = type == DType.F32 ? WeightView.FromF32(dw.View) : WeightView.FromBits(type, dbits.View);
            new Gemm(_device).LinearGatedResidual(da.View, view, dbias.View, dx.View, dgate.View, dx.View, m, n, k, tokens, n);
            KernelAssert.Close(expected, dx.GetAsArray1D(), 2e-4, 1e-4);
        }

        [TestCase(1, 37, 45, DType.F16, false)]
        [TestCase(2, 70, 1536, DType.BF16, false)]
        [TestCase(3, 19, 33, DType.F16, true)]
        [TestCase(CpuGemm.GemvRows, 50, 200, DType.F16, false)]
        [TestCase(2, 40, 77, DType.F32, false)]
        public void FewRowsTakeTheMatrixVectorPath(int m, int n, int k, DType type, bool gelu)
        {
            Assert.That(m, Is.LessThanOrEqualTo(CpuGemm.GemvRows), "the shape must take the matrix-vector path");
            LinearMatchesTheReference(m, n, k, type, gelu, 31);
        }

        [TestCase(29, 45, 3100, DType.F16, false)]
        [TestCase(13, 70, 1600, DType.BF16, true)]
        [TestCase(CpuGemm.MC + 5, 33, 1000, DType.F16, true)] // two row chunks too
        public void GemmAcrossKBlocksAccumulatesInTheOutput(int m, int n, int k, DType type, bool gelu)
        {
            // no residual: the K blocks' partial sums go straight to C (a dirty C must not leak into the result)
            Assert.That(k, Is.GreaterThan(CpuGemm.KC), "the shape must cross a K block");
            LinearMatchesTheReference(m, n, k, type, gelu, 21);
        }

        /// <summary>Weights in <paramref name="type"/>: the bits (null for F32) and the values they decode to.</summary>
        static (ushort[] bits, float[] values) Quantise(float[] w, DType type)
        {
            if (type == DType.F32) return (null, w);
            var bits = new ushort[w.Length];
            for (int i = 0; i < w.Length; i++) bits[i] = type == DType.F16 ? DTypes.FloatToHalf(w[i]) : DTypes.FloatToBFloat16(w[i]);
            return (bits, GemmReference.Decode(type, bits));
        }

        /// <summary>Linear (or with the GELU epilogue) on the managed backend against the reference, into a C that
        /// starts dirty.</summary>
        void LinearMatchesTheReference(int m, int n, int k, DType type, bool gelu, int seed)
        {
            var a = Random(m * k, seed);
            var (bits, w) = Quantise(Random(n * k, seed + 1), type);
            var bias = Random(n, seed + 2);
            var expected = new float[m * n];
            if (gelu) GemmReference.LinearGeluTanh(expected, a, w, bias, m, n, k);
            else GemmReference.Linear(expected, a, w, bias, m, n, k);
            var acc = _device.Accelerator;
            using var da = acc.Allocate1D(a);
            using var dbias = acc.Allocate1D(bias);
            using var dw = acc.Allocate1D(w);
            using var dbits = acc.Allocate1D(bits ?? new ushort[1]);
            using var dc = acc.Allocate1D(Random(m * n, seed + 3));
            var view = type == DType.F32 ? WeightView.FromF32(dw.View) : WeightView.FromBits(type, dbits.View);
            var gemm = new Gemm(_device);
            if (gelu) gemm.LinearGeluTanh(da.View, view, dbias.View, dc.View, m, n, k);
            else gemm.Linear(da.View, view, dbias.View, dc.View, m, n, k);
            KernelAssert.Close(expected, dc.GetAsArray1D(), 2e-4, 1e-4);
        }

        [TestCase(100, 211, 40, false, false)]
        [TestCase(0, 300, 24, true, false)]
        [TestCase(37, 150, 64, false, true)]
        public void FlashAttentionAcrossBlocks(int contextTokens, int imageTokens, int headDim, bool causal, bool withBias)
        {
            int batch = 2, heads = 3, T = contextTokens + imageTokens, row = 3 * heads * headDim;
            var cq = Random(Math.Max(1, batch * contextTokens * row), 11);
            var xq = Random(batch * imageTokens * row, 12);
            float[] bias = withBias ? Random(heads * T * T, 13) : null;
            float scale = 1f / MathF.Sqrt(headDim);
            float[] ce, xe;
            if (contextTokens > 0)
                AttentionReference.JointAttention(cq, contextTokens, xq, imageTokens, batch, heads, headDim, scale, out ce, out xe, causal, bias);
            else
            {
                ce = null;
                xe = AttentionReference.SelfAttention(xq, batch, imageTokens, heads, headDim, scale, causal, bias);
            }

            var acc = _device.Accelerator;
            using var dcq = acc.Allocate1D(cq);
            using var dxq = acc.Allocate1D(xq);
            using var dco = acc.Allocate1D<float>(Math.Max(1, batch * contextTokens * heads * headDim));
            using var dxo = acc.Allocate1D<float>(batch * imageTokens * heads * headDim);
            using var dbias = acc.Allocate1D(bias ?? new float[1]);
            var options = new AttentionOptions { Causal = causal, Bias = withBias ? dbias.View : default };
            var attention = new Attention(_device);
            if (contextTokens > 0)
                attention.JointAttention(dcq.View, dco.View, contextTokens, dxq.View, dxo.View, imageTokens, batch, heads, headDim, options);
            else attention.SelfAttention(dxq.View, dxo.View, batch, imageTokens, heads, headDim, options);
            KernelAssert.Close(xe, dxo.GetAsArray1D(), 2e-5, 1e-4, "image tokens");
            if (ce != null) KernelAssert.Close(ce, dco.GetAsArray1D(), 2e-5, 1e-4, "context tokens");
        }

        [Test]
        public void LinearWeightsAreReadInPlaceFromTheMemoryMap()
        {
            var cfg = new Sd3Tex.Models.MmditConfig { Depth = 2, HiddenSize = 128, PatchSize = 2, InChannels = 16, OutChannels = 16, PosEmbedMaxSize = 16, PooledDim = 64, ContextDim = 96, MlpHidden = 512 };
            string path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "sd3tex-cpu-map-" + Guid.NewGuid().ToString("N") + ".safetensors");
            try
            {
                Sd3Tex.Checkpoints.CheckpointWriter.Write(Sd3Tex.Checkpoints.RandomWeights.Mmdit(cfg, DType.F16, 1), Sd3Tex.Checkpoints.CheckpointLayout.Single, path);
                var x = Random(2 * 16 * 8 * 12, 31); var t = new[] { 500f, 300f }; var y = Random(2 * 64, 32); var c = Random(2 * 7 * 96, 33);
                float[] expected;
                Sd3Tex.Models.DeviceMmdit model;
                using (var ck = Sd3Tex.Checkpoints.Checkpoint.Open(path))
                {
                    var w = ck.ComponentWeights(Sd3Tex.Checkpoints.Component.Mmdit);
                    expected = new Sd3Tex.Reference.ReferenceMmdit(w).Forward(x, 2, 8, 12, t, y, c, 7);
                    model = new Sd3Tex.Models.DeviceMmdit(w, _device);
                    long linear = 0;
                    foreach (var kv in w) if (kv.Value.Shape.Length == 2 && kv.Key.EndsWith(".weight", StringComparison.Ordinal)) linear += kv.Value.ByteLength;
                    Assert.That(model.MappedWeightBytes, Is.EqualTo(linear), "every 16-bit linear weight is mapped, none copied");
                }
                // the checkpoint is disposed: the model's lease keeps the map open
                using (model) KernelAssert.Close(expected, model.Forward(x, 2, 8, 12, t, y, c, 7), 2e-3, 2e-3);
            }
            finally { System.IO.File.Delete(path); }
        }

        [TestCase(3, false, PadMode.Zeros, PadMode.Zeros, DType.F16)]
        [TestCase(3, true, PadMode.Circular, PadMode.Zeros, DType.BF16)]
        [TestCase(3, false, PadMode.Circular, PadMode.Circular, DType.F32)]
        [TestCase(1, false, PadMode.Zeros, PadMode.Zeros, DType.F16)]
        public void ConvolutionRowsWiderThanAPanel(int kernel, bool upsample, PadMode padX, PadMode padY, DType type)
        {
            int batch = 2, cin = 5, cout = 14, h = 3, w = upsample ? 37 : 70;
            var input = Random(batch * cin * h * w, 21);
            var weight = Random(cout * cin * kernel * kernel, 22);
            var bias = Random(cout, 23);
            ushort[] bits = null;
            if (type != DType.F32)
            {
                bits = new ushort[weight.Length];
                for (int i = 0; i < weight.Length; i++) bits[i] = type == DType.F16 ? DTypes.FloatToHalf(weight[i]) : DTypes.FloatToBFloat16(weight[i]);
                weight = GemmReference.Decode(type, bits);
            }
            var expected = ConvReference.Conv2d(input, batch, cin, h, w, weight, bias, cout, kernel, upsample, padX, padY);
            var residual = Random(expected.Length, 24);
            for (int i = 0; i < expected.Length; i++) expected[i] += residual[i];

            var acc = _device.Accelerator;
            using var din = acc.Allocate1D(input);
            using var dw = acc.Allocate1D(weight);
            using var dbits = acc.Allocate1D(bits ?? new ushort[1]);
            using var db = acc.Allocate1D(bias);
            using var dout = acc.Allocate1D(residual);
            var view = type == DType.F32 ? WeightView.FromF32(dw.View) : WeightView.FromBits(type, dbits.View);
            new Conv2d(_device).Run(din.View, view, db.View, dout.View, dout.View, batch, cin, cout, h, w, kernel, upsample, padX, padY);
            KernelAssert.Close(expected, dout.GetAsArray1D(), 2e-5, 1e-5);
        }
    }
}
