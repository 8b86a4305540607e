using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using Sd3Tex.Json;

namespace Sd3Tex.Checkpoints
{
    /// <summary>The SD3 components a checkpoint can hold.</summary>
    public enum Component { Mmdit, ClipL, ClipG, T5xxl, Vae }

    /// <summary>
    /// All weights of an SD3 model, from any of the layouts users download, under one internal naming that mirrors
    /// the single-file checkpoint keys (<c>model.diffusion_model.*</c>, <c>text_encoders.clip_l.*</c>, ...):
    /// <list type="number">
    /// <item>a single file such as <c>sd3_medium_incl_clips_t5xxlfp8.safetensors</c>;</item>
    /// <item>separate files: a diffusion-model file plus <c>clip_l</c>, <c>clip_g</c> and <c>t5xxl</c> files whose keys lack the
    /// <c>text_encoders.</c> prefix (a path may be written <c>clip_g=path</c> to name its role);</item>
    /// <item>a diffusers folder (<c>model_index.json</c>, <c>transformer/</c>, <c>text_encoder*/</c>, <c>vae/</c>).</item>
    /// </list>
    /// Files are memory-mapped and stay open until <see cref="Dispose"/>.
    /// </summary>
    public sealed class Checkpoint : IDisposable
    {
        public const string MmditPrefix = "model.diffusion_model.";
        public const string ClipLPrefix = "text_encoders.clip_l.transformer.";
        public const string ClipGPrefix = "text_encoders.clip_g.transformer.";
        public const string T5Prefix = "text_encoders.t5xxl.transformer.";
        public const string VaePrefix = "first_stage_model.";

        public static string PrefixOf(Component c)
        {
            switch (c)
            {
                case Component.Mmdit: return MmditPrefix;
                case Component.ClipL: return ClipLPrefix;
                case Component.ClipG: return ClipGPrefix;
                case Component.T5xxl: return T5Prefix;
                default: return VaePrefix;
            }
        }

        /// <summary>The snake_case name used in JSON and on the command line: mmdit, clip_l, clip_g, t5xxl, vae.</summary>
        public static string KeyOf(Component c)
        {
            switch (c)
            {
                case Component.Mmdit: return "mmdit";
                case Component.ClipL: return "clip_l";
                case Component.ClipG: return "clip_g";
                case Component.T5xxl: return "t5xxl";
                default: return "vae";
            }
        }

        /// <summary>A weights entry split as <see cref="Open(IEnumerable{string})"/> reads it: <c>clip_g=PATH</c> (a
        /// component key before '=') gives the role prefix <c>"clip_g="</c> and PATH; any other entry is a path with the
        /// role prefix "".</summary>
        public static string SplitRole(string entry, out string path)
        {
            path = entry ?? "";
            int eq = path.IndexOf('=');
            if (eq <= 0 || !TryParseComponent(path.Substring(0, eq), out _)) return "";
            string role = path.Substring(0, eq + 1);
            path = path.Substring(eq + 1);
            return role;
        }

        public static bool TryParseComponent(string key, out Component c)
        {
            foreach (Component x in Enum.GetValues(typeof(Component)))
                if (KeyOf(x) == key) { c = x; return true; }
            c = Component.Mmdit;
            return false;
        }

        readonly List<SafetensorsFile> _files = new List<SafetensorsFile>();
        readonly Dictionary<string, Weight> _weights = new Dictionary<string, Weight>(StringComparer.Ordinal);
        readonly List<string> _unrecognized = new List<string>();
        readonly List<string> _warnings = new List<string>();
        readonly SortedSet<string> _layouts = new SortedSet<string>(StringComparer.Ordinal);
        readonly Dictionary<Component, int> _declaredHeads = new Dictionary<Component, int>();
        readonly Dictionary<string, string> _pendingHeads = new Dictionary<string, string>(StringComparer.Ordinal);

