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
    /// <summary>The diffusers layout: names pinned against diffusers' converters, element-level data of the fused and
    /// swapped tensors, and whole models written as a diffusers folder and read back unchanged.</summary>
    public sealed class DiffusersLayoutTests
    {
        string _scratch;

        [SetUp] public void SetUp() => _scratch = TestPaths.NewScratch("diffusers");
        [TearDown] public void TearDown() => TestPaths.DeleteScratch(_scratch);

        #region Round trips

        [Test]
        public void FixturesRoundTripThroughADiffusersFolder()
        {
            var files = new[] { "mmdit-tiny-sd3m", "clip-tiny", "t5-tiny", "vae-tiny" }.Select(f => TestPaths.Fixture(f, "model.safetensors")).ToArray();
            string folder = Path.Combine(_scratch, "sd3");
            using (var original = Checkpoint.Open(files))
            {
                CheckpointWriter.Write(original.Weights.Values.Select(TensorSource.From), CheckpointLayout.Diffusers, folder);
                using (var copy = Checkpoint.Open(folder))
                {
                    AssertSameWeights(original, copy);
                    Assert.That(copy.Unrecognized, Is.Empty);
                    Assert.That(copy.Warnings, Is.Empty);
                    Assert.That(copy.Layouts, Is.EquivalentTo(new[] { "diffusers" }));
                    // the fused qkv really comes from diffusers' three projections
                    var qkv = copy[Checkpoint.MmditPrefix + "joint_blocks.0.x_block.attn.qkv.weight"];
                    Assert.That(qkv.Parts.Select(p => p.Source.Name),
                        Is.EqualTo(new[] { "transformer_blocks.0.attn.to_q.weight", "transformer_blocks.0.attn.to_k.weight", "transformer_blocks.0.attn.to_v.weight" }));

                    var before = CheckpointReport.Build(original).ToJson();
                    var after = CheckpointReport.Build(copy).ToJson();
                    foreach (var key in new[] { "family", "architecture", "mmdit", "clip_l", "clip_g", "t5xxl", "vae" })
                        Assert.That(after[key].ToJson(false), Is.EqualTo(before[key].ToJson(false)), key);
                    Assert.That(after["architecture"].AsString, Is.EqualTo("sd3-medium"));
                }
            }

            var index = JsonValue.Parse(File.ReadAllText(Path.Combine(folder, "model_index.json")));
            Assert.That(index["_class_name"].AsString, Is.EqualTo("StableDiffusion3Pipeline"));
            Assert.That(index["transformer"].ToJson(false), Is.EqualTo("[\"diffusers\",\"SD3Transformer2DModel\"]"));
            Assert.That(index["text_encoder_3"].ToJson(false), Is.EqualTo("[\"transformers\",\"T5EncoderModel\"]"));
            Assert.That(index["tokenizer"].ToJson(false), Is.EqualTo("[null,null]"));
            foreach (var sub in new[] { "text_encoder", "text_encoder_2", "text_encoder_3" })
                Assert.That(File.Exists(Path.Combine(folder, sub, "model.safetensors")), Is.True, sub);
            Assert.That(File.Exists(Path.Combine(folder, "vae", "diffusion_pytorch_model.safetensors")), Is.True);
            AssertShardedTransformer(Path.Combine(folder, "transformer"));
        }

        [Test]
        public void Sd35MediumLikeModelRoundTrips() => SyntheticMmditRoundTrips(TinyMmdit(dual: true), DType.F16, ModelFamily.Sd35Medium);

        [Test]
        public void Sd35LargeLikeModelRoundTrips() => SyntheticMmditRoundTrips(TinyMmdit(dual: false), DType.F32, ModelFamily.Sd35Large);

        static MmditConfig TinyMmdit(bool dual) => new MmditConfig
        {
            Depth = 3, HiddenSize = 128, PatchSize = 2, InChannels = 16, OutChannels = 16, PosEmbedMaxSize = 8,
            PooledDim = 64, ContextDim = 96, MlpHidden = 512, QkNorm = true, DualAttentionBlocks = dual ? new[] { 0, 1 } : new int[0],
        };

        void SyntheticMmditRoundTrips(MmditConfig cfg, DType dtype, ModelFamily architecture)
        {
            var rng = new Random(35);
            var values = new Dictionary<string, float[]>();
            var sources = cfg.Tensors().Select(t => RandomSource(Checkpoint.MmditPrefix + t.Name, dtype, t.Shape, rng, values)).ToList();
            string folder = Path.Combine(_scratch, "sd35");
            CheckpointWriter.Write(sources, CheckpointLayout.Diffusers, folder);

            using (var ck = Checkpoint.Open(folder))
            {
                Assert.That(ck.Unrecognized, Is.Empty);
                AssertWeightsEqual(ck, sources, values);
                var w = ck.ComponentWeights(Component.Mmdit);
                var got = MmditConfig.Infer(w);
                Assert.That(got.Depth, Is.EqualTo(cfg.Depth));
                Assert.That(got.HiddenSize, Is.EqualTo(cfg.HiddenSize));
                Assert.That(got.QkNorm, Is.True);
                Assert.That(got.DualAttentionBlocks, Is.EqualTo(cfg.DualAttentionBlocks));
                Assert.That(got.PosEmbedMaxSize, Is.EqualTo(cfg.PosEmbedMaxSize));
                Assert.That(got.PooledDim, Is.EqualTo(cfg.PooledDim));
                Assert.That(got.ContextDim, Is.EqualTo(cfg.ContextDim));
                Assert.That(got.MlpHidden, Is.EqualTo(cfg.MlpHidden));
                Assert.That(got.Architecture, Is.EqualTo(architecture));
                var check = SchemaCheck.Compare(w, got.Tensors());
                Assert.That(check.Missing, Is.Empty);
                Assert.That(check.Unexpected, Is.Empty);
                Assert.That(check.WrongShape, Is.Empty);
            }

            string transformer = Path.Combine(folder, "transformer");
            var keys = AssertShardedTransformer(transformer);
            bool dual = cfg.DualAttentionBlocks.Length > 0;
            Assert.That(keys.Contains("transformer_blocks.0.attn2.to_q.weight"), Is.EqualTo(dual));
            Assert.That(keys.Contains("transformer_blocks.1.attn2.norm_k.weight"), Is.EqualTo(dual));
            Assert.That(keys.Contains("transformer_blocks.2.attn2.to_q.weight"), Is.False);
            Assert.That(keys.Contains("transformer_blocks.2.attn.norm_added_q.weight"), Is.True, "the last block keeps its context QK norm");
            Assert.That(keys.Contains("transformer_blocks.2.ff_context.net.0.proj.weight"), Is.False, "the last block's context is pre-only");
            Assert.That(keys.Contains("transformer_blocks.2.attn.to_add_out.weight"), Is.False);

            var config = JsonValue.Parse(File.ReadAllText(Path.Combine(transformer, "config.json")));
            Assert.That(config["qk_norm"].AsString, Is.EqualTo("rms_norm"));
            Assert.That(config["dual_attention_layers"].ToJson(false), Is.EqualTo(dual ? "[0,1]" : "[]"));
            Assert.That(config["num_layers"].AsLong, Is.EqualTo(3));
            Assert.That(config["pos_embed_max_size"].AsLong, Is.EqualTo(8));
        }

        [Test]
        public void VaeWithEncoderRoundTrips()
        {
            var vae = new VaeConfig { LatentChannels = 16, OutChannels = 3, BaseChannels = 32, ChannelMult = new[] { 1, 2, 2 }, BlocksPerLevel = 3 };
            var specs = vae.Tensors().Concat(EncoderSpecs(vae)).ToList();
            var rng = new Random(7);
            var values = new Dictionary<string, float[]>();
            var sources = specs.Select(t => RandomSource(Checkpoint.VaePrefix + t.Name, DType.BF16, t.Shape, rng, values)).ToList();
            string folder = Path.Combine(_scratch, "vae");
            CheckpointWriter.Write(sources, CheckpointLayout.Diffusers, folder);

            using (var ck = Checkpoint.Open(folder))
            {
                Assert.That(ck.Unrecognized, Is.Empty);
                AssertWeightsEqual(ck, sources, values);
                var w = ck.ComponentWeights(Component.Vae);
                var got = VaeConfig.Infer(w);
                Assert.That(got.ChannelMult, Is.EqualTo(vae.ChannelMult));
                Assert.That(got.BlocksPerLevel, Is.EqualTo(3));
                Assert.That(got.HasEncoder, Is.True);
                Assert.That(got.Check(w).IsComplete, Is.True);
            }
            using (var f = SafetensorsFile.Open(Path.Combine(folder, "vae", "diffusion_pytorch_model.safetensors")))
            {
                Assert.That(f["encoder.down_blocks.1.resnets.0.conv_shortcut.weight"].Shape, Is.EqualTo(new long[] { 64, 32, 1, 1 }));
                Assert.That(f["encoder.down_blocks.0.downsamplers.0.conv.weight"], Is.Not.Null);
                Assert.That(f["encoder.down_blocks.2.downsamplers.0.conv.weight"], Is.Null, "the last level does not downsample");
                Assert.That(f["encoder.mid_block.attentions.0.to_q.weight"].Shape, Is.EqualTo(new long[] { 64, 64 }));
                Assert.That(f["decoder.up_blocks.0.upsamplers.0.conv.weight"], Is.Not.Null, "up_blocks.0 is LDM up.2");
                Assert.That(f["decoder.up_blocks.2.upsamplers.0.conv.weight"], Is.Null, "up_blocks.2 is LDM up.0, which does not upsample");
                Assert.That(f["decoder.up_blocks.2.resnets.0.conv_shortcut.weight"].Shape, Is.EqualTo(new long[] { 32, 64, 1, 1 }));
                Assert.That(f["quant_conv.weight"], Is.Not.Null);
            }
            var config = JsonValue.Parse(File.ReadAllText(Path.Combine(folder, "vae", "config.json")));
            Assert.That(config["block_out_channels"].ToJson(false), Is.EqualTo("[32,64,64]"));
            Assert.That(config["layers_per_block"].AsLong, Is.EqualTo(2));
            Assert.That(config["use_quant_conv"].AsBool, Is.True);
        }

        /// <summary>The LDM encoder half (not listed by <see cref="VaeConfig.Tensors"/>) plus quant_conv/post_quant_conv.</summary>
        static IEnumerable<TensorSpec> EncoderSpecs(VaeConfig v)
        {
            long b = v.BaseChannels, z = v.LatentChannels;
            var list = new List<TensorSpec>();
            void Conv(string n, long cout, long cin, long k) { list.Add(new TensorSpec(n + ".weight", new[] { cout, cin, k, k })); list.Add(new TensorSpec(n + ".bias", new[] { cout })); }
            void Norm(string n, long c) { list.Add(new TensorSpec(n + ".weight", new[] { c })); list.Add(new TensorSpec(n + ".bias", new[] { c })); }
            void Res(string n, long cin, long cout)
            {
                Norm(n + ".norm1", cin); Conv(n + ".conv1", cout, cin, 3); Norm(n + ".norm2", cout); Conv(n + ".conv2", cout, cout, 3);
                if (cin != cout) Conv(n + ".nin_shortcut", cout, cin, 1);
            }
            Conv("encoder.conv_in", b, 3, 3);
            long c = b;
            for (int level = 0; level < v.Levels; level++)
            {
                long cout = b * v.ChannelMult[level];
                for (int j = 0; j < v.BlocksPerLevel - 1; j++) { Res($"encoder.down.{level}.block.{j}", c, cout); c = cout; }
                if (level < v.Levels - 1) Conv($"encoder.down.{level}.downsample.conv", c, c, 3);
            }
            Res("encoder.mid.block_1", c, c);
            Norm("encoder.mid.attn_1.norm", c);
            foreach (var x in new[] { "q", "k", "v", "proj_out" }) Conv("encoder.mid.attn_1." + x, c, c, 1);
            Res("encoder.mid.block_2", c, c);
            Norm("encoder.norm_out", c);
            Conv("encoder.conv_out", 2 * z, c, 3);
            Conv("quant_conv", 2 * z, 2 * z, 1);
            Conv("post_quant_conv", z, z, 1);
            return list;
        }

        #endregion

        #region Names pinned against diffusers' converters

        // Every expected name below was read in diffusers' src/diffusers/loaders/single_file_utils.py
        // (convert_sd3_transformer_checkpoint_to_diffusers, swap_scale_shift, convert_ldm_vae_checkpoint,
        // update_vae_resnet_ldm_to_diffusers, update_vae_attentions_ldm_to_diffusers, DIFFUSERS_TO_LDM_MAPPING["vae"]),
        // written out literally so that a mapping wrong the same way in both directions cannot pass.

        static Dictionary<string, string> Described(IEnumerable<TensorAssembly> assemblies) => assemblies.ToDictionary(a => a.Name, a => a.ToString());

        [Test]
        public void TransformerNamesFollowDiffusers()
        {
            const string b0 = "transformer_blocks.0.", b1 = "transformer_blocks.1.";
            var shapes = new Dictionary<string, long[]>
            {
                ["pos_embed.pos_embed"] = new long[] { 1, 16, 4 },
                ["pos_embed.proj.weight"] = new long[] { 4, 16, 2, 2 },
                ["time_text_embed.timestep_embedder.linear_2.bias"] = new long[] { 4 },
                ["time_text_embed.text_embedder.linear_1.weight"] = new long[] { 4, 8 },
                ["proj_out.weight"] = new long[] { 64, 4 },
                ["norm_out.linear.weight"] = new long[] { 8, 4 },
                [b0 + "attn.to_q.weight"] = new long[] { 4, 4 },
                [b0 + "attn.to_k.weight"] = new long[] { 4, 4 },
                [b0 + "attn.to_v.weight"] = new long[] { 4, 4 },
                [b0 + "attn.add_q_proj.bias"] = new long[] { 4 },
                [b0 + "attn.add_k_proj.bias"] = new long[] { 4 },
                [b0 + "attn.add_v_proj.bias"] = new long[] { 4 },
                [b0 + "attn2.to_q.weight"] = new long[] { 4, 4 },
                [b0 + "attn2.to_k.weight"] = new long[] { 4, 4 },
                [b0 + "attn2.to_v.weight"] = new long[] { 4, 4 },
                [b0 + "attn2.to_out.0.weight"] = new long[] { 4, 4 },
                [b0 + "attn2.norm_k.weight"] = new long[] { 64 },
                [b0 + "attn.norm_q.weight"] = new long[] { 64 },
                [b0 + "attn.norm_added_k.weight"] = new long[] { 64 },
                [b0 + "attn.to_out.0.bias"] = new long[] { 4 },
                [b0 + "attn.to_add_out.weight"] = new long[] { 4, 4 },
                [b0 + "norm1.linear.weight"] = new long[] { 36, 4 },
                [b0 + "norm1_context.linear.weight"] = new long[] { 24, 4 },
                [b0 + "ff.net.0.proj.weight"] = new long[] { 16, 4 },
                [b0 + "ff_context.net.2.bias"] = new long[] { 4 },
                [b1 + "norm1_context.linear.bias"] = new long[] { 8 },           // the last block: AdaLayerNormContinuous
                [b1 + "attn.to_q.bias"] = new long[] { 4 },                      // incomplete q, k, v: not mappable
                ["transformer_blocks.x.attn.to_q.weight"] = new long[] { 4, 4 },
                ["logit_scale"] = new long[0],
            };
            var unmapped = new List<string>();
            var a = Described(DiffusersNames.TransformerToInternal(shapes, unmapped));
            var expected = new[]
            {
                "pos_embed [1, 16, 4] <- pos_embed.pos_embed[0..64)",
                "x_embedder.proj.weight [4, 16, 2, 2] <- pos_embed.proj.weight[0..256)",
                "t_embedder.mlp.2.bias [4] <- time_text_embed.timestep_embedder.linear_2.bias[0..4)",
                "y_embedder.mlp.0.weight [4, 8] <- time_text_embed.text_embedder.linear_1.weight[0..32)",
                "final_layer.linear.weight [64, 4] <- proj_out.weight[0..256)",
                // swap_scale_shift: (shift, scale) in the reference, (scale, shift) in diffusers
                "final_layer.adaLN_modulation.1.weight [8, 4] <- norm_out.linear.weight[16..32) + norm_out.linear.weight[0..16)",
                "joint_blocks.0.x_block.attn.qkv.weight [12, 4] <- " + b0 + "attn.to_q.weight[0..16) + " + b0 + "attn.to_k.weight[0..16) + " + b0 + "attn.to_v.weight[0..16)",
                "joint_blocks.0.context_block.attn.qkv.bias [12] <- " + b0 + "attn.add_q_proj.bias[0..4) + " + b0 + "attn.add_k_proj.bias[0..4) + " + b0 + "attn.add_v_proj.bias[0..4)",
                "joint_blocks.0.x_block.attn2.qkv.weight [12, 4] <- " + b0 + "attn2.to_q.weight[0..16) + " + b0 + "attn2.to_k.weight[0..16) + " + b0 + "attn2.to_v.weight[0..16)",
                "joint_blocks.0.x_block.attn2.proj.weight [4, 4] <- " + b0 + "attn2.to_out.0.weight[0..16)",
                "joint_blocks.0.x_block.attn2.ln_k.weight [64] <- " + b0 + "attn2.norm_k.weight[0..64)",
                "joint_blocks.0.x_block.attn.ln_q.weight [64] <- " + b0 + "attn.norm_q.weight[0..64)",
                "joint_blocks.0.context_block.attn.ln_k.weight [64] <- " + b0 + "attn.norm_added_k.weight[0..64)",
                "joint_blocks.0.x_block.attn.proj.bias [4] <- " + b0 + "attn.to_out.0.bias[0..4)",
                "joint_blocks.0.context_block.attn.proj.weight [4, 4] <- " + b0 + "attn.to_add_out.weight[0..16)",
                "joint_blocks.0.x_block.adaLN_modulation.1.weight [36, 4] <- " + b0 + "norm1.linear.weight[0..144)",
                "joint_blocks.0.context_block.adaLN_modulation.1.weight [24, 4] <- " + b0 + "norm1_context.linear.weight[0..96)",
                "joint_blocks.0.x_block.mlp.fc1.weight [16, 4] <- " + b0 + "ff.net.0.proj.weight[0..64)",
                "joint_blocks.0.context_block.mlp.fc2.bias [4] <- " + b0 + "ff_context.net.2.bias[0..4)",
                "joint_blocks.1.context_block.adaLN_modulation.1.bias [8] <- " + b1 + "norm1_context.linear.bias[4..8) + " + b1 + "norm1_context.linear.bias[0..4)",
            };
            Assert.That(a.Values, Is.EquivalentTo(expected));
            Assert.That(unmapped, Is.EquivalentTo(new[] { b1 + "attn.to_q.bias", "transformer_blocks.x.attn.to_q.weight", "logit_scale" }));

            // and the way back, for writing
            var back = new Dictionary<string, long[]>
            {
                ["joint_blocks.0.x_block.attn.qkv.weight"] = new long[] { 12, 4 },
                ["joint_blocks.0.context_block.attn.qkv.bias"] = new long[] { 12 },
                ["joint_blocks.0.context_block.adaLN_modulation.1.weight"] = new long[] { 24, 4 },
                ["joint_blocks.1.context_block.adaLN_modulation.1.weight"] = new long[] { 8, 4 },
                ["joint_blocks.1.context_block.attn.ln_q.weight"] = new long[] { 64 },
                ["final_layer.adaLN_modulation.1.bias"] = new long[] { 8 },
                ["pos_embed"] = new long[] { 1, 16, 4 },
                ["joint_blocks.0.x_block.attn.extra.weight"] = new long[] { 4 },
            };
            unmapped.Clear();
            var d = Described(DiffusersNames.TransformerFromInternal(back, unmapped));
            Assert.That(d.Values, Is.EquivalentTo(new[]
            {
                b0 + "attn.to_q.weight [4, 4] <- joint_blocks.0.x_block.attn.qkv.weight[0..16)",
                b0 + "attn.to_k.weight [4, 4] <- joint_blocks.0.x_block.attn.qkv.weight[16..32)",
                b0 + "attn.to_v.weight [4, 4] <- joint_blocks.0.x_block.attn.qkv.weight[32..48)",
                b0 + "attn.add_q_proj.bias [4] <- joint_blocks.0.context_block.attn.qkv.bias[0..4)",
                b0 + "attn.add_k_proj.bias [4] <- joint_blocks.0.context_block.attn.qkv.bias[4..8)",
                b0 + "attn.add_v_proj.bias [4] <- joint_blocks.0.context_block.attn.qkv.bias[8..12)",
                b0 + "norm1_context.linear.weight [24, 4] <- joint_blocks.0.context_block.adaLN_modulation.1.weight[0..96)",
                b1 + "norm1_context.linear.weight [8, 4] <- joint_blocks.1.context_block.adaLN_modulation.1.weight[16..32) + joint_blocks.1.context_block.adaLN_modulation.1.weight[0..16)",
                b1 + "attn.norm_added_q.weight [64] <- joint_blocks.1.context_block.attn.ln_q.weight[0..64)",
                "norm_out.linear.bias [8] <- final_layer.adaLN_modulation.1.bias[4..8) + final_layer.adaLN_modulation.1.bias[0..4)",
                "pos_embed.pos_embed [1, 16, 4] <- pos_embed[0..64)",
            }));
            Assert.That(unmapped, Is.EqualTo(new[] { "joint_blocks.0.x_block.attn.extra.weight" }));
        }

        [Test]
        public void VaeNamesFollowDiffusers()
        {
            var shapes = new Dictionary<string, long[]>
            {
                ["decoder.up_blocks.0.resnets.0.conv1.weight"] = new long[] { 8, 8, 3, 3 },
                ["decoder.up_blocks.0.upsamplers.0.conv.weight"] = new long[] { 8, 8, 3, 3 },
                ["decoder.up_blocks.1.resnets.2.norm2.bias"] = new long[] { 8 },
                ["decoder.up_blocks.2.resnets.0.conv2.bias"] = new long[] { 4 },
                ["decoder.up_blocks.3.resnets.0.conv_shortcut.weight"] = new long[] { 4, 8, 1, 1 },
                ["decoder.mid_block.resnets.1.conv2.weight"] = new long[] { 8, 8, 3, 3 },
                ["decoder.mid_block.attentions.0.group_norm.weight"] = new long[] { 8 },
                ["decoder.mid_block.attentions.0.to_q.weight"] = new long[] { 8, 8 },
                ["decoder.mid_block.attentions.0.to_out.0.weight"] = new long[] { 8, 8 },
                ["decoder.mid_block.attentions.0.to_out.0.bias"] = new long[] { 8 },
                ["decoder.conv_norm_out.bias"] = new long[] { 4 },
                ["decoder.conv_in.weight"] = new long[] { 8, 16, 3, 3 },
                ["encoder.down_blocks.1.downsamplers.0.conv.weight"] = new long[] { 8, 8, 3, 3 },
                ["encoder.down_blocks.2.resnets.0.conv_shortcut.bias"] = new long[] { 8 },
                ["encoder.mid_block.resnets.0.norm1.weight"] = new long[] { 8 },
                ["encoder.mid_block.attentions.0.to_k.bias"] = new long[] { 8 },
                ["encoder.conv_norm_out.weight"] = new long[] { 8 },
                ["quant_conv.weight"] = new long[] { 32, 32, 1, 1 },
                ["post_quant_conv.bias"] = new long[] { 16 },
                ["decoder.up_blocks.0.resnets.0.time_emb_proj.weight"] = new long[] { 8, 8 },
            };
            var unmapped = new List<string>();
            var a = Described(DiffusersNames.VaeToInternal(shapes, unmapped));
            Assert.That(a.Values, Is.EquivalentTo(new[]
            {
                // 4 up blocks: diffusers up_blocks.i is LDM up.(3 - i)
                "decoder.up.3.block.0.conv1.weight [8, 8, 3, 3] <- decoder.up_blocks.0.resnets.0.conv1.weight[0..576)",
                "decoder.up.3.upsample.conv.weight [8, 8, 3, 3] <- decoder.up_blocks.0.upsamplers.0.conv.weight[0..576)",
                "decoder.up.2.block.2.norm2.bias [8] <- decoder.up_blocks.1.resnets.2.norm2.bias[0..8)",
                "decoder.up.1.block.0.conv2.bias [4] <- decoder.up_blocks.2.resnets.0.conv2.bias[0..4)",
                "decoder.up.0.block.0.nin_shortcut.weight [4, 8, 1, 1] <- decoder.up_blocks.3.resnets.0.conv_shortcut.weight[0..32)",
                "decoder.mid.block_2.conv2.weight [8, 8, 3, 3] <- decoder.mid_block.resnets.1.conv2.weight[0..576)",
                "decoder.mid.attn_1.norm.weight [8] <- decoder.mid_block.attentions.0.group_norm.weight[0..8)",
                // Linear [C, C] in diffusers, 1×1 conv [C, C, 1, 1] in LDM
                "decoder.mid.attn_1.q.weight [8, 8, 1, 1] <- decoder.mid_block.attentions.0.to_q.weight[0..64)",
                "decoder.mid.attn_1.proj_out.weight [8, 8, 1, 1] <- decoder.mid_block.attentions.0.to_out.0.weight[0..64)",
                "decoder.mid.attn_1.proj_out.bias [8] <- decoder.mid_block.attentions.0.to_out.0.bias[0..8)",
                "decoder.norm_out.bias [4] <- decoder.conv_norm_out.bias[0..4)",
                "decoder.conv_in.weight [8, 16, 3, 3] <- decoder.conv_in.weight[0..1152)",
                "encoder.down.1.downsample.conv.weight [8, 8, 3, 3] <- encoder.down_blocks.1.downsamplers.0.conv.weight[0..576)",
                "encoder.down.2.block.0.nin_shortcut.bias [8] <- encoder.down_blocks.2.resnets.0.conv_shortcut.bias[0..8)",
                "encoder.mid.block_1.norm1.weight [8] <- encoder.mid_block.resnets.0.norm1.weight[0..8)",
                "encoder.mid.attn_1.k.bias [8] <- encoder.mid_block.attentions.0.to_k.bias[0..8)",
                "encoder.norm_out.weight [8] <- encoder.conv_norm_out.weight[0..8)",
                "quant_conv.weight [32, 32, 1, 1] <- quant_conv.weight[0..1024)",
                "post_quant_conv.bias [16] <- post_quant_conv.bias[0..16)",
            }));
            Assert.That(unmapped, Is.EqualTo(new[] { "decoder.up_blocks.0.resnets.0.time_emb_proj.weight" }));

            var back = new Dictionary<string, long[]>
            {
                ["decoder.up.0.block.1.conv1.weight"] = new long[] { 4, 4, 3, 3 },
                ["decoder.up.2.upsample.conv.bias"] = new long[] { 8 },
                ["decoder.mid.attn_1.v.weight"] = new long[] { 8, 8, 1, 1 },
                ["encoder.down.0.block.1.nin_shortcut.weight"] = new long[] { 8, 4, 1, 1 },
            };
            unmapped.Clear();
            var d = Described(DiffusersNames.VaeFromInternal(back, unmapped));
            Assert.That(d.Values, Is.EquivalentTo(new[]
            {
                // 3 levels here: LDM up.0 is diffusers up_blocks.2
                "decoder.up_blocks.2.resnets.1.conv1.weight [4, 4, 3, 3] <- decoder.up.0.block.1.conv1.weight[0..144)",
                "decoder.up_blocks.0.upsamplers.0.conv.bias [8] <- decoder.up.2.upsample.conv.bias[0..8)",
                "decoder.mid_block.attentions.0.to_v.weight [8, 8] <- decoder.mid.attn_1.v.weight[0..64)",
                "encoder.down_blocks.0.resnets.1.conv_shortcut.weight [8, 4, 1, 1] <- encoder.down.0.block.1.nin_shortcut.weight[0..32)",
            }));
            Assert.That(unmapped, Is.Empty);
        }

        #endregion

        #region Element-level data

        /// <summary>A diffusers transformer written by hand with known values: the fused qkv holds q, k, v in that order
        /// and the AdaLayerNormContinuous halves come back as (shift, scale); writing it out again restores the file.</summary>
        [Test]
        public void FusedAndSwappedTensorsCarryTheRightElements()
        {
            // h = 2: q, k, v are [2, 3]; the final layer's and the last block's modulation are [2h, 3]
            var hand = new Dictionary<string, (long[] shape, float[] values)>
            {
                ["transformer_blocks.0.attn.to_q.weight"] = (new long[] { 2, 3 }, Range(0, 6)),
                ["transformer_blocks.0.attn.to_k.weight"] = (new long[] { 2, 3 }, Range(10, 6)),
                ["transformer_blocks.0.attn.to_v.weight"] = (new long[] { 2, 3 }, Range(20, 6)),
                ["transformer_blocks.0.attn.add_q_proj.bias"] = (new long[] { 2 }, Range(100, 2)),
                ["transformer_blocks.0.attn.add_k_proj.bias"] = (new long[] { 2 }, Range(110, 2)),
                ["transformer_blocks.0.attn.add_v_proj.bias"] = (new long[] { 2 }, Range(120, 2)),
                ["transformer_blocks.0.norm1_context.linear.bias"] = (new long[] { 12 }, Range(0, 12)),
                // rows: scale 0, scale 1, shift 0, shift 1 (diffusers' order)
                ["transformer_blocks.1.norm1_context.linear.weight"] = (new long[] { 4, 3 }, Range(300, 12)),
                ["norm_out.linear.weight"] = (new long[] { 4, 3 }, Range(200, 12)),
                ["norm_out.linear.bias"] = (new long[] { 4 }, new float[] { 1, 2, 3, 4 }),
            };
            string folder = Path.Combine(_scratch, "hand");
            Directory.CreateDirectory(Path.Combine(folder, "transformer"));
            File.WriteAllText(Path.Combine(folder, "model_index.json"), "{\"_class_name\": \"StableDiffusion3Pipeline\"}");
            string file = Path.Combine(folder, "transformer", "diffusion_pytorch_model.safetensors");
            var w = new SafetensorsWriter();
            foreach (var kv in hand) w.AddFloats(kv.Key, DType.F32, kv.Value.shape, kv.Value.values);
            w.Write(file);

            string copy = Path.Combine(_scratch, "copy");
            foreach (var path in new[] { folder, file })
            {
                using (var ck = Checkpoint.Open(path))
                {
                    Assert.That(ck.Unrecognized, Is.Empty, path);
                    float[] F(string name) => ck[Checkpoint.MmditPrefix + name].ReadFloats();
                    Assert.That(F("joint_blocks.0.x_block.attn.qkv.weight"), Is.EqualTo(Range(0, 6).Concat(Range(10, 6)).Concat(Range(20, 6)).ToArray()));
                    Assert.That(ck[Checkpoint.MmditPrefix + "joint_blocks.0.x_block.attn.qkv.weight"].Shape, Is.EqualTo(new long[] { 6, 3 }));
                    Assert.That(F("joint_blocks.0.context_block.attn.qkv.bias"), Is.EqualTo(new float[] { 100, 101, 110, 111, 120, 121 }));
                    Assert.That(F("joint_blocks.0.context_block.adaLN_modulation.1.bias"), Is.EqualTo(Range(0, 12)), "not the last block: as stored");
                    // (shift, scale): the stored rows 2, 3 then 0, 1
                    Assert.That(F("final_layer.adaLN_modulation.1.bias"), Is.EqualTo(new float[] { 3, 4, 1, 2 }));
                    Assert.That(F("final_layer.adaLN_modulation.1.weight"), Is.EqualTo(Range(206, 6).Concat(Range(200, 6)).ToArray()));
                    Assert.That(F("joint_blocks.1.context_block.adaLN_modulation.1.weight"), Is.EqualTo(Range(306, 6).Concat(Range(300, 6)).ToArray()));
                    if (path != folder) continue;
                    CheckpointWriter.Write(ck.Weights.Values.Select(TensorSource.From), CheckpointLayout.Diffusers, copy);
                }
            }

            // written back in the diffusers layout, every stored tensor is the hand-made one again
            var shards = Directory.GetFiles(Path.Combine(copy, "transformer"), "*.safetensors").Select(SafetensorsFile.Open).ToList();
            try
            {
                var written = shards.SelectMany(s => s.Tensors).ToDictionary(t => t.Name);
                Assert.That(written.Keys, Is.EquivalentTo(hand.Keys));
                foreach (var kv in hand)
                {
                    Assert.That(written[kv.Key].Shape, Is.EqualTo(kv.Value.shape), kv.Key);
                    Assert.That(written[kv.Key].File.ReadFloats(written[kv.Key]), Is.EqualTo(kv.Value.values), kv.Key);
                }
            }
            finally
            {
                foreach (var s in shards) s.Dispose();
            }
        }

        static float[] Range(int start, int count) => Enumerable.Range(start, count).Select(i => (float)i).ToArray();

        #endregion

        #region Errors

        [Test]
        public void AMissingShardIsNamed()
        {
            var rng = new Random(1);
            var values = new Dictionary<string, float[]>();
            var sources = TinyMmdit(dual: false).Tensors().Select(t => RandomSource(Checkpoint.MmditPrefix + t.Name, DType.F16, t.Shape, rng, values));
            string folder = Path.Combine(_scratch, "missing");
            CheckpointWriter.Write(sources, CheckpointLayout.Diffusers, folder);
            string shard = Directory.GetFiles(Path.Combine(folder, "transformer"), "diffusion_pytorch_model-*.safetensors").OrderBy(f => f, StringComparer.Ordinal).Last();
            File.Delete(shard);
            Assert.That(() => Checkpoint.Open(folder).Dispose(),
                Throws.InstanceOf<CheckpointException>().With.Message.Contains(Path.GetFileName(shard)));
        }

        [TestCase("{\"_class_name\": \"StableDiffusion3Pipeline\",")]
        [TestCase("[\"StableDiffusion3Pipeline\"]")]
        public void AMalformedModelIndexIsRejected(string text)
        {
            string folder = Path.Combine(_scratch, "bad");
            Directory.CreateDirectory(folder);
            File.WriteAllText(Path.Combine(folder, "model_index.json"), text);
            Assert.That(() => Checkpoint.Open(folder).Dispose(),
                Throws.InstanceOf<CheckpointException>().With.Message.Contains("model_index.json"));
        }

        [Test]
        public void ATensorWithoutADiffusersNameIsNotWritten()
        {
            var t = new TensorSource(Checkpoint.MmditPrefix + "joint_blocks.0.x_block.attn.extra.weight", DType.F32, new long[] { 2 }, s => s.Write(new byte[8], 0, 8));
            Assert.That(() => CheckpointWriter.Write(new[] { t }, CheckpointLayout.Diffusers, Path.Combine(_scratch, "x")),
                Throws.InstanceOf<ArgumentException>().With.Message.Contains("joint_blocks.0.x_block.attn.extra.weight"));
        }

        #endregion

        #region Helpers

        /// <summary>Random values exactly representable in <paramref name="dtype"/> (k/64, |k| &lt; 128), recorded in
        /// <paramref name="values"/> under the tensor's name.</summary>
        static TensorSource RandomSource(string name, DType dtype, long[] shape, Random rng, Dictionary<string, float[]> values)
        {
            long n = shape.Aggregate(1L, (a, b) => a * b);
            var v = new float[n];
            for (long i = 0; i < n; i++) v[i] = rng.Next(-127, 128) / 64f;
            values[name] = v;
            return new TensorSource(name, dtype, shape, s => SafetensorsWriter.WriteFloats(s, dtype, v, 0, v.Length));
        }

        static void AssertWeightsEqual(Checkpoint ck, List<TensorSource> sources, Dictionary<string, float[]> values)
        {
            Assert.That(ck.Weights.Keys, Is.EquivalentTo(sources.Select(s => s.Name)));
            foreach (var s in sources)
            {
                var w = ck[s.Name];
                Assert.That(w.Shape, Is.EqualTo(s.Shape), s.Name);
                Assert.That(w.DType, Is.EqualTo(s.DType), s.Name);
                Assert.That(FirstDifference(w.ReadFloats(), values[s.Name]), Is.EqualTo(-1), s.Name);
            }
        }

        static void AssertSameWeights(Checkpoint a, Checkpoint b)
        {
            Assert.That(b.Weights.Keys, Is.EquivalentTo(a.Weights.Keys));
            foreach (var kv in a.Weights)
            {
                var x = kv.Value;
                var y = b[kv.Key];
                Assert.That(y.Shape, Is.EqualTo(x.Shape), kv.Key);
                Assert.That(y.DType, Is.EqualTo(x.DType), kv.Key);
                var rx = new byte[x.ByteLength];
                var ry = new byte[y.ByteLength];
                x.CopyRawTo(rx);
                y.CopyRawTo(ry);
                Assert.That(FirstDifference(ry, rx), Is.EqualTo(-1), kv.Key);
                if (DTypes.IsFloat(x.DType))
                    Assert.That(FirstDifference(y.ReadFloats(), x.ReadFloats()), Is.EqualTo(-1), kv.Key);
            }
        }

        /// <summary>The first index where the arrays differ bit for bit, or -1 (NUnit's collection comparison is slow
        /// on million-element tensors).</summary>
        static long FirstDifference(float[] a, float[] b)
        {
            if (a.Length != b.Length) return Math.Min(a.Length, b.Length);
            for (long i = 0; i < a.LongLength; i++)
                if (BitConverter.SingleToInt32Bits(a[i]) != BitConverter.SingleToInt32Bits(b[i])) return i;
            return -1;
        }

        static long FirstDifference(byte[] a, byte[] b)
        {
            if (a.Length != b.Length) return Math.Min(a.Length, b.Length);
            for (long i = 0; i < a.LongLength; i++)
                if (a[i] != b[i]) return i;
            return -1;
        }

        /// <summary>Checks the transformer folder is sharded as diffusers writes it; returns the diffusers keys.</summary>
        static HashSet<string> AssertShardedTransformer(string dir)
        {
            var index = JsonValue.Parse(File.ReadAllText(Path.Combine(dir, "diffusion_pytorch_model.safetensors.index.json")));
            var map = index["weight_map"].Properties;
            var shardNames = map.Select(p => p.Value.AsString).Distinct().OrderBy(s => s, StringComparer.Ordinal).ToList();
            Assert.That(shardNames.Count, Is.GreaterThanOrEqualTo(2));
            Assert.That(shardNames[0], Is.EqualTo($"diffusion_pytorch_model-00001-of-{shardNames.Count:D5}.safetensors"));
            Assert.That(File.Exists(Path.Combine(dir, "diffusion_pytorch_model.safetensors")), Is.False);
            long total = 0;
            var keys = new HashSet<string>();
            foreach (var shard in shardNames)
                using (var f = SafetensorsFile.Open(Path.Combine(dir, shard)))
                    foreach (var t in f.Tensors)
                    {
                        Assert.That(map.First(p => p.Key == t.Name).Value.AsString, Is.EqualTo(shard), t.Name);
                        total += t.ByteLength;
                        keys.Add(t.Name);
                    }
            Assert.That(keys.Count, Is.EqualTo(map.Count));
            Assert.That(index["metadata"]["total_size"].AsLong, Is.EqualTo(total));
            Assert.That(File.Exists(Path.Combine(dir, "config.json")), Is.True);
            return keys;
        }

        #endregion
    }
}
