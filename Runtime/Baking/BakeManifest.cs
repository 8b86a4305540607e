using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using Sd3Tex.Generation;
using Sd3Tex.Imaging;
using Sd3Tex.Json;
using Sd3Tex.Sampling;
using Sd3Tex.Vae;

namespace Sd3Tex.Baking
{
    /// <summary>A manifest that cannot be used: the message names the file, the field and what to change.</summary>
    public sealed class BakeManifestException : FormatException
    {
        public BakeManifestException(string message, Exception inner = null) : base(message, inner) { }
    }

    /// <summary>
    /// One texture of a manifest, or the manifest's defaults. Field names in JSON are the command line's option names in
    /// snake_case: <c>name</c>, <c>prompt</c>, <c>negative</c>, <c>seed</c>, <c>count</c>, <c>steps</c>, <c>cfg</c>,
    /// <c>shift</c>, <c>sampler</c>, <c>width</c>, <c>height</c>, <c>no_t5</c>, <c>seamless</c>, <c>noise</c>,
    /// <c>clip_heads</c>; image-to-image <c>init_image</c>, <c>strength</c>, <c>mask</c>, <c>mask_blur</c>,
    /// <c>variations</c>; skip-layer guidance <c>slg_layers</c>, <c>slg_scale</c>, <c>slg_start</c>, <c>slg_end</c>;
    /// <c>make_seamless</c> (axes; the texture is <c>init_image</c> made to tile, as <c>sd3tex seamless</c>) with
    /// <c>band</c>; and <c>pbr</c> (material maps beside the PNG, see <see cref="BakePbr"/>). Null fields inherit
    /// (texture ← defaults ← the model family's preset).
    /// </summary>
    public sealed class BakeEntry
    {
        public string Name { get; set; }
        public string Prompt { get; set; }
        public string Negative { get; set; }
        public long? Seed { get; set; }
        public int? Count { get; set; }
        public int? Steps { get; set; }
        public float? Cfg { get; set; }
        public float? Shift { get; set; }
        /// <summary>"euler" or "dpmpp_2m".</summary>
        public string Sampler { get; set; }
        public int? Width { get; set; }
        public int? Height { get; set; }
        public bool? NoT5 { get; set; }
        /// <summary>"x", "y", "xy" or "none".</summary>
        public string Seamless { get; set; }
        /// <summary>A safetensors file holding <c>noise</c> [count, 16, H/8, W/8], relative to the manifest.</summary>
        public string Noise { get; set; }
        /// <summary>"L,G": CLIP-L and CLIP-G attention heads (only needed for models whose heads cannot be inferred).</summary>
        public string ClipHeads { get; set; }
        /// <summary>Material maps written beside each PNG (<see cref="BakePbr"/>); maps None = off.</summary>
        public Materials.PbrOptions Pbr { get; set; }

        #region Image-to-image, inpainting, guidance, make seamless

        /// <summary>The picture to start from (relative to the manifest); without width and height the size is its size
        /// rounded to multiples of 16.</summary>
        public string InitImage { get; set; }
        /// <summary>Denoising strength in (0, 1] (default 0.8).</summary>
        public float? Strength { get; set; }
        /// <summary>Inpainting mask (relative to the manifest): white repaints, black keeps.</summary>
        public string Mask { get; set; }
        public int? MaskBlur { get; set; }
        /// <summary>Variations of the init image: the image count (seeds seed … seed + N − 1), in place of count.</summary>
        public int? Variations { get; set; }
        /// <summary>Skip-layer guidance: "7,8,9" (a JSON list [7, 8, 9] is read too), scale, start and end fractions.</summary>
        public string SlgLayers { get; set; }
        public float? SlgScale { get; set; }
        public float? SlgStart { get; set; }
        public float? SlgEnd { get; set; }
        /// <summary>"x", "y" or "xy": the texture is init_image made to tile along these axes (<c>sd3tex seamless</c>).</summary>
        public string MakeSeamless { get; set; }
        /// <summary>make_seamless's band width in pixels (0 or null: a quarter of the shorter side).</summary>
        public int? Band { get; set; }

        #endregion