        public IReadOnlyList<SafetensorsFile> Files => _files;
        public IReadOnlyDictionary<string, Weight> Weights => _weights;
        /// <summary>Stored tensors that belong to no SD3 component ("file: key").</summary>
        public IReadOnlyList<string> Unrecognized => _unrecognized;
        public IReadOnlyList<string> Warnings => _warnings;
        /// <summary>The layouts the inputs came in: "single-file", "separate-files", "diffusers".</summary>
        public IReadOnlyCollection<string> Layouts => _layouts;

        Checkpoint() { }

        public Weight this[string name] => _weights.TryGetValue(name, out var w) ? w : null;
        public bool Contains(string name) => _weights.ContainsKey(name);

        /// <summary>Weights of one component, keyed by their name inside the component (prefix removed).</summary>
        [System.Runtime.CompilerServices.MethodImpl(Sd3Tex.Json.JitHints.Optimize)]
        public IReadOnlyDictionary<string, Weight> ComponentWeights(Component c)
        {
            string prefix = PrefixOf(c);
            var r = new SortedDictionary<string, Weight>(StringComparer.Ordinal);
            foreach (var kv in _weights)
                if (kv.Key.StartsWith(prefix, StringComparison.Ordinal)) r[kv.Key.Substring(prefix.Length)] = kv.Value;
            return r;
        }

        /// <summary>Gives back the resident pages of the files that hold component <paramref name="c"/>
        /// (<see cref="SafetensorsFile.DropResidentPages"/>): its in-place weights leave the process's resident set and
        /// fault in again from the OS file cache on their next use. Returns the number of files advised.</summary>
        public int DropResidentPages(Component c)
        {
            string prefix = PrefixOf(c);
            var files = new HashSet<SafetensorsFile>();
            foreach (var kv in _weights)
                if (kv.Key.StartsWith(prefix, StringComparison.Ordinal))
                    foreach (var part in kv.Value.Parts) files.Add(part.Source.File);
            int n = 0;
            foreach (var f in files) if (f.DropResidentPages()) n++;
            return n;
        }

        /// <summary>The attention heads the files declare for a CLIP encoder (the weights do not hold them): a single
        /// file's <c>__metadata__</c> key <c>text_encoders.clip_l.num_attention_heads</c>, a separate CLIP file's
        /// <c>num_attention_heads</c>, or a diffusers text encoder's <c>config.json</c>; null when none is declared
        /// (then 64-wide heads are inferred from the width, as in every released CLIP).</summary>
        public int? DeclaredClipHeads(Component clip) => _declaredHeads.TryGetValue(clip, out int h) ? h : (int?)null;

        void DeclareHeads(Component clip, string value, string source)
        {
            if (value == null) return;
            if (int.TryParse(value.Trim(), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int h) && h > 0)
                _declaredHeads[clip] = h;
            else _warnings.Add($"{source}: num_attention_heads \"{value}\" is not a positive integer; ignored.");
        }

        public bool Has(Component c)
        {
            string prefix = PrefixOf(c);
            return _weights.Keys.Any(k => k.StartsWith(prefix, StringComparison.Ordinal));
        }

        /// <summary>Opens every path (files or diffusers folders). Throws <see cref="CheckpointException"/> on bad input.</summary>
        public static Checkpoint Open(params string[] paths) => Open((IEnumerable<string>)paths);

        public static Checkpoint Open(IEnumerable<string> paths) => Open(paths, headersOnly: false);

        /// <summary>
        /// Opens every path as <see cref="Open(IEnumerable{string})"/> does, reading only the safetensors headers
        /// (<see cref="SafetensorsFile.ReadHeader"/>): names, shapes, dtypes and metadata, so configs, families and
        /// <see cref="CheckpointReport"/> work while no file is mapped and no tensor byte is read (reading a weight's data
        /// throws). For listing models.
        /// </summary>
        public static Checkpoint OpenHeaders(IEnumerable<string> paths) => Open(paths, headersOnly: true);

        bool _headersOnly;

