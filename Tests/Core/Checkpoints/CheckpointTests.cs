using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using NUnit.Framework;
using Sd3Tex.Checkpoints;
using Sd3Tex.Json;
using Sd3Tex.Models;

namespace Sd3Tex.Tests.Checkpoints
{
    /// <summary>Config inference on the fixtures (checked against each fixture's config.json), and the same config from the
    /// separate-file layout the tests write.</summary>
    public sealed class CheckpointTests
    {
        string _dir;

        [SetUp] public void SetUp() => _dir = TestPaths.NewScratch("checkpoints");
        [TearDown] public void TearDown() => TestPaths.DeleteScratch(_dir);

        static string[] FixtureModels => new[]
        {
            TestPaths.Fixture("mmdit-tiny-sd3m", "model.safetensors"), TestPaths.Fixture("clip-tiny", "model.safetensors"),
            TestPaths.Fixture("t5-tiny", "model.safetensors"), TestPaths.Fixture("vae-tiny", "model.safetensors"),
        };

        static JsonValue Config(string fixture) => JsonValue.Parse(File.ReadAllText(TestPaths.Fixture(fixture, "config.json")));
        static long L(JsonValue v, string key) => v[key].AsLong;

        /// <summary>Asserts that an inspect report has exactly the configs the fixtures' config.json files state.</summary>
        static void AssertFixtureConfigs(JsonValue report)
        {
            var m = report["mmdit"];
            var mc = Config("mmdit-tiny-sd3m");
            Assert.That(L(m, "depth"), Is.EqualTo(L(mc, "depth")));
            Assert.That(L(m, "hidden_size"), Is.EqualTo(L(mc, "hidden_size")));
            Assert.That(L(m, "num_heads"), Is.EqualTo(L(mc, "num_heads")));
            Assert.That(L(m, "patch_size"), Is.EqualTo(L(mc, "patch_size")));
            Assert.That(L(m, "in_channels"), Is.EqualTo(L(mc, "in_channels")));
            Assert.That(L(m, "out_channels"), Is.EqualTo(L(mc, "out_channels")));
            Assert.That(L(m, "pos_embed_max_size"), Is.EqualTo(L(mc, "pos_embed_max_size")));
            Assert.That(L(m, "pooled_dim"), Is.EqualTo(L(mc, "pooled_dim")));
            Assert.That(L(m, "context_dim"), Is.EqualTo(L(mc, "context_dim")));
            Assert.That(m["qk_norm"].AsBool, Is.EqualTo(!mc["qk_norm"].IsNull));
            Assert.That(m["dual_attention_blocks"].Items.Select(i => i.AsLong), Is.EqualTo(mc["x_block_self_attn_layers"].Items.Select(i => i.AsLong)));
            Assert.That(L(m, "mlp_hidden_size"), Is.EqualTo(L(mc, "mlp_ratio") * L(mc, "hidden_size")));
            Assert.That(m["missing"].Items, Is.Empty);
            Assert.That(m["unexpected"].Items, Is.Empty);
            Assert.That(L(m, "parameters"), Is.EqualTo(1142080));

            var cc = Config("clip-tiny");
            foreach (var role in new[] { "clip_l", "clip_g" })
            {
                var c = report[role];
                Assert.That(c.IsNull, Is.False, role);
                Assert.That(L(c, "layers"), Is.EqualTo(L(cc[role], "num_layers")), role);
                Assert.That(L(c, "hidden_size"), Is.EqualTo(L(cc[role], "hidden_size")), role);
                Assert.That(L(c, "intermediate_size"), Is.EqualTo(L(cc[role], "intermediate_size")), role);
                Assert.That(c["activation"].AsString, Is.EqualTo(cc[role]["activation"].AsString), role);
                Assert.That(L(c, "vocab_size"), Is.EqualTo(L(cc, "vocab_size")), role);
                Assert.That(L(c, "max_positions"), Is.EqualTo(L(cc, "max_positions")), role);
                Assert.That(c["heads"].IsNull, Is.True, "tiny widths are not multiples of 64: heads cannot be inferred");
                Assert.That(c["missing"].Items, Is.Empty, role);
                Assert.That(c["unexpected"].Items, Is.Empty, role);
            }
            Assert.That(L(report["clip_g"], "projection_dim"), Is.EqualTo(40));

            var t = report["t5xxl"];
            var tc = Config("t5-tiny");
            Assert.That(L(t, "layers"), Is.EqualTo(L(tc, "num_layers")));
            Assert.That(L(t, "hidden_size"), Is.EqualTo(L(tc, "d_model")));
            Assert.That(L(t, "heads"), Is.EqualTo(L(tc, "num_heads")));
            Assert.That(L(t, "d_kv"), Is.EqualTo(L(tc, "d_kv")));
            Assert.That(L(t, "d_ff"), Is.EqualTo(L(tc, "d_ff")));
            Assert.That(L(t, "vocab_size"), Is.EqualTo(L(tc, "vocab_size")));
            Assert.That(L(t, "relative_attention_num_buckets"), Is.EqualTo(L(tc, "relative_attention_num_buckets")));
            Assert.That(t["missing"].Items, Is.Empty);
            Assert.That(t["unexpected"].Items, Is.Empty);

            var v = report["vae"];
            Assert.That(L(v, "latent_channels"), Is.EqualTo(16));
            Assert.That(L(v, "out_channels"), Is.EqualTo(3));
            Assert.That(L(v, "base_channels"), Is.EqualTo(32), "vae-tiny README: ch 32");
            Assert.That(v["channel_mult"].Items.Select(i => i.AsLong), Is.EqualTo(new long[] { 1, 1, 2, 2 }), "vae-tiny README: ch_mult (1, 1, 2, 2)");
            Assert.That(L(v, "blocks_per_level"), Is.EqualTo(3));
            Assert.That(L(v, "scale_factor"), Is.EqualTo(8));
            Assert.That(v["missing"].Items, Is.Empty);
            Assert.That(v["unexpected"].Items, Is.Empty);
            Assert.That(report["family"].AsString, Is.EqualTo("unknown"), "tiny sizes are no released family");
            Assert.That(report["architecture"].AsString, Is.EqualTo("sd3-medium"));
            Assert.That(report["unrecognized"].Items, Is.Empty);
        }