        /// <summary>The JSON field names an entry may have.</summary>
        public static readonly string[] Fields =
        {
            "name", "prompt", "negative", "seed", "count", "steps", "cfg", "shift", "sampler", "width", "height", "no_t5", "seamless", "noise", "clip_heads",
            "init_image", "strength", "mask", "mask_blur", "variations", "slg_layers", "slg_scale", "slg_start", "slg_end", "make_seamless", "band", "pbr",
        };

        public BakeEntry Clone() => (BakeEntry)MemberwiseClone();

        /// <summary>This entry's fields, missing ones taken from <paramref name="defaults"/>.</summary>
        public BakeEntry Over(BakeEntry defaults)
        {
            if (defaults == null) return Clone();
            return new BakeEntry
            {
                Name = Name ?? defaults.Name, Prompt = Prompt ?? defaults.Prompt, Negative = Negative ?? defaults.Negative,
                Seed = Seed ?? defaults.Seed, Count = Count ?? defaults.Count, Steps = Steps ?? defaults.Steps, Cfg = Cfg ?? defaults.Cfg,
                Shift = Shift ?? defaults.Shift, Sampler = Sampler ?? defaults.Sampler, Width = Width ?? defaults.Width, Height = Height ?? defaults.Height,
                NoT5 = NoT5 ?? defaults.NoT5, Seamless = Seamless ?? defaults.Seamless, Noise = Noise ?? defaults.Noise, ClipHeads = ClipHeads ?? defaults.ClipHeads,
                Pbr = Pbr ?? defaults.Pbr,
                InitImage = InitImage ?? defaults.InitImage, Strength = Strength ?? defaults.Strength, Mask = Mask ?? defaults.Mask,
                MaskBlur = MaskBlur ?? defaults.MaskBlur, Variations = Variations ?? defaults.Variations, SlgLayers = SlgLayers ?? defaults.SlgLayers,
                SlgScale = SlgScale ?? defaults.SlgScale, SlgStart = SlgStart ?? defaults.SlgStart, SlgEnd = SlgEnd ?? defaults.SlgEnd,
                MakeSeamless = MakeSeamless ?? defaults.MakeSeamless, Band = Band ?? defaults.Band,
            };
        }

        internal static BakeEntry FromJson(JsonValue j, string where, bool isDefaults)
        {
            if (j.Kind != JsonKind.Object) throw new BakeManifestException($"{where} must be a JSON object.");
            var e = new BakeEntry();
            foreach (var kv in j.Properties)
            {
                string f = kv.Key, at = $"{where}.{f}";
                var v = kv.Value;
                if (v.IsNull) continue;
                switch (f)
                {
                    case "name":
                        if (isDefaults) throw new BakeManifestException($"{at}: a texture's name cannot be a default.");
                        e.Name = Str(v, at); break;
                    case "prompt": e.Prompt = Str(v, at); break;
                    case "negative": e.Negative = Str(v, at); break;
                    case "seed": e.Seed = Long(v, at); break;
                    case "count": e.Count = Int(v, at); break;
                    case "steps": e.Steps = Int(v, at); break;
                    case "cfg": e.Cfg = (float)Num(v, at); break;
                    case "shift": e.Shift = (float)Num(v, at); break;
                    case "sampler": e.Sampler = Str(v, at); break;
                    case "width": e.Width = Int(v, at); break;
                    case "height": e.Height = Int(v, at); break;
                    case "no_t5":
                        if (v.Kind != JsonKind.Bool) throw new BakeManifestException($"{at} must be true or false.");
                        e.NoT5 = v.AsBool; break;
                    case "seamless": e.Seamless = Str(v, at); break;
                    case "noise": e.Noise = Str(v, at); break;
                    case "clip_heads": e.ClipHeads = Str(v, at); break;
                    case "pbr": e.Pbr = BakePbr.FromJson(v, at); break;
                    case "init_image": e.InitImage = Str(v, at); break;
                    case "strength": e.Strength = (float)Num(v, at); break;
                    case "mask": e.Mask = Str(v, at); break;
                    case "mask_blur": e.MaskBlur = Int(v, at); break;
                    case "variations": e.Variations = Int(v, at); break;
                    case "slg_layers":
                        if (v.Kind == JsonKind.Array && v.Items.All(x => x.Kind == JsonKind.Number && x.IsInteger))
                            e.SlgLayers = string.Join(",", v.Items.Select(x => x.AsLong.ToString(CultureInfo.InvariantCulture)));
                        else if (v.Kind == JsonKind.String) e.SlgLayers = v.AsString;
                        else throw new BakeManifestException($"{at} must be a list of block indices such as [7, 8, 9] (or \"7,8,9\").");
                        break;
                    case "slg_scale": e.SlgScale = (float)Num(v, at); break;
                    case "slg_start": e.SlgStart = (float)Num(v, at); break;
                    case "slg_end": e.SlgEnd = (float)Num(v, at); break;
                    case "make_seamless": e.MakeSeamless = Str(v, at); break;
                    case "band": e.Band = Int(v, at); break;
                    default:
                        throw new BakeManifestException($"unknown field \"{f}\" in {where}. Known fields: {string.Join(", ", Fields.Where(x => !isDefaults || x != "name"))}.");
                }
            }
            return e;
        }

