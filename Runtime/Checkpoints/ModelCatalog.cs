using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using Sd3Tex.Json;
using Sd3Tex.Models;

namespace Sd3Tex.Checkpoints
{
    /// <summary>One component of a found model: the file (or diffusers folder) that holds it.</summary>
    public sealed class FoundComponent
    {
        public Component Component { get; }
        /// <summary>The file, or the diffusers folder, holding it.</summary>
        public string Path { get; }
        /// <summary>The dtype most of its weights have ("F16", "BF16", "F8_E4M3" ...).</summary>
        public string DType { get; }
        /// <summary>Bytes of its weights (from the headers).</summary>
        public long Bytes { get; }
        /// <summary>True when it is in the model's own file or folder.</summary>
        public bool Inside { get; }
        /// <summary>The role a separate CLIP file is opened with (<c>clip_g=PATH</c>); false for files that name their
        /// components by their keys.</summary>
        internal bool NeedsRole { get; }

        internal FoundComponent(Component component, string path, string dtype, long bytes, bool inside, bool needsRole)
        {
            Component = component; Path = path; DType = dtype; Bytes = bytes; Inside = inside; NeedsRole = needsRole;
        }
    }

    /// <summary>
    /// An SD3 / SD3.5 transformer found on disk and the set assembled around it: the text encoders and VAE inside its
    /// own file or folder, else beside it (its folder, a <c>text_encoders/</c> folder there), else anywhere under the
    /// same search root (ComfyUI's <c>models/clip</c>, <c>models/text_encoders</c>, <c>models/vae</c>). T5-XXL is optional.
    /// </summary>
    public sealed class FoundModel
    {
        /// <summary>The name <c>generate --model</c> takes: the file name without <c>.safetensors</c>, or the diffusers
        /// folder's name (the repository's name for the Hugging Face cache).</summary>
        public string Name { get; internal set; }
        public ModelSource Source { get; internal set; }
        /// <summary>The search root it was found under.</summary>
        public string Root { get; internal set; }
        /// <summary>The transformer's file or diffusers folder.</summary>
        public string Path { get; internal set; }
        /// <summary>"single-file" (a file with text encoders), "separate-files" or "diffusers".</summary>
        public string Layout { get; internal set; }
        public ModelFamily Family { get; internal set; }
        public ModelFamily Architecture { get; internal set; }
        /// <summary>The transformer's dtype.</summary>
        public string DType => Components.TryGetValue(Component.Mmdit, out var m) ? m.DType : "";
        public IReadOnlyDictionary<Component, FoundComponent> Components => _components;
        /// <summary>Required components no candidate was found for (CLIP-L, CLIP-G, VAE).</summary>
        public IReadOnlyList<Component> Missing => _missing;
        /// <summary>Components with several equally good candidates (their paths): name the files with --weights.</summary>
        public IReadOnlyDictionary<Component, IReadOnlyList<string>> Ambiguous => _ambiguous;
        /// <summary>Other problems (encoders that do not fit the transformer's widths) and choices made (precision).</summary>
        public IReadOnlyList<string> Problems => _problems;
        public IReadOnlyList<string> Notes => _notes;
        public bool Complete => _missing.Count == 0 && _ambiguous.Count == 0 && _problems.Count == 0;
        /// <summary>Bytes of every chosen component's weights.</summary>
        public long Bytes => _components.Values.Sum(c => c.Bytes);

        internal readonly Dictionary<Component, FoundComponent> _components = new Dictionary<Component, FoundComponent>();
        internal readonly List<Component> _missing = new List<Component>();
        internal readonly Dictionary<Component, IReadOnlyList<string>> _ambiguous = new Dictionary<Component, IReadOnlyList<string>>();
        internal readonly List<string> _problems = new List<string>();
        internal readonly List<string> _notes = new List<string>();