        static Checkpoint Open(IEnumerable<string> paths, bool headersOnly)
        {
            var list = paths?.ToList() ?? new List<string>();
            if (list.Count == 0) throw new CheckpointException(null, "no checkpoint paths were given. Pass a .safetensors file, several files, or a diffusers folder.");
            var ck = new Checkpoint { _headersOnly = headersOnly };
            try
            {
                var pendingClips = new List<(string file, Dictionary<string, TensorInfo> keys, Component? role)>();
                foreach (var raw in list)
                {
                    string key = SplitRole(raw, out string path);
                    Component? role = null;
                    if (key.Length > 0 && TryParseComponent(key.TrimEnd('='), out var r)) role = r;
                    if (Directory.Exists(path)) ck.OpenFolder(path, pendingClips);
                    else ck.OpenFile(path, role, pendingClips);
                }
                ck.AssignClipRoles(pendingClips);
            }
            catch
            {
                ck.Dispose();
                throw;
            }
            return ck;
        }

        SafetensorsFile OpenSafetensors(string path)
        {
            var f = _headersOnly ? SafetensorsFile.ReadHeader(path) : SafetensorsFile.Open(path);
            _files.Add(f);
            return f;
        }

        void AddWeight(string name, Weight w)
        {
            if (_weights.TryGetValue(name, out var old))
                _warnings.Add($"{name}: {w.SourceText} replaces {old.SourceText}");
            _weights[name] = w;
        }

        #region Separate and single files

        enum KeyKind { Internal, Mmdit, DiffusersTransformer, Clip, T5, Vae, DiffusersVae, Unknown }

        static readonly HashSet<string> MmditRoots = new HashSet<string>
            { "joint_blocks", "x_embedder", "t_embedder", "y_embedder", "context_embedder", "pos_embed", "final_layer" };

        [System.Runtime.CompilerServices.MethodImpl(Sd3Tex.Json.JitHints.Optimize)]
        static KeyKind Classify(string key)
        {
            if (key.StartsWith(MmditPrefix, StringComparison.Ordinal) || key.StartsWith("text_encoders.", StringComparison.Ordinal) ||
                key.StartsWith(VaePrefix, StringComparison.Ordinal)) return KeyKind.Internal;
            int dot = key.IndexOf('.');
            string root = dot < 0 ? key : key.Substring(0, dot);
            if (root == "transformer_blocks" || root == "time_text_embed" || root == "norm_out" || root == "proj_out")
                return KeyKind.DiffusersTransformer;
            if (MmditRoots.Contains(root)) return KeyKind.Mmdit;
            if (root == "text_model" || key == "text_projection.weight" || key == "logit_scale") return KeyKind.Clip;
            if (key == "shared.weight" || key.StartsWith("encoder.block.", StringComparison.Ordinal) ||
                key.StartsWith("encoder.final_layer_norm", StringComparison.Ordinal) || key.StartsWith("encoder.embed_tokens", StringComparison.Ordinal))
                return KeyKind.T5;
            if (root == "decoder" || root == "encoder" || root == "quant_conv" || root == "post_quant_conv")
                return key.Contains("up_blocks") || key.Contains("mid_block") || key.Contains("down_blocks") || key.Contains("conv_norm_out")
                    ? KeyKind.DiffusersVae : KeyKind.Vae;
            return KeyKind.Unknown;
        }