        static JsonValue Inspect(IEnumerable<string> paths)
        {
            using var ck = Checkpoint.Open(paths);
            return CheckpointReport.Build(ck).ToJson();
        }

        [Test]
        public void InfersTheFixtureConfigs() => AssertFixtureConfigs(Inspect(FixtureModels));

        [Test]
        public void OneSingleFileHoldingEverything()
        {
            string single = Path.Combine(_dir, "sd3_tiny_incl_clips_t5xxl.safetensors");
            using (var ck = Checkpoint.Open(FixtureModels))
                CheckpointWriter.Write(ck.Weights.Values.Select(TensorSource.From), CheckpointLayout.Single, single);
            var report = Inspect(new[] { single });
            AssertFixtureConfigs(report);
            Assert.That(report["layouts"].Items.Select(i => i.AsString), Is.EqualTo(new[] { "single-file" }));
        }

        [Test]
        public void SeparateFilesGiveTheSameConfigAndData()
        {
            using var original = Checkpoint.Open(FixtureModels);
            var files = CheckpointWriter.Write(original.Weights.Values.Select(TensorSource.From), CheckpointLayout.Separate, _dir);
            Assert.That(files.Select(Path.GetFileName), Is.EquivalentTo(new[] { "sd3_model.safetensors", "clip_l.safetensors", "clip_g.safetensors", "t5xxl.safetensors", "vae.safetensors" }));
            // encoder files use the names distributed files have: no text_encoders. prefix
            using (var clip = SafetensorsFile.Open(Path.Combine(_dir, "clip_g.safetensors")))
                Assert.That(clip.Tensors.All(t => t.Name.StartsWith("text_model.") || t.Name == "text_projection.weight"), Is.True);
            using (var t5 = SafetensorsFile.Open(Path.Combine(_dir, "t5xxl.safetensors")))
                Assert.That(t5.Tensors.All(t => t.Name.StartsWith("encoder.") || t.Name == "shared.weight"), Is.True);

            // the CLIP roles come from the weights (the narrower is CLIP-L), whatever the order or names of the files
            var shuffled = files.OrderByDescending(f => f).ToList();
            using var ck = Checkpoint.Open(shuffled);
            var report = CheckpointReport.Build(ck).ToJson();
            AssertFixtureConfigs(report);
            Assert.That(report["layouts"].Items.Select(i => i.AsString), Does.Contain("separate-files"));
            AssertSameWeights(original, ck);

            // a folder of separate files opens too
            using var folder = Checkpoint.Open(_dir);
            AssertSameWeights(original, folder);
        }

