using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using Sd3Tex.Checkpoints;
using Sd3Tex.Generation;
using Sd3Tex.Json;
using Sd3Tex.Models;
using Sd3Tex.Sampling;
using Sd3Tex.Vae;

namespace Sd3Tex.Authoring
{
    /// <summary>One past generation: everything needed to run it again, and what came of it.</summary>
    public sealed class HistoryEntry
    {
        public string Id { get; set; } = Guid.NewGuid().ToString("N");
        /// <summary>When it finished (UTC).</summary>
        public DateTime Time { get; set; } = DateTime.UtcNow;
        public string Prompt { get; set; } = "";
        public string NegativePrompt { get; set; } = "";
        /// <summary>The first image's seed (image i has Seed + i).</summary>
        public long Seed { get; set; }
        public int Count { get; set; } = 1;
        public int Width { get; set; } = 1024;
        public int Height { get; set; } = 1024;
        public int Steps { get; set; }
        public float Cfg { get; set; }
        public float Shift { get; set; }
        public SamplerKind Sampler { get; set; }
        public bool UseT5 { get; set; } = true;
        public SeamlessAxes Seamless { get; set; }
        /// <summary>The model's name (its first weight file) and family, the device it ran on.</summary>
        public string Model { get; set; } = "";
        public ModelFamily Family { get; set; }
        public string Device { get; set; } = "";
        /// <summary>Wall time of the request.</summary>
        public double Seconds { get; set; }
        /// <summary>Assets saved from it (project-relative paths), in the order saved.</summary>
        public List<string> Outputs { get; } = new List<string>();
        /// <summary>Image-to-image: the init image and mask files (as the form named them; empty when unused), the
        /// strength and mask blur; skip-layer guidance's layers ("" when off), scale, start and end.</summary>
        public string InitImage { get; set; } = "";
        public string Mask { get; set; } = "";
        public float Strength { get; set; } = GenerationRequest.DefaultStrength;
        public int MaskBlur { get; set; }
        public string SlgLayers { get; set; } = "";
        public float SlgScale { get; set; } = 2.5f;
        public float SlgStart { get; set; } = 0.01f;
        public float SlgEnd { get; set; } = 0.20f;

        /// <summary>The entry of a request made from <paramref name="form"/> (its image files and guidance recorded too).</summary>
        public static HistoryEntry From(ResolvedRequest request, GenerationForm form, string model, ModelFamily family, string device, TimeSpan took)
        {
            var e = From(request, model, family, device, took);
            if (form == null) return e;
            e.InitImage = form.HasInitImage ? form.InitImage.Trim() : "";
            e.Mask = form.HasInitImage && form.HasMask ? form.Mask.Trim() : "";
            e.Strength = form.Strength;
            e.MaskBlur = form.MaskBlur;
            var slg = request.Request.SkipLayerGuidance;
            if (slg != null && slg.IsActive) { e.SlgLayers = SkipLayerGuidance.FormatLayers(slg.Layers); e.SlgScale = slg.Scale; e.SlgStart = slg.Start; e.SlgEnd = slg.End; }
            return e;
        }

        /// <summary>The entry of a finished request.</summary>
        public static HistoryEntry From(ResolvedRequest request, string model, ModelFamily family, string device, TimeSpan took)
        {
            if (request == null) throw new ArgumentNullException(nameof(request));
            var r = request.Request;
            return new HistoryEntry
            {
                Prompt = r.Prompt ?? "", NegativePrompt = r.NegativePrompt ?? "", Seed = r.Seed, Count = r.Count, Width = r.Width, Height = r.Height,
                Steps = request.Steps, Cfg = request.Cfg, Shift = request.Shift, Sampler = request.Sampler, UseT5 = r.UseT5, Seamless = r.Seamless,
                Model = model ?? "", Family = family, Device = device ?? "", Seconds = took.TotalSeconds,
            };
        }

        /// <summary>The same request again (same seeds: the same images on the same device and model).</summary>
        public GenerationRequest ToRequest() => new GenerationRequest
        {
            Prompt = Prompt, NegativePrompt = NegativePrompt, Seed = Seed, Count = Count, Width = Width, Height = Height,
            Steps = Steps, Cfg = Cfg, Shift = Shift, Sampler = Sampler, UseT5 = UseT5, Seamless = Seamless,
            Strength = Strength, MaskBlur = MaskBlur,
            SkipLayerGuidance = SkipLayerGuidance.TryParseLayers(SlgLayers, out var layers)
                ? new SkipLayerGuidance { Layers = layers, Scale = SlgScale, Start = SlgStart, End = SlgEnd } : null,
        };