        /// <summary>The weights to open (<see cref="Checkpoint.Open(IEnumerable{string})"/>, <c>--weights</c>): each file
        /// or folder once, separate CLIP files with their role (<c>clip_l=PATH</c>).</summary>
        public List<string> Weights()
        {
            var r = new List<string>();
            foreach (var c in RandomCheckpoint.AllComponents)
            {
                if (!_components.TryGetValue(c, out var f)) continue;
                string entry = f.NeedsRole ? Checkpoint.KeyOf(c) + "=" + f.Path : f.Path;
                if (!r.Contains(entry)) r.Add(entry);
            }
            return r;
        }

        /// <summary>"SD3.5 Medium", or "unknown (SD3 Medium structure)" for a size no released model has.</summary>
        public string FamilyText => Family != ModelFamily.Unknown ? ModelFamilies.DisplayName(Family)
            : Architecture != ModelFamily.Unknown ? $"unknown ({ModelFamilies.DisplayName(Architecture)} structure)" : "unknown";

        /// <summary>What keeps it from being used, in words (empty when complete).</summary>
        public string WhatIsWrong()
        {
            var parts = new List<string>();
            if (_missing.Count > 0) parts.Add("no " + string.Join(", no ", _missing.Select(ModelCatalog.Title)) + " was found for it");
            foreach (var kv in _ambiguous)
                parts.Add($"{kv.Value.Count} {ModelCatalog.Title(kv.Key)} files fit equally ({string.Join(", ", kv.Value)})");
            parts.AddRange(_problems);
            return string.Join("; ", parts);
        }

        /// <summary>The <c>sd3tex models --json</c> entry (snake_case keys).</summary>
        public JsonValue ToJson()
        {
            var components = JsonValue.NewObject();
            foreach (var c in RandomCheckpoint.AllComponents)
            {
                if (!_components.TryGetValue(c, out var f)) { components.Set(Checkpoint.KeyOf(c), JsonValue.Null); continue; }
                components.Set(Checkpoint.KeyOf(c), JsonValue.NewObject().Set("path", f.Path).Set("dtype", f.DType).Set("size_bytes", f.Bytes).Set("inside", f.Inside));
            }
            var ambiguous = JsonValue.NewObject();
            foreach (var kv in _ambiguous.OrderBy(kv => kv.Key)) ambiguous.Set(Checkpoint.KeyOf(kv.Key), JsonValue.NewArray(kv.Value.Select(JsonValue.From)));
            return JsonValue.NewObject()
                .Set("name", Name)
                .Set("family", ModelFamilies.Key(Family))
                .Set("architecture", ModelFamilies.Key(Architecture))
                .Set("source", ModelSearch.Key(Source))
                .Set("root", Root)
                .Set("path", Path)
                .Set("layout", Layout)
                .Set("dtype", DType)
                .Set("size_bytes", Bytes)
                .Set("complete", Complete)
                .Set("components", components)
                .Set("missing", JsonValue.NewArray(_missing.Select(c => JsonValue.From(Checkpoint.KeyOf(c)))))
                .Set("ambiguous", ambiguous)
                .Set("problems", JsonValue.NewArray(_problems.Select(JsonValue.From)))
                .Set("notes", JsonValue.NewArray(_notes.Select(JsonValue.From)))
                .Set("weights", JsonValue.NewArray(Weights().Select(JsonValue.From)));
        }

        public override string ToString() => $"{Name} ({FamilyText}, {ModelSearch.Key(Source)}: {Path})";
    }

    /// <summary>A model name that matches nothing, several models, or an incomplete set. The message lists the
    /// candidates and what is missing.</summary>
    public sealed class ModelResolveException : CheckpointException
    {
        public IReadOnlyList<FoundModel> Candidates { get; }
        public ModelResolveException(string message, IReadOnlyList<FoundModel> candidates) : base(null, message) { Candidates = candidates; }
    }

