using System;
using System.Collections.Generic;
using System.Linq;
using Sd3Tex.Checkpoints;
using static Sd3Tex.Models.Shapes;

namespace Sd3Tex.Models
{
    /// <summary>A CLIP text encoder (HF CLIPTextModel names, without the <c>text_encoders.clip_x.transformer.</c> prefix).</summary>
    public sealed class ClipConfig
    {
        public int Layers { get; set; }            // CLIP-L 12, CLIP-G 32
        public int HiddenSize { get; set; }        // 768 / 1280
        public int IntermediateSize { get; set; }  // 3072 / 5120
        public int VocabSize { get; set; }         // 49408
        public int MaxPositions { get; set; }      // 77
        /// <summary>Heads are not stored in the weights; real CLIPs use 64-wide heads. Null when the width is not a
        /// multiple of 64 (tiny test models): the caller must then say (<c>--clip-heads L,G</c>).</summary>
        public int? Heads { get; set; }
        public int? ProjectionDim { get; set; }    // text_projection rows (CLIP-G: 1280), null when absent
        /// <summary>"quick_gelu" for CLIP-L, "gelu" for CLIP-G (the activation is not stored in the weights either).</summary>
        public string Activation { get; set; }
        public bool RequiresProjection { get; set; }

        public static ClipConfig Infer(IReadOnlyDictionary<string, Weight> weights, Component role) => Infer(Shapes.Of(weights), role);

        public static ClipConfig Infer(IReadOnlyDictionary<string, long[]> w, Component role)
        {
            string c = role == Component.ClipG ? "CLIP-G" : "CLIP-L";
            var cfg = new ClipConfig
            {
                VocabSize = Dim(w, c, "text_model.embeddings.token_embedding.weight", 0, 2),
                HiddenSize = Dim(w, c, "text_model.embeddings.token_embedding.weight", 1, 2),
                MaxPositions = Dim(w, c, "text_model.embeddings.position_embedding.weight", 0, 2),
                IntermediateSize = Dim(w, c, "text_model.encoder.layers.0.mlp.fc1.weight", 0, 2),
                Activation = role == Component.ClipG ? "gelu" : "quick_gelu",
                RequiresProjection = role == Component.ClipG,
            };
            var layers = Indices(w.Keys, "text_model.encoder.layers.");
            cfg.Layers = layers.Count == 0 ? 0 : layers.Max() + 1;
            if (cfg.HiddenSize % 64 == 0) cfg.Heads = cfg.HiddenSize / 64;
            var proj = Of(w, "text_projection.weight");
            if (proj != null && proj.Length == 2) cfg.ProjectionDim = (int)proj[0];
            return cfg;
        }

        public IEnumerable<TensorSpec> Tensors()
        {
            long d = HiddenSize, ff = IntermediateSize;
            const string p = "text_model.";
            yield return new TensorSpec(p + "embeddings.token_embedding.weight", S(VocabSize, d));
            yield return new TensorSpec(p + "embeddings.position_embedding.weight", S(MaxPositions, d));
            yield return new TensorSpec(p + "embeddings.position_ids", S(1, MaxPositions), optional: true);
            for (int i = 0; i < Layers; i++)
            {
                string l = $"{p}encoder.layers.{i}.";
                foreach (var proj in new[] { "q_proj", "k_proj", "v_proj", "out_proj" })
                {
                    yield return new TensorSpec(l + "self_attn." + proj + ".weight", S(d, d));
                    yield return new TensorSpec(l + "self_attn." + proj + ".bias", S(d));
                }
                foreach (var ln in new[] { "layer_norm1", "layer_norm2" })
                {
                    yield return new TensorSpec(l + ln + ".weight", S(d));
                    yield return new TensorSpec(l + ln + ".bias", S(d));
                }
                yield return new TensorSpec(l + "mlp.fc1.weight", S(ff, d));
                yield return new TensorSpec(l + "mlp.fc1.bias", S(ff));
                yield return new TensorSpec(l + "mlp.fc2.weight", S(d, ff));
                yield return new TensorSpec(l + "mlp.fc2.bias", S(d));
            }
            yield return new TensorSpec(p + "final_layer_norm.weight", S(d));
            yield return new TensorSpec(p + "final_layer_norm.bias", S(d));
            yield return new TensorSpec("text_projection.weight", S(ProjectionDim ?? d, d), optional: !RequiresProjection);
            yield return new TensorSpec("logit_scale", S(), optional: true);
        }