        /// <summary>One line for a list: "mossy stone wall · 512×512 · seed 7 ×2 · 28 steps".</summary>
        public string Summary()
        {
            var inv = CultureInfo.InvariantCulture;
            string prompt = (Prompt ?? "").Replace('\n', ' ');
            if (prompt.Length > 60) prompt = prompt.Substring(0, 57) + "...";
            if (prompt.Length == 0) prompt = "(empty prompt)";
            return $"{prompt} · {Width.ToString(inv)}×{Height.ToString(inv)} · seed {Seed.ToString(inv)}" + (Count > 1 ? $" ×{Count.ToString(inv)}" : "") +
                   $" · {Steps.ToString(inv)} steps" + (Seamless != SeamlessAxes.None ? $" · seamless {SeamlessAxesNames.Name(Seamless)}" : "") +
                   (!string.IsNullOrEmpty(InitImage) ? $" · from {Path.GetFileName(InitImage)} at {Strength.ToString(inv)}" + (!string.IsNullOrEmpty(Mask) ? " (masked)" : "") : "") +
                   (!string.IsNullOrEmpty(SlgLayers) ? " · SLG " + SlgLayers : "");
        }

        public JsonValue ToJson()
        {
            var j = JsonValue.NewObject();
            j.Set("id", Id);
            j.Set("time", Time.ToUniversalTime().ToString("o", CultureInfo.InvariantCulture));
            j.Set("prompt", Prompt ?? "");
            j.Set("negative_prompt", NegativePrompt ?? "");
            j.Set("seed", Seed);
            j.Set("count", Count);
            j.Set("width", Width);
            j.Set("height", Height);
            j.Set("steps", Steps);
            j.Set("cfg", (double)(decimal)Cfg);
            j.Set("shift", (double)(decimal)Shift);
            j.Set("sampler", SamplerNames.Key(Sampler));
            j.Set("use_t5", UseT5);
            j.Set("seamless", SeamlessAxesNames.Name(Seamless));
            j.Set("model", Model ?? "");
            j.Set("family", ModelFamilies.Key(Family));
            j.Set("device", Device ?? "");
            j.Set("seconds", Math.Round(Seconds, 3));
            var outputs = JsonValue.NewArray();
            foreach (var o in Outputs) outputs.Add(JsonValue.From(o));
            j.Set("outputs", outputs);
            if (!string.IsNullOrEmpty(InitImage))
            {
                j.Set("init_image", InitImage);
                j.Set("strength", (double)(decimal)Strength);
                if (!string.IsNullOrEmpty(Mask)) { j.Set("mask", Mask); j.Set("mask_blur", MaskBlur); }
            }
            if (!string.IsNullOrEmpty(SlgLayers))
            {
                j.Set("slg_layers", SlgLayers);
                j.Set("slg_scale", (double)(decimal)SlgScale);
                j.Set("slg_start", (double)(decimal)SlgStart);
                j.Set("slg_end", (double)(decimal)SlgEnd);
            }
            return j;
        }

