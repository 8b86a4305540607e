using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text.RegularExpressions;
using Sd3Tex.Checkpoints;
using Sd3Tex.Generation;
using Sd3Tex.Json;

namespace Sd3Tex.Authoring
{
    /// <summary>
    /// Where the model is and how to run it, remembered per project in <see cref="ProjectRelativePath"/> (JSON, so
    /// it can be shared through version control when the paths are relative to the project). Relative paths resolve
    /// against the project folder (the one holding Assets/), so <c>Models/sd3.5_medium.safetensors</c> means a
    /// Models folder beside Assets. Plain public fields so that a component can also serialize one.
    /// </summary>
    [Serializable]
    public sealed class ModelSettings
    {
        /// <summary>The settings file, relative to the project folder.</summary>
        public const string ProjectRelativePath = "ProjectSettings/Sd3TexSettings.json";

        /// <summary>The devices the window offers (a settings file may also name <c>cuda:N</c> / <c>opencl:N</c>).</summary>
        public static readonly string[] DeviceChoices = { "auto", "cuda", "opencl", "cpu", "reference" };

        /// <summary>Checkpoint files or a diffusers folder (see <see cref="GeneratorOptions.Weights"/>); <c>role=path</c>
        /// names a file's role.</summary>
        public List<string> Weights = new List<string>();
        /// <summary>The tokenizer folder; empty: the diffusers folder among the weights when it has tokenizer files, else
        /// the tokenizers bundled with the package.</summary>
        public string Tokenizers = "";
        public string Device = "auto";
        /// <summary>Device memory the generator may use, in MiB; 0 = the device's memory.</summary>
        public int MemoryBudgetMiB;
        public Residency Residency = Residency.Auto;
        /// <summary>VAE tile size in latent cells; 0 = chosen from the memory budget.</summary>
        public int VaeTileSize;
        public bool AllowLargeGrid;
        /// <summary>CLIP-L / CLIP-G attention heads for models whose heads cannot be inferred; 0 = inferred.</summary>
        public int ClipLHeads;
        public int ClipGHeads;
        /// <summary>Folders the window's model list searches besides the Hugging Face cache, <c>$COMFYUI_PATH</c> and
        /// <c>$SD3TEX_MODELS</c> (which an editor started from a desktop launcher may not see): ComfyUI folders (those
        /// holding <c>models/checkpoints</c>) or any folder of checkpoints; relative to the project.</summary>
        public List<string> ModelFolders = new List<string>();

        public ModelSettings Clone()
        {
            var c = (ModelSettings)MemberwiseClone();
            c.Weights = new List<string>(Weights ?? new List<string>());
            c.ModelFolders = new List<string>(ModelFolders ?? new List<string>());
            return c;
        }

        #region Paths

        static readonly Regex DevicePattern = new Regex(@"^(auto|cpu|ilgpu-cpu|reference|(cuda|opencl|cl)(:\d+)?)$", RegexOptions.CultureInvariant | RegexOptions.IgnoreCase);

        /// <summary>A weights entry split into its role (<c>clip_g=</c>, or "") and its path.</summary>
        static void Split(string entry, string baseDirectory, out string role, out string path) =>
            role = Checkpoints.Checkpoint.SplitRole(entry, out path);

        /// <summary><paramref name="path"/> made absolute against <paramref name="baseDirectory"/>.</summary>
        public static string Resolve(string baseDirectory, string path)
        {
            if (string.IsNullOrEmpty(path)) return path;
            if (Path.IsPathRooted(path) || string.IsNullOrEmpty(baseDirectory)) return Path.GetFullPath(path);
            return Path.GetFullPath(Path.Combine(baseDirectory, path));
        }

        /// <summary><paramref name="path"/> relative to <paramref name="baseDirectory"/> when it lies inside it (with '/'
        /// separators, as settings files keep it), else unchanged.</summary>
        public static string MakeRelative(string baseDirectory, string path)
        {
            if (string.IsNullOrEmpty(path) || string.IsNullOrEmpty(baseDirectory)) return path;
            string full = Path.GetFullPath(path), root = Path.GetFullPath(baseDirectory).TrimEnd('/', '\\') + Path.DirectorySeparatorChar;
            var cmp = Path.DirectorySeparatorChar == '\\' ? StringComparison.OrdinalIgnoreCase : StringComparison.Ordinal;
            if (!full.StartsWith(root, cmp)) return path;
            return full.Substring(root.Length).Replace('\\', '/');
        }

        /// <summary>True when <paramref name="path"/> (absolute) lies in the project's Assets folder.</summary>
        public static bool IsUnderAssets(string projectRoot, string path)
        {
            if (string.IsNullOrEmpty(projectRoot) || string.IsNullOrEmpty(path)) return false;
            string rel = MakeRelative(projectRoot, path);
            return rel != path && (rel == "Assets" || rel.StartsWith("Assets/", StringComparison.Ordinal));
        }