        internal JsonValue ToJson()
        {
            var j = JsonValue.NewObject();
            if (Name != null) j.Set("name", Name);
            if (Prompt != null) j.Set("prompt", Prompt);
            if (Negative != null) j.Set("negative", Negative);
            if (Seed.HasValue) j.Set("seed", Seed.Value);
            if (Count.HasValue) j.Set("count", Count.Value);
            if (Steps.HasValue) j.Set("steps", Steps.Value);
            if (Cfg.HasValue) j.Set("cfg", (double)(decimal)Cfg.Value);
            if (Shift.HasValue) j.Set("shift", (double)(decimal)Shift.Value);
            if (Sampler != null) j.Set("sampler", Sampler);
            if (Width.HasValue) j.Set("width", Width.Value);
            if (Height.HasValue) j.Set("height", Height.Value);
            if (NoT5.HasValue) j.Set("no_t5", NoT5.Value);
            if (Seamless != null) j.Set("seamless", Seamless);
            if (Noise != null) j.Set("noise", Noise);
            if (ClipHeads != null) j.Set("clip_heads", ClipHeads);
            if (Pbr != null) j.Set("pbr", BakePbr.ToJson(Pbr));
            if (InitImage != null) j.Set("init_image", InitImage);
            if (Strength.HasValue) j.Set("strength", (double)(decimal)Strength.Value);
            if (Mask != null) j.Set("mask", Mask);
            if (MaskBlur.HasValue) j.Set("mask_blur", MaskBlur.Value);
            if (Variations.HasValue) j.Set("variations", Variations.Value);
            if (SlgLayers != null) j.Set("slg_layers", SlgLayers);
            if (SlgScale.HasValue) j.Set("slg_scale", (double)(decimal)SlgScale.Value);
            if (SlgStart.HasValue) j.Set("slg_start", (double)(decimal)SlgStart.Value);
            if (SlgEnd.HasValue) j.Set("slg_end", (double)(decimal)SlgEnd.Value);
            if (MakeSeamless != null) j.Set("make_seamless", MakeSeamless);
            if (Band.HasValue) j.Set("band", Band.Value);
            return j;
        }

        static string Str(JsonValue v, string at) =>
            v.Kind == JsonKind.String ? v.AsString : throw new BakeManifestException($"{at} must be a string.");

        static double Num(JsonValue v, string at) =>
            v.Kind == JsonKind.Number ? v.AsDouble : throw new BakeManifestException($"{at} must be a number.");

        static long Long(JsonValue v, string at)
        {
            if (v.Kind != JsonKind.Number || !v.IsInteger) throw new BakeManifestException($"{at} must be an integer.");
            return v.AsLong;
        }

        static int Int(JsonValue v, string at)
        {
            long l = Long(v, at);
            if (l < int.MinValue || l > int.MaxValue) throw new BakeManifestException($"{at} is out of range.");
            return (int)l;
        }

        /// <summary>Images this (merged) entry makes, with <paramref name="baseDirectory"/> to find its noise file:
        /// variations, else count, else the noise tensor's first dimension, else 1.</summary>
        public int ImageCountIn(string baseDirectory) => ImageCount(NoiseSize(baseDirectory));