        /// <summary>Reads an entry; throws <see cref="FormatException"/> naming the field that is wrong.</summary>
        public static HistoryEntry FromJson(JsonValue j)
        {
            if (j == null || j.Kind != JsonKind.Object) throw new FormatException("an entry must be a JSON object.");
            var e = new HistoryEntry
            {
                Id = Str(j, "id"),
                Prompt = Str(j, "prompt"),
                NegativePrompt = OptStr(j, "negative_prompt") ?? "",
                Seed = Long(j, "seed"),
                Count = (int)Long(j, "count"),
                Width = (int)Long(j, "width"),
                Height = (int)Long(j, "height"),
                Steps = (int)Long(j, "steps"),
                Cfg = (float)Num(j, "cfg"),
                Shift = (float)Num(j, "shift"),
                Model = OptStr(j, "model") ?? "",
                Device = OptStr(j, "device") ?? "",
            };
            if (!DateTime.TryParse(Str(j, "time"), CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind, out var time))
                throw new FormatException("\"time\" is not an ISO 8601 time.");
            e.Time = time.Kind == DateTimeKind.Unspecified ? DateTime.SpecifyKind(time, DateTimeKind.Utc) : time.ToUniversalTime();
            if (!SamplerNames.TryParse(Str(j, "sampler"), out var sampler)) throw new FormatException("\"sampler\" is not euler or dpmpp_2m.");
            e.Sampler = sampler;
            if (!SeamlessAxesNames.TryParse(OptStr(j, "seamless") ?? "none", out var axes)) throw new FormatException("\"seamless\" is not none, x, y or xy.");
            e.Seamless = axes;
            var t5 = j["use_t5"];
            e.UseT5 = t5 == null || t5.Kind != JsonKind.Bool || t5.AsBool;
            e.Family = ParseFamily(OptStr(j, "family"));
            var seconds = j["seconds"];
            if (seconds != null && seconds.Kind == JsonKind.Number) e.Seconds = seconds.AsDouble;
            var outputs = j["outputs"];
            if (outputs != null && outputs.Kind == JsonKind.Array)
                foreach (var o in outputs.Items) if (o.Kind == JsonKind.String) e.Outputs.Add(o.AsString);
            e.InitImage = OptStr(j, "init_image") ?? "";
            e.Mask = OptStr(j, "mask") ?? "";
            if (j["strength"] != null) e.Strength = (float)Num(j, "strength");
            if (j["mask_blur"] != null) e.MaskBlur = (int)Long(j, "mask_blur");
            e.SlgLayers = OptStr(j, "slg_layers") ?? "";
            if (j["slg_scale"] != null) e.SlgScale = (float)Num(j, "slg_scale");
            if (j["slg_start"] != null) e.SlgStart = (float)Num(j, "slg_start");
            if (j["slg_end"] != null) e.SlgEnd = (float)Num(j, "slg_end");
            if (e.Id.Length == 0) throw new FormatException("\"id\" is empty.");
            if (e.Count < 1 || e.Width < 1 || e.Height < 1 || e.Steps < 1) throw new FormatException("count, width, height and steps must be positive.");
            return e;
        }

        static ModelFamily ParseFamily(string key)
        {
            foreach (ModelFamily f in Enum.GetValues(typeof(ModelFamily)))
                if (ModelFamilies.Key(f) == key) return f;
            return ModelFamily.Unknown;
        }

        static string OptStr(JsonValue j, string key)
        {
            var v = j[key];
            if (v == null || v.IsNull) return null;
            if (v.Kind != JsonKind.String) throw new FormatException($"\"{key}\" must be a string.");
            return v.AsString;
        }

        static string Str(JsonValue j, string key) => OptStr(j, key) ?? throw new FormatException($"\"{key}\" is missing.");

        static double Num(JsonValue j, string key)
        {
            var v = j[key];
            if (v == null || v.Kind != JsonKind.Number) throw new FormatException($"\"{key}\" must be a number.");
            return v.AsDouble;
        }

        static long Long(JsonValue j, string key)
        {
            var v = j[key];
            if (v == null || !v.IsInteger) throw new FormatException($"\"{key}\" must be an integer.");
            if (v.AsLong > int.MaxValue && key != "seed") throw new FormatException($"\"{key}\" is out of range.");
            return v.AsLong;
        }
    }

    /// <summary>
    /// The window's past generations, newest first, kept in a JSON file so they survive editor restarts. The editor
    /// keeps it in <see cref="DefaultRelativePath"/>: UserSettings/ is per user and per project, outlives a deleted
    /// Library/ (a cache people delete to fix imports), and is left out of version control by Unity's usual ignore
    /// rules, which suits a personal history. At most <see cref="Limit"/> entries are kept (the oldest go first).
    /// A damaged file never stops the window: it is set aside as <c>.corrupt</c> and a new history starts.
    /// </summary>
    public sealed class GenerationHistory
    {
        public const string DefaultRelativePath = "UserSettings/Sd3TexHistory.json";
        public const int DefaultLimit = 200;
        const int Version = 1;

        readonly List<HistoryEntry> _entries = new List<HistoryEntry>();
        int _limit;

        /// <summary>The file it is kept in; null keeps it in memory only.</summary>
        public string FilePath { get; }
        /// <summary>Newest first.</summary>
        public IReadOnlyList<HistoryEntry> Entries => _entries;
        /// <summary>What went wrong reading the file (null when it read cleanly or did not exist).</summary>
        public string LoadProblem { get; private set; }

