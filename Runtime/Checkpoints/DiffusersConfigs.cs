using System;
using System.Collections.Generic;
using System.Linq;
using Sd3Tex.Json;
using Sd3Tex.Models;

namespace Sd3Tex.Checkpoints
{
    /// <summary>
    /// Minimal <c>config.json</c> files for the components of a diffusers folder, filled from the tensor shapes
    /// (internal names, component prefix removed). The loader here ignores them (it infers everything from the
    /// weights); they make the folder legible to diffusers and transformers. A value whose tensor is absent is left out.
    /// </summary>
    internal static class DiffusersConfigs
    {
        static long? Dim(IReadOnlyDictionary<string, long[]> shapes, string name, int dim)
            => shapes.TryGetValue(name, out var s) && dim < s.Length ? s[dim] : (long?)null;

        static JsonValue SetIf(this JsonValue o, string key, long? value) => value.HasValue ? o.Set(key, value.Value) : o;

        static JsonValue Ints(IEnumerable<long> values) => JsonValue.NewArray(values.Select(JsonValue.From));

        static JsonValue Strings(string value, int count) => JsonValue.NewArray(Enumerable.Repeat(JsonValue.From(value), count));

        static int Count(IEnumerable<string> names, string prefix)
        {
            var idx = Shapes.Indices(names, prefix);
            return idx.Count == 0 ? 0 : idx[idx.Count - 1] + 1;
        }

        /// <summary><c>SD3Transformer2DModel</c>'s constructor arguments.</summary>
        public static JsonValue Transformer(IReadOnlyDictionary<string, long[]> s)
        {
            long? hidden = Dim(s, "x_embedder.proj.weight", 0), patch = Dim(s, "x_embedder.proj.weight", 2);
            long? outFeatures = Dim(s, "final_layer.linear.weight", 0), posRows = Dim(s, "pos_embed", 1);
            int depth = Count(s.Keys, "joint_blocks.");
            string qkNorm = !s.ContainsKey("joint_blocks.0.x_block.attn.ln_q.weight") ? null
                : s.ContainsKey("joint_blocks.0.x_block.attn.ln_q.bias") ? "layer_norm" : "rms_norm";
            return JsonValue.NewObject()
                .Set("_class_name", "SD3Transformer2DModel")
                .Set("_diffusers_version", DiffusersWriter.DiffusersVersion)
                .Set("attention_head_dim", MmditConfig.HeadDim)
                .SetIf("caption_projection_dim", hidden)
                .Set("dual_attention_layers", Ints(Enumerable.Range(0, depth).Where(i => s.ContainsKey($"joint_blocks.{i}.x_block.attn2.qkv.weight")).Select(i => (long)i)))
                .SetIf("in_channels", Dim(s, "x_embedder.proj.weight", 1))
                .SetIf("joint_attention_dim", Dim(s, "context_embedder.weight", 1))
                .SetIf("num_attention_heads", hidden / MmditConfig.HeadDim)
                .Set("num_layers", depth)
                .SetIf("out_channels", patch > 0 ? outFeatures / (patch * patch) : null)
                .SetIf("patch_size", patch)
                .SetIf("pooled_projection_dim", Dim(s, "y_embedder.mlp.0.weight", 1))
                .SetIf("pos_embed_max_size", posRows.HasValue ? (long)Math.Round(Math.Sqrt(posRows.Value)) : (long?)null)
                .Set("qk_norm", qkNorm)
                .Set("sample_size", 128);
        }

        /// <summary><c>CLIPTextModelWithProjection</c>'s <c>CLIPTextConfig</c>.</summary>
        public static JsonValue Clip(IReadOnlyDictionary<string, long[]> s, Component role, int? heads = null)
        {
            long? width = Dim(s, "text_model.embeddings.token_embedding.weight", 1);
            return JsonValue.NewObject()
                .Set("architectures", JsonValue.NewArray(new[] { JsonValue.From("CLIPTextModelWithProjection") }))
                .Set("hidden_act", role == Component.ClipG ? "gelu" : "quick_gelu")
                .SetIf("hidden_size", width)
                .SetIf("intermediate_size", Dim(s, "text_model.encoder.layers.0.mlp.fc1.weight", 0))
                .Set("layer_norm_eps", 1e-5)
                .SetIf("max_position_embeddings", Dim(s, "text_model.embeddings.position_embedding.weight", 0))
                .Set("model_type", "clip_text_model")
                // heads are not in the weights: the declared ones, else the 64-wide heads of real CLIPs
                .SetIf("num_attention_heads", heads.HasValue ? heads.Value : width % 64 == 0 ? width / 64 : null)
                .Set("num_hidden_layers", Count(s.Keys, "text_model.encoder.layers."))
                .SetIf("projection_dim", Dim(s, "text_projection.weight", 0))
                .SetIf("vocab_size", Dim(s, "text_model.embeddings.token_embedding.weight", 0));
        }

