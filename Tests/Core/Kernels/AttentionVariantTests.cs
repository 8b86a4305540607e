using System;
using ILGPU;
using ILGPU.Runtime;
using NUnit.Framework;
using Sd3Tex.Kernels;
using Sd3Tex.Kernels.Reference;

namespace Sd3Tex.Tests.Kernels
{
    /// <summary>Which flash attention variant a device gets, from a description of its features.</summary>
    public sealed class AttentionVariantChoiceTests
    {
        [Test]
        public void OnlyOpenCLWithoutProgramScopeVariablesGetsTheStaticVariant()
        {
            Assert.That(Attention.ChooseVariant(DeviceFeatures.Cuda), Is.EqualTo(FlashVariant.DynamicShared));
            Assert.That(Attention.ChooseVariant(DeviceFeatures.Cpu), Is.EqualTo(FlashVariant.DynamicShared));
            Assert.That(Attention.ChooseVariant(DeviceFeatures.OpenCL(2, 0, true)), Is.EqualTo(FlashVariant.DynamicShared));
            Assert.That(Attention.ChooseVariant(DeviceFeatures.OpenCL(3, 0, true)), Is.EqualTo(FlashVariant.DynamicShared));
            Assert.That(Attention.ChooseVariant(DeviceFeatures.OpenCL(3, 0, false)), Is.EqualTo(FlashVariant.StaticShared));
            Assert.That(Attention.ChooseVariant(DeviceFeatures.OpenCL(3, 1, false)), Is.EqualTo(FlashVariant.StaticShared));
        }

        [Test]
        public void ProgramScopeVariablesAreMandatoryBeforeOpenCLC3()
        {
            // a 2.0 device always has them, whatever a caller claims; only 3.0 makes them optional
            Assert.That(DeviceFeatures.OpenCL(2, 0, false).ProgramScopeVariables, Is.True);
            Assert.That(Attention.ChooseVariant(DeviceFeatures.OpenCL(2, 0, false)), Is.EqualTo(FlashVariant.DynamicShared));
            Assert.That(DeviceFeatures.OpenCL(3, 0, false).ProgramScopeVariables, Is.False);
            Assert.That(DeviceFeatures.OpenCL(3, 0, false).ToString(), Is.EqualTo("OpenCL C 3.0 without program-scope variables"));
            Assert.That(DeviceFeatures.OpenCL(2, 0, true).ToString(), Is.EqualTo("OpenCL C 2.0"));
            Assert.That(DeviceFeatures.Cuda.ToString(), Is.EqualTo("CUDA"));
            Assert.That(DeviceFeatures.OpenCL(3, 0, true), Is.Not.EqualTo(DeviceFeatures.OpenCL(3, 0, false)));
            Assert.Throws<ArgumentOutOfRangeException>(() => DeviceFeatures.OpenCL(0, 0, true));
        }

        [Test]
        public void TheCpuAcceleratorReportsItsFeaturesAndRunsTheDynamicVariant()
        {
            using var device = ComputeDevice.CreateCpu();
            Assert.That(DeviceFeatures.Of(device), Is.EqualTo(DeviceFeatures.Cpu));
            Assert.That(new Attention(device).Variant, Is.EqualTo(FlashVariant.DynamicShared));
            Assert.That(new Attention(device, variant: FlashVariant.StaticShared).Variant, Is.EqualTo(FlashVariant.StaticShared));
        }
    }

    /// <summary>The static-shared-memory flash attention (OpenCL C 3.0 without program-scope variables) against
    /// <see cref="AttentionReference"/> on every device: self, joint (context first), causal and bias, token counts that
    /// are and are not multiples of the tiles, head sizes up to 128; and bit for bit the dynamic variant's output at
    /// equal tiles, since both run the same code.</summary>
    [TestFixtureSource(typeof(DeviceTestBase), nameof(DeviceTestBase.Devices))]
    public sealed class StaticAttentionTests : DeviceTestBase
    {
        public StaticAttentionTests(string device) : base(device) { }

        const double Atol = 2e-5, Rtol = 2e-5;

        Attention Static(int tileQ = Attention.DefaultTile, int tileK = Attention.DefaultTile) =>
            new Attention(Device, tileQ, tileK, FlashVariant.StaticShared);

        MemoryBuffer1D<float, Stride1D.Dense> Upload(float[] a) => Device.Accelerator.Allocate1D(a);
        MemoryBuffer1D<float, Stride1D.Dense> Zeros(int n) { var b = Device.Accelerator.Allocate1D<float>(Math.Max(1, n)); b.MemSetToZero(); return b; }

