using System;
using System.Collections.Generic;
using ILGPU;
using ILGPU.Runtime;
using NUnit.Framework;
using Sd3Tex.Kernels;
using Sd3Tex.Kernels.Reference;

namespace Sd3Tex.Tests.Kernels
{
    /// <summary>The flash-attention kernel against <see cref="AttentionReference"/>: token counts that are and are not
    /// multiples of the tiles, several heads and head sizes, SD3's joint (context first) layout, causal, bias, qk norm.</summary>
    [TestFixtureSource(typeof(DeviceTestBase), nameof(DeviceTestBase.Devices))]
    public sealed class AttentionTests : DeviceTestBase
    {
        public AttentionTests(string device) : base(device) { }

        const double Atol = 2e-5, Rtol = 2e-5;
        readonly Dictionary<(int, int), Attention> _kernels = new Dictionary<(int, int), Attention>();

        Attention Kernels(int tileQ = Attention.DefaultTile, int tileK = Attention.DefaultTile)
        {
            if (!_kernels.TryGetValue((tileQ, tileK), out var k)) _kernels[(tileQ, tileK)] = k = new Attention(Device, tileQ, tileK);
            return k;
        }

        [OneTimeTearDown]
        public void ForgetKernels() => _kernels.Clear();

        MemoryBuffer1D<float, Stride1D.Dense> Upload(float[] a) => Device.Accelerator.Allocate1D(a);
        MemoryBuffer1D<float, Stride1D.Dense> Zeros(int n) { var b = Device.Accelerator.Allocate1D<float>(Math.Max(1, n)); b.MemSetToZero(); return b; }

        [TestCase(1, 1, 1, 64, 32, 32)]
        [TestCase(2, 7, 2, 64, 32, 32)]
        [TestCase(1, 31, 3, 24, 8, 8)]
        [TestCase(1, 77, 2, 24, 16, 8)]
        [TestCase(2, 33, 1, 64, 32, 32)]
        [TestCase(1, 9, 2, 128, 32, 32)]
        [TestCase(1, 13, 1, 7, 4, 16)]
        [TestCase(1, 300, 1, 64, 32, 32)] // the managed backend's fused tiles: 48 queries × 256 keys, both with tails
        public void SelfAttentionMatchesReference(int batch, int tokens, int heads, int headDim, int tileQ, int tileK)
        {
            var qkv = KernelAssert.Random(batch * tokens * 3 * heads * headDim, 1000 + tokens * 7 + headDim, 2f);
            float scale = 1f / (float)Math.Sqrt(headDim);
            var expected = AttentionReference.SelfAttention(qkv, batch, tokens, heads, headDim, scale);
            using var q = Upload(qkv);
            using var o = Zeros(batch * tokens * heads * headDim);
            Kernels(tileQ, tileK).SelfAttention(q.View, o.View, batch, tokens, heads, headDim);
            KernelAssert.Close(expected, o.GetAsArray1D(), Atol, Rtol, "attention");
        }

        [TestCase(2, 7, 24, 2, 64, 32, 32)] // the fixture's shape
        [TestCase(2, 7, 24, 2, 64, 8, 16)]  // tiles straddle the context/image boundary
        [TestCase(1, 5, 0, 1, 24, 4, 4)]    // no image tokens
        [TestCase(1, 0, 11, 3, 24, 8, 4)]   // no context tokens
        [TestCase(2, 37, 263, 1, 64, 32, 32)] // fused tiles (48 queries, 256 keys) straddle the boundary, with tails
        [TestCase(1, 32, 80, 2, 64, 32, 32)] // the boundary on a 16-token group: every K and Q group packed by the transposes
        public void JointAttentionMatchesConcatenation(int batch, int tc, int tx, int heads, int headDim, int tileQ, int tileK)
        {
            int row = 3 * heads * headDim;
            var ctx = KernelAssert.Random(batch * tc * row, 11 + tc, 2f);
            var img = KernelAssert.Random(batch * tx * row, 12 + tx, 2f);
            float scale = 1f / (float)Math.Sqrt(headDim);
            AttentionReference.JointAttention(ctx, tc, img, tx, batch, heads, headDim, scale, out var ctxExp, out var imgExp);
            using var c = Upload(tc > 0 ? ctx : new float[1]);
            using var x = Upload(tx > 0 ? img : new float[1]);
            using var co = Zeros(batch * tc * heads * headDim);
            using var xo = Zeros(batch * tx * heads * headDim);
            var first = tc > 0 ? AttentionSegment.FromQkv(c.View, co.View, tc, heads, headDim) : AttentionSegment.None;
            var second = tx > 0 ? AttentionSegment.FromQkv(x.View, xo.View, tx, heads, headDim) : AttentionSegment.None;
            Kernels(tileQ, tileK).Run(first, second, batch, heads, headDim);
            if (tc > 0) KernelAssert.Close(ctxExp, co.GetAsArray1D(), Atol, Rtol, "context out");
            if (tx > 0) KernelAssert.Close(imgExp, xo.GetAsArray1D(), Atol, Rtol, "image out");
        }

