using System;
using ILGPU;
using ILGPU.Runtime;
using NUnit.Framework;
using Sd3Tex.Checkpoints;
using Sd3Tex.Kernels;
using Sd3Tex.Kernels.Reference;

namespace Sd3Tex.Tests.Kernels
{
    /// <summary>Patchify, unpatchify and timestep features against <see cref="ShapeOpsReference"/> and the tiny SD3 fixture.</summary>
    [TestFixtureSource(typeof(DeviceTestBase), nameof(DeviceTestBase.Devices))]
    public sealed class ShapeOpsTests : DeviceTestBase
    {
        public ShapeOpsTests(string device) : base(device) { }

        const string Fixture = "mmdit-tiny-sd3m";
        const string Prefix = "model.diffusion_model.";
        ShapeOps _ops;
        ShapeOps Ops => _ops ??= new ShapeOps(Device);

        MemoryBuffer1D<float, Stride1D.Dense> Upload(float[] a) => Device.Accelerator.Allocate1D(a);

        static float[] Read(SafetensorsFile f, string name)
        {
            var t = f[name];
            Assert.That(t, Is.Not.Null, name);
            return f.ReadFloats(t);
        }

        static SafetensorsFile Open(string file) => SafetensorsFile.Open(TestPaths.Fixture(Fixture, file));

        [TestCase(2, 16, 8, 12, 128, 2)]
        [TestCase(1, 3, 6, 4, 10, 2)]
        [TestCase(1, 4, 9, 6, 5, 3)]
        [TestCase(2, 1, 2, 2, 1, 1)]
        public void PatchifyMatchesReference(int batch, int channels, int height, int width, int hidden, int patch)
        {
            var x = KernelAssert.Random(batch * channels * height * width, 1 + height);
            var w = KernelAssert.Random(hidden * channels * patch * patch, 2 + width);
            var b = KernelAssert.Random(hidden, 3);
            var expected = ShapeOpsReference.Patchify(x, w, b, batch, channels, height, width, hidden, patch);
            using var xb = Upload(x); using var wb = Upload(w); using var bb = Upload(b);
            using var o = Device.Accelerator.Allocate1D<float>(expected.Length);
            Ops.Patchify(xb.View, wb.View, bb.View, o.View, batch, channels, height, width, hidden, patch);
            KernelAssert.Close(expected, o.GetAsArray1D(), 1e-5, 1e-5, "patch tokens");
        }

        [Test]
        public void PatchEmbeddingPlusPositionsMatchesTheFixture()
        {
            // x_embedded = x_embedder(x) + cropped pos_embed: [2, 16, 8, 12] → [2, 24, 128]
            float[] x, w, bias, table, golden;
            using (var f = Open("inputs.safetensors")) x = Read(f, "x");
            using (var f = Open("model.safetensors"))
            {
                w = Read(f, Prefix + "x_embedder.proj.weight");
                bias = Read(f, Prefix + "x_embedder.proj.bias");
                table = Read(f, Prefix + "pos_embed");
            }
            using (var f = Open("golden.safetensors")) golden = Read(f, "x_embedded");
            using var xb = Ops.Upload(x); using var wb = Ops.Upload(w); using var bb = Ops.Upload(bias); using var tb = Ops.Upload(table);
            using var o = Device.Accelerator.Allocate1D<float>(2 * 24 * 128);
            Ops.Patchify(xb.View, wb.View, bb.View, o.View, 2, 16, 8, 12, 128, 2);
            new PositionGrid(Device).AddPositionEmbedding(o.View, tb.View, 2, 4, 6, 128, 16);
            KernelAssert.Close(golden, o.GetAsArray1D(), 5e-5, 0, "x_embedded");
        }

        [TestCase(2, 16, 8, 12, 2)]
        [TestCase(1, 3, 6, 9, 3)]
        [TestCase(1, 5, 4, 4, 1)]
        public void UnpatchifyMatchesReference(int batch, int channels, int height, int width, int patch)
        {
            var tokens = KernelAssert.Random(batch * channels * height * width, 9 + channels);
            var expected = ShapeOpsReference.Unpatchify(tokens, batch, channels, height, width, patch);
            using var tb = Upload(tokens);
            using var o = Device.Accelerator.Allocate1D<float>(expected.Length);
            Ops.Unpatchify(tb.View, o.View, batch, channels, height, width, patch);
            KernelAssert.Close(expected, o.GetAsArray1D(), 0, 0, "image");
        }