        public static ClipConfig ClipL() => new ClipConfig { Layers = 12, HiddenSize = 768, IntermediateSize = 3072, VocabSize = 49408, MaxPositions = 77, Heads = 12, ProjectionDim = 768, Activation = "quick_gelu" };
        public static ClipConfig ClipG() => new ClipConfig { Layers = 32, HiddenSize = 1280, IntermediateSize = 5120, VocabSize = 49408, MaxPositions = 77, Heads = 20, ProjectionDim = 1280, Activation = "gelu", RequiresProjection = true };
    }

    /// <summary>The T5 v1.1 encoder (names without <c>text_encoders.t5xxl.transformer.</c>).</summary>
    public sealed class T5Config
    {
        public int Layers { get; set; }        // 24
        public int DModel { get; set; }        // 4096
        public int Heads { get; set; }         // 64, from relative_attention_bias [buckets, heads]
        public int DKv { get; set; }           // 64
        public int DFf { get; set; }           // 10240
        public int VocabSize { get; set; }     // 32128
        public int NumBuckets { get; set; }    // 32
        public bool GatedGelu { get; set; } = true;
        /// <summary>Which embedding key is present: "shared.weight" and/or "encoder.embed_tokens.weight".</summary>
        public string EmbeddingKey { get; set; } = "shared.weight";

        public static T5Config Infer(IReadOnlyDictionary<string, Weight> weights) => Infer(Shapes.Of(weights));

        public static T5Config Infer(IReadOnlyDictionary<string, long[]> w)
        {
            const string c = "T5-XXL";
            var cfg = new T5Config();
            string emb = w.ContainsKey("encoder.embed_tokens.weight") ? "encoder.embed_tokens.weight" : "shared.weight";
            cfg.EmbeddingKey = emb;
            cfg.VocabSize = Dim(w, c, emb, 0, 2);
            cfg.DModel = Dim(w, c, emb, 1, 2);
            const string rel = "encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight";
            cfg.NumBuckets = Dim(w, c, rel, 0, 2);
            cfg.Heads = Dim(w, c, rel, 1, 2);
            int inner = Dim(w, c, "encoder.block.0.layer.0.SelfAttention.q.weight", 0, 2);
            if (cfg.Heads <= 0 || inner % cfg.Heads != 0)
                throw new CheckpointException(null, $"T5-XXL: {inner} attention features do not split into {cfg.Heads} heads.");
            cfg.DKv = inner / cfg.Heads;
            cfg.GatedGelu = !w.ContainsKey("encoder.block.0.layer.1.DenseReluDense.wi.weight");
            cfg.DFf = Dim(w, c, cfg.GatedGelu ? "encoder.block.0.layer.1.DenseReluDense.wi_0.weight" : "encoder.block.0.layer.1.DenseReluDense.wi.weight", 0, 2);
            var blocks = Indices(w.Keys, "encoder.block.");
            cfg.Layers = blocks.Count == 0 ? 0 : blocks.Max() + 1;
            return cfg;
        }

        public IEnumerable<TensorSpec> Tensors()
        {
            long d = DModel, inner = (long)Heads * DKv, ff = DFf;
            // real single files carry both (tied); diffusers only shared.weight: one is required, checked in Check()
            yield return new TensorSpec("shared.weight", S(VocabSize, d), optional: true);
            yield return new TensorSpec("encoder.embed_tokens.weight", S(VocabSize, d), optional: true);
            for (int i = 0; i < Layers; i++)
            {
                string b = $"encoder.block.{i}.layer.";
                foreach (var x in new[] { "q", "k", "v" }) yield return new TensorSpec(b + "0.SelfAttention." + x + ".weight", S(inner, d));
                yield return new TensorSpec(b + "0.SelfAttention.o.weight", S(d, inner));
                if (i == 0) yield return new TensorSpec(b + "0.SelfAttention.relative_attention_bias.weight", S(NumBuckets, Heads));
                yield return new TensorSpec(b + "0.layer_norm.weight", S(d));
                if (GatedGelu)
                {
                    yield return new TensorSpec(b + "1.DenseReluDense.wi_0.weight", S(ff, d));
                    yield return new TensorSpec(b + "1.DenseReluDense.wi_1.weight", S(ff, d));
                }
                else yield return new TensorSpec(b + "1.DenseReluDense.wi.weight", S(ff, d));
                yield return new TensorSpec(b + "1.DenseReluDense.wo.weight", S(d, ff));
                yield return new TensorSpec(b + "1.layer_norm.weight", S(d));
            }
            yield return new TensorSpec("encoder.final_layer_norm.weight", S(d));
        }