        [TestCase(1, 31, 3, 20, 8, 8)] // CLIP-tiny-like head sizes
        [TestCase(2, 77, 2, 12, 16, 32)]
        [TestCase(1, 7, 1, 64, 32, 32)]
        public void CausalMatchesReference(int batch, int tokens, int heads, int headDim, int tileQ, int tileK)
        {
            var qkv = KernelAssert.Random(batch * tokens * 3 * heads * headDim, 77 + tokens, 2f);
            float scale = 1f / (float)Math.Sqrt(headDim);
            var expected = AttentionReference.SelfAttention(qkv, batch, tokens, heads, headDim, scale, causal: true);
            using var q = Upload(qkv);
            using var o = Zeros(batch * tokens * heads * headDim);
            Kernels(tileQ, tileK).SelfAttention(q.View, o.View, batch, tokens, heads, headDim, new AttentionOptions { Causal = true });
            KernelAssert.Close(expected, o.GetAsArray1D(), Atol, Rtol, "causal attention");
        }

        [TestCase(1, 31, 2, 24, 8, 8)] // T5-tiny-like: scale 1, relative-position bias [H, T, T]
        [TestCase(2, 7, 3, 24, 32, 32)]
        public void BiasAndUnitScaleMatchReference(int batch, int tokens, int heads, int headDim, int tileQ, int tileK)
        {
            var qkv = KernelAssert.Random(batch * tokens * 3 * heads * headDim, 5 + tokens, 0.5f);
            var bias = KernelAssert.Random(heads * tokens * tokens, 6 + tokens, 3f);
            var expected = AttentionReference.SelfAttention(qkv, batch, tokens, heads, headDim, 1f, bias: bias);
            using var q = Upload(qkv);
            using var bb = Upload(bias);
            using var o = Zeros(batch * tokens * heads * headDim);
            Kernels(tileQ, tileK).SelfAttention(q.View, o.View, batch, tokens, heads, headDim,
                                                new AttentionOptions { Scale = 1f, Bias = bb.View });
            KernelAssert.Close(expected, o.GetAsArray1D(), Atol, Rtol, "biased attention");
        }

        [Test]
        public void BiasAndCausalOverTheJointSequence()
        {
            int batch = 1, tc = 5, tx = 9, heads = 2, headDim = 24, row = 3 * heads * headDim, t = tc + tx;
            var ctx = KernelAssert.Random(batch * tc * row, 31);
            var img = KernelAssert.Random(batch * tx * row, 32);
            var bias = KernelAssert.Random(heads * t * t, 33);
            AttentionReference.JointAttention(ctx, tc, img, tx, batch, heads, headDim, 0.3f, out var ce, out var xe, causal: true, bias: bias);
            using var c = Upload(ctx);
            using var x = Upload(img);
            using var bb = Upload(bias);
            using var co = Zeros(batch * tc * heads * headDim);
            using var xo = Zeros(batch * tx * heads * headDim);
            Kernels(4, 4).JointAttention(c.View, co.View, tc, x.View, xo.View, tx, batch, heads, headDim,
                                         new AttentionOptions { Scale = 0.3f, Causal = true, Bias = bb.View });
            KernelAssert.Close(ce, co.GetAsArray1D(), Atol, Rtol, "context out");
            KernelAssert.Close(xe, xo.GetAsArray1D(), Atol, Rtol, "image out");
        }

        [Test]
        public void LargeScoresStayFinite()
        {
            // scale 1 with |q|,|k| up to 4 and D = 64: scores in the hundreds; the online max keeps exp in range
            int batch = 1, tokens = 40, heads = 1, headDim = 64;
            var qkv = KernelAssert.Random(batch * tokens * 3 * heads * headDim, 99, 4f);
            var expected = AttentionReference.SelfAttention(qkv, batch, tokens, heads, headDim, 1f);
            using var q = Upload(qkv);
            using var o = Zeros(batch * tokens * heads * headDim);
            Kernels(8, 8).SelfAttention(q.View, o.View, batch, tokens, heads, headDim, new AttentionOptions { Scale = 1f });
            KernelAssert.Close(expected, o.GetAsArray1D(), 1e-4, 1e-4, "attention with large scores");
        }

