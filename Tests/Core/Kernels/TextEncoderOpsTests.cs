using System;
using ILGPU;
using ILGPU.Runtime;
using NUnit.Framework;
using Sd3Tex.Kernels;

namespace Sd3Tex.Tests.Kernels
{
    /// <summary>The embedding gather and T5's gated GELU on every accelerator present.</summary>
    [TestFixtureSource(typeof(DeviceTestBase), nameof(DeviceTestBase.Devices))]
    public sealed class TextEncoderOpsTests : DeviceTestBase
    {
        public TextEncoderOpsTests(string device) : base(device) { }

        TextEncoderOps _ops;

        [OneTimeSetUp]
        public void CreateOps() => _ops = new TextEncoderOps(Device);

        [Test]
        public void GatherDecodesEveryTableTypeAndAddsPositions([Values(DType.F32, DType.F16, DType.BF16)] DType type, [Values(true, false)] bool withPositions)
        {
            int vocab = 50, dim = 7, tokens = 5, batch = 3, rows = batch * tokens;
            var table = GemmTests.Random(vocab * dim, 1, -4f, 4f);
            var pos = GemmTests.Random(tokens * dim, 2);
            var ids = new int[rows];
            var rng = new Random(3);
            for (int i = 0; i < rows; i++) ids[i] = rng.Next(vocab);
            ids[0] = vocab - 1;
            var bits = new ushort[table.Length];
            for (int i = 0; i < table.Length; i++)
            {
                if (type == DType.F16) { bits[i] = DTypes.FloatToHalf(table[i]); table[i] = DTypes.HalfToFloat(bits[i]); }
                if (type == DType.BF16) { bits[i] = DTypes.FloatToBFloat16(table[i]); table[i] = DTypes.BFloat16ToFloat(bits[i]); }
            }
            var expected = new float[rows * dim];
            for (int r = 0; r < rows; r++)
                for (int c = 0; c < dim; c++)
                    expected[r * dim + c] = table[ids[r] * dim + c] + (withPositions ? pos[(r % tokens) * dim + c] : 0f);

            var acc = Device.Accelerator;
            using var dIds = acc.Allocate1D(ids);
            using var dF32 = acc.Allocate1D(table);
            using var dBits = acc.Allocate1D(bits);
            using var dPos = acc.Allocate1D(pos);
            using var dOut = acc.Allocate1D<float>(rows * dim);
            var view = type == DType.F32 ? TableView.FromF32(dF32.View) : TableView.FromBits(type, dBits.View);
            _ops.Gather(dIds.View, view, withPositions ? dPos.View : default, withPositions ? tokens : 0, dOut.View, rows, dim, vocab);
            Assert.That(dOut.GetAsArray1D(), Is.EqualTo(expected).Within(1e-6f), $"{type}");
        }

        [Test]
        public void GatedGeluMatchesTheReference()
        {
            int rows = 5, ff = 33;
            var x = GemmTests.Random(rows * 2 * ff, 4, -6f, 6f);
            var expected = new float[rows * ff];
            for (int r = 0; r < rows; r++)
                for (int j = 0; j < ff; j++)
                    expected[r * ff + j] = (float)(ActivationReference.GeluTanh(x[r * 2 * ff + j]) * x[r * 2 * ff + ff + j]);
            using var dx = Device.Accelerator.Allocate1D(x);
            using var dy = Device.Accelerator.Allocate1D<float>(rows * ff);
            _ops.GatedGelu(dx.View, dy.View, rows, ff);
            AssertClose.Arrays(expected, dy.GetAsArray1D(), 1e-6, 2e-6, "gated gelu");
        }

        [Test]
        public void BadShapesAreClearErrors()
        {
            using var ids = Device.Accelerator.Allocate1D<int>(4);
            using var t = Device.Accelerator.Allocate1D<float>(10);
            using var o = Device.Accelerator.Allocate1D<float>(8);
            var e = Assert.Throws<ArgumentException>(() => _ops.Gather(ids.View, TableView.FromF32(t.View), default, 0, o.View, 4, 3, 5));
            Assert.That(e.Message, Does.Contain("table holds 10"));
        }
    }

    /// <summary>The text-encoder kernels compile for the GPU backends.</summary>
    public sealed class TextEncoderOpsPortabilityTests
    {
        [Test]
        public void GatherCompilesForPtxAndOpenCL([Values(DType.F32, DType.F16, DType.BF16)] DType type)
        {
            var stored = type == DType.F32 ? typeof(float) : typeof(ushort);
            var decoder = type == DType.F32 ? typeof(F32Decoder) : type == DType.F16 ? typeof(F16Decoder) : typeof(BF16Decoder);
            var kernel = typeof(TextEncoderOps).GetMethod(nameof(TextEncoderOps.GatherKernel)).MakeGenericMethod(stored, decoder);
            var (ptx, cl) = CrossCompile.Both(kernel, false);
            Assert.That(ptx, Does.Contain(".entry"));
            Assert.That(cl, Does.Contain("kernel"));
        }

        [Test]
        public void GatedGeluCompilesForPtxAndOpenCL()
        {
            var (ptx, cl) = CrossCompile.Both(typeof(TextEncoderOps).GetMethod(nameof(TextEncoderOps.GatedGeluKernel)), false);
            Assert.That(ptx, Does.Contain(".entry"));
            Assert.That(cl, Does.Contain("kernel"));
        }
    }
}