        [System.Runtime.CompilerServices.MethodImpl(Sd3Tex.Json.JitHints.Optimize)]
        void OpenFile(string path, Component? role, List<(string, Dictionary<string, TensorInfo>, Component?)> pendingClips)
        {
            var f = OpenSafetensors(path);
            var byKind = new Dictionary<KeyKind, Dictionary<string, TensorInfo>>();
            foreach (var t in f.Tensors)
            {
                var kind = Classify(t.Name);
                if (!byKind.TryGetValue(kind, out var d)) byKind[kind] = d = new Dictionary<string, TensorInfo>(StringComparer.Ordinal);
                d[t.Name] = t;
            }
            // a file with any diffusers transformer key is a diffusers transformer file: its bare keys (context_embedder,
            // pos_embed ...) follow diffusers naming too
            if (byKind.ContainsKey(KeyKind.DiffusersTransformer) && byKind.TryGetValue(KeyKind.Mmdit, out var bare))
            {
                foreach (var kv in bare) byKind[KeyKind.DiffusersTransformer][kv.Key] = kv.Value;
                byKind.Remove(KeyKind.Mmdit);
            }
            if (byKind.ContainsKey(KeyKind.DiffusersVae) && byKind.TryGetValue(KeyKind.Vae, out var ldm))
            {
                foreach (var kv in ldm) byKind[KeyKind.DiffusersVae][kv.Key] = kv.Value;
                byKind.Remove(KeyKind.Vae);
            }

            foreach (var kv in byKind)
            {
                switch (kv.Key)
                {
                    case KeyKind.Internal:
                        // one file holding text encoders is the single-file layout; a diffusion model (and VAE) file
                        // with the internal prefix, as Stability ships sd3.5_large.safetensors, is one of separate files
                        _layouts.Add(kv.Value.Keys.Any(k => k.StartsWith("text_encoders.", StringComparison.Ordinal)) ? "single-file" : "separate-files");
                        foreach (var t in kv.Value) AddWeight(t.Key, Weight.Of(t.Key, t.Value));
                        foreach (var clip in new[] { Component.ClipL, Component.ClipG })
                            if (f.Metadata.TryGetValue(CheckpointWriter.SingleFileHeadsKey(clip), out string heads))
                                DeclareHeads(clip, heads, Path.GetFileName(path));
                        break;
                    case KeyKind.Mmdit:
                        _layouts.Add("separate-files");
                        foreach (var t in kv.Value) AddWeight(MmditPrefix + t.Key, Weight.Of(MmditPrefix + t.Key, t.Value));
                        break;
                    case KeyKind.T5:
                        _layouts.Add("separate-files");
                        foreach (var t in kv.Value) AddWeight(T5Prefix + t.Key, Weight.Of(T5Prefix + t.Key, t.Value));
                        break;
                    case KeyKind.Vae:
                        _layouts.Add("separate-files");
                        foreach (var t in kv.Value) AddWeight(VaePrefix + t.Key, Weight.Of(VaePrefix + t.Key, t.Value));
                        break;
                    case KeyKind.Clip:
                        _layouts.Add("separate-files");
                        if (role.HasValue && role != Component.ClipL && role != Component.ClipG)
                            throw new CheckpointException(path, $"holds CLIP weights but was given the role {KeyOf(role.Value)}.");
                        pendingClips.Add((path, kv.Value, role));
                        if (f.Metadata.TryGetValue(CheckpointWriter.HeadsKey, out string declared)) _pendingHeads[path] = declared;
                        break;
                    case KeyKind.DiffusersTransformer:
                        _layouts.Add("diffusers");
                        AddAssembled(MmditPrefix, kv.Value, DiffusersNames.TransformerToInternal);
                        break;
                    case KeyKind.DiffusersVae:
                        _layouts.Add("diffusers");
                        AddAssembled(VaePrefix, kv.Value, DiffusersNames.VaeToInternal);
                        break;
                    default:
                        foreach (var t in kv.Value) _unrecognized.Add($"{Path.GetFileName(path)}: {t.Key}");
                        break;
                }
            }
        }

        delegate IReadOnlyList<TensorAssembly> Mapper(IReadOnlyDictionary<string, long[]> shapes, List<string> unmapped);

        void AddAssembled(string prefix, Dictionary<string, TensorInfo> tensors, Mapper map)
        {
            var shapes = tensors.ToDictionary(kv => kv.Key, kv => kv.Value.Shape, StringComparer.Ordinal);
            var unmapped = new List<string>();
            foreach (var a in map(shapes, unmapped))
            {
                var parts = a.Parts.Select(p => new WeightPart(tensors[p.From], p.Start, p.Count)).ToList();
                AddWeight(prefix + a.Name, new Weight(prefix + a.Name, a.Shape, parts));
            }
            foreach (var u in unmapped)
                _unrecognized.Add($"{Path.GetFileName(tensors[u].File.Path)}: {u}");
        }

