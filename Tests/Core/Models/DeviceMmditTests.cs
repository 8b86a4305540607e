using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using NUnit.Framework;
using Sd3Tex.Checkpoints;
using Sd3Tex.Kernels;
using Sd3Tex.Models;
using Sd3Tex.Reference;
using Sd3Tex.Sampling;

namespace Sd3Tex.Tests.Models
{
    /// <summary>The ILGPU MMDiT on every accelerator present: the SD3-Medium fixture (every intermediate) and SD3.5
    /// Medium / Large shaped random models against the plain C# reference.</summary>
    [TestFixtureSource(typeof(DeviceTestBase), nameof(DeviceTestBase.Devices))]
    public sealed class DeviceMmditTests : DeviceTestBase
    {
        public DeviceMmditTests(string device) : base(device) { }

        const string Fx = "mmdit-tiny-sd3m";
        string _dir;

        [SetUp] public void SetUp() => _dir = TestPaths.NewScratch("device-mmdit");
        [TearDown] public void TearDown() => TestPaths.DeleteScratch(_dir);

        [Test]
        public void MatchesTheMmditFixture()
        {
            using var ck = Checkpoint.Open(TestPaths.Fixture(Fx, "model.safetensors"));
            using var model = new DeviceMmdit(ck.ComponentWeights(Component.Mmdit), Device) { Capture = true };
            var x = Golden.Floats(Fx, "inputs.safetensors", "x");
            var t = Golden.Floats(Fx, "inputs.safetensors", "timestep");
            var y = Golden.Floats(Fx, "inputs.safetensors", "y");
            var c = Golden.Floats(Fx, "inputs.safetensors", "context");
            var sw = System.Diagnostics.Stopwatch.StartNew();
            var outp = model.Forward(x, 2, 8, 12, t, y, c, 7);
            TestContext.Progress.WriteLine($"  first forward on {DeviceName} (includes kernel compilation): {sw.Elapsed.TotalMilliseconds:0} ms");
            foreach (var name in new[] { "pos_embed_cropped", "x_embedded", "c", "context_embedded", "block0_context", "block0_x", "block1_x", "final_tokens" })
                Golden.AssertClose(Golden.Floats(Fx, "golden.safetensors", name), model.Captured[name], 5e-5, $"{name} ({DeviceName})");
            Golden.AssertClose(Golden.Floats(Fx, "golden.safetensors", "out"), outp, 5e-5, $"out ({DeviceName})");
            // a second call reuses the workspace and gives the same result
            model.Capture = false;
            sw.Restart();
            var again = model.Forward(x, 2, 8, 12, t, y, c, 7);
            TestContext.Progress.WriteLine($"  second forward on {DeviceName}: {sw.Elapsed.TotalMilliseconds:0} ms");
            Assert.That(again, Is.EqualTo(outp));
        }

        [Test]
        public void SkippedBlocksMatchTheReference()
        {
            // skip-layer guidance's third pass: block 1 of 2 left out, on the fixture's inputs (batch 1)
            using var ck = Checkpoint.Open(TestPaths.Fixture(Fx, "model.safetensors"));
            var w = ck.ComponentWeights(Component.Mmdit);
            using var model = new DeviceMmdit(w, Device);
            var reference = new ReferenceMmdit(w);
            var x = Golden.Floats(Fx, "inputs.safetensors", "x").Take(16 * 8 * 12).ToArray();
            var t = Golden.Floats(Fx, "inputs.safetensors", "timestep").Take(1).ToArray();
            var y = Golden.Floats(Fx, "inputs.safetensors", "y").Take(64).ToArray();
            var c = Golden.Floats(Fx, "inputs.safetensors", "context").Take(7 * 96).ToArray();
            var skip = new HashSet<int> { 1 };
            var expected = reference.Forward(x, 1, 8, 12, t, y, c, 7, skip);
            var full = reference.Forward(x, 1, 8, 12, t, y, c, 7);
            Assert.That(Golden.MaxAbsDiff(full, expected), Is.GreaterThan(1e-2), "skipping a block changes the output");
            Golden.AssertClose(expected, model.Forward(x, 1, 8, 12, t, y, c, 7, skip), 5e-5, $"block 1 skipped ({DeviceName})");
            // skipping nothing is the plain forward
            Golden.AssertClose(full, model.Forward(x, 1, 8, 12, t, y, c, 7, new HashSet<int>()), 5e-5, $"nothing skipped ({DeviceName})");
        }

