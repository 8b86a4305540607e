using System;
using System.Diagnostics;
using System.Linq;
using NUnit.Framework;
using Sd3Tex.Checkpoints;
using Sd3Tex.Encoders;
using Sd3Tex.Reference;
using static Sd3Tex.Tests.Encoders.EncoderFixtures;

namespace Sd3Tex.Tests.Encoders
{
    /// <summary>The ILGPU CLIP and T5 encoders on every accelerator present: the clip-tiny, t5-tiny and pipeline-tiny
    /// fixtures, weight streaming, and F8 weights against the reference.</summary>
    [TestFixtureSource(typeof(DeviceTestBase), nameof(DeviceTestBase.Devices))]
    public sealed class DeviceEncoderTests : DeviceTestBase
    {
        public DeviceEncoderTests(string device) : base(device) { }

        string _dir;

        [SetUp] public void SetUp() => _dir = TestPaths.NewScratch("device-encoders");
        [TearDown] public void TearDown() => TestPaths.DeleteScratch(_dir);

        [Test]
        public void ClipMatchesTheClipFixture([Values(Component.ClipL, Component.ClipG)] Component role)
        {
            string k = Checkpoint.KeyOf(role);
            using var ck = OpenClip();
            using var clip = new ClipEncoder(ck.ComponentWeights(role), role, Device, TinyClipHeads);
            var ids = Ids(Clip, "inputs.safetensors", k + "_ids");
            var sw = Stopwatch.StartNew();
            var o = clip.Encode(ids, 2);
            TestContext.Progress.WriteLine($"  {k} on {DeviceName}, batch 2, first call (includes kernel compilation): {sw.Elapsed.TotalMilliseconds:0} ms");
            Golden.AssertClose(Golden.Floats(Clip, "golden.safetensors", k + "_penultimate"), o.Penultimate, Tolerance, $"{k}_penultimate ({DeviceName})");
            Golden.AssertClose(Golden.Floats(Clip, "golden.safetensors", k + "_last_normed"), o.LastNormed, Tolerance, $"{k}_last_normed ({DeviceName})");
            if (role == Component.ClipL)
                Golden.AssertClose(Golden.Floats(Clip, "golden.safetensors", "clip_l_pooled"), o.Pooled, Tolerance, $"clip_l_pooled ({DeviceName})");
            else
            {
                Golden.AssertClose(Golden.Floats(Clip, "golden.safetensors", "clip_g_pooled_unprojected"), o.Pooled, Tolerance, $"clip_g_pooled_unprojected ({DeviceName})");
                Golden.AssertClose(Golden.Floats(Clip, "golden.safetensors", "clip_g_pooled_projected"), o.PooledProjected, Tolerance, $"clip_g_pooled_projected ({DeviceName})");
            }
        }

        [Test]
        public void T5MatchesTheT5FixtureAndStreamingChangesNothing()
        {
            using var ck = OpenT5();
            var w = ck.ComponentWeights(Component.T5xxl);
            var ids = Stack(Ids(T5, "inputs.safetensors", "ids_0"), Ids(T5, "inputs.safetensors", "ids_1"));
            var expected = Golden.Floats(T5, "golden.safetensors", "hidden_0").Concat(Golden.Floats(T5, "golden.safetensors", "hidden_1")).ToArray();
            float[] resident;
            long residentBytes;
            using (var t5 = new T5Encoder(w, Device, streamWeights: false))
            {
                Assert.That(t5.StreamsWeights, Is.False);
                // both prompts as one batch of 2
                var sw = Stopwatch.StartNew();
                resident = t5.Encode(ids, 2, 77);
                TestContext.Progress.WriteLine($"  T5 on {DeviceName}, batch 2, first call: {sw.Elapsed.TotalMilliseconds:0} ms");
                Golden.AssertClose(expected, resident, Tolerance, $"hidden_0 ‖ hidden_1 ({DeviceName})");
                residentBytes = t5.WeightBytes;
                Assert.That(T5Encoder.ShouldStream(w, Device, 1e-12), Is.EqualTo(Device.Kind != Sd3Tex.Kernels.DeviceKind.Cpu), "never streams on the CPU");
            }
            using (var t5 = new T5Encoder(w, Device, streamWeights: true))
            {
                Assert.That(t5.StreamsWeights, Is.True);
                Assert.That(t5.WeightBytes, Is.LessThan(residentBytes), "streaming holds one block");
                Assert.That(t5.Encode(ids, 2, 77), Is.EqualTo(resident), "streamed = resident: the same kernels on the same weights");
                // a second call reloads block 0 after the last block ran
                var second = t5.Encode(ids.Skip(77).ToArray(), 1, 77);
                Golden.AssertClose(Golden.Floats(T5, "golden.safetensors", "hidden_1"), second, Tolerance, $"hidden_1 alone, streamed ({DeviceName})");
            }
        }

        [Test]
        public void F8T5MatchesTheReferenceOnTheSameWeights()
        {
            string path = WriteF8T5(_dir);
            using var ck = Checkpoint.Open(path);
            var w = ck.ComponentWeights(Component.T5xxl);
            Assert.That(w["encoder.block.0.layer.0.SelfAttention.q.weight"].DType, Is.EqualTo(DType.F8_E4M3));
            Assert.That(w["shared.weight"].DType, Is.EqualTo(DType.F8_E4M3));
            // 90 tokens: relative positions beyond the fixture's 77
            const int t = 90;
            var rng = new Random(5);
            var ids = Enumerable.Range(0, t).Select(_ => rng.Next(32128)).ToArray();
            float[] expected;
            using (var reference = new ReferenceT5(w)) expected = reference.Encode(ids, 1, t);
            using var t5 = new T5Encoder(w, Device, streamWeights: true);
            var got = t5.Encode(ids, 1, t);
            Golden.AssertClose(expected, got, Tolerance, $"F8 T5, 90 tokens ({DeviceName}) vs the reference");
        }

        [Test]
        public void ConditioningMatchesThePipelineFixture()
        {
            using var ck = OpenBoth();
            var options = new TextEncoderOptions { ClipLHeads = TinyClipHeads, ClipGHeads = TinyClipHeads };
            using var enc = Sd3TextEncoder.Open(ck, Device, options);
            var all = ReferenceEncoderTests.CheckPipelineConditioning(enc, DeviceName);
            // without T5: 77 zero rows in its slot (the same CLIP outputs)
            var zeroed = Sd3Conditioning.Assemble(all.ClipL, all.ClipG, null, 0, 96).Slice(0, 1);
            Golden.AssertClose(Golden.Floats(Pipeline, "golden.safetensors", "cond_context_t5_zeroed"), zeroed.Context, Tolerance, $"cond_context_t5_zeroed ({DeviceName})");
        }
    }
}
