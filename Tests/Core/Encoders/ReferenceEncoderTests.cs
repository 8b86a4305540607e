using System;
using System.Linq;
using NUnit.Framework;
using Sd3Tex.Checkpoints;
using Sd3Tex.Encoders;
using Sd3Tex.Models;
using Sd3Tex.Reference;
using static Sd3Tex.Tests.Encoders.EncoderFixtures;

namespace Sd3Tex.Tests.Encoders
{
    /// <summary>The plain C# CLIP and T5 encoders and the conditioning assembly against the clip-tiny, t5-tiny and
    /// pipeline-tiny fixtures.</summary>
    public sealed class ReferenceEncoderTests
    {
        [Test]
        public void ClipMatchesTheClipFixture([Values(Component.ClipL, Component.ClipG)] Component role)
        {
            string k = Checkpoint.KeyOf(role);
            using var ck = OpenClip();
            using var clip = new ReferenceClip(ck.ComponentWeights(role), role, TinyClipHeads);
            var sw = System.Diagnostics.Stopwatch.StartNew();
            var o = clip.Encode(Ids(Clip, "inputs.safetensors", k + "_ids"), 2);
            TestContext.Progress.WriteLine($"  reference {k}, batch 2: {sw.Elapsed.TotalMilliseconds:0} ms");
            Golden.AssertClose(Golden.Floats(Clip, "golden.safetensors", k + "_penultimate"), o.Penultimate, Tolerance, k + "_penultimate (reference)");
            Golden.AssertClose(Golden.Floats(Clip, "golden.safetensors", k + "_last_normed"), o.LastNormed, Tolerance, k + "_last_normed (reference)");
            if (role == Component.ClipL)
                Golden.AssertClose(Golden.Floats(Clip, "golden.safetensors", "clip_l_pooled"), o.Pooled, Tolerance, "clip_l_pooled (reference)");
            else
            {
                Golden.AssertClose(Golden.Floats(Clip, "golden.safetensors", "clip_g_pooled_unprojected"), o.Pooled, Tolerance, "clip_g_pooled_unprojected (reference)");
                Golden.AssertClose(Golden.Floats(Clip, "golden.safetensors", "clip_g_pooled_projected"), o.PooledProjected, Tolerance, "clip_g_pooled_projected (reference)");
            }
        }

        [Test]
        public void T5MatchesTheT5Fixture()
        {
            using var ck = OpenT5();
            using var t5 = new ReferenceT5(ck.ComponentWeights(Component.T5xxl));
            Assert.That(t5.Config.Heads, Is.EqualTo(4));
            Assert.That(t5.Config.DKv, Is.EqualTo(24));
            for (int i = 0; i < 2; i++)
            {
                var h = t5.Encode(Ids(T5, "inputs.safetensors", $"ids_{i}"), 1, 77);
                Golden.AssertClose(Golden.Floats(T5, "golden.safetensors", $"hidden_{i}"), h, Tolerance, $"hidden_{i} (reference)");
            }
        }

        [Test]
        public void T5PositionBucketsAreExact()
        {
            for (int i = 0; i < 2; i++)
            {
                var expected = Int64(T5, "golden.safetensors", $"position_buckets_{i}");
                int t = (int)Math.Round(Math.Sqrt(expected.Length));
                var got = T5RelativePosition.Buckets(t);
                Assert.That(got.Select(b => (long)b).ToArray(), Is.EqualTo(expected), $"position_buckets_{i}");
            }
            // the far buckets (beyond the fixture's 77 tokens) saturate at 15 and 31
            Assert.That(T5RelativePosition.Bucket(-500), Is.EqualTo(15));
            Assert.That(T5RelativePosition.Bucket(500), Is.EqualTo(31));
            Assert.That(T5RelativePosition.Bucket(0), Is.EqualTo(0));
            Assert.That(T5RelativePosition.Bucket(1), Is.EqualTo(17));
        }

        [Test]
        public void ConditioningMatchesThePipelineFixture()
        {
            using var ck = OpenBoth();
            var options = new TextEncoderOptions { ClipLHeads = TinyClipHeads, ClipGHeads = TinyClipHeads };
            using (var enc = Sd3TextEncoder.Open(ck, null, options))
                CheckPipelineConditioning(enc, "reference");
            options.NoT5 = true;
            options.ContextDimWithoutT5 = 96;
            using (var enc = Sd3TextEncoder.Open(ck, null, options))
                CheckZeroT5(enc, "reference");
        }