        public SchemaCheck Check(IReadOnlyDictionary<string, Weight> weights)
        {
            var w = Shapes.Of(weights);
            var r = SchemaCheck.Compare(w, Tensors());
            if (!w.ContainsKey("shared.weight") && !w.ContainsKey("encoder.embed_tokens.weight")) r.Missing.Insert(0, "shared.weight");
            return r;
        }

        public static T5Config Xxl() => new T5Config { Layers = 24, DModel = 4096, Heads = 64, DKv = 64, DFf = 10240, VocabSize = 32128, NumBuckets = 32 };
    }

    /// <summary>The SD3 VAE (LDM names under <c>first_stage_model.</c>). Only the decoder is used.</summary>
    public sealed class VaeConfig
    {
        public int LatentChannels { get; set; }   // 16
        public int OutChannels { get; set; }      // 3
        public int BaseChannels { get; set; }     // ch, 128
        public int[] ChannelMult { get; set; }    // (1, 2, 4, 4)
        public int BlocksPerLevel { get; set; }   // num_res_blocks + 1 = 3 in the decoder
        /// <summary>ResNet blocks per encoder level: num_res_blocks = the decoder's <see cref="BlocksPerLevel"/> − 1 (2 in SD3).</summary>
        public int EncoderBlocksPerLevel => BlocksPerLevel - 1;
        public bool HasEncoder { get; set; }
        public int Levels => ChannelMult.Length;
        public int TopChannels => BaseChannels * ChannelMult[ChannelMult.Length - 1];
        /// <summary>Pixels per latent cell: 2^(levels-1) = 8.</summary>
        public int Scale => 1 << (Levels - 1);

        public static VaeConfig Infer(IReadOnlyDictionary<string, Weight> weights) => Infer(Shapes.Of(weights));

        public static VaeConfig Infer(IReadOnlyDictionary<string, long[]> w)
        {
            const string c = "VAE";
            var cfg = new VaeConfig
            {
                LatentChannels = Dim(w, c, "decoder.conv_in.weight", 1, 4),
                OutChannels = Dim(w, c, "decoder.conv_out.weight", 0, 4),
                HasEncoder = w.Keys.Any(k => k.StartsWith("encoder.", StringComparison.Ordinal)),
            };
            var levels = Indices(w.Keys, "decoder.up.");
            if (levels.Count == 0) throw new CheckpointException(null, "VAE: no decoder.up.* blocks found. The checkpoint has no SD3 VAE decoder.");
            int n = levels.Max() + 1;
            var outs = new int[n];
            for (int l = 0; l < n; l++) outs[l] = Dim(w, c, $"decoder.up.{l}.block.0.conv1.weight", 0, 4);
            cfg.BaseChannels = outs[0];
            cfg.ChannelMult = outs.Select(o => cfg.BaseChannels > 0 ? o / cfg.BaseChannels : 0).ToArray();
            var blocks = Indices(w.Keys, "decoder.up.0.block.");
            cfg.BlocksPerLevel = blocks.Count == 0 ? 0 : blocks.Max() + 1;
            return cfg;
        }

        static IEnumerable<TensorSpec> Norm(string n, long c)
        {
            yield return new TensorSpec(n + ".weight", S(c));
            yield return new TensorSpec(n + ".bias", S(c));
        }

        static IEnumerable<TensorSpec> Conv(string n, long cout, long cin, long k)
        {
            yield return new TensorSpec(n + ".weight", S(cout, cin, k, k));
            yield return new TensorSpec(n + ".bias", S(cout));
        }

        static IEnumerable<TensorSpec> ResBlock(string n, long cin, long cout)
        {
            foreach (var t in Norm(n + ".norm1", cin)) yield return t;
            foreach (var t in Conv(n + ".conv1", cout, cin, 3)) yield return t;
            foreach (var t in Norm(n + ".norm2", cout)) yield return t;
            foreach (var t in Conv(n + ".conv2", cout, cout, 3)) yield return t;
            if (cin != cout) foreach (var t in Conv(n + ".nin_shortcut", cout, cin, 1)) yield return t;
        }