        [Test]
        public void QkRmsNormThenJointAttention()
        {
            // SD3.5: each stream's q and k normalised per head with that stream's ln_q / ln_k, then joint attention
            int batch = 2, tc = 7, tx = 24, heads = 2, headDim = 64, row = 3 * heads * headDim;
            var ctx = KernelAssert.Random(batch * tc * row, 41, 3f);
            var img = KernelAssert.Random(batch * tx * row, 42, 3f);
            var cq = KernelAssert.Random(headDim, 43, 2f); var ck = KernelAssert.Random(headDim, 44, 2f);
            var xq = KernelAssert.Random(headDim, 45, 2f); var xk = KernelAssert.Random(headDim, 46, 2f);
            var ctxRef = (float[])ctx.Clone(); var imgRef = (float[])img.Clone();
            AttentionReference.QkRmsNorm(ctxRef, batch, tc, heads, headDim, cq, ck);
            AttentionReference.QkRmsNorm(imgRef, batch, tx, heads, headDim, xq, xk);
            AttentionReference.JointAttention(ctxRef, tc, imgRef, tx, batch, heads, headDim, 0.125f, out var ce, out var xe);

            using var c = Upload(ctx); using var x = Upload(img);
            using var cqb = Upload(cq); using var ckb = Upload(ck); using var xqb = Upload(xq); using var xkb = Upload(xk);
            using var co = Zeros(batch * tc * heads * headDim);
            using var xo = Zeros(batch * tx * heads * headDim);
            var k = Kernels();
            k.QkRmsNorm(c.View, batch, tc, heads, headDim, cqb.View, ckb.View);
            k.QkRmsNorm(x.View, batch, tx, heads, headDim, xqb.View, xkb.View);
            KernelAssert.Close(ctxRef, c.GetAsArray1D(), 2e-6, 2e-6, "normalised context qkv");
            KernelAssert.Close(imgRef, x.GetAsArray1D(), 2e-6, 2e-6, "normalised image qkv");
            k.JointAttention(c.View, co.View, tc, x.View, xo.View, tx, batch, heads, headDim);
            KernelAssert.Close(ce, co.GetAsArray1D(), Atol, Rtol, "context out");
            KernelAssert.Close(xe, xo.GetAsArray1D(), Atol, Rtol, "image out");
        }

        [Test]
        public void SeparateQkvBuffers()
        {
            int batch = 2, tokens = 10, heads = 2, headDim = 24, hd = heads * headDim;
            var qkv = KernelAssert.Random(batch * tokens * 3 * hd, 51);
            var expected = AttentionReference.SelfAttention(qkv, batch, tokens, heads, headDim, 0.2f, causal: true);
            var q = new float[batch * tokens * hd]; var k = new float[q.Length]; var v = new float[q.Length];
            for (int r = 0; r < batch * tokens; r++)
            {
                Array.Copy(qkv, r * 3 * hd, q, r * hd, hd);
                Array.Copy(qkv, r * 3 * hd + hd, k, r * hd, hd);
                Array.Copy(qkv, r * 3 * hd + 2 * hd, v, r * hd, hd);
            }
            using var qb = Upload(q); using var kb = Upload(k); using var vb = Upload(v);
            using var o = Zeros(batch * tokens * hd);
            Kernels(4, 8).Run(AttentionSegment.FromSeparate(qb.View, kb.View, vb.View, o.View, tokens, heads, headDim), AttentionSegment.None,
                              batch, heads, headDim, new AttentionOptions { Scale = 0.2f, Causal = true });
            KernelAssert.Close(expected, o.GetAsArray1D(), Atol, Rtol, "attention from separate q, k, v");
        }

        [Test]
        public void ShortBuffersAreRejected()
        {
            using var q = Zeros(3 * 2 * 64 * 5 - 1);
            using var o = Zeros(2 * 64 * 5);
            var e = Assert.Throws<ArgumentException>(() => Kernels().SelfAttention(q.View, o.View, 1, 5, 2, 64));
            Assert.That(e.Message, Does.Contain("needs"));
            using var q2 = Zeros(3 * 2 * 64 * 5);
            using var bias = Zeros(10);
            e = Assert.Throws<ArgumentException>(() => Kernels().SelfAttention(q2.View, o.View, 1, 5, 2, 64, new AttentionOptions { Bias = bias.View }));
            Assert.That(e.Message, Does.Contain("bias"));
        }

        [Test]
        public void TilesFitTheDevice()
        {
            var k = Kernels();
            foreach (int d in new[] { 12, 24, 64, 128 })
            {
                var (tq, tk) = k.TilesFor(d);
                Assert.That(tq, Is.GreaterThanOrEqualTo(1));
                Assert.That(tk, Is.GreaterThanOrEqualTo(1));
                long bytes = 4L * (2L * tq * d + tk * (d | 1) + (long)tk * d + (long)tq * tk + 3 * tq);
                Assert.That(bytes, Is.LessThanOrEqualTo(Math.Max(4096, Device.Accelerator.MaxSharedMemoryPerGroup)));
            }
            Assert.That(k.GroupSize, Is.LessThanOrEqualTo(Device.Accelerator.MaxNumThreadsPerGroup));
        }
    }
}
