using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text;
using Sd3Tex.Json;
using Sd3Tex.Models;

namespace Sd3Tex.Checkpoints
{
    /// <summary>
    /// What a checkpoint holds: the detected family, each component's inferred config, parameter count and dtypes,
    /// and the tensors that are missing, unexpected or of the wrong shape. <c>sd3tex inspect</c> prints it.
    /// </summary>
    public sealed class CheckpointReport
    {
        public sealed class Part
        {
            public Component Component { get; internal set; }
            public object Config { get; internal set; }           // MmditConfig, ClipConfig, T5Config or VaeConfig; null on error
            public string Error { get; internal set; }            // why the config could not be inferred
            public long Parameters { get; internal set; }
            /// <summary>Bytes of its weights as stored.</summary>
            public long Bytes { get; internal set; }
            public SortedDictionary<string, long> DTypes { get; } = new SortedDictionary<string, long>(StringComparer.Ordinal);
            public SchemaCheck Check { get; internal set; }
        }

        public ModelFamily Family { get; private set; }
        public ModelFamily Architecture { get; private set; }
        public IReadOnlyList<string> Layouts { get; private set; }
        public IReadOnlyList<string> Files { get; private set; }
        public IReadOnlyList<string> Unrecognized { get; private set; }
        public IReadOnlyList<string> Warnings { get; private set; }
        readonly Dictionary<Component, Part> _parts = new Dictionary<Component, Part>();

        public Part this[Component c] => _parts.TryGetValue(c, out var p) ? p : null;
        public MmditConfig Mmdit => this[Component.Mmdit]?.Config as MmditConfig;

        public static CheckpointReport Build(Checkpoint ck) => Build(ck, true);

        /// <summary>The report; without <paramref name="checkTensors"/> the components' configs only (no missing /
        /// unexpected / wrongly shaped lists, <see cref="Part.Check"/> null): what listing models needs.</summary>
        [System.Runtime.CompilerServices.MethodImpl(Sd3Tex.Json.JitHints.Optimize)]
        public static CheckpointReport Build(Checkpoint ck, bool checkTensors)
        {
            var r = new CheckpointReport
            {
                Layouts = ck.Layouts.ToList(),
                Files = ck.Files.Select(f => f.Path).ToList(),
                Unrecognized = ck.Unrecognized.ToList(),
                Warnings = ck.Warnings.ToList(),
            };
            foreach (Component c in Enum.GetValues(typeof(Component)))
            {
                var w = ck.ComponentWeights(c);
                if (w.Count == 0) continue;
                var p = new Part { Component = c };
                foreach (var t in w.Values)
                {
                    p.Bytes += t.ByteLength;
                    string dt = Sd3Tex.DTypes.Name(t.DType);
                    p.DTypes.TryGetValue(dt, out long n);
                    p.DTypes[dt] = n + t.ElementCount;
                }
                if (checkTensors) p.Parameters = Shapes.Parameters(w, name => name != "text_model.embeddings.position_ids");
                try
                {
                    switch (c)
                    {
                        case Component.Mmdit:
                            var m = MmditConfig.Infer(w);
                            p.Config = m;
                            if (checkTensors) p.Check = SchemaCheck.Compare(w, m.Tensors());
                            break;
                        case Component.ClipL:
                        case Component.ClipG:
                            var cl = ClipConfig.Infer(w, c);
                            int? declared = ck.DeclaredClipHeads(c);
                            if (declared.HasValue && cl.HiddenSize % declared.Value == 0) cl.Heads = declared;
                            p.Config = cl;
                            if (checkTensors) p.Check = SchemaCheck.Compare(w, cl.Tensors());
                            break;
                        case Component.T5xxl:
                            var t5 = T5Config.Infer(w);
                            p.Config = t5;
                            if (checkTensors) p.Check = t5.Check(w);
                            break;
                        case Component.Vae:
                            var v = VaeConfig.Infer(w);
                            p.Config = v;
                            if (checkTensors) p.Check = v.Check(w);
                            break;
                    }
                }
                catch (CheckpointException e)
                {
                    p.Error = e.Message;
                }
                r._parts[c] = p;
            }
            var mm = r.Mmdit;
            r.Family = mm?.Family ?? ModelFamily.Unknown;
            r.Architecture = mm?.Architecture ?? ModelFamily.Unknown;
            return r;
        }

