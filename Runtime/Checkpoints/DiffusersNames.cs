using System;
using System.Collections.Generic;
using System.Linq;
using Sd3Tex.Models;

namespace Sd3Tex.Checkpoints
{
    /// <summary>
    /// Maps diffusers' SD3 names onto the internal (single-file) names and back, following diffusers' own converters
    /// (<c>convert_sd3_transformer_checkpoint_to_diffusers</c> and <c>convert_ldm_vae_checkpoint</c> in
    /// <c>loaders/single_file_utils.py</c>). One rule table serves both directions. Besides renames, three rules move
    /// data:
    /// <list type="bullet">
    /// <item>fused projections: the internal <c>attn.qkv</c> [3h, h] is diffusers' <c>to_q</c>, <c>to_k</c>, <c>to_v</c>
    /// (each [h, h]) concatenated along dimension 0, in that order;</item>
    /// <item>swapped halves: the reference's AdaLayerNormContinuous (<c>final_layer.adaLN_modulation.1</c> and the
    /// last block's pre-only <c>context_block.adaLN_modulation.1</c>) produces (shift, scale); diffusers' produces
    /// (scale, shift), so the two halves of dimension 0 trade places;</item>
    /// <item>the VAE's mid-block attention projections are 1×1 convolutions [C, C, 1, 1] in LDM and Linear [C, C] in
    /// diffusers: the same elements under another shape.</item>
    /// </list>
    /// Depth and the number of VAE levels are read from the names present, never assumed.
    /// </summary>
    public static class DiffusersNames
    {
        enum Kind
        {
            Plain,
            /// <summary>Internal = the diffusers tensors concatenated along dimension 0, in pattern order.</summary>
            Fused,
            /// <summary>The halves of dimension 0 trade places.</summary>
            Swapped,
            /// <summary>Swapped in the last joint block only (diffusers' AdaLayerNormContinuous there).</summary>
            SwappedInLastBlock,
            /// <summary>diffusers Linear [C, C] ↔ LDM 1×1 conv [C, C, 1, 1].</summary>
            LinearAsConv,
        }

        /// <summary>Patterns are dot-separated segments: literals, <c>{i}</c> (a number, copied), <c>{r}</c> (a level
        /// number, reversed: n-1-x), <c>{p}</c> (a parameter name such as weight or bias, copied). Both sides of a
        /// rule hold the same placeholders in the same order.</summary>
        sealed class Rule
        {
            public readonly string[] Diffusers;
            public readonly string Internal;
            public readonly Kind Kind;
            public Rule(string[] diffusers, string @internal, Kind kind) { Diffusers = diffusers; Internal = @internal; Kind = kind; }
        }

        sealed class RuleSet
        {
            public readonly List<Rule> Rules = new List<Rule>();
            /// <summary>The numbered prefix whose count is the n of <c>{r}</c> and of "last block" (diffusers, internal side).</summary>
            public string DiffusersCounted, InternalCounted;

            public RuleSet Add(string diffusers, string @internal, Kind kind = Kind.Plain)
            {
                Rules.Add(new Rule(new[] { diffusers }, @internal, kind));
                return this;
            }

            public RuleSet Fused(string @internal, params string[] diffusers)
            {
                Rules.Add(new Rule(diffusers, @internal, Kind.Fused));
                return this;
            }
        }

        #region Rule tables

        static readonly RuleSet Transformer = BuildTransformerRules();
        static readonly RuleSet Vae = BuildVaeRules();