        /// <summary>CLIP files do not say whether they are CLIP-L or CLIP-G. A role given as <c>clip_g=path</c> wins;
        /// otherwise a role not yet filled by another input is taken, and of two unnamed files the narrower is CLIP-L.</summary>
        void AssignClipRoles(List<(string file, Dictionary<string, TensorInfo> keys, Component? role)> clips)
        {
            if (clips.Count == 0) return;
            long Width(Dictionary<string, TensorInfo> k) =>
                k.TryGetValue("text_model.embeddings.token_embedding.weight", out var t) && t.Shape.Length == 2 ? t.Shape[1] : 0;
            var taken = new HashSet<Component>();
            if (Has(Component.ClipL)) taken.Add(Component.ClipL);
            if (Has(Component.ClipG)) taken.Add(Component.ClipG);
            foreach (var c in clips) if (c.role.HasValue) taken.Add(c.role.Value);

            var unnamed = clips.Where(c => !c.role.HasValue).OrderBy(c => Width(c.keys)).ToList();
            var free = new[] { Component.ClipL, Component.ClipG }.Where(c => !taken.Contains(c)).ToList();
            var assigned = new List<(string file, Dictionary<string, TensorInfo> keys, Component role)>();
            foreach (var c in clips.Where(c => c.role.HasValue)) assigned.Add((c.file, c.keys, c.role.Value));
            if (unnamed.Count > free.Count)
                throw new CheckpointException(unnamed.Last().file,
                    "more CLIP text encoders were given than SD3 uses (one CLIP-L and one CLIP-G). Remove one, or name the roles as clip_l=PATH clip_g=PATH.");
            if (unnamed.Count == 1 && free.Count == 2)
                // one CLIP file alone: real CLIP-L is 768 wide, CLIP-G 1280
                assigned.Add((unnamed[0].file, unnamed[0].keys, Width(unnamed[0].keys) >= 1024 ? Component.ClipG : Component.ClipL));
            else
                for (int i = 0; i < unnamed.Count; i++) assigned.Add((unnamed[i].file, unnamed[i].keys, free[i]));

            foreach (var a in assigned)
            {
                if (_pendingHeads.TryGetValue(a.file, out string heads)) DeclareHeads(a.role, heads, Path.GetFileName(a.file));
                string prefix = PrefixOf(a.role);
                foreach (var t in a.keys) AddWeight(prefix + t.Key, Weight.Of(prefix + t.Key, t.Value));
            }
        }

        #endregion

        #region Diffusers folders

        void OpenFolder(string folder, List<(string, Dictionary<string, TensorInfo>, Component?)> pendingClips)
        {
            string index = Path.Combine(folder, "model_index.json");
            if (!File.Exists(index))
            {
                // a folder of separate files is accepted too
                var files = Directory.GetFiles(folder, "*.safetensors").OrderBy(f => f, StringComparer.Ordinal).ToList();
                if (files.Count == 0)
                    throw new CheckpointException(folder, "is neither a diffusers folder (no model_index.json) nor a folder of .safetensors files.");
                foreach (var f in files) OpenFile(f, null, pendingClips);
                return;
            }
            JsonValue modelIndex;
            try { modelIndex = JsonValue.Parse(File.ReadAllText(index)); }
            catch (JsonException e) { throw new CheckpointException(index, "malformed JSON: " + e.Message, e); }
            if (modelIndex.Kind != JsonKind.Object)
                throw new CheckpointException(index, "is not a JSON object. The diffusers folder is damaged: download model_index.json again.");
            _layouts.Add("diffusers");

            var parts = new (string sub, Component c)[]
            {
                ("transformer", Component.Mmdit), ("text_encoder", Component.ClipL), ("text_encoder_2", Component.ClipG),
                ("text_encoder_3", Component.T5xxl), ("vae", Component.Vae),
            };
            foreach (var (sub, c) in parts)
            {
                string dir = Path.Combine(folder, sub);
                if (!Directory.Exists(dir)) continue;
                var tensors = new Dictionary<string, TensorInfo>(StringComparer.Ordinal);
                foreach (var file in DiffusersWeightFiles(dir))
                    foreach (var t in OpenSafetensors(file).Tensors)
                        tensors[t.Name] = t;
                if (tensors.Count == 0) continue;
                if (c == Component.ClipL || c == Component.ClipG) DeclareHeadsFromConfig(c, Path.Combine(dir, "config.json"));
                switch (c)
                {
                    case Component.Mmdit: AddAssembled(MmditPrefix, tensors, DiffusersNames.TransformerToInternal); break;
                    case Component.Vae: AddAssembled(VaePrefix, tensors, DiffusersNames.VaeToInternal); break;
                    default:
                        string prefix = PrefixOf(c);
                        foreach (var t in tensors)
                        {
                            var kind = Classify(t.Key);
                            bool ok = c == Component.T5xxl ? kind == KeyKind.T5 : kind == KeyKind.Clip;
                            if (ok) AddWeight(prefix + t.Key, Weight.Of(prefix + t.Key, t.Value));
                            else _unrecognized.Add($"{sub}/{Path.GetFileName(t.Value.File.Path)}: {t.Key}");
                        }
                        break;
                }
            }
        }