        #region JSON

        /// <summary>The <c>inspect --json</c> document. Keys are snake_case; absent components are null.</summary>
        public JsonValue ToJson()
        {
            var root = JsonValue.NewObject();
            root.Set("family", ModelFamilies.Key(Family));
            root.Set("architecture", ModelFamilies.Key(Architecture));
            root.Set("mmdit", PartJson(Component.Mmdit));
            root.Set("clip_l", PartJson(Component.ClipL));
            root.Set("clip_g", PartJson(Component.ClipG));
            root.Set("t5xxl", PartJson(Component.T5xxl));
            root.Set("vae", PartJson(Component.Vae));
            root.Set("layouts", Strings(Layouts));
            root.Set("files", Strings(Files));
            root.Set("unrecognized", Strings(Unrecognized));
            root.Set("warnings", Strings(Warnings));
            return root;
        }

        static JsonValue Strings(IEnumerable<string> s) => JsonValue.NewArray(s.Select(JsonValue.From));
        static JsonValue Ints(IEnumerable<int> s) => JsonValue.NewArray(s.Select(i => JsonValue.From((long)i)));
        static JsonValue OrNull(int? v) => v.HasValue ? JsonValue.From((long)v.Value) : JsonValue.Null;

        JsonValue PartJson(Component c)
        {
            var p = this[c];
            if (p == null) return JsonValue.Null;
            var o = JsonValue.NewObject();
            switch (p.Config)
            {
                case MmditConfig m:
                    o.Set("depth", m.Depth).Set("hidden_size", m.HiddenSize).Set("num_heads", m.NumHeads)
                     .Set("patch_size", m.PatchSize).Set("in_channels", m.InChannels).Set("out_channels", m.OutChannels)
                     .Set("pos_embed_max_size", m.PosEmbedMaxSize).Set("pooled_dim", m.PooledDim).Set("context_dim", m.ContextDim)
                     .Set("qk_norm", m.QkNorm).Set("dual_attention_blocks", Ints(m.DualAttentionBlocks))
                     .Set("mlp_hidden_size", m.MlpHidden);
                    break;
                case ClipConfig cl:
                    o.Set("layers", cl.Layers).Set("hidden_size", cl.HiddenSize).Set("heads", OrNull(cl.Heads))
                     .Set("intermediate_size", cl.IntermediateSize).Set("vocab_size", cl.VocabSize)
                     .Set("max_positions", cl.MaxPositions).Set("projection_dim", OrNull(cl.ProjectionDim))
                     .Set("activation", cl.Activation);
                    break;
                case T5Config t5:
                    o.Set("layers", t5.Layers).Set("hidden_size", t5.DModel).Set("heads", t5.Heads).Set("d_kv", t5.DKv)
                     .Set("d_ff", t5.DFf).Set("vocab_size", t5.VocabSize).Set("relative_attention_num_buckets", t5.NumBuckets)
                     .Set("gated_gelu", t5.GatedGelu);
                    break;
                case VaeConfig v:
                    o.Set("latent_channels", v.LatentChannels).Set("out_channels", v.OutChannels).Set("base_channels", v.BaseChannels)
                     .Set("channel_mult", Ints(v.ChannelMult)).Set("blocks_per_level", v.BlocksPerLevel)
                     .Set("scale_factor", v.Scale).Set("has_encoder", v.HasEncoder);
                    break;
            }
            if (p.Error != null) o.Set("error", p.Error);
            o.Set("parameters", p.Parameters);
            var dt = JsonValue.NewObject();
            foreach (var kv in p.DTypes) dt.Set(kv.Key, kv.Value);
            o.Set("dtypes", dt);
            o.Set("missing", Strings(p.Check?.Missing ?? new List<string>()));
            o.Set("unexpected", Strings(p.Check?.Unexpected ?? new List<string>()));
            o.Set("wrong_shape", Strings(p.Check?.WrongShape ?? new List<string>()));
            return o;
        }

        #endregion

        #region Text

        static string Count(long n) =>
            n >= 1_000_000_000 ? (n / 1e9).ToString("0.00", CultureInfo.InvariantCulture) + " B" :
            n >= 1_000_000 ? (n / 1e6).ToString("0.0", CultureInfo.InvariantCulture) + " M" :
            n.ToString("N0", CultureInfo.InvariantCulture);