        /// <summary>From <c>convert_sd3_transformer_checkpoint_to_diffusers</c> (diffusers, loaders/single_file_utils.py;
        /// same rules in scripts/convert_sd3_to_diffusers.py).</summary>
        static RuleSet BuildTransformerRules()
        {
            var s = new RuleSet { DiffusersCounted = "transformer_blocks.", InternalCounted = "joint_blocks." };
            s.Add("pos_embed.pos_embed", "pos_embed")                                     // [1, M*M, h]
             .Add("pos_embed.proj.{p}", "x_embedder.proj.{p}")                            // [h, 16, 2, 2]
             .Add("time_text_embed.timestep_embedder.linear_1.{p}", "t_embedder.mlp.0.{p}")
             .Add("time_text_embed.timestep_embedder.linear_2.{p}", "t_embedder.mlp.2.{p}")
             .Add("time_text_embed.text_embedder.linear_1.{p}", "y_embedder.mlp.0.{p}")
             .Add("time_text_embed.text_embedder.linear_2.{p}", "y_embedder.mlp.2.{p}")
             .Add("context_embedder.{p}", "context_embedder.{p}")
             .Add("proj_out.{p}", "final_layer.linear.{p}")
             .Add("norm_out.linear.{p}", "final_layer.adaLN_modulation.1.{p}", Kind.Swapped); // [2h, h]

            const string d = "transformer_blocks.{i}.", n = "joint_blocks.{i}.";
            void Block(string diffusers, string @internal, Kind kind = Kind.Plain) => s.Add(d + diffusers + ".{p}", n + @internal + ".{p}", kind);
            void Qkv(string @internal, string q, string k, string v) => s.Fused(n + @internal + ".{p}", d + q + ".{p}", d + k + ".{p}", d + v + ".{p}");

            Qkv("x_block.attn.qkv", "attn.to_q", "attn.to_k", "attn.to_v");                          // [3h, h] = 3 × [h, h]
            Qkv("context_block.attn.qkv", "attn.add_q_proj", "attn.add_k_proj", "attn.add_v_proj");
            Qkv("x_block.attn2.qkv", "attn2.to_q", "attn2.to_k", "attn2.to_v");                       // MMDiT-X (SD3.5 Medium)
            Block("attn.norm_q", "x_block.attn.ln_q");                                               // QK RMSNorm [64] (SD3.5)
            Block("attn.norm_k", "x_block.attn.ln_k");
            Block("attn.norm_added_q", "context_block.attn.ln_q");
            Block("attn.norm_added_k", "context_block.attn.ln_k");
            Block("attn2.norm_q", "x_block.attn2.ln_q");
            Block("attn2.norm_k", "x_block.attn2.ln_k");
            Block("attn.to_out.0", "x_block.attn.proj");
            Block("attn.to_add_out", "context_block.attn.proj");                                     // absent in the last block
            Block("attn2.to_out.0", "x_block.attn2.proj");
            Block("norm1.linear", "x_block.adaLN_modulation.1");                                     // [6h or 9h, h]
            Block("norm1_context.linear", "context_block.adaLN_modulation.1", Kind.SwappedInLastBlock); // [6h, h]; last block [2h, h]
            Block("ff.net.0.proj", "x_block.mlp.fc1");
            Block("ff.net.2", "x_block.mlp.fc2");
            Block("ff_context.net.0.proj", "context_block.mlp.fc1");                                 // absent in the last block
            Block("ff_context.net.2", "context_block.mlp.fc2");
            return s;
        }

        /// <summary>From <c>convert_ldm_vae_checkpoint</c>, <c>update_vae_resnet_ldm_to_diffusers</c>,
        /// <c>update_vae_attentions_ldm_to_diffusers</c> and <c>DIFFUSERS_TO_LDM_MAPPING["vae"]</c>
        /// (diffusers, loaders/single_file_utils.py).</summary>
        static RuleSet BuildVaeRules()
        {
            // diffusers up_blocks.0 runs first, at the lowest resolution: it is LDM's up.{n-1}
            var s = new RuleSet { DiffusersCounted = "decoder.up_blocks.", InternalCounted = "decoder.up." };
            void Resnet(string diffusers, string @internal)
            {
                foreach (var x in new[] { "norm1", "conv1", "norm2", "conv2" }) s.Add($"{diffusers}.{x}.{{p}}", $"{@internal}.{x}.{{p}}");
                s.Add(diffusers + ".conv_shortcut.{p}", @internal + ".nin_shortcut.{p}");            // 1×1, when channels change
            }
            foreach (var side in new[] { "encoder", "decoder" })
            {
                s.Add(side + ".conv_in.{p}", side + ".conv_in.{p}")
                 .Add(side + ".conv_out.{p}", side + ".conv_out.{p}")
                 .Add(side + ".conv_norm_out.{p}", side + ".norm_out.{p}");
                Resnet(side + ".mid_block.resnets.0", side + ".mid.block_1");
                Resnet(side + ".mid_block.resnets.1", side + ".mid.block_2");
                const string a = ".mid_block.attentions.0.", m = ".mid.attn_1.";
                s.Add(side + a + "group_norm.{p}", side + m + "norm.{p}")
                 .Add(side + a + "to_q.{p}", side + m + "q.{p}", Kind.LinearAsConv)
                 .Add(side + a + "to_k.{p}", side + m + "k.{p}", Kind.LinearAsConv)
                 .Add(side + a + "to_v.{p}", side + m + "v.{p}", Kind.LinearAsConv)
                 .Add(side + a + "to_out.0.{p}", side + m + "proj_out.{p}", Kind.LinearAsConv);
            }
            Resnet("encoder.down_blocks.{i}.resnets.{i}", "encoder.down.{i}.block.{i}");
            s.Add("encoder.down_blocks.{i}.downsamplers.0.conv.{p}", "encoder.down.{i}.downsample.conv.{p}");
            Resnet("decoder.up_blocks.{r}.resnets.{i}", "decoder.up.{r}.block.{i}");
            s.Add("decoder.up_blocks.{r}.upsamplers.0.conv.{p}", "decoder.up.{r}.upsample.conv.{p}");
            s.Add("quant_conv.{p}", "quant_conv.{p}").Add("post_quant_conv.{p}", "post_quant_conv.{p}");
            return s;
        }