    /// <summary>
    /// Every SD3 / SD3.5 checkpoint under the places of a <see cref="ModelSearch"/>: the Hugging Face hub cache
    /// (<c>models--stabilityai--stable-diffusion-3*</c>: the snapshot <c>refs/main</c> names, its files being links
    /// into <c>blobs/</c>; a diffusers snapshot and the single files at its root are listed), ComfyUI's
    /// <c>models/checkpoints</c>, <c>models/diffusion_models</c> (and the older <c>models/unet</c>),
    /// <c>models/clip</c>, <c>models/text_encoders</c>, <c>models/vae</c>, and plain folders (searched four levels
    /// deep; a folder with <c>model_index.json</c> is a diffusers model). Only safetensors headers are read
    /// (<see cref="Checkpoint.OpenHeaders"/>): nothing is memory-mapped, no tensor byte is read, and what a file holds
    /// is told by its tensors, never its name (names only break ties between CLIP-L and CLIP-G files and prefer an
    /// "sd3" VAE).
    /// </summary>
    public sealed class ModelCatalog
    {
        const int MaxDepth = 4;

        public IReadOnlyList<FoundModel> Models => _models;
        /// <summary>The places searched and whether each exists.</summary>
        public IReadOnlyList<(ModelSource Source, string Path, bool Exists)> Searched => _searched;
        /// <summary>Files that could not be read (damaged, dangling links), and similar.</summary>
        public IReadOnlyList<string> Warnings => _warnings;
        /// <summary>Safetensors files (and diffusers folders) whose headers were read.</summary>
        public int FilesRead { get; private set; }
        public TimeSpan Time { get; private set; }

        readonly List<FoundModel> _models = new List<FoundModel>();
        readonly List<(ModelSource, string, bool)> _searched = new List<(ModelSource, string, bool)>();
        readonly List<string> _warnings = new List<string>();

        /// <summary>One scanned file or diffusers folder.</summary>
        sealed class Item
        {
            public string Path;
            public string Name;
            public bool IsDiffusers;
            public string[] Beside;       // folders whose items count as "beside" it
            public string Layout;
            public MmditConfig Mmdit;
            public ModelFamily Family, Architecture;
            public readonly Dictionary<Component, Part> Parts = new Dictionary<Component, Part>();
            public bool BareClip;         // a CLIP file without the text_encoders.* prefix: its role is told by the catalog
        }

        sealed class Part
        {
            public string DType;
            public long Bytes;
            public int Width;             // CLIP hidden size, T5 d_model, VAE latent channels
            public int Projection;        // CLIP text_projection rows (0 when absent)
        }

        public static string Title(Component c)
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

        /// <summary>Scans every place of <paramref name="search"/> (default: <see cref="ModelSearch.FromEnvironment"/>).</summary>
        public static ModelCatalog Scan(ModelSearch search = null)
        {
            search = search ?? ModelSearch.FromEnvironment();
            var cat = new ModelCatalog();
            var sw = Stopwatch.StartNew();
            foreach (var (source, place) in search.Places())
            {
                bool exists = Directory.Exists(place);
                cat._searched.Add((source, place, exists));
                if (!exists) continue;
                var pending = new List<Pending>();
                try
                {
                    switch (source)
                    {
                        case ModelSource.HuggingFace: cat.ScanHub(place, pending); break;
                        case ModelSource.ComfyUI: cat.ScanComfy(place, pending); break;
                        default: cat.ScanFolder(place, place, 0, pending); break;
                    }
                }
                catch (Exception e) when (e is IOException || e is UnauthorizedAccessException)
                {
                    cat._warnings.Add($"{place}: {e.Message}");
                }
                // the headers are read in parallel (each file is independent), the results kept in scan order
                var read = new Item[pending.Count];
                var problems = new string[pending.Count];
                System.Threading.Tasks.Parallel.For(0, pending.Count, k => read[k] = Classify(pending[k], out problems[k]));
                cat.FilesRead += pending.Count;
                cat._warnings.AddRange(problems.Where(x => x != null));
                var items = read.Where(i => i != null).ToList();
                foreach (var m in items.Where(i => i.Mmdit != null)) cat._models.Add(cat.Assemble(m, items, source, place));
            }
            cat.Time = sw.Elapsed;
            return cat;
        }

        #region Finding files