        static string Title(Component c)
        {
            switch (c)
            {
                case Component.Mmdit: return "MMDiT";
                case Component.ClipL: return "CLIP-L";
                case Component.ClipG: return "CLIP-G";
                case Component.T5xxl: return "T5-XXL";
                default: return "VAE";
            }
        }

        /// <summary>A human-readable report.</summary>
        public string ToText(int maxListed = 20)
        {
            var sb = new StringBuilder();
            string fam = Family != ModelFamily.Unknown ? ModelFamilies.DisplayName(Family)
                : Architecture != ModelFamily.Unknown ? $"unknown (not a released size; {ModelFamilies.DisplayName(Architecture)} architecture)"
                : "unknown";
            sb.AppendLine($"family: {fam}");
            sb.AppendLine($"layout: {string.Join(", ", Layouts)}");
            foreach (Component c in Enum.GetValues(typeof(Component)))
            {
                var p = this[c];
                sb.AppendLine();
                if (p == null) { sb.AppendLine($"{Title(c)}: absent"); continue; }
                string dts = string.Join(", ", p.DTypes.Select(kv => $"{kv.Key} {Count(kv.Value)}"));
                sb.AppendLine($"{Title(c)}: {Count(p.Parameters)} parameters ({dts})");
                switch (p.Config)
                {
                    case MmditConfig m:
                        sb.AppendLine($"  depth {m.Depth}, hidden {m.HiddenSize}, heads {m.NumHeads} × {MmditConfig.HeadDim}, patch {m.PatchSize}, " +
                                      $"channels {m.InChannels} -> {m.OutChannels}");
                        sb.AppendLine($"  pos_embed {m.PosEmbedMaxSize} × {m.PosEmbedMaxSize}, pooled {m.PooledDim}, context {m.ContextDim}, " +
                                      $"mlp {m.MlpHidden}, qk norm {(m.QkNorm ? "yes" : "no")}, dual attention blocks " +
                                      (m.DualAttentionBlocks.Length == 0 ? "none" : string.Join(",", m.DualAttentionBlocks)));
                        break;
                    case ClipConfig cl:
                        sb.AppendLine($"  layers {cl.Layers}, hidden {cl.HiddenSize}, heads {(cl.Heads?.ToString() ?? "not inferable (width not a multiple of 64): pass --clip-heads")}, " +
                                      $"mlp {cl.IntermediateSize} ({cl.Activation}), vocab {cl.VocabSize}, positions {cl.MaxPositions}, " +
                                      $"projection {(cl.ProjectionDim?.ToString() ?? "none")}");
                        break;
                    case T5Config t5:
                        sb.AppendLine($"  layers {t5.Layers}, d_model {t5.DModel}, heads {t5.Heads} × {t5.DKv}, d_ff {t5.DFf} ({(t5.GatedGelu ? "gated-gelu" : "relu")}), " +
                                      $"vocab {t5.VocabSize}, buckets {t5.NumBuckets}");
                        break;
                    case VaeConfig v:
                        sb.AppendLine($"  latent {v.LatentChannels} ch, base {v.BaseChannels} ch × ({string.Join(", ", v.ChannelMult)}), " +
                                      $"{v.BlocksPerLevel} blocks per level, ×{v.Scale} upsampling, encoder {(v.HasEncoder ? "present" : "absent")}");
                        break;
                }
                if (p.Error != null) sb.AppendLine("  error: " + p.Error);
                if (p.Check != null)
                {
                    List("missing", p.Check.Missing);
                    List("unexpected", p.Check.Unexpected);
                    List("wrong shape", p.Check.WrongShape);
                }
            }
            if (Unrecognized.Count > 0) { sb.AppendLine(); List("tensors of no SD3 component", Unrecognized.ToList()); }
            if (Warnings.Count > 0) { sb.AppendLine(); List("warnings", Warnings.ToList()); }
            return sb.ToString();

            void List(string what, List<string> items)
            {
                if (items.Count == 0) return;
                sb.AppendLine($"  {what} ({items.Count}):");
                foreach (var s in items.Take(maxListed)) sb.AppendLine("    " + s);
                if (items.Count > maxListed) sb.AppendLine($"    ... and {items.Count - maxListed} more");
            }
        }

        #endregion
    }
}