        [Test]
        public void ADiffusersFolderGivesTheSameConfigAndData()
        {
            using var original = Checkpoint.Open(FixtureModels);
            string folder = Path.Combine(_dir, "sd3-tiny-diffusers");
            CheckpointWriter.Write(original.Weights.Values.Select(TensorSource.From), CheckpointLayout.Diffusers, folder);
            Assert.That(File.Exists(Path.Combine(folder, "model_index.json")), Is.True);
            using var ck = Checkpoint.Open(folder);
            var report = CheckpointReport.Build(ck).ToJson();
            AssertFixtureConfigs(report);
            Assert.That(report["layouts"].Items.Select(i => i.AsString), Is.EqualTo(new[] { "diffusers" }));
            AssertSameWeights(original, ck);
        }

        [Test]
        public void BareDiffusionModelKeysAndNamedClipRoles()
        {
            using var original = Checkpoint.Open(FixtureModels);
            // a diffusion-model file without the model.diffusion_model. prefix (as some tools save it)
            var mmdit = new SafetensorsWriter();
            foreach (var kv in original.ComponentWeights(Component.Mmdit))
                mmdit.Add(kv.Key, kv.Value.DType, kv.Value.Shape, TensorSource.From(kv.Value).Write);
            string mmditPath = Path.Combine(_dir, "diffusion_model.safetensors");
            mmdit.Write(mmditPath);
            // two CLIP files renamed misleadingly: the roles given as clip_l=/clip_g= win
            string a = Path.Combine(_dir, "a.safetensors"), b = Path.Combine(_dir, "b.safetensors");
            WriteComponent(original, Component.ClipG, a);
            WriteComponent(original, Component.ClipL, b);
            using var ck = Checkpoint.Open(mmditPath, "clip_g=" + a, "clip_l=" + b);
            Assert.That(ck.Has(Component.Mmdit), Is.True);
            Assert.That(ck.ComponentWeights(Component.ClipG)["text_model.embeddings.token_embedding.weight"].Shape[1], Is.EqualTo(40));
            Assert.That(ck.ComponentWeights(Component.ClipL)["text_model.embeddings.token_embedding.weight"].Shape[1], Is.EqualTo(24));
            var report = CheckpointReport.Build(ck);
            Assert.That(report.Mmdit.Depth, Is.EqualTo(2));

            // one unnamed CLIP file next to a named one takes the free role
            using var ck2 = Checkpoint.Open("clip_l=" + b, a);
            Assert.That(ck2.ComponentWeights(Component.ClipG).Count, Is.GreaterThan(0));
        }

        static void WriteComponent(Checkpoint ck, Component c, string path)
        {
            var w = new SafetensorsWriter();
            foreach (var kv in ck.ComponentWeights(c)) w.Add(kv.Key, kv.Value.DType, kv.Value.Shape, TensorSource.From(kv.Value).Write);
            w.Write(path);
        }