        #endregion

        /// <summary>diffusers <c>transformer/</c> keys and shapes → internal MMDiT tensors (names without
        /// <c>model.diffusion_model.</c>). Keys that map to nothing are appended to <paramref name="unmapped"/>.</summary>
        public static IReadOnlyList<TensorAssembly> TransformerToInternal(IReadOnlyDictionary<string, long[]> shapes, List<string> unmapped)
            => ToInternal(Transformer, shapes, unmapped);

        /// <summary>Internal MMDiT tensors (names without prefix) → diffusers <c>transformer/</c> tensors, for writing.
        /// Names that have no diffusers counterpart are appended to <paramref name="unmapped"/>.</summary>
        public static IReadOnlyList<TensorAssembly> TransformerFromInternal(IReadOnlyDictionary<string, long[]> shapes, List<string> unmapped)
            => FromInternal(Transformer, shapes, unmapped);

        /// <summary>diffusers <c>vae/</c> keys → internal VAE tensors (names without <c>first_stage_model.</c>).</summary>
        public static IReadOnlyList<TensorAssembly> VaeToInternal(IReadOnlyDictionary<string, long[]> shapes, List<string> unmapped)
            => ToInternal(Vae, shapes, unmapped);

        /// <summary>Internal VAE tensors (names without prefix) → diffusers <c>vae/</c> tensors, for writing.</summary>
        public static IReadOnlyList<TensorAssembly> VaeFromInternal(IReadOnlyDictionary<string, long[]> shapes, List<string> unmapped)
            => FromInternal(Vae, shapes, unmapped);

        #region Both directions

        static IReadOnlyList<TensorAssembly> ToInternal(RuleSet set, IReadOnlyDictionary<string, long[]> shapes, List<string> unmapped)
        {
            int n = Count(shapes.Keys, set.DiffusersCounted);
            // internal name → its rule and the diffusers key of each part slot
            var groups = new SortedDictionary<string, (Rule rule, bool swap, string[] from)>(StringComparer.Ordinal);
            foreach (var key in shapes.Keys.OrderBy(k => k, StringComparer.Ordinal))
            {
                Rule rule = null;
                int slot = -1;
                List<string> captures = null;
                foreach (var r in set.Rules)
                {
                    for (int k = 0; k < r.Diffusers.Length && rule == null; k++)
                        if (Match(r.Diffusers[k], key, out captures)) { rule = r; slot = k; }
                    if (rule != null) break;
                }
                if (rule == null) { unmapped.Add(key); continue; }
                string name = Fill(rule.Internal, captures, n);
                if (!groups.TryGetValue(name, out var g)) g = (rule, IsSwapped(rule, captures, n), new string[rule.Diffusers.Length]);
                g.from[slot] = key;
                groups[name] = g;
            }

            var result = new List<TensorAssembly>();
            foreach (var kv in groups)
            {
                var (rule, swap, from) = kv.Value;
                var a = rule.Kind == Kind.Fused ? Concatenate(kv.Key, from, shapes)
                    : Single(kv.Key, from[0], shapes[from[0]], rule.Kind, swap, toInternal: true);
                if (a != null) result.Add(a);
                else unmapped.AddRange(from.Where(f => f != null));
            }
            return result;
        }

        static IReadOnlyList<TensorAssembly> FromInternal(RuleSet set, IReadOnlyDictionary<string, long[]> shapes, List<string> unmapped)
        {
            int n = Count(shapes.Keys, set.InternalCounted);
            var result = new List<TensorAssembly>();
            foreach (var key in shapes.Keys.OrderBy(k => k, StringComparer.Ordinal))
            {
                Rule rule = null;
                List<string> captures = null;
                foreach (var r in set.Rules)
                    if (Match(r.Internal, key, out captures)) { rule = r; break; }
                if (rule == null) { unmapped.Add(key); continue; }
                var shape = shapes[key];
                if (rule.Kind == Kind.Fused)
                {
                    var parts = Split(key, shape, rule.Diffusers.Select(p => Fill(p, captures, n)).ToArray());
                    if (parts == null) unmapped.Add(key);
                    else result.AddRange(parts);
                    continue;
                }
                var a = Single(Fill(rule.Diffusers[0], captures, n), key, shape, rule.Kind, IsSwapped(rule, captures, n), toInternal: false);
                if (a != null) result.Add(a);
                else unmapped.Add(key);
            }
            result.Sort((x, y) => string.CompareOrdinal(x.Name, y.Name));
            return result;
        }