        int ImageCount((int Count, int Width, int Height)? noise) => Variations ?? Count ?? noise?.Count ?? 1;

        /// <summary>The image count and size the entry's noise file is for (its header only), or null without a noise
        /// file or when it cannot be read (the request then reports why).</summary>
        (int Count, int Width, int Height)? NoiseSize(string baseDirectory)
        {
            if (Noise == null) return null;
            try { return NoiseFile.Size(ResolvePath(baseDirectory, Noise)); }
            catch (Checkpoints.CheckpointException) { return null; }
            catch (IOException) { return null; }
            catch (UnauthorizedAccessException) { return null; }
        }

        /// <summary>
        /// The generation request of this (merged) entry; <paramref name="baseDirectory"/> resolves <see cref="Noise"/>,
        /// <see cref="InitImage"/> and <see cref="Mask"/>. Images that cannot be read and contradicting fields throw
        /// <see cref="GenerationRequestException"/> listing every problem (with the request's own).
        /// </summary>
        public GenerationRequest ToRequest(string baseDirectory)
        {
            // without a size or count, a noise file [count, 16, H/8, W/8] gives them (as `generate --noise` does); an
            // init image's size comes first (below)
            var noise = NoiseSize(baseDirectory);
            var r = new GenerationRequest
            {
                Prompt = Prompt ?? "", NegativePrompt = Negative ?? "", Seed = Seed ?? 0, Count = ImageCount(noise),
                Width = Width ?? noise?.Width ?? 1024, Height = Height ?? noise?.Height ?? 1024, Steps = Steps, Cfg = Cfg, Shift = Shift, UseT5 = !(NoT5 ?? false),
            };
            var problems = new List<string>();
            if (InitImage != null)
            {
                r.InitImage = ImageFiles.TryLoad(ResolvePath(baseDirectory, InitImage), "init image", problems);
                if (r.InitImage != null)
                {
                    if (!Width.HasValue) r.Width = GenerationRequest.RoundSize(r.InitImage.Width);
                    if (!Height.HasValue) r.Height = GenerationRequest.RoundSize(r.InitImage.Height);
                }
            }
            else if (Mask != null || Variations.HasValue || MakeSeamless != null)
                problems.Add("mask, variations and make_seamless need an init_image (strength is only used with one).");
            if (Strength.HasValue) r.Strength = Strength.Value;
            if (Mask != null) r.Mask = ImageFiles.TryLoad(ResolvePath(baseDirectory, Mask), "mask", problems);
            if (MaskBlur.HasValue) r.MaskBlur = MaskBlur.Value;
            if (Variations.HasValue && Count.HasValue && Count.Value != Variations.Value)
                problems.Add($"count {Count.Value} and variations {Variations.Value} disagree: give one of them.");
            if (Variations.HasValue && Variations.Value < 1) problems.Add($"variations {Variations.Value} must be at least 1.");
            if (SlgLayers != null)
            {
                if (!SkipLayerGuidance.TryParseLayers(SlgLayers, out var layers)) problems.Add($"slg_layers \"{SlgLayers}\" is not a list of block indices such as 7,8,9.");
                else
                {
                    var slg = new SkipLayerGuidance { Layers = layers };
                    if (SlgScale.HasValue) slg.Scale = SlgScale.Value;
                    if (SlgStart.HasValue) slg.Start = SlgStart.Value;
                    if (SlgEnd.HasValue) slg.End = SlgEnd.Value;
                    r.SkipLayerGuidance = slg;
                }
            }
            else if (SlgScale.HasValue || SlgStart.HasValue || SlgEnd.HasValue) problems.Add("slg_scale, slg_start and slg_end need slg_layers.");
            if (Sampler != null)
            {
                if (!SamplerNames.TryParse(Sampler, out var s)) throw new BakeManifestException($"sampler \"{Sampler}\" is not euler or dpmpp_2m.");
                r.Sampler = s;
            }
            if (Seamless != null)
            {
                if (!SeamlessAxesNames.TryParse(Seamless, out var axes)) throw new BakeManifestException($"seamless \"{Seamless}\" is not x, y, xy or none.");
                r.Seamless = axes;
            }
            if (MakeSeamless != null)
            {
                if (!SeamlessAxesNames.TryParse(MakeSeamless, out var axes) || axes == SeamlessAxes.None)
                    problems.Add($"make_seamless \"{MakeSeamless}\" is not x, y or xy.");
                // make_seamless sets the axes and keeps the image's size (seamless, width and height are not used)
                if (Mask != null || Noise != null) problems.Add("make_seamless makes its own mask and noise: leave out mask and noise.");
            }
            if (problems.Count > 0)
            {
                if (InitImage != null && r.InitImage == null && GenerationRequest.StrengthProblem(r.Strength) is string sp) problems.Add(sp);
                foreach (var p in r.Problems()) if (!problems.Contains(p)) problems.Add(p);
                throw new GenerationRequestException(problems);
            }
            if (Noise != null) r.InitialNoise = NoiseFile.Read(ResolvePath(baseDirectory, Noise), r.Count, r.Height, r.Width);
            return r;
        }