        void ScanHub(string hub, List<Pending> items)
        {
            const string prefix = "models--stabilityai--stable-diffusion-3";
            foreach (var repo in SafeDirectories(hub).Where(d => System.IO.Path.GetFileName(d).StartsWith(prefix, StringComparison.OrdinalIgnoreCase)).OrderBy(d => d, StringComparer.Ordinal))
            {
                string snapshot = Snapshot(repo);
                if (snapshot == null) continue;
                string repoName = System.IO.Path.GetFileName(repo);
                repoName = repoName.Substring(repoName.LastIndexOf("--", StringComparison.Ordinal) + 2);
                var beside = new[] { snapshot, System.IO.Path.Combine(snapshot, "text_encoders") };
                if (File.Exists(System.IO.Path.Combine(snapshot, "model_index.json"))) Add(items, snapshot, repoName, true, beside);
                foreach (var dir in beside)
                    foreach (var f in SafeFiles(dir)) Add(items, f, Stem(f), false, beside);
            }
        }

        /// <summary>The snapshot a hub repository's <c>refs/main</c> points to, else its newest snapshot.</summary>
        string Snapshot(string repo)
        {
            string snapshots = System.IO.Path.Combine(repo, "snapshots");
            string main = System.IO.Path.Combine(repo, "refs", "main");
            try
            {
                if (File.Exists(main))
                {
                    string rev = File.ReadAllText(main).Trim();
                    string dir = System.IO.Path.Combine(snapshots, rev);
                    if (rev.Length > 0 && rev.IndexOfAny(System.IO.Path.GetInvalidFileNameChars()) < 0 && Directory.Exists(dir)) return dir;
                }
            }
            catch (Exception e) when (e is IOException || e is UnauthorizedAccessException) { _warnings.Add($"{main}: {e.Message}"); }
            return SafeDirectories(snapshots).OrderByDescending(d => Directory.GetLastWriteTimeUtc(d)).FirstOrDefault();
        }

        void ScanComfy(string root, List<Pending> items)
        {
            string models = System.IO.Path.Combine(root, "models");
            foreach (var sub in new[] { "checkpoints", "diffusion_models", "unet", "clip", "text_encoders", "vae" })
            {
                string dir = System.IO.Path.Combine(models, sub);
                if (Directory.Exists(dir)) ScanFolder(root, dir, 0, items);
            }
        }

        void ScanFolder(string root, string dir, int depth, List<Pending> items)
        {
            var beside = new[] { dir, System.IO.Path.Combine(dir, "text_encoders") };
            foreach (var f in SafeFiles(dir)) Add(items, f, Stem(f), false, beside);
            if (depth >= MaxDepth) return;
            foreach (var sub in SafeDirectories(dir).OrderBy(d => d, StringComparer.Ordinal))
            {
                string name = System.IO.Path.GetFileName(sub);
                if (name.StartsWith(".", StringComparison.Ordinal)) continue;
                if (File.Exists(System.IO.Path.Combine(sub, "model_index.json")))
                    Add(items, sub, name, true, new[] { sub, System.IO.Path.Combine(sub, "text_encoders") });
                else ScanFolder(root, sub, depth + 1, items);
            }
        }

        static string Stem(string file) => System.IO.Path.GetFileNameWithoutExtension(file);

        IEnumerable<string> SafeFiles(string dir)
        {
            if (!Directory.Exists(dir)) return Array.Empty<string>();
            try { return Directory.GetFiles(dir, "*.safetensors").OrderBy(f => f, StringComparer.Ordinal).ToList(); }
            catch (Exception e) when (e is IOException || e is UnauthorizedAccessException) { _warnings.Add($"{dir}: {e.Message}"); return Array.Empty<string>(); }
        }

        IEnumerable<string> SafeDirectories(string dir)
        {
            if (!Directory.Exists(dir)) return Array.Empty<string>();
            try { return Directory.GetDirectories(dir); }
            catch (Exception e) when (e is IOException || e is UnauthorizedAccessException) { _warnings.Add($"{dir}: {e.Message}"); return Array.Empty<string>(); }
        }

        /// <summary>A file or diffusers folder to read.</summary>
        sealed class Pending
        {
            public string Path, Name;
            public bool Diffusers;
            public string[] Beside;
        }