        /// <summary>cond and uncond of pipeline-tiny, encoded as one batch of 2.</summary>
        internal static Sd3TextOutputs CheckPipelineConditioning(Sd3TextEncoder enc, string what)
        {
            const string F = Pipeline, G = "golden.safetensors";
            var l = Stack(Ids(F, G, "tokens_clip_l"), Ids(F, G, "neg_tokens_clip_l"));
            var g = Stack(Ids(F, G, "tokens_clip_g"), Ids(F, G, "neg_tokens_clip_g"));
            var t = Stack(Ids(F, G, "tokens_t5"), Ids(F, G, "neg_tokens_t5"));
            var sw = System.Diagnostics.Stopwatch.StartNew();
            var all = enc.EncodeAll(l, g, t, 2, 77);
            var c = all.Conditioning;
            TestContext.Progress.WriteLine($"  {what}: cond + uncond (batch 2) through CLIP-L, CLIP-G and T5: {sw.Elapsed.TotalMilliseconds:0} ms");
            Assert.That(c.ContextTokens, Is.EqualTo(154));
            Assert.That(c.ContextDim, Is.EqualTo(96));
            Assert.That(c.PooledDim, Is.EqualTo(64));
            var cond = c.Slice(0, 1);
            var uncond = c.Slice(1, 1);
            Golden.AssertClose(Golden.Floats(F, G, "cond_context"), cond.Context, Tolerance, $"cond_context ({what})");
            Golden.AssertClose(Golden.Floats(F, G, "cond_pooled"), cond.Pooled, Tolerance, $"cond_pooled ({what})");
            Golden.AssertClose(Golden.Floats(F, G, "uncond_context"), uncond.Context, Tolerance, $"uncond_context ({what})");
            Golden.AssertClose(Golden.Floats(F, G, "uncond_pooled"), uncond.Pooled, Tolerance, $"uncond_pooled ({what})");
            return all;
        }

        internal static void CheckZeroT5(Sd3TextEncoder enc, string what)
        {
            const string F = Pipeline, G = "golden.safetensors";
            Assert.That(enc.T5, Is.Null);
            var c = enc.Encode(Ids(F, G, "tokens_clip_l"), Ids(F, G, "tokens_clip_g"), null, 1, 0);
            Assert.That(c.ContextTokens, Is.EqualTo(154));
            Golden.AssertClose(Golden.Floats(F, G, "cond_context_t5_zeroed"), c.Context, Tolerance, $"cond_context_t5_zeroed ({what})");
            Golden.AssertClose(Golden.Floats(F, G, "cond_pooled"), c.Pooled, Tolerance, $"cond_pooled without T5 ({what})");
        }

        [Test]
        public void UnknownClipHeadsAreAClearError()
        {
            using var ck = OpenClip();
            var e = Assert.Throws<CheckpointException>(() => new ReferenceClip(ck.ComponentWeights(Component.ClipL), Component.ClipL));
            Assert.That(e.Message, Does.Contain("--clip-heads L,G"));
            e = Assert.Throws<CheckpointException>(() => new ReferenceClip(ck.ComponentWeights(Component.ClipG), Component.ClipG, 3));
            Assert.That(e.Message, Does.Contain("do not divide the width 40"));
            e = Assert.Throws<CheckpointException>(() => Sd3TextEncoder.Open(ck, null));
            Assert.That(e.Message, Does.Contain("--clip-heads"));
        }

        [Test]
        public void BadIdsAreClearErrors()
        {
            using var ck = OpenClip();
            using var clip = new ReferenceClip(ck.ComponentWeights(Component.ClipL), Component.ClipL, TinyClipHeads);
            var ae = Assert.Throws<ArgumentException>(() => clip.Encode(new int[76], 1));
            Assert.That(ae.Message, Does.Contain("77"));
            var ids = new int[77];
            ids[5] = 49408;
            ae = Assert.Throws<ArgumentException>(() => clip.Encode(ids, 1));
            Assert.That(ae.Message, Does.Contain("outside the vocabulary"));
            using var t5Only = OpenT5();
            var ce = Assert.Throws<CheckpointException>(() => Sd3TextEncoder.Open(t5Only, null));
            Assert.That(ce.Message, Does.Contain("CLIP-L"));
        }

        [Test]
        public void AssemblyLaysOutTheContextAsTheReference()
        {
            // batch 1, 2 CLIP tokens (L width 1, G width 2), T5 width 4 with 3 tokens: rows [l g g 0] then the T5 rows
            var l = new ClipOutput(1, 2, 1, new float[] { 1, 2 }, null, new float[] { 9 }, null, 0);
            var g = new ClipOutput(1, 2, 2, new float[] { 3, 4, 5, 6 }, null, new float[] { 7, 7 }, new float[] { 8, 8 }, 2);
            var t5 = Enumerable.Range(100, 12).Select(v => (float)v).ToArray();
            var c = Sd3Conditioning.Assemble(l, g, t5, 3, 4);
            Assert.That(c.ContextTokens, Is.EqualTo(5));
            Assert.That(c.Context, Is.EqualTo(new float[] { 1, 3, 4, 0, 2, 5, 6, 0 }.Concat(t5).ToArray()));
            Assert.That(c.Pooled, Is.EqualTo(new float[] { 9, 8, 8 }));
            var z = Sd3Conditioning.Assemble(l, g, null, 0, 4);
            Assert.That(z.ContextTokens, Is.EqualTo(2 + 77));
            Assert.That(z.Context.Skip(8).All(v => v == 0f), Is.True);
        }
    }
}