        /// <summary>The decoder's tensors (the encoder, quant_conv and post_quant_conv are optional and not listed).</summary>
        public IEnumerable<TensorSpec> Tensors()
        {
            long top = TopChannels;
            foreach (var t in Conv("decoder.conv_in", top, LatentChannels, 3)) yield return t;
            foreach (var t in ResBlock("decoder.mid.block_1", top, top)) yield return t;
            foreach (var t in Norm("decoder.mid.attn_1.norm", top)) yield return t;
            foreach (var x in new[] { "q", "k", "v", "proj_out" })
                foreach (var t in Conv("decoder.mid.attn_1." + x, top, top, 1)) yield return t;
            foreach (var t in ResBlock("decoder.mid.block_2", top, top)) yield return t;
            long cin = top;
            for (int level = Levels - 1; level >= 0; level--)
            {
                long cout = (long)BaseChannels * ChannelMult[level];
                for (int j = 0; j < BlocksPerLevel; j++)
                {
                    foreach (var t in ResBlock($"decoder.up.{level}.block.{j}", cin, cout)) yield return t;
                    cin = cout;
                }
                if (level > 0) foreach (var t in Conv($"decoder.up.{level}.upsample.conv", cout, cout, 3)) yield return t;
            }
            foreach (var t in Norm("decoder.norm_out", cin)) yield return t;
            foreach (var t in Conv("decoder.conv_out", OutChannels, cin, 3)) yield return t;
        }

        /// <summary>The LDM encoder half, as SD3's single-file checkpoints carry it (SD3 has no quant_conv or
        /// post_quant_conv): conv_in, BlocksPerLevel − 1 res blocks per level with a stride-2 downsample after every
        /// level but the last, the mid block with its attention, norm_out and conv_out to 2 × latent channels (mean and
        /// log-variance). Optional for decoding, which never reads them; <paramref name="required"/> lists them as the
        /// encoder needs them (<see cref="CheckEncoder"/>).</summary>
        public IEnumerable<TensorSpec> EncoderTensors(bool required = false)
        {
            var list = new List<TensorSpec>();
            void Add(IEnumerable<TensorSpec> specs) { foreach (var t in specs) list.Add(new TensorSpec(t.Name, t.Shape, optional: !required)); }
            long c = BaseChannels;
            Add(Conv("encoder.conv_in", c, OutChannels, 3));
            for (int level = 0; level < Levels; level++)
            {
                long cout = (long)BaseChannels * ChannelMult[level];
                for (int j = 0; j < EncoderBlocksPerLevel; j++) { Add(ResBlock($"encoder.down.{level}.block.{j}", c, cout)); c = cout; }
                if (level < Levels - 1) Add(Conv($"encoder.down.{level}.downsample.conv", c, c, 3));
            }
            Add(ResBlock("encoder.mid.block_1", c, c));
            Add(Norm("encoder.mid.attn_1.norm", c));
            foreach (var x in new[] { "q", "k", "v", "proj_out" }) Add(Conv("encoder.mid.attn_1." + x, c, c, 1));
            Add(ResBlock("encoder.mid.block_2", c, c));
            Add(Norm("encoder.norm_out", c));
            Add(Conv("encoder.conv_out", 2L * LatentChannels, c, 3));
            return list;
        }

        public SchemaCheck Check(IReadOnlyDictionary<string, Weight> w)
            => SchemaCheck.Compare(w, Tensors(), "encoder.", "quant_conv.", "post_quant_conv.");

        /// <summary>The encoder half against what this config needs to encode (the decoder's tensors are not checked).</summary>
        public SchemaCheck CheckEncoder(IReadOnlyDictionary<string, Weight> w)
            => SchemaCheck.Compare(w, EncoderTensors(required: true), "decoder.", "quant_conv.", "post_quant_conv.");

        public static VaeConfig Sd3() => new VaeConfig { LatentChannels = 16, OutChannels = 3, BaseChannels = 128, ChannelMult = new[] { 1, 2, 4, 4 }, BlocksPerLevel = 3 };
    }
}