        static void Add(List<Pending> items, string path, string name, bool diffusers, string[] beside)
        {
            if (items.Any(i => string.Equals(i.Path, path, StringComparison.Ordinal))) return;
            items.Add(new Pending { Path = path, Name = name, Diffusers = diffusers, Beside = beside });
        }

        /// <summary>Reads one file's (or diffusers folder's) headers and records what SD3 components it holds; null (and
        /// why, when it could not be read) when it holds none.</summary>
        static Item Classify(Pending pending, out string problem)
        {
            problem = null;
            string path = pending.Path, name = pending.Name;
            bool diffusers = pending.Diffusers;
            try
            {
                using (var ck = Checkpoint.OpenHeaders(new[] { path }))
                {
                    var report = CheckpointReport.Build(ck, checkTensors: false);
                    var item = new Item { Path = path, Name = name, IsDiffusers = diffusers, Beside = pending.Beside, Layout = report.Layouts.FirstOrDefault() ?? "" };
                    item.BareClip = !diffusers && ck.Files.Any(f => f.Tensors.Any(t => t.Name.StartsWith("text_model.", StringComparison.Ordinal)));
                    foreach (Component c in Enum.GetValues(typeof(Component)))
                    {
                        var part = report[c];
                        if (part == null || part.Error != null || part.Config == null) continue;
                        var p = new Part
                        {
                            DType = part.DTypes.Where(kv => kv.Key != "I64").OrderByDescending(kv => kv.Value).Select(kv => kv.Key).FirstOrDefault() ?? "",
                            Bytes = part.Bytes,
                        };
                        switch (part.Config)
                        {
                            case MmditConfig m:
                                if (m.Architecture == ModelFamily.Unknown) continue; // not an SD3 / SD3.5 MMDiT
                                item.Mmdit = m;
                                item.Family = m.Family;
                                item.Architecture = m.Architecture;
                                break;
                            case ClipConfig cl: p.Width = cl.HiddenSize; p.Projection = cl.ProjectionDim ?? 0; break;
                            case T5Config t5: p.Width = t5.DModel; break;
                            case VaeConfig v: p.Width = v.LatentChannels; break;
                        }
                        item.Parts[c] = p;
                    }
                    if (item.BareClip)
                    {
                        // a lone CLIP file does not say which CLIP it is: its name, else its width (CLIP-G is 1280 wide)
                        var clip = item.Parts.ContainsKey(Component.ClipL) ? item.Parts[Component.ClipL] : item.Parts.ContainsKey(Component.ClipG) ? item.Parts[Component.ClipG] : null;
                        item.Parts.Remove(Component.ClipL);
                        item.Parts.Remove(Component.ClipG);
                        if (clip != null) item.Parts[ClipRoleOf(name, clip.Width)] = clip;
                    }
                    return item.Parts.Count > 0 ? item : null;
                }
            }
            catch (Exception e) when (e is CheckpointException || e is IOException || e is UnauthorizedAccessException || e is JsonException)
            {
                problem = $"{path}: skipped ({e.Message})";
                return null;
            }
        }

        static Component ClipRoleOf(string name, int width)
        {
            string n = name.ToLowerInvariant().Replace('-', '_');
            if (n.Contains("clip_g") || n.Contains("clipg") || n.Contains("bigg")) return Component.ClipG;
            if (n.Contains("clip_l") || n.Contains("clipl") || n.Contains("vit_l")) return Component.ClipL;
            return width >= 1024 ? Component.ClipG : Component.ClipL;
        }

        #endregion

        #region Assembling a set

        static int Precision(string dtype)
        {
            switch (dtype)
            {
                case "F32": return 4;
                case "F16": case "BF16": return 3;
                case "F8_E4M3": case "F8_E5M2": return 1;
                default: return 0;
            }
        }