        /// <summary>The make-seamless request of an entry with <see cref="MakeSeamless"/> (one image: seed
        /// <paramref name="seed"/>), from the request <see cref="ToRequest"/> made.</summary>
        public MakeSeamlessRequest ToMakeSeamlessRequest(GenerationRequest request, long seed)
        {
            SeamlessAxesNames.TryParse(MakeSeamless, out var axes);
            return new MakeSeamlessRequest
            {
                Image = request.InitImage, Axes = axes, BandWidth = Band ?? 0, Prompt = request.Prompt, NegativePrompt = request.NegativePrompt,
                Seed = seed, Count = 1, Steps = request.Steps, Cfg = request.Cfg, Shift = request.Shift, Sampler = request.Sampler,
                Strength = Strength ?? 1f, UseT5 = request.UseT5, SkipLayerGuidance = request.SkipLayerGuidance?.Clone(),
            };
        }

        internal static string ResolvePath(string baseDirectory, string path) =>
            Path.IsPathRooted(path) || string.IsNullOrEmpty(baseDirectory) ? path : Path.GetFullPath(Path.Combine(baseDirectory, path));
    }

    /// <summary>
    /// A bake: the model, an output folder and the textures to make. Its JSON (paths relative to the manifest):
    /// <code>
    /// {"weights": ["..."], "tokenizers": "...", "output": "textures",
    ///  "defaults": {"steps": 28, "cfg": 5.0, "width": 1024, "height": 1024, "seamless": "xy", "clip_heads": "12,20"},
    ///  "textures": [{"name": "mossy_brick", "prompt": "...", "seed": 7}, {"name": "lava", "prompt": "...", "negative": "..."}]}
    /// </code>
    /// Each texture is written to <c>&lt;output&gt;/&lt;name&gt;.png</c>, or <c>&lt;name&gt;_&lt;i&gt;.png</c> when its count
    /// is above 1. Unknown fields are an error that names the field.
    /// </summary>
    public sealed class BakeManifest
    {
        /// <summary>The folder relative paths are resolved against (the manifest's folder).</summary>
        public string BaseDirectory { get; set; } = "";
        public List<string> Weights { get; set; } = new List<string>();
        /// <summary>Instead of <see cref="Weights"/>: a model name (or unique prefix) as <c>sd3tex models</c> lists it.</summary>
        public string Model { get; set; }
        public string Tokenizers { get; set; }
        public string Output { get; set; } = "textures";
        /// <summary>The device (a command line <c>--device</c> overrides it); null = auto.</summary>
        public string Device { get; set; }
        public BakeEntry Defaults { get; set; } = new BakeEntry();
        public List<BakeEntry> Textures { get; set; } = new List<BakeEntry>();

        public static readonly string[] Fields = { "weights", "model", "tokenizers", "output", "device", "defaults", "textures" };

        /// <summary>Reads and checks a manifest file.</summary>
        public static BakeManifest Load(string path)
        {
            if (!File.Exists(path)) throw new FileNotFoundException($"bake manifest not found: {path}", path);
            string text = File.ReadAllText(path);
            try { return Parse(text, Path.GetDirectoryName(Path.GetFullPath(path))); }
            catch (BakeManifestException e) { throw new BakeManifestException($"{path}: {e.Message}", e); }
        }