        #endregion

        /// <summary>The generator options these settings stand for; relative paths resolve against <paramref name="projectRoot"/>.</summary>
        public GeneratorOptions ToGeneratorOptions(string projectRoot)
        {
            var o = new GeneratorOptions
            {
                Tokenizers = string.IsNullOrWhiteSpace(Tokenizers) ? null : Resolve(projectRoot, Tokenizers.Trim()),
                Device = string.IsNullOrWhiteSpace(Device) ? "auto" : Device.Trim(),
                ClipLHeads = ClipLHeads > 0 ? ClipLHeads : (int?)null,
                ClipGHeads = ClipGHeads > 0 ? ClipGHeads : (int?)null,
                MemoryBudget = Math.Max(0, MemoryBudgetMiB) * (1L << 20),
                Residency = Residency,
                VaeTileSize = Math.Max(0, VaeTileSize),
                AllowLargeGrid = AllowLargeGrid,
            };
            foreach (var w in Weights ?? new List<string>())
            {
                if (string.IsNullOrWhiteSpace(w)) continue;
                Split(w.Trim(), projectRoot, out string role, out string path);
                o.Weights.Add(role + Resolve(projectRoot, path));
            }
            return o;
        }

        /// <summary>
        /// What stops these settings from opening a model, or is unwise (weights inside Assets/), each saying what to
        /// do. It checks that files exist and values parse; whether the files hold a complete model is only known when
        /// the generator opens them.
        /// </summary>
        public List<FormMessage> Check(string projectRoot)
        {
            var m = new List<FormMessage>();
            var weights = new List<string>();
            foreach (var w in Weights ?? new List<string>()) if (!string.IsNullOrWhiteSpace(w)) weights.Add(w.Trim());
            if (weights.Count == 0)
                m.Add(FormMessage.Error("Weights", "No model files yet: add the SD3 / SD3.5 checkpoint (.safetensors files) or its diffusers folder. " +
                                                   "Keep them outside Assets/, e.g. in a Models/ folder beside it."));
            bool diffusersFolder = false;
            foreach (var w in weights)
            {
                Split(w, projectRoot, out _, out string path);
                string full = Resolve(projectRoot, path);
                bool isDir = Directory.Exists(full);
                if (!isDir && !File.Exists(full))
                {
                    m.Add(FormMessage.Error("Weights", $"{w} was not found (looked at {full}). Fix the path or remove the entry."));
                    continue;
                }
                if (isDir && File.Exists(Path.Combine(full, "model_index.json"))) diffusersFolder = true;
                else if (isDir) m.Add(FormMessage.Error("Weights", $"{w} is a folder without model_index.json: name the .safetensors files, or the diffusers folder itself."));
                if (IsUnderAssets(projectRoot, full))
                    m.Add(FormMessage.Warning("Weights", $"{w} is inside Assets/: Unity imports every file there (multi-GB weights slow imports and bloat builds). Move it to a folder beside Assets/, e.g. Models/."));
            }
            if (string.IsNullOrWhiteSpace(Tokenizers))
            {
                // empty: a diffusers folder's own tokenizers, else those bundled with the package
                if (!diffusersFolder && weights.Count > 0 && Text.PackageTokenizers.Find() == null)
                    m.Add(FormMessage.Error("Tokenizers", "The tokenizer files bundled with the package (Tokenizers~/) are missing: reinstall the package, or name a folder holding clip/vocab.json, clip/merges.txt and t5/tokenizer.json."));
            }
            else
            {
                string full = Resolve(projectRoot, Tokenizers.Trim());
                if (!Directory.Exists(full)) m.Add(FormMessage.Error("Tokenizers", $"The tokenizer folder {Tokenizers} was not found (looked at {full})."));
            }
            if (!DevicePattern.IsMatch((Device ?? "").Trim()) && !string.IsNullOrWhiteSpace(Device))
                m.Add(FormMessage.Error("Device", $"Device \"{Device}\" is unknown: use auto, cuda, cuda:N, opencl, opencl:N, cpu, ilgpu-cpu or reference."));
            if (MemoryBudgetMiB < 0) m.Add(FormMessage.Error("MemoryBudgetMiB", "The memory budget cannot be negative: use 0 for the device's memory."));
            if (VaeTileSize < 0) m.Add(FormMessage.Error("VaeTileSize", "The VAE tile size cannot be negative: use 0 to choose it from the memory budget."));
            if (ClipLHeads < 0 || ClipGHeads < 0) m.Add(FormMessage.Error("ClipHeads", "CLIP heads cannot be negative: use 0 to infer them from the weights."));
            return m;
        }

        #region JSON