        FoundModel Assemble(Item m, List<Item> all, ModelSource source, string root)
        {
            var model = new FoundModel
            {
                Name = m.Name, Source = source, Root = root, Path = m.Path, Layout = m.IsDiffusers ? "diffusers" : m.Layout,
                Family = m.Family, Architecture = m.Architecture,
            };
            var cfg = m.Mmdit;
            model._components[Component.Mmdit] = new FoundComponent(Component.Mmdit, m.Path, m.Parts[Component.Mmdit].DType, m.Parts[Component.Mmdit].Bytes, true, false);
            var others = all.Where(i => i != m && i.Mmdit == null).ToList();
            var besideDirs = new HashSet<string>(m.Beside.Select(Normalize), StringComparer.Ordinal);
            var beside = others.Where(i => besideDirs.Contains(Normalize(System.IO.Path.GetDirectoryName(i.Path)))).ToList();

            foreach (var c in new[] { Component.ClipL, Component.ClipG, Component.T5xxl, Component.Vae })
            {
                Func<Part, bool> fits;
                switch (c)
                {
                    case Component.ClipL: fits = p => p.Width > 0 && p.Width < cfg.PooledDim; break;
                    case Component.ClipG: fits = p => p.Projection > 0 && p.Projection < cfg.PooledDim; break;
                    case Component.T5xxl: fits = p => p.Width == cfg.ContextDim; break;
                    default: fits = p => p.Width == cfg.InChannels; break;
                }
                if (m.Parts.TryGetValue(c, out var own) && fits(own))
                {
                    model._components[c] = new FoundComponent(c, m.Path, own.DType, own.Bytes, true, false);
                    continue;
                }
                var chosen = Choose(c, beside, fits, model) ?? Choose(c, others, fits, model);
                if (chosen == null)
                {
                    if (c != Component.T5xxl && !model._ambiguous.ContainsKey(c)) model._missing.Add(c);
                    continue;
                }
                var part = chosen.Parts[c];
                model._components[c] = new FoundComponent(c, chosen.Path, part.DType, part.Bytes, false, chosen.BareClip);
            }
            if (!model._components.ContainsKey(Component.T5xxl) && !model._ambiguous.ContainsKey(Component.T5xxl))
                model._notes.Add("no T5-XXL was found: it is optional (its context rows are zeros, as with --no-t5)");

            // the CLIP pair must make the transformer's pooled vector
            if (model._components.ContainsKey(Component.ClipL) && model._components.ContainsKey(Component.ClipG))
            {
                int l = PartOf(all, model._components[Component.ClipL]).Width, g = PartOf(all, model._components[Component.ClipG]).Projection;
                if (l + g != cfg.PooledDim)
                    model._problems.Add($"CLIP-L ({l} wide) and CLIP-G ({g}) do not make the transformer's {cfg.PooledDim}-wide pooled vector: they belong to another model");
            }
            return model;
        }

        static Part PartOf(List<Item> all, FoundComponent f) => all.First(i => i.Path == f.Path).Parts[f.Component];

        /// <summary>The candidate among <paramref name="items"/> for component <paramref name="c"/>: those that fit the
        /// transformer, then (for the VAE) those named "sd3", then the most precise; null when none fits. Several left
        /// over are recorded as ambiguous.</summary>
        static Item Choose(Component c, List<Item> items, Func<Part, bool> fits, FoundModel model)
        {
            var fit = items.Where(i => i.Parts.TryGetValue(c, out var p) && fits(p)).ToList();
            if (fit.Count == 0) return null;
            if (c == Component.Vae && fit.Any(i => i.Name.IndexOf("sd3", StringComparison.OrdinalIgnoreCase) >= 0))
                fit = fit.Where(i => i.Name.IndexOf("sd3", StringComparison.OrdinalIgnoreCase) >= 0).ToList();
            int best = fit.Max(i => Precision(i.Parts[c].DType));
            var top = fit.Where(i => Precision(i.Parts[c].DType) == best).ToList();
            if (top.Count > 1)
            {
                model._ambiguous[c] = top.Select(i => i.Path).ToList();
                return null;
            }
            if (fit.Count > 1)
                model._notes.Add($"{Title(c)}: {System.IO.Path.GetFileName(top[0].Path)} ({top[0].Parts[c].DType}) chosen over " +
                                 string.Join(", ", fit.Where(i => i != top[0]).Select(i => $"{System.IO.Path.GetFileName(i.Path)} ({i.Parts[c].DType})")) + ": the more precise one");
            return top[0];
        }