        [Test]
        public void UnpatchifyMatchesTheFixture()
        {
            // out = unpatchify(final_tokens): [2, 24, 64] → [2, 16, 8, 12]
            float[] tokens, golden;
            using (var f = Open("golden.safetensors")) { tokens = Read(f, "final_tokens"); golden = Read(f, "out"); }
            using var tb = Upload(tokens);
            using var o = Device.Accelerator.Allocate1D<float>(golden.Length);
            Ops.Unpatchify(tb.View, o.View, 2, 16, 8, 12, 2);
            KernelAssert.Close(golden, o.GetAsArray1D(), 0, 0, "out");
        }

        [TestCase(256)]
        [TestCase(7)]
        public void TimestepEmbeddingMatchesReference(int dim)
        {
            var t = new[] { 0f, 1f, 37.25f, 500.5f, 999f, 1000f };
            var expected = ShapeOpsReference.TimestepEmbedding(t, dim);
            if (dim % 2 == 1)
            {
                // the reference pads the odd last column with zeros; ShapeOpsReference leaves it at 0 too
                for (int b = 0; b < t.Length; b++) Assert.That(expected[b * dim + dim - 1], Is.EqualTo(0f));
            }
            using var tb = Upload(t);
            using var o = Device.Accelerator.Allocate1D<float>(t.Length * dim);
            Ops.TimestepEmbedding(tb.View, o.View, t.Length, dim);
            KernelAssert.Close(expected, o.GetAsArray1D(), 2e-6, 0, "timestep features");
        }

        [Test]
        public void TimestepScaleTurnsSigmasIntoTimesteps()
        {
            var sigma = new[] { 0.25f, 0.9f };
            var expected = ShapeOpsReference.TimestepEmbedding(new[] { 250f, 900f });
            using var tb = Upload(sigma);
            using var o = Device.Accelerator.Allocate1D<float>(2 * 256);
            Ops.TimestepEmbedding(tb.View, o.View, 2, 256, timestepScale: 1000f);
            KernelAssert.Close(expected, o.GetAsArray1D(), 1e-4, 0, "features of sigma*1000");
        }

        static float[] Linear(float[] x, float[] w, float[] b, int inF, int outF, bool silu = false)
        {
            var r = new float[outF];
            for (int o = 0; o < outF; o++)
            {
                double acc = b[o];
                for (int i = 0; i < inF; i++) acc += (double)w[o * inF + i] * x[i];
                r[o] = silu ? (float)(acc / (1 + Math.Exp(-acc))) : (float)acc;
            }
            return r;
        }

        [Test]
        public void TimestepFeaturesGiveTheFixtureConditioning()
        {
            // c = t_embedder(timestep_embedding(t)) + y_embedder(y); the MLPs are done here on the host
            float[] t, y, golden;
            using (var f = Open("inputs.safetensors")) { t = Read(f, "timestep"); y = Read(f, "y"); }
            using (var f = Open("golden.safetensors")) golden = Read(f, "c");
            using var tb = Upload(t);
            using var o = Device.Accelerator.Allocate1D<float>(2 * 256);
            Ops.TimestepEmbedding(tb.View, o.View, 2);
            var feats = o.GetAsArray1D();
            var c = new float[2 * 128];
            using (var f = Open("model.safetensors"))
            {
                float[] W(string n) => Read(f, Prefix + n);
                for (int b = 0; b < 2; b++)
                {
                    var tf = new float[256]; Array.Copy(feats, b * 256, tf, 0, 256);
                    var te = Linear(Linear(tf, W("t_embedder.mlp.0.weight"), W("t_embedder.mlp.0.bias"), 256, 128, silu: true),
                                    W("t_embedder.mlp.2.weight"), W("t_embedder.mlp.2.bias"), 128, 128);
                    var yv = new float[64]; Array.Copy(y, b * 64, yv, 0, 64);
                    var ye = Linear(Linear(yv, W("y_embedder.mlp.0.weight"), W("y_embedder.mlp.0.bias"), 64, 128, silu: true),
                                    W("y_embedder.mlp.2.weight"), W("y_embedder.mlp.2.bias"), 128, 128);
                    for (int i = 0; i < 128; i++) c[b * 128 + i] = te[i] + ye[i];
                }
            }
            KernelAssert.Close(golden, c, 5e-5, 0, "c");
        }

        [Test]
        public void BadShapesAreRejected()
        {
            using var a = Device.Accelerator.Allocate1D<float>(64);
            var e = Assert.Throws<ArgumentException>(() => Ops.Unpatchify(a.View, a.View, 1, 1, 5, 4, 2));
            Assert.That(e.Message, Does.Contain("multiple"));
            e = Assert.Throws<ArgumentException>(() => Ops.Patchify(a.View, a.View, a.View, a.View, 1, 16, 4, 4, 128, 2));
            Assert.That(e.Message, Does.Contain("needs"));
        }
    }
}