        public string ToJson()
        {
            var j = JsonValue.NewObject();
            var w = JsonValue.NewArray();
            foreach (var x in Weights ?? new List<string>()) w.Add(JsonValue.From(x ?? ""));
            j.Set("weights", w);
            j.Set("tokenizers", Tokenizers ?? "");
            j.Set("device", Device ?? "auto");
            j.Set("memory_budget_mib", MemoryBudgetMiB);
            j.Set("residency", Residency.ToString());
            j.Set("vae_tile_size", VaeTileSize);
            j.Set("allow_large_grid", AllowLargeGrid);
            j.Set("clip_l_heads", ClipLHeads);
            j.Set("clip_g_heads", ClipGHeads);
            var folders = JsonValue.NewArray();
            foreach (var x in ModelFolders ?? new List<string>()) folders.Add(JsonValue.From(x ?? ""));
            j.Set("model_folders", folders);
            return j.ToJson(true) + "\n";
        }

        /// <summary>Parses settings JSON; missing keys keep their defaults, unknown keys are ignored (a newer version's).
        /// Throws <see cref="FormatException"/> naming the key that has the wrong type.</summary>
        public static ModelSettings FromJson(string json)
        {
            var j = JsonValue.Parse(json ?? "");
            if (j.Kind != JsonKind.Object) throw new FormatException("the model settings must be a JSON object.");
            var s = new ModelSettings();
            var w = j["weights"];
            if (w != null && !w.IsNull)
            {
                if (w.Kind != JsonKind.Array) throw new FormatException("\"weights\" must be a list of paths.");
                foreach (var x in w.Items)
                {
                    if (x.Kind != JsonKind.String) throw new FormatException("\"weights\" must hold only path strings.");
                    s.Weights.Add(x.AsString);
                }
            }
            s.Tokenizers = Str(j, "tokenizers", s.Tokenizers);
            s.Device = Str(j, "device", s.Device);
            s.MemoryBudgetMiB = Int(j, "memory_budget_mib", s.MemoryBudgetMiB);
            string residency = Str(j, "residency", s.Residency.ToString());
            if (!Enum.TryParse(residency, true, out s.Residency) || !Enum.IsDefined(typeof(Residency), s.Residency))
                throw new FormatException($"\"residency\" is \"{residency}\": use Auto, KeepResident or Sequential.");
            s.VaeTileSize = Int(j, "vae_tile_size", s.VaeTileSize);
            var large = j["allow_large_grid"];
            if (large != null && !large.IsNull)
            {
                if (large.Kind != JsonKind.Bool) throw new FormatException("\"allow_large_grid\" must be true or false.");
                s.AllowLargeGrid = large.AsBool;
            }
            s.ClipLHeads = Int(j, "clip_l_heads", s.ClipLHeads);
            s.ClipGHeads = Int(j, "clip_g_heads", s.ClipGHeads);
            var mf = j["model_folders"];
            if (mf != null && !mf.IsNull)
            {
                if (mf.Kind != JsonKind.Array || mf.Items.Any(x => x.Kind != JsonKind.String)) throw new FormatException("\"model_folders\" must be a list of paths.");
                foreach (var x in mf.Items) s.ModelFolders.Add(x.AsString);
            }
            return s;
        }

        static string Str(JsonValue j, string key, string fallback)
        {
            var v = j[key];
            if (v == null || v.IsNull) return fallback;
            if (v.Kind != JsonKind.String) throw new FormatException($"\"{key}\" must be a string.");
            return v.AsString;
        }

        static int Int(JsonValue j, string key, int fallback)
        {
            var v = j[key];
            if (v == null || v.IsNull) return fallback;
            if (!v.IsInteger || v.AsLong < int.MinValue || v.AsLong > int.MaxValue) throw new FormatException($"\"{key}\" must be an integer.");
            return (int)v.AsLong;
        }

        /// <summary>
        /// Reads the settings file. A missing file gives the defaults; an unreadable one also gives the defaults, and
        /// <paramref name="problem"/> says what was wrong (the file is left as it is, so nothing the user wrote is lost
        /// until they save).
        /// </summary>
        public static ModelSettings Load(string path, out string problem)
        {
            problem = null;
            if (!File.Exists(path)) return new ModelSettings();
            try { return FromJson(File.ReadAllText(path)); }
            catch (Exception e) when (e is FormatException || e is IOException || e is UnauthorizedAccessException)
            {
                problem = $"{path} could not be read ({e.Message}); the defaults are shown. Fix the file, or save the settings to overwrite it.";
                return new ModelSettings();
            }
        }

        /// <summary>Writes the settings file atomically (creating its folder).</summary>
        public void Save(string path) => AtomicFile.WriteAllText(path, ToJson());

        #endregion

        public override string ToString() =>
            $"{(Weights == null ? 0 : Weights.Count).ToString(CultureInfo.InvariantCulture)} weight path(s), device {Device}";
    }
}