        [TestCase(1, 1, 1, 64, 32, 32)]
        [TestCase(2, 7, 2, 64, 32, 32)]   // default tiles: 32 × 16 in the static block at D = 64
        [TestCase(1, 45, 2, 64, 32, 32)]  // 45 tokens: neither a multiple of 32 nor of 16
        [TestCase(1, 31, 3, 24, 8, 8)]
        [TestCase(1, 77, 2, 24, 16, 8)]
        [TestCase(1, 9, 2, 128, 32, 32)]  // shrunk to 16 × 8 to fit the block
        [TestCase(1, 13, 1, 7, 4, 16)]
        public void SelfAttentionMatchesReference(int batch, int tokens, int heads, int headDim, int tileQ, int tileK)
        {
            var qkv = KernelAssert.Random(batch * tokens * 3 * heads * headDim, 2000 + tokens * 7 + headDim, 2f);
            float scale = 1f / (float)Math.Sqrt(headDim);
            var expected = AttentionReference.SelfAttention(qkv, batch, tokens, heads, headDim, scale);
            using var q = Upload(qkv);
            using var o = Zeros(batch * tokens * heads * headDim);
            Static(tileQ, tileK).SelfAttention(q.View, o.View, batch, tokens, heads, headDim);
            KernelAssert.Close(expected, o.GetAsArray1D(), Atol, Rtol, "static attention");
        }

        [TestCase(2, 7, 24, 2, 64, 32, 32)] // the fixture's shape
        [TestCase(2, 7, 24, 2, 64, 8, 16)]  // tiles straddle the context/image boundary
        [TestCase(1, 5, 0, 1, 24, 4, 4)]    // no image tokens
        [TestCase(1, 0, 11, 3, 24, 8, 4)]   // no context tokens
        public void JointAttentionMatchesConcatenation(int batch, int tc, int tx, int heads, int headDim, int tileQ, int tileK)
        {
            int row = 3 * heads * headDim;
            var ctx = KernelAssert.Random(batch * tc * row, 21 + tc, 2f);
            var img = KernelAssert.Random(batch * tx * row, 22 + tx, 2f);
            float scale = 1f / (float)Math.Sqrt(headDim);
            AttentionReference.JointAttention(ctx, tc, img, tx, batch, heads, headDim, scale, out var ctxExp, out var imgExp);
            using var c = Upload(tc > 0 ? ctx : new float[1]);
            using var x = Upload(tx > 0 ? img : new float[1]);
            using var co = Zeros(batch * tc * heads * headDim);
            using var xo = Zeros(batch * tx * heads * headDim);
            var first = tc > 0 ? AttentionSegment.FromQkv(c.View, co.View, tc, heads, headDim) : AttentionSegment.None;
            var second = tx > 0 ? AttentionSegment.FromQkv(x.View, xo.View, tx, heads, headDim) : AttentionSegment.None;
            Static(tileQ, tileK).Run(first, second, batch, heads, headDim);
            if (tc > 0) KernelAssert.Close(ctxExp, co.GetAsArray1D(), Atol, Rtol, "context out");
            if (tx > 0) KernelAssert.Close(imgExp, xo.GetAsArray1D(), Atol, Rtol, "image out");
        }

        [TestCase(1, 31, 3, 20, 8, 8)]
        [TestCase(2, 77, 2, 64, 32, 32)] // CLIP's head size and sequence at the default tiles
        public void CausalMatchesReference(int batch, int tokens, int heads, int headDim, int tileQ, int tileK)
        {
            var qkv = KernelAssert.Random(batch * tokens * 3 * heads * headDim, 177 + tokens, 2f);
            float scale = 1f / (float)Math.Sqrt(headDim);
            var expected = AttentionReference.SelfAttention(qkv, batch, tokens, heads, headDim, scale, causal: true);
            using var q = Upload(qkv);
            using var o = Zeros(batch * tokens * heads * headDim);
            Static(tileQ, tileK).SelfAttention(q.View, o.View, batch, tokens, heads, headDim, new AttentionOptions { Causal = true });
            KernelAssert.Close(expected, o.GetAsArray1D(), Atol, Rtol, "static causal attention");
        }