        static bool IsSwapped(Rule rule, List<string> captures, int n)
            => rule.Kind == Kind.Swapped || (rule.Kind == Kind.SwappedInLastBlock && int.Parse(captures[0]) == n - 1);

        /// <summary>A one-to-one tensor: renamed, its halves swapped, or viewed as conv/linear. Null when the shape
        /// does not allow it.</summary>
        static TensorAssembly Single(string name, string from, long[] shape, Kind kind, bool swap, bool toInternal)
        {
            long count = Elements(shape);
            if (swap)
            {
                // (shift, scale) ↔ (scale, shift): the second half first, in either direction
                if (shape.Length == 0 || shape[0] % 2 != 0) return null;
                long half = count / 2;
                return new TensorAssembly(name, (long[])shape.Clone(), new[] { new AssemblyPart(from, half, half), new AssemblyPart(from, 0, half) });
            }
            var outShape = (long[])shape.Clone();
            if (kind == Kind.LinearAsConv)
            {
                if (toInternal && shape.Length == 2) outShape = new[] { shape[0], shape[1], 1L, 1L };                    // [C, C] → [C, C, 1, 1]
                else if (!toInternal && shape.Length == 4 && shape[2] == 1 && shape[3] == 1) outShape = new[] { shape[0], shape[1] }; // and back
            }
            return TensorAssembly.Rename(name, outShape, from, count);
        }

        /// <summary>Fused tensor = the parts concatenated along dimension 0; null unless every part is present with the
        /// same trailing dimensions.</summary>
        static TensorAssembly Concatenate(string name, string[] from, IReadOnlyDictionary<string, long[]> shapes)
        {
            if (from.Any(f => f == null)) return null;
            var first = shapes[from[0]];
            if (first.Length == 0) return null;
            long rows = 0;
            var parts = new List<AssemblyPart>();
            foreach (var f in from)
            {
                var s = shapes[f];
                if (s.Length != first.Length || !s.Skip(1).SequenceEqual(first.Skip(1))) return null;
                rows += s[0];
                parts.Add(new AssemblyPart(f, 0, Elements(s)));
            }
            var shape = (long[])first.Clone();
            shape[0] = rows;
            return new TensorAssembly(name, shape, parts);
        }

        /// <summary>A fused tensor cut into equal row blocks along dimension 0; null when the rows do not divide.</summary>
        static List<TensorAssembly> Split(string from, long[] shape, string[] names)
        {
            if (shape.Length == 0 || shape[0] % names.Length != 0) return null;
            var partShape = (long[])shape.Clone();
            partShape[0] = shape[0] / names.Length;
            long each = Elements(partShape);
            return names.Select((nm, k) => new TensorAssembly(nm, (long[])partShape.Clone(), new[] { new AssemblyPart(from, k * each, each) })).ToList();
        }

        #endregion

        #region Patterns

        static long Elements(long[] shape)
        {
            long n = 1;
            foreach (var d in shape) n *= d;
            return n;
        }

        /// <summary>1 + the largest N of names "prefix.N.…" (0 when there are none).</summary>
        static int Count(IEnumerable<string> names, string prefix)
        {
            var idx = Shapes.Indices(names, prefix);
            return idx.Count == 0 ? 0 : idx[idx.Count - 1] + 1;
        }

        static bool IsNumber(string s) => s.Length > 0 && s.Length < 7 && s.All(c => c >= '0' && c <= '9');

        static bool Match(string pattern, string key, out List<string> captures)
        {
            captures = null;
            var p = pattern.Split('.');
            var k = key.Split('.');
            if (p.Length != k.Length) return false;
            var c = new List<string>();
            for (int i = 0; i < p.Length; i++)
            {
                switch (p[i])
                {
                    case "{i}":
                    case "{r}":
                        if (!IsNumber(k[i])) return false;
                        c.Add(k[i]);
                        break;
                    case "{p}":
                        if (k[i].Length == 0 || IsNumber(k[i])) return false;
                        c.Add(k[i]);
                        break;
                    default:
                        if (p[i] != k[i]) return false;
                        break;
                }
            }
            captures = c;
            return true;
        }

        /// <summary>The pattern with its placeholders replaced by <paramref name="captures"/> in order; <c>{r}</c>
        /// becomes n-1-x (an involution, so the same table reverses both ways).</summary>
        static string Fill(string pattern, List<string> captures, int n)
        {
            var p = pattern.Split('.');
            int c = 0;
            for (int i = 0; i < p.Length; i++)
            {
                if (p[i] == "{r}") p[i] = (n - 1 - int.Parse(captures[c++])).ToString(System.Globalization.CultureInfo.InvariantCulture);
                else if (p[i] == "{i}" || p[i] == "{p}") p[i] = captures[c++];
            }
            return string.Join(".", p);
        }

        #endregion
    }
}