        /// <summary>Parses and checks a manifest; relative paths resolve against <paramref name="baseDirectory"/>.</summary>
        public static BakeManifest Parse(string json, string baseDirectory)
        {
            JsonValue j;
            try { j = JsonValue.Parse(json); }
            catch (FormatException e) { throw new BakeManifestException("the manifest is not valid JSON: " + e.Message, e); }
            if (j.Kind != JsonKind.Object) throw new BakeManifestException("the manifest must be a JSON object with \"weights\", \"output\" and \"textures\".");
            var m = new BakeManifest { BaseDirectory = baseDirectory ?? "" };
            foreach (var kv in j.Properties)
            {
                var v = kv.Value;
                switch (kv.Key)
                {
                    case "weights":
                        m.Weights.Clear();
                        if (v.Kind == JsonKind.String) m.Weights.Add(v.AsString);
                        else if (v.Kind == JsonKind.Array && v.Items.All(x => x.Kind == JsonKind.String)) m.Weights.AddRange(v.Items.Select(x => x.AsString));
                        else throw new BakeManifestException("\"weights\" must be a path or a list of paths.");
                        break;
                    case "model": m.Model = v.IsNull ? null : v.Kind == JsonKind.String ? v.AsString : throw new BakeManifestException("\"model\" must be a model name (see `sd3tex models`)."); break;
                    case "tokenizers": m.Tokenizers = v.IsNull ? null : v.Kind == JsonKind.String ? v.AsString : throw new BakeManifestException("\"tokenizers\" must be a path."); break;
                    case "output": m.Output = v.Kind == JsonKind.String ? v.AsString : throw new BakeManifestException("\"output\" must be a folder path."); break;
                    case "device": m.Device = v.IsNull ? null : v.Kind == JsonKind.String ? v.AsString : throw new BakeManifestException("\"device\" must be a string."); break;
                    case "defaults": m.Defaults = BakeEntry.FromJson(v, "defaults", true); break;
                    case "textures":
                        if (v.Kind != JsonKind.Array) throw new BakeManifestException("\"textures\" must be a list of objects.");
                        m.Textures.Clear();
                        for (int i = 0; i < v.Items.Count; i++) m.Textures.Add(BakeEntry.FromJson(v.Items[i], $"textures[{i}]", false));
                        break;
                    default:
                        throw new BakeManifestException($"unknown field \"{kv.Key}\" at the top level. Known fields: {string.Join(", ", Fields)}.");
                }
            }
            m.Check();
            return m;
        }

        /// <summary>Throws <see cref="BakeManifestException"/> for a manifest that cannot be baked (missing weights, names
        /// missing, repeated or unusable as file names).</summary>
        public void Check()
        {
            bool hasWeights = Weights != null && Weights.Count > 0, hasModel = !string.IsNullOrWhiteSpace(Model);
            if (!hasWeights && !hasModel) throw new BakeManifestException("\"weights\" is missing: list the model's .safetensors file(s) or its diffusers folder, or name a \"model\" that `sd3tex models` lists.");
            if (hasWeights && hasModel) throw new BakeManifestException("give \"weights\" or \"model\", not both.");
            if (string.IsNullOrWhiteSpace(Output)) throw new BakeManifestException("\"output\" is empty: name the folder the textures go to.");
            var seen = new Dictionary<string, int>(StringComparer.OrdinalIgnoreCase);
            var bad = Path.GetInvalidFileNameChars().Concat(new[] { '/', '\\', ':', '*', '?', '"', '<', '>', '|' }).ToArray();
            for (int i = 0; i < Textures.Count; i++)
            {
                string name = Textures[i].Name;
                if (string.IsNullOrWhiteSpace(name)) throw new BakeManifestException($"textures[{i}] has no \"name\".");
                if (name.IndexOfAny(bad) >= 0 || name == "." || name == ".." || name.Trim() != name)
                    throw new BakeManifestException($"textures[{i}].name \"{name}\" cannot be a file name: use letters, digits, '_' and '-'.");
                if (seen.TryGetValue(name, out int first)) throw new BakeManifestException($"textures[{i}].name \"{name}\" repeats textures[{first}]'s name (names are file names and must be unique).");
                seen[name] = i;
            }
        }