        static void AssertSameWeights(Checkpoint expected, Checkpoint actual)
        {
            Assert.That(actual.Weights.Keys.OrderBy(k => k, StringComparer.Ordinal), Is.EqualTo(expected.Weights.Keys.OrderBy(k => k, StringComparer.Ordinal)));
            foreach (var kv in expected.Weights)
            {
                var a = actual[kv.Key];
                Assert.That(a.Shape, Is.EqualTo(kv.Value.Shape), kv.Key);
                Assert.That(a.DType, Is.EqualTo(kv.Value.DType), kv.Key);
                if (DTypes.IsFloat(a.DType)) Assert.That(a.ReadFloats(), Is.EqualTo(kv.Value.ReadFloats()), kv.Key);
            }
        }

        [Test]
        public void MissingAndUnexpectedTensorsAreReported()
        {
            using var original = Checkpoint.Open(TestPaths.Fixture("mmdit-tiny-sd3m", "model.safetensors"));
            var kept = original.Weights.Values.Where(w => !w.Name.EndsWith("joint_blocks.0.x_block.mlp.fc2.bias")).Select(TensorSource.From).ToList();
            kept.Add(new TensorSource("model.diffusion_model.joint_blocks.0.x_block.extra.weight", DType.F32, new long[] { 2 }, s => s.Write(new byte[8], 0, 8)));
            kept.Add(new TensorSource("model.diffusion_model.final_layer.linear.bias", DType.F32, new long[] { 63 }, s => s.Write(new byte[252], 0, 252)));
            kept.RemoveAll(t => t.Name == "model.diffusion_model.final_layer.linear.bias" && t.DType == DType.F16);
            string path = Path.Combine(_dir, "broken.safetensors");
            var w = new SafetensorsWriter();
            foreach (var t in kept) w.Add(t.Name, t.DType, t.Shape, t.Write);
            w.Add("some.other.model.weight", DType.F32, new long[] { 1 }, new byte[4]);
            w.Write(path);
            var json = Inspect(new[] { path });
            Assert.That(json["mmdit"]["missing"].Items.Select(i => i.AsString), Is.EqualTo(new[] { "joint_blocks.0.x_block.mlp.fc2.bias" }));
            Assert.That(json["mmdit"]["unexpected"].Items.Select(i => i.AsString), Is.EqualTo(new[] { "joint_blocks.0.x_block.extra.weight" }));
            Assert.That(json["mmdit"]["wrong_shape"].Items.Single().AsString, Does.StartWith("final_layer.linear.bias: has [63], expected [64]"));
            Assert.That(json["unrecognized"].Items.Single().AsString, Is.EqualTo("broken.safetensors: some.other.model.weight"));
        }

        [Test]
        public void AComponentTooBrokenToInferSaysWhy()
        {
            string path = Path.Combine(_dir, "half.safetensors");
            new SafetensorsWriter().AddFloats("model.diffusion_model.joint_blocks.0.x_block.attn.qkv.bias", DType.F32, new long[] { 3 }, new float[3]).Write(path);
            using var ck = Checkpoint.Open(path);
            var report = CheckpointReport.Build(ck);
            Assert.That(report[Component.Mmdit].Error, Does.Contain("x_embedder.proj.weight").And.Contain("missing"));
            Assert.That(report.ToJson()["mmdit"]["error"].AsString, Does.Contain("x_embedder.proj.weight"));
            Assert.That(report.ToText(), Does.Contain("error:"));
        }