        /// <summary><c>T5EncoderModel</c>'s <c>T5Config</c>.</summary>
        public static JsonValue T5(IReadOnlyDictionary<string, long[]> s)
        {
            const string rel = "encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight";
            bool gated = !s.ContainsKey("encoder.block.0.layer.1.DenseReluDense.wi.weight");
            long? heads = Dim(s, rel, 1), inner = Dim(s, "encoder.block.0.layer.0.SelfAttention.q.weight", 0);
            string emb = s.ContainsKey("shared.weight") ? "shared.weight" : "encoder.embed_tokens.weight";
            return JsonValue.NewObject()
                .Set("architectures", JsonValue.NewArray(new[] { JsonValue.From("T5EncoderModel") }))
                .SetIf("d_ff", Dim(s, gated ? "encoder.block.0.layer.1.DenseReluDense.wi_0.weight" : "encoder.block.0.layer.1.DenseReluDense.wi.weight", 0))
                .SetIf("d_kv", heads > 0 ? inner / heads : null)
                .SetIf("d_model", Dim(s, emb, 1))
                .Set("dense_act_fn", gated ? "gelu_new" : "relu")
                .Set("feed_forward_proj", gated ? "gated-gelu" : "relu")
                .Set("is_gated_act", gated)
                .Set("layer_norm_epsilon", 1e-6)
                .Set("model_type", "t5")
                .SetIf("num_heads", heads)
                .Set("num_layers", Count(s.Keys, "encoder.block."))
                .Set("relative_attention_max_distance", 128)
                .SetIf("relative_attention_num_buckets", Dim(s, rel, 0))
                .SetIf("vocab_size", Dim(s, emb, 0));
        }

        /// <summary><c>AutoencoderKL</c>'s constructor arguments, with SD3's latent scale and shift.</summary>
        public static JsonValue Vae(IReadOnlyDictionary<string, long[]> s)
        {
            int levels = Count(s.Keys, "decoder.up.");
            var channels = Enumerable.Range(0, levels).Select(l => Dim(s, $"decoder.up.{l}.block.0.conv1.weight", 0) ?? 0).ToList();
            int blocks = Count(s.Keys, "decoder.up.0.block.");
            long? outChannels = Dim(s, "decoder.conv_out.weight", 0);
            return JsonValue.NewObject()
                .Set("_class_name", "AutoencoderKL")
                .Set("_diffusers_version", DiffusersWriter.DiffusersVersion)
                .Set("act_fn", "silu")
                .Set("block_out_channels", Ints(channels))
                .Set("down_block_types", Strings("DownEncoderBlock2D", levels))
                .Set("force_upcast", true)
                .SetIf("in_channels", Dim(s, "encoder.conv_in.weight", 1) ?? outChannels)
                .SetIf("latent_channels", Dim(s, "decoder.conv_in.weight", 1))
                .Set("layers_per_block", Math.Max(0, blocks - 1))   // the decoder has one more per level
                .Set("norm_num_groups", 32)
                .SetIf("out_channels", outChannels)
                .Set("sample_size", 1024)
                .Set("scaling_factor", 1.5305)
                .Set("shift_factor", 0.0609)
                .Set("up_block_types", Strings("UpDecoderBlock2D", levels))
                .Set("use_post_quant_conv", s.ContainsKey("post_quant_conv.weight"))
                .Set("use_quant_conv", s.ContainsKey("quant_conv.weight"));
        }

        /// <summary>SD3's flow-matching Euler scheduler (shift 3).</summary>
        public static JsonValue Scheduler() => JsonValue.NewObject()
            .Set("_class_name", "FlowMatchEulerDiscreteScheduler")
            .Set("_diffusers_version", DiffusersWriter.DiffusersVersion)
            .Set("num_train_timesteps", 1000)
            .Set("shift", 3.0);
    }
}