        [Test]
        public void EulerSamplingMatchesTheFixture()
        {
            const string S = "sampler-tiny";
            using var ck = Checkpoint.Open(TestPaths.Fixture(Fx, "model.safetensors"));
            using var model = new DeviceMmdit(ck.ComponentWeights(Component.Mmdit), Device);
            var context = Golden.Floats(S, "inputs.safetensors", "cond_context").Concat(Golden.Floats(S, "inputs.safetensors", "uncond_context")).ToArray();
            var pooled = Golden.Floats(S, "inputs.safetensors", "cond_pooled").Concat(Golden.Floats(S, "inputs.safetensors", "uncond_pooled")).ToArray();
            VelocityModel v = (x, b, ts) => model.Forward(x, b, 8, 12, ts, pooled, context, 10);
            var sigmas = new FlowSchedule(3f).Sigmas(4);
            var final = Samplers.Sample(SamplerKind.Euler, Cfg.Guided(v, 1, 5f), Samplers.NoiseScaling(sigmas[0], Golden.Floats(S, "inputs.safetensors", "noise")), sigmas);
            Golden.AssertClose(Golden.Floats(S, "golden.safetensors", "final_latent"), final, 2e-4, $"final_latent ({DeviceName})");
        }

        [Test]
        public void ANaNInTheWeightsIsCaughtOnTheDeviceBeforeTheOutputIsCopied()
        {
            // make-random-checkpoint's tiny model with one NaN in the final layer's bias
            string path = Sd3Tex.Tests.Generation.PoisonedCheckpoint.Write(Path.Combine(_dir, "poisoned.safetensors"), Sd3Tex.Tests.Generation.PoisonedCheckpoint.Transformer);
            using var ck = Checkpoint.Open(path);
            using var model = new DeviceMmdit(ck.ComponentWeights(Component.Mmdit), Device) { CheckFinite = true };
            var cfg = model.Config;
            float[] x = Rand(2 * 16 * 4 * 6, 1), y = Rand(2 * cfg.PooledDim, 2), c = Rand(2 * 5 * cfg.ContextDim, 3), t = { 500f, 500f };
            var e = Assert.Throws<NonFiniteValuesException>(() => model.Forward(x, 2, 4, 6, t, y, c, 5));
            // output feature 0 of the final linear is channel 0 of the first pixel of each 2 × 2 patch: one value per
            // patch token, 2 × (2 × 3) of them
            Assert.That((e.Component, e.Count, e.Total), Is.EqualTo(("transformer", 12L, 2L * 16 * 4 * 6)));
            // unchecked, the NaN would have gone on to the sampler
            model.CheckFinite = false;
            var v = model.Forward(x, 2, 4, 6, t, y, c, 5);
            Assert.That(NumericsReference.CountNonFinite(v, v.Length), Is.EqualTo(e.Count));
            // the fixture's finite model passes the check
            using var fine = Checkpoint.Open(TestPaths.Fixture(Fx, "model.safetensors"));
            using var ok = new DeviceMmdit(fine.ComponentWeights(Component.Mmdit), Device) { CheckFinite = true };
            var o = ok.Forward(Golden.Floats(Fx, "inputs.safetensors", "x"), 2, 8, 12, Golden.Floats(Fx, "inputs.safetensors", "timestep"),
                               Golden.Floats(Fx, "inputs.safetensors", "y"), Golden.Floats(Fx, "inputs.safetensors", "context"), 7);
            Golden.AssertClose(Golden.Floats(Fx, "golden.safetensors", "out"), o, 5e-5, $"out ({DeviceName})");
        }

        /// <summary>A random model of the given architecture, written and reopened as a checkpoint.</summary>
        Checkpoint RandomModel(MmditConfig cfg, DType dtype, int seed)
        {
            string path = Path.Combine(_dir, $"random-{seed}.safetensors");
            CheckpointWriter.Write(RandomWeights.Mmdit(cfg, dtype, seed), CheckpointLayout.Single, path);
            return Checkpoint.Open(path);
        }

        static float[] Rand(int n, int seed, float scale = 1f)
        {
            var r = new Random(seed);
            return Enumerable.Range(0, n).Select(_ => (float)(r.NextDouble() * 2 - 1) * scale).ToArray();
        }