        [Test]
        public void ClearErrorsForBadPaths()
        {
            Assert.That(Assert.Throws<CheckpointException>(() => Checkpoint.Open(new string[0])).Message, Does.Contain("no checkpoint paths"));
            Assert.That(Assert.Throws<CheckpointException>(() => Checkpoint.Open(Path.Combine(_dir, "x.safetensors"))).Message, Does.Contain("not found"));
            Assert.That(Assert.Throws<CheckpointException>(() => Checkpoint.Open(_dir)).Message, Does.Contain("neither a diffusers folder"));
            string clip = Path.Combine(_dir, "c.safetensors");
            using (var o = Checkpoint.Open(TestPaths.Fixture("clip-tiny", "model.safetensors"))) WriteComponent(o, Component.ClipL, clip);
            Assert.That(Assert.Throws<CheckpointException>(() => Checkpoint.Open("t5xxl=" + clip)).Message, Does.Contain("CLIP"));
            Assert.That(Assert.Throws<CheckpointException>(() => Checkpoint.Open(clip, clip, clip)).Message, Does.Contain("more CLIP text encoders"));
        }

        [Test]
        public void ReleasedFamiliesAreRecognisedFromTheirSchemas()
        {
            foreach (var fam in new[] { ModelFamily.Sd3Medium, ModelFamily.Sd35Medium, ModelFamily.Sd35Large })
            {
                var cfg = MmditConfig.ForFamily(fam);
                var shapes = cfg.Tensors().ToDictionary(t => t.Name, t => t.Shape);
                var inferred = MmditConfig.Infer(shapes);
                Assert.That(inferred.Family, Is.EqualTo(fam));
                Assert.That(inferred.DualAttentionBlocks, Is.EqualTo(cfg.DualAttentionBlocks));
                Assert.That(SchemaCheck.Compare(shapes, inferred.Tensors()).IsComplete, Is.True);
                long parameters = cfg.Tensors().Sum(t => t.ElementCount);
                // SD3 Medium ~2.0 B, SD3.5 Medium ~2.2-2.5 B, SD3.5 Large ~8.1 B parameters
                Assert.That((double)parameters, Is.InRange(fam == ModelFamily.Sd35Large ? 7.5e9 : 1.9e9, fam == ModelFamily.Sd35Large ? 8.5e9 : 2.6e9), fam.ToString());
            }
            // the encoders and VAE of the released models infer back to themselves
            var l = ClipConfig.ClipL();
            var lInferred = ClipConfig.Infer(l.Tensors().ToDictionary(t => t.Name, t => t.Shape), Component.ClipL);
            Assert.That((lInferred.Layers, lInferred.HiddenSize, lInferred.Heads, lInferred.IntermediateSize), Is.EqualTo((12, 768, (int?)12, 3072)));
            var g = ClipConfig.ClipG();
            var gInferred = ClipConfig.Infer(g.Tensors().ToDictionary(t => t.Name, t => t.Shape), Component.ClipG);
            Assert.That((gInferred.Layers, gInferred.HiddenSize, gInferred.Heads, gInferred.ProjectionDim), Is.EqualTo((32, 1280, (int?)20, (int?)1280)));
            var t5 = T5Config.Xxl();
            var t5Shapes = t5.Tensors().ToDictionary(t => t.Name, t => t.Shape);
            var t5Inferred = T5Config.Infer(t5Shapes);
            Assert.That((t5Inferred.Layers, t5Inferred.DModel, t5Inferred.Heads, t5Inferred.DKv, t5Inferred.DFf), Is.EqualTo((24, 4096, 64, 64, 10240)));
            Assert.That(t5.Tensors().Where(t => t.Name != "encoder.embed_tokens.weight").Sum(t => t.ElementCount), Is.InRange(4.6e9, 4.9e9), "T5-XXL encoder: ~4.76 B");
            var vae = VaeConfig.Sd3();
            var vInferred = VaeConfig.Infer(vae.Tensors().ToDictionary(t => t.Name, t => t.Shape));
            Assert.That(vInferred.ChannelMult, Is.EqualTo(new[] { 1, 2, 4, 4 }));
            Assert.That(vInferred.BaseChannels, Is.EqualTo(128));
            Assert.That(vae.Tensors().Sum(t => t.ElementCount), Is.InRange(49e6, 50e6), "SD3 VAE decoder: ~49.5 M");
        }
    }
}