        /// <summary>The output folder as an absolute path.</summary>
        public string OutputDirectory => BakeEntry.ResolvePath(BaseDirectory, Output);

        /// <summary>The weights as absolute paths (a <c>role=path</c> entry keeps its role).</summary>
        public List<string> ResolvedWeights() => Weights.Select(w =>
        {
            string role = Checkpoints.Checkpoint.SplitRole(w, out string path);
            return role + BakeEntry.ResolvePath(BaseDirectory, path);
        }).ToList();

        public string ResolvedTokenizers() => Tokenizers == null ? null : BakeEntry.ResolvePath(BaseDirectory, Tokenizers);

        /// <summary>The manifest as JSON (paths as written).</summary>
        public string ToJson()
        {
            var j = JsonValue.NewObject();
            if (!string.IsNullOrWhiteSpace(Model)) j.Set("model", Model);
            else j.Set("weights", JsonValue.NewArray(Weights.Select(JsonValue.From)));
            if (Tokenizers != null) j.Set("tokenizers", Tokenizers);
            j.Set("output", Output);
            if (Device != null) j.Set("device", Device);
            j.Set("defaults", (Defaults ?? new BakeEntry()).ToJson());
            j.Set("textures", JsonValue.NewArray(Textures.Select(t => t.ToJson())));
            return j.ToJson(true);
        }

        /// <summary>The PNG paths of a texture: <c>name.png</c>, or <c>name_0.png</c> … when its count is above 1.</summary>
        public IReadOnlyList<string> OutputsOf(BakeEntry texture)
        {
            int count = texture.Over(Defaults).ImageCountIn(BaseDirectory);
            string dir = OutputDirectory;
            if (count <= 1) return new[] { Path.Combine(dir, texture.Name + ".png") };
            var r = new string[count];
            for (int i = 0; i < count; i++) r[i] = Path.Combine(dir, texture.Name + "_" + i.ToString(CultureInfo.InvariantCulture) + ".png");
            return r;
        }
    }

    /// <summary>Reads the <c>noise</c> tensor [count, 16, H/8, W/8] of a safetensors file.</summary>
    public static class NoiseFile
    {
        /// <summary>The images the file's <c>noise</c> tensor is for: its first dimension, and 8 × its last two (only the
        /// header is read).</summary>
        public static (int Count, int Width, int Height) Size(string path)
        {
            using (var f = Checkpoints.SafetensorsFile.ReadHeader(path))
            {
                var t = f["noise"] ?? throw new Checkpoints.CheckpointException(path, "has no tensor \"noise\" ([count, 16, H/8, W/8]).");
                if (t.Shape.Length != 4 || t.Shape[1] != GenerationRequest.LatentChannels || t.Shape[0] < 1 || t.Shape[0] > int.MaxValue / 2
                    || t.Shape[2] > int.MaxValue / 16 || t.Shape[3] > int.MaxValue / 16)
                    throw new Checkpoints.CheckpointException(path, $"\"noise\" has shape [{string.Join(", ", t.Shape)}]; [count, {GenerationRequest.LatentChannels}, H/8, W/8] is needed.");
                return ((int)t.Shape[0], (int)t.Shape[3] * GenerationRequest.VaeScale, (int)t.Shape[2] * GenerationRequest.VaeScale);
            }
        }

        public static float[] Read(string path, int count, int height, int width)
        {
            using (var f = Checkpoints.SafetensorsFile.Open(path))
            {
                var t = f["noise"] ?? throw new Checkpoints.CheckpointException(path, "has no tensor \"noise\" ([count, 16, H/8, W/8]).");
                long[] expected = { count, GenerationRequest.LatentChannels, height / GenerationRequest.VaeScale, width / GenerationRequest.VaeScale };
                if (!t.Shape.SequenceEqual(expected))
                    throw new Checkpoints.CheckpointException(path, $"\"noise\" has shape [{string.Join(", ", t.Shape)}]; [{string.Join(", ", expected)}] is needed for {count} image(s) of {width}x{height}.");
                return f.ReadFloats(t);
            }
        }
    }
}