        [TestCase("sd3.5-medium", DType.F16)]
        [TestCase("sd3.5-large", DType.BF16)]
        [TestCase("sd3-medium", DType.F32)]
        public void MatchesTheReferenceOnRandomModels(string arch, DType dtype)
        {
            // tiny versions of each family's architecture: SD3.5 Medium has QK RMSNorm and MMDiT-X dual attention in
            // its first blocks; SD3.5 Large has QK RMSNorm only
            var cfg = new MmditConfig { Depth = 3, HiddenSize = 128, PatchSize = 2, InChannels = 16, OutChannels = 16, PosEmbedMaxSize = 8, PooledDim = 32, ContextDim = 48, MlpHidden = 512 };
            if (arch != "sd3-medium") cfg.QkNorm = true;
            if (arch == "sd3.5-medium") cfg.DualAttentionBlocks = new[] { 0, 1 };
            using var ck = RandomModel(cfg, dtype, 17);
            var weights = ck.ComponentWeights(Component.Mmdit);
            Assert.That(MmditConfig.Infer(weights).Architecture, Is.EqualTo(arch == "sd3-medium" ? ModelFamily.Sd3Medium : arch == "sd3.5-medium" ? ModelFamily.Sd35Medium : ModelFamily.Sd35Large));
            var reference = new ReferenceMmdit(weights);
            using var model = new DeviceMmdit(weights, Device);
            int b = 2, h = 6, w = 10, tc = 5;
            var x = Rand(b * 16 * h * w, 1);
            var t = new[] { 1000f, 250.5f };
            var y = Rand(b * 32, 2);
            var c = Rand(b * tc * 48, 3);
            var expected = reference.Forward(x, b, h, w, t, y, c, tc);
            var got = model.Forward(x, b, h, w, t, y, c, tc);
            double scale = expected.Max(v => Math.Abs(v));
            Assert.That(scale, Is.GreaterThan(0.1), "the random model produces non-trivial outputs");
            TestContext.Progress.WriteLine($"  {arch}: reference output checksum {expected.Sum(v => (double)v):F6}, max |out| {scale:F4}");
            Golden.AssertClose(expected, got, 5e-5 * Math.Max(1, scale), $"{arch} {dtype} out ({DeviceName})");
        }

        [Test]
        public void BadRequestsAreClearErrors()
        {
            using var ck = Checkpoint.Open(TestPaths.Fixture(Fx, "model.safetensors"));
            using var model = new DeviceMmdit(ck.ComponentWeights(Component.Mmdit), Device);
            var e = Assert.Throws<ArgumentException>(() => model.Forward(new float[16 * 7 * 12], 1, 7, 12, new[] { 1f }, new float[64], new float[7 * 96], 7));
            Assert.That(e.Message, Does.Contain("multiple of the patch size"));
            // a 34 × 4 latent is a 17 × 2 patch grid: taller than the fixture's 16 × 16 position table, whose values
            // are a standard sin-cos table, so the positions beyond it are generated
            var big = model.Forward(new float[16 * 34 * 4], 1, 34, 4, new[] { 1f }, new float[64], new float[7 * 96], 7);
            Assert.That(big.All(v => !float.IsNaN(v) && !float.IsInfinity(v)), Is.True);
            // beyond 192 × 192 patches needs the explicit opt-in (checked before any work)
            var huge = Assert.Throws<PatchGridException>(() => model.Forward(new float[16 * 386 * 2], 1, 386, 2, new[] { 1f }, new float[64], new float[7 * 96], 7));
            Assert.That(huge.Message, Does.Contain("192"));
            // a table that is not sin-cos cannot be extended: a clear error
            var cfg = new MmditConfig { Depth = 1, HiddenSize = 64, PatchSize = 2, InChannels = 16, OutChannels = 16, PosEmbedMaxSize = 4, PooledDim = 8, ContextDim = 8, MlpHidden = 128 };
            using var random = RandomModel(cfg, DType.F32, 5);
            using var small = new DeviceMmdit(random.ComponentWeights(Component.Mmdit), Device);
            var beyond = Assert.Throws<PatchGridException>(() => small.Forward(new float[16 * 10 * 10], 1, 10, 10, new[] { 1f }, new float[8], new float[8], 1));
            Assert.That(beyond.Message, Does.Contain("4"));
        }
    }
}