        static string Normalize(string dir) => string.IsNullOrEmpty(dir) ? "" : System.IO.Path.GetFullPath(dir).TrimEnd(System.IO.Path.DirectorySeparatorChar, System.IO.Path.AltDirectorySeparatorChar);

        #endregion

        #region Resolving a name

        /// <summary>
        /// The model a name stands for: an exact name (case-insensitive), else a unique prefix (<c>sd3.5_med</c>). Throws
        /// <see cref="ModelResolveException"/> when nothing matches (listing what was found and where it looked), when
        /// several do (listing them), or when the set is incomplete or ambiguous (saying what is missing, which
        /// candidates compete, and that <c>--weights</c> names the files instead).
        /// </summary>
        public FoundModel Resolve(string name)
        {
            if (string.IsNullOrWhiteSpace(name)) throw new ArgumentException("a model name is needed.", nameof(name));
            name = name.Trim();
            var exact = _models.Where(m => string.Equals(m.Name, name, StringComparison.OrdinalIgnoreCase)).ToList();
            var matches = exact.Count > 0 ? exact : _models.Where(m => m.Name.StartsWith(name, StringComparison.OrdinalIgnoreCase)).ToList();
            if (matches.Count == 0)
                throw new ModelResolveException($"no model named \"{name}\" was found. " +
                    (_models.Count == 0 ? "No SD3 / SD3.5 checkpoint was found at all" : "Found: " + string.Join(", ", _models.Select(m => m.Name).Distinct())) +
                    $" (searched {SearchedText()}). Run `sd3tex models` to list them, or name the files with --weights.", _models);
            if (matches.Count > 1)
                throw new ModelResolveException($"\"{name}\" matches {matches.Count} models: " + string.Join("; ", matches.Select(m => m.ToString())) +
                    ". Give a longer name, or name the files with --weights.", matches);
            var found = matches[0];
            if (!found.Complete)
                throw new ModelResolveException($"{found} cannot be used: {found.WhatIsWrong()}. SD3 needs the transformer, CLIP-L, CLIP-G and the VAE " +
                    "(T5-XXL is optional): put the missing files beside it (or in ComfyUI's models/clip, models/text_encoders, models/vae), or name every file with --weights.", matches);
            return found;
        }

        /// <summary>The places searched, in words.</summary>
        public string SearchedText() =>
            _searched.Count == 0 ? "nowhere" : string.Join(", ", _searched.Select(s => $"{ModelSearch.Key(s.Item1)} {s.Item2}{(s.Item3 ? "" : " (absent)")}"));

        #endregion

        /// <summary>The <c>sd3tex models --json</c> document: <c>models</c>, <c>searched</c> (source, path, exists),
        /// <c>warnings</c>, <c>files_read</c>, <c>seconds</c>.</summary>
        public JsonValue ToJson()
        {
            return JsonValue.NewObject()
                .Set("models", JsonValue.NewArray(_models.Select(m => m.ToJson())))
                .Set("searched", JsonValue.NewArray(_searched.Select(s => JsonValue.NewObject().Set("source", ModelSearch.Key(s.Item1)).Set("path", s.Item2).Set("exists", s.Item3))))
                .Set("warnings", JsonValue.NewArray(_warnings.Select(JsonValue.From)))
                .Set("files_read", FilesRead)
                .Set("seconds", Math.Round(Time.TotalSeconds, 3));
        }

        /// <summary>A size in GB / MB, as the listings show it.</summary>
        public static string Size(long bytes) =>
            bytes >= 1_000_000_000 ? (bytes / 1e9).ToString("0.00", CultureInfo.InvariantCulture) + " GB" :
            (bytes / 1e6).ToString("0.0", CultureInfo.InvariantCulture) + " MB";
    }
}