        /// <summary>A diffusers text encoder's <c>config.json</c> <c>num_attention_heads</c> (transformers' CLIPTextConfig).</summary>
        void DeclareHeadsFromConfig(Component clip, string config)
        {
            if (!File.Exists(config)) return;
            JsonValue j;
            try { j = JsonValue.Parse(File.ReadAllText(config)); }
            catch (JsonException e) { _warnings.Add($"{config}: malformed JSON ({e.Message}); its num_attention_heads is ignored."); return; }
            var heads = j.Kind == JsonKind.Object ? j["num_attention_heads"] : null;
            if (heads == null || heads.IsNull) return;
            DeclareHeads(clip, heads.Kind == JsonKind.Number ? heads.AsLong.ToString(System.Globalization.CultureInfo.InvariantCulture) : "?",
                         Path.GetFileName(Path.GetDirectoryName(config)) + "/config.json");
        }

        /// <summary>The safetensors files of one diffusers component folder: the shards an <c>*.index.json</c> names,
        /// else the single weights file (the full-precision one when an fp16 variant sits beside it).</summary>
        static List<string> DiffusersWeightFiles(string dir)
        {
            var indexes = Directory.GetFiles(dir, "*.safetensors.index*.json").OrderBy(f => f.Contains(".fp16.") ? 1 : 0).ThenBy(f => f, StringComparer.Ordinal).ToList();
            if (indexes.Count > 0)
            {
                string idx = indexes[0];
                JsonValue root;
                try { root = JsonValue.Parse(File.ReadAllText(idx)); }
                catch (JsonException e) { throw new CheckpointException(idx, "malformed JSON: " + e.Message, e); }
                var map = root["weight_map"];
                if (map == null || map.Kind != JsonKind.Object)
                    throw new CheckpointException(idx, "has no \"weight_map\" object.");
                var shards = new SortedSet<string>(StringComparer.Ordinal);
                foreach (var kv in map.Properties)
                {
                    if (kv.Value.Kind != JsonKind.String) throw new CheckpointException(idx, $"weight_map entry \"{kv.Key}\" is not a file name.");
                    string shard = kv.Value.AsString;
                    if (shard.Contains("/") || shard.Contains("\\") || shard.Contains(".."))
                        throw new CheckpointException(idx, $"weight_map names \"{shard}\", which is not a file in this folder.");
                    shards.Add(shard);
                }
                var files = new List<string>();
                foreach (var s in shards)
                {
                    string p = Path.Combine(dir, s);
                    if (!File.Exists(p))
                        throw new CheckpointException(p, $"is listed in {Path.GetFileName(idx)} but missing. Download every shard of the model.");
                    files.Add(p);
                }
                return files;
            }
            var all = Directory.GetFiles(dir, "*.safetensors").OrderBy(f => f, StringComparer.Ordinal).ToList();
            var full = all.Where(f => !Path.GetFileName(f).Contains(".fp16.")).ToList();
            return full.Count > 0 ? full : all;
        }

        #endregion

        public void Dispose()
        {
            foreach (var f in _files) f.Dispose();
            _files.Clear();
        }
    }
}