        [TestCase(1, 31, 2, 24, 8, 8)]  // T5-tiny-like: scale 1, relative-position bias [H, T, T]
        [TestCase(2, 19, 3, 64, 32, 32)] // T5-XXL's head size
        public void BiasAndUnitScaleMatchReference(int batch, int tokens, int heads, int headDim, int tileQ, int tileK)
        {
            var qkv = KernelAssert.Random(batch * tokens * 3 * heads * headDim, 105 + tokens, 0.5f);
            var bias = KernelAssert.Random(heads * tokens * tokens, 106 + tokens, 3f);
            var expected = AttentionReference.SelfAttention(qkv, batch, tokens, heads, headDim, 1f, bias: bias);
            using var q = Upload(qkv);
            using var bb = Upload(bias);
            using var o = Zeros(batch * tokens * heads * headDim);
            Static(tileQ, tileK).SelfAttention(q.View, o.View, batch, tokens, heads, headDim, new AttentionOptions { Scale = 1f, Bias = bb.View });
            KernelAssert.Close(expected, o.GetAsArray1D(), Atol, Rtol, "static biased attention");
        }

        [Test]
        public void BiasAndCausalOverTheJointSequence()
        {
            int batch = 1, tc = 5, tx = 9, heads = 2, headDim = 24, row = 3 * heads * headDim, t = tc + tx;
            var ctx = KernelAssert.Random(batch * tc * row, 131);
            var img = KernelAssert.Random(batch * tx * row, 132);
            var bias = KernelAssert.Random(heads * t * t, 133);
            AttentionReference.JointAttention(ctx, tc, img, tx, batch, heads, headDim, 0.3f, out var ce, out var xe, causal: true, bias: bias);
            using var c = Upload(ctx);
            using var x = Upload(img);
            using var bb = Upload(bias);
            using var co = Zeros(batch * tc * heads * headDim);
            using var xo = Zeros(batch * tx * heads * headDim);
            Static(4, 4).JointAttention(c.View, co.View, tc, x.View, xo.View, tx, batch, heads, headDim,
                                        new AttentionOptions { Scale = 0.3f, Causal = true, Bias = bb.View });
            KernelAssert.Close(ce, co.GetAsArray1D(), Atol, Rtol, "context out");
            KernelAssert.Close(xe, xo.GetAsArray1D(), Atol, Rtol, "image out");
        }

        [TestCase(64, 32, 16)]
        [TestCase(24, 8, 8)]
        [TestCase(128, 16, 8)]
        public void EqualTilesGiveTheDynamicVariantsOutputExactly(int headDim, int tileQ, int tileK)
        {
            int batch = 1, tc = 6, tx = 21, heads = 2, row = 3 * heads * headDim, t = tc + tx;
            var ctx = KernelAssert.Random(batch * tc * row, 141 + headDim, 2f);
            var img = KernelAssert.Random(batch * tx * row, 142 + headDim, 2f);
            var bias = KernelAssert.Random(heads * t * t, 143 + headDim);
            var options = new AttentionOptions { Causal = true };
            var results = new float[2][];
            var variants = new[] { FlashVariant.DynamicShared, FlashVariant.StaticShared };
            for (int i = 0; i < 2; i++)
            {
                var attention = new Attention(Device, tileQ, tileK, variants[i]);
                Assert.That(attention.TilesFor(headDim), Is.EqualTo((tileQ, tileK)), "both variants must run these tiles");
                using var c = Upload(ctx);
                using var x = Upload(img);
                using var bb = Upload(bias);
                using var co = Zeros(batch * tc * heads * headDim);
                using var xo = Zeros(batch * tx * heads * headDim);
                options.Bias = bb.View;
                attention.JointAttention(c.View, co.View, tc, x.View, xo.View, tx, batch, heads, headDim, options);
                var r = new float[batch * t * heads * headDim];
                Array.Copy(co.GetAsArray1D(), 0, r, 0, batch * tc * heads * headDim);
                Array.Copy(xo.GetAsArray1D(), 0, r, batch * tc * heads * headDim, batch * tx * heads * headDim);
                results[i] = r;
            }
            Assert.That(results[1], Is.EqualTo(results[0]), "static and dynamic variants differ at equal tiles");
        }

        [Test]
        public void TilesFitTheStaticBlock()
        {
            var k = Static();
            Assert.That(k.Variant, Is.EqualTo(FlashVariant.StaticShared));
            foreach (int d in new[] { 12, 24, 64, 128 })
            {
                var (tq, tk) = k.TilesFor(d);
                long floats = 2L * tq * d + tk * (d | 1) + (long)tk * d + (long)tq * tk + 3 * tq;
                Assert.That(floats, Is.LessThanOrEqualTo(Attention.StaticSharedFloats), $"D = {d}");
            }
            Assert.That(k.TilesFor(64), Is.EqualTo((32, 16)));
            Assert.That(k.TilesFor(128), Is.EqualTo((16, 8)));
            var e = Assert.Throws<ArgumentException>(() => k.TilesFor(8192));
            Assert.That(e.Message, Does.Contain("does not fit"));
        }
    }
}