        public int Limit
        {
            get => _limit;
            set
            {
                if (value < 1) throw new ArgumentOutOfRangeException(nameof(value), value, "the history keeps at least one entry.");
                _limit = value;
                Trim();
            }
        }

        public GenerationHistory(string filePath = null, int limit = DefaultLimit)
        {
            FilePath = filePath;
            Limit = limit;
        }

        /// <summary>Reads the history at <paramref name="filePath"/> (empty when the file does not exist).</summary>
        public static GenerationHistory Load(string filePath, int limit = DefaultLimit)
        {
            if (string.IsNullOrEmpty(filePath)) throw new ArgumentException("name the history file.", nameof(filePath));
            var h = new GenerationHistory(filePath, limit);
            if (!File.Exists(filePath)) return h;
            JsonValue root;
            try
            {
                root = JsonValue.Parse(File.ReadAllText(filePath));
                if (root.Kind != JsonKind.Object || root["entries"] == null || root["entries"].Kind != JsonKind.Array)
                    throw new FormatException("it is not a history (no \"entries\" list).");
            }
            catch (Exception e) when (e is FormatException || e is IOException || e is UnauthorizedAccessException)
            {
                h.LoadProblem = $"the history file {filePath} could not be read ({e.Message}); " + SetAside(filePath) + " A new history starts.";
                return h;
            }
            int skipped = 0;
            foreach (var item in root["entries"].Items)
            {
                try { h._entries.Add(HistoryEntry.FromJson(item)); }
                catch (FormatException) { skipped++; }
                catch (InvalidOperationException) { skipped++; }
            }
            if (skipped > 0)
                h.LoadProblem = $"{skipped.ToString(CultureInfo.InvariantCulture)} entr{(skipped == 1 ? "y" : "ies")} of the history file {filePath} could not be read and {(skipped == 1 ? "was" : "were")} left out.";
            h._entries.Sort((a, b) => b.Time.CompareTo(a.Time));
            h.Trim();
            return h;
        }

        static string SetAside(string filePath)
        {
            string aside = filePath + ".corrupt";
            try
            {
                if (File.Exists(aside)) File.Delete(aside);
                File.Move(filePath, aside);
                return $"it was kept as {aside}.";
            }
            catch (Exception e) when (e is IOException || e is UnauthorizedAccessException)
            {
                return $"it could not be set aside ({e.Message}) and will be overwritten.";
            }
        }

        /// <summary>Adds a finished generation as the newest entry, drops the oldest beyond the limit, and saves.</summary>
        public HistoryEntry Add(HistoryEntry entry)
        {
            if (entry == null) throw new ArgumentNullException(nameof(entry));
            _entries.RemoveAll(e => e.Id == entry.Id);
            _entries.Insert(0, entry);
            Trim();
            Save();
            return entry;
        }

        public HistoryEntry Find(string id)
        {
            foreach (var e in _entries) if (e.Id == id) return e;
            return null;
        }

        public bool Remove(string id)
        {
            bool removed = _entries.RemoveAll(e => e.Id == id) > 0;
            if (removed) Save();
            return removed;
        }

        public void Clear()
        {
            _entries.Clear();
            Save();
        }

        /// <summary>Records that an asset was saved from entry <paramref name="id"/>; false when the entry is gone.</summary>
        public bool RecordOutput(string id, string assetPath)
        {
            var e = Find(id);
            if (e == null) return false;
            if (!e.Outputs.Contains(assetPath)) e.Outputs.Add(assetPath);
            Save();
            return true;
        }

        void Trim()
        {
            if (_entries.Count > _limit) _entries.RemoveRange(_limit, _entries.Count - _limit);
        }

        public string ToJson()
        {
            var root = JsonValue.NewObject();
            root.Set("version", Version);
            var list = JsonValue.NewArray();
            foreach (var e in _entries) list.Add(e.ToJson());
            root.Set("entries", list);
            return root.ToJson(true) + "\n";
        }

        /// <summary>Writes the file atomically (nothing when the history has no file).</summary>
        public void Save()
        {
            if (FilePath == null) return;
            AtomicFile.WriteAllText(FilePath, ToJson());
        }
    }
}
