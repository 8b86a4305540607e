using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using Sd3Tex.Baking;
using Sd3Tex.Sampling;
using Sd3Tex.Vae;

namespace Sd3Tex.Authoring
{
    public enum SamplerChoice { Inherit, Euler, DpmPp2M }
    public enum T5Choice { Inherit, On, Off }
    public enum SeamlessChoice { Inherit, None, X, Y, XY }
    public enum PbrChoice { Inherit, Off, On }

    /// <summary>
    /// One texture of a bake manifest asset, or its defaults, in a form Unity serializes (no nullable fields): empty
    /// strings, zeros and <c>Inherit</c> mean "take it from the defaults" (and, in the defaults, from the model
    /// family's preset). A CFG or shift of 0 is never useful, so 0 can mean "inherit" for them too.
    /// </summary>
    [Serializable]
    public sealed class BakeTextureData
    {
        /// <summary>The file name without extension (name.png, or name_0.png ... when count &gt; 1).</summary>
        public string Name = "";
        public string Prompt = "";
        public string Negative = "";
        public bool OverrideSeed;
        public long Seed;
        public int Count;
        public int Steps;
        public float Cfg;
        public float Shift;
        public SamplerChoice Sampler;
        public int Width;
        public int Height;
        public T5Choice T5;
        public SeamlessChoice Seamless;
        /// <summary>Material maps beside the PNG (the manifest's <c>pbr</c>).</summary>
        public PbrChoice Pbr;
        /// <summary>With <see cref="Pbr"/> On: the maps ("normal,ao,mask"; empty: all).</summary>
        public string PbrMaps = "";
        /// <summary>With <see cref="Pbr"/> On: the normal map's strength (0: the default, 2).</summary>
        public float PbrStrength;
        public Materials.NormalConvention PbrNormalConvention;
        /// <summary>Image-to-image: the picture (project-relative path, e.g. Assets/Sources/wall.png); empty: text-to-image
        /// (or the defaults').</summary>
        public string InitImage = "";
        /// <summary>Denoising strength in (0, 1]; 0 inherits (0.8 in the end).</summary>
        public float Strength;
        /// <summary>Inpainting mask (project-relative path; white repaints); empty inherits.</summary>
        public string Mask = "";
        /// <summary>Mask feathering in pixels; 0 inherits (a hard edge in the end).</summary>
        public int MaskBlur;
        /// <summary>Variations of the init image (its image count); 0 inherits.</summary>
        public int Variations;
        /// <summary>Skip-layer guidance: layers "7,8,9" (empty inherits: off in the end), scale, start and end (0 inherits).</summary>
        public string SlgLayers = "";
        public float SlgScale;
        public float SlgStart;
        public float SlgEnd;
        /// <summary>Make the init image tile along these axes instead of generating (X, Y or XY; Inherit / None: no).</summary>
        public SeamlessChoice MakeSeamless;
        /// <summary>Make seamless's band width in pixels; 0 inherits (a quarter of the shorter side in the end).</summary>
        public int Band;

        /// <summary>The manifest entry these fields stand for (nulls inherit).</summary>
        public BakeEntry ToEntry(bool isDefaults)
        {
            return new BakeEntry
            {
                Name = isDefaults || string.IsNullOrWhiteSpace(Name) ? null : Name.Trim(),
                Prompt = string.IsNullOrEmpty(Prompt) ? null : Prompt,
                Negative = string.IsNullOrEmpty(Negative) ? null : Negative,
                Seed = OverrideSeed ? Seed : (long?)null,
                Count = Count > 0 ? Count : (int?)null,
                Steps = Steps > 0 ? Steps : (int?)null,
                Cfg = Cfg != 0 ? Cfg : (float?)null,
                Shift = Shift != 0 ? Shift : (float?)null,
                Sampler = Sampler == SamplerChoice.Euler ? SamplerNames.Key(SamplerKind.Euler) : Sampler == SamplerChoice.DpmPp2M ? SamplerNames.Key(SamplerKind.DpmPp2M) : null,
                Width = Width > 0 ? Width : (int?)null,
                Height = Height > 0 ? Height : (int?)null,
                NoT5 = T5 == T5Choice.On ? false : T5 == T5Choice.Off ? true : (bool?)null,
                Seamless = Seamless == SeamlessChoice.Inherit ? null : SeamlessAxesNames.Name(AxesOf(Seamless)),
                Pbr = Pbr == PbrChoice.Inherit ? null : Pbr == PbrChoice.Off ? BakePbr.Off() : PbrOptions(),
                InitImage = string.IsNullOrWhiteSpace(InitImage) ? null : InitImage.Trim(),
                Strength = Strength != 0 ? Strength : (float?)null,
                Mask = string.IsNullOrWhiteSpace(Mask) ? null : Mask.Trim(),
                MaskBlur = MaskBlur != 0 ? MaskBlur : (int?)null,
                Variations = Variations > 0 ? Variations : (int?)null,
                SlgLayers = string.IsNullOrWhiteSpace(SlgLayers) ? null : SlgLayers.Trim(),
                SlgScale = SlgScale != 0 ? SlgScale : (float?)null,
                SlgStart = SlgStart != 0 ? SlgStart : (float?)null,
                SlgEnd = SlgEnd != 0 ? SlgEnd : (float?)null,
                MakeSeamless = MakeSeamless == SeamlessChoice.X || MakeSeamless == SeamlessChoice.Y || MakeSeamless == SeamlessChoice.XY
                    ? SeamlessAxesNames.Name(AxesOf(MakeSeamless)) : null,
                Band = Band > 0 ? Band : (int?)null,
            };
        }

        Materials.PbrOptions PbrOptions()
        {
            var o = new Materials.PbrOptions { NormalConvention = PbrNormalConvention };
            if (!string.IsNullOrWhiteSpace(PbrMaps))
            {
                if (!Materials.PbrMapNames.TryParse(PbrMaps, out var maps, out string problem)) throw new BakeManifestException($"\"{(string.IsNullOrEmpty(Name) ? "defaults" : Name)}\" PBR maps: {problem}.");
                o.Maps = maps;
            }
            if (PbrStrength > 0) o.Strength = PbrStrength;
            return o;
        }

        /// <summary>The fields of a manifest entry (JSON import). Noise files are not carried by assets: an entry
        /// with one is refused, saying to bake that manifest as JSON.</summary>
        public static BakeTextureData FromEntry(BakeEntry e)
        {
            if (e == null) throw new ArgumentNullException(nameof(e));
            if (e.Noise != null) throw new BakeManifestException($"\"{e.Name ?? "defaults"}\" uses a noise file, which a manifest asset cannot hold: bake that manifest as JSON (-manifest file.json).");
            var d = new BakeTextureData
            {
                Name = e.Name ?? "", Prompt = e.Prompt ?? "", Negative = e.Negative ?? "", OverrideSeed = e.Seed.HasValue, Seed = e.Seed ?? 0,
                Count = e.Count ?? 0, Steps = e.Steps ?? 0, Cfg = e.Cfg ?? 0, Shift = e.Shift ?? 0, Width = e.Width ?? 0, Height = e.Height ?? 0,
                T5 = e.NoT5 == true ? T5Choice.Off : e.NoT5 == false ? T5Choice.On : T5Choice.Inherit,
                Pbr = e.Pbr == null ? PbrChoice.Inherit : BakePbr.IsOn(e.Pbr) ? PbrChoice.On : PbrChoice.Off,
                InitImage = e.InitImage ?? "", Strength = e.Strength ?? 0, Mask = e.Mask ?? "", MaskBlur = e.MaskBlur ?? 0, Variations = e.Variations ?? 0,
                SlgLayers = e.SlgLayers ?? "", SlgScale = e.SlgScale ?? 0, SlgStart = e.SlgStart ?? 0, SlgEnd = e.SlgEnd ?? 0, Band = e.Band ?? 0,
            };
            if (BakePbr.IsOn(e.Pbr))
            {
                d.PbrMaps = e.Pbr.Maps == Materials.PbrMapKinds.All ? "" : Materials.PbrMapNames.Format(e.Pbr.Maps);
                d.PbrStrength = e.Pbr.Strength;
                d.PbrNormalConvention = e.Pbr.NormalConvention;
            }
            if (e.MakeSeamless != null)
            {
                if (!SeamlessAxesNames.TryParse(e.MakeSeamless, out var ms)) throw new BakeManifestException($"make_seamless \"{e.MakeSeamless}\" is not x, y or xy.");
                d.MakeSeamless = ChoiceOf(ms);
            }
            if (e.Sampler != null)
            {
                if (!SamplerNames.TryParse(e.Sampler, out var s)) throw new BakeManifestException($"sampler \"{e.Sampler}\" is not euler or dpmpp_2m.");
                d.Sampler = s == SamplerKind.Euler ? SamplerChoice.Euler : SamplerChoice.DpmPp2M;
            }
            if (e.Seamless != null)
            {
                if (!SeamlessAxesNames.TryParse(e.Seamless, out var axes)) throw new BakeManifestException($"seamless \"{e.Seamless}\" is not x, y, xy or none.");
                d.Seamless = ChoiceOf(axes);
            }
            return d;
        }

        static SeamlessChoice ChoiceOf(SeamlessAxes axes) =>
            axes == SeamlessAxes.X ? SeamlessChoice.X : axes == SeamlessAxes.Y ? SeamlessChoice.Y : axes == SeamlessAxes.Both ? SeamlessChoice.XY : SeamlessChoice.None;

        static SeamlessAxes AxesOf(SeamlessChoice c) =>
            c == SeamlessChoice.X ? SeamlessAxes.X : c == SeamlessChoice.Y ? SeamlessAxes.Y : c == SeamlessChoice.XY ? SeamlessAxes.Both : SeamlessAxes.None;
    }

    /// <summary>
    /// What a BakeManifest asset holds: an output folder inside Assets/, the model (the project's settings, or its
    /// own), defaults and textures. It becomes an engine-free <see cref="BakeManifest"/>, so the editor's bake has the
    /// same semantics as <c>sd3tex bake</c>: up-to-date textures are skipped, writes are atomic, a failure does not stop
    /// the others, and an interrupted bake resumes.
    /// </summary>
    [Serializable]
    public sealed class BakeAssetData
    {
        /// <summary>Project-relative folder the PNGs go to, e.g. Assets/Textures/Baked.</summary>
        public string OutputFolder = "Assets/Textures/Baked";
        /// <summary>Use the model of the project's settings (the generator window's); otherwise <see cref="Model"/>.</summary>
        public bool UseProjectModel = true;
        public ModelSettings Model = new ModelSettings();
        public BakeTextureData Defaults = new BakeTextureData();
        public List<BakeTextureData> Textures = new List<BakeTextureData>();

        /// <summary>
        /// The manifest to bake. Paths resolve against <paramref name="projectRoot"/>; the model comes from
        /// <paramref name="projectModel"/> when <see cref="UseProjectModel"/>. Throws <see cref="BakeManifestException"/>
        /// saying what to fix (an output folder outside Assets/, no model files, names that cannot be file names ...).
        /// </summary>
        public BakeManifest ToManifest(string projectRoot, ModelSettings projectModel)
        {
            string output = SaveNaming.NormalizeAssetFolder(OutputFolder, projectRoot, out string problem);
            if (output == null) throw new BakeManifestException("output folder: " + problem);
            var model = UseProjectModel ? projectModel : Model;
            if (model == null) throw new BakeManifestException("no model settings: set the model files in Window ▸ SD3 Texture Generator, or untick \"Use Project Model\" and set them here.");
            var options = model.ToGeneratorOptions(projectRoot);
            var defaults = (Defaults ?? new BakeTextureData()).ToEntry(true);
            if (options.ClipLHeads.HasValue && options.ClipGHeads.HasValue)
                defaults.ClipHeads = options.ClipLHeads.Value.ToString(CultureInfo.InvariantCulture) + "," + options.ClipGHeads.Value.ToString(CultureInfo.InvariantCulture);
            var m = new BakeManifest
            {
                BaseDirectory = projectRoot ?? "",
                Weights = new List<string>(options.Weights),
                Tokenizers = options.Tokenizers,
                Output = output,
                Device = options.Device,
                Defaults = defaults,
            };
            foreach (var t in Textures ?? new List<BakeTextureData>()) m.Textures.Add((t ?? new BakeTextureData()).ToEntry(false));
            if (m.Weights.Count == 0)
                throw new BakeManifestException(UseProjectModel
                    ? "the project's model settings name no model files: set them in Window ▸ SD3 Texture Generator (Model)."
                    : "this manifest's model names no files: add the checkpoint or diffusers folder under Model ▸ Weights.");
            m.Check();
            return m;
        }

        /// <summary>The generator options beyond the manifest (memory budget, residency, VAE tiles, large grids).</summary>
        public Generation.GeneratorOptions ToGeneratorOptions(string projectRoot, ModelSettings projectModel)
        {
            var model = UseProjectModel ? projectModel : Model;
            return (model ?? new ModelSettings()).ToGeneratorOptions(projectRoot);
        }

        /// <summary>Image paths of a JSON manifest (relative to it) made project-relative where they can be.</summary>
        static BakeTextureData Rebased(BakeTextureData d, BakeManifest manifest, string projectRoot)
        {
            string Fix(string path) => string.IsNullOrEmpty(path) ? path : ModelSettings.MakeRelative(projectRoot, BakeEntry.ResolvePath(manifest.BaseDirectory, path));
            d.InitImage = Fix(d.InitImage);
            d.Mask = Fix(d.Mask);
            return d;
        }

        /// <summary>An asset's fields from a JSON manifest (its paths made project-relative where they can be).</summary>
        public static BakeAssetData FromManifest(BakeManifest manifest, string projectRoot)
        {
            if (manifest == null) throw new ArgumentNullException(nameof(manifest));
            var d = new BakeAssetData
            {
                OutputFolder = ModelSettings.MakeRelative(projectRoot, manifest.OutputDirectory),
                UseProjectModel = false,
                Defaults = Rebased(BakeTextureData.FromEntry(manifest.Defaults ?? new BakeEntry()), manifest, projectRoot),
            };
            foreach (var w in manifest.ResolvedWeights())
            {
                string role = Checkpoints.Checkpoint.SplitRole(w, out string path);
                d.Model.Weights.Add(role + ModelSettings.MakeRelative(projectRoot, path));
            }
            string tok = manifest.ResolvedTokenizers();
            d.Model.Tokenizers = tok == null ? "" : ModelSettings.MakeRelative(projectRoot, tok);
            d.Model.Device = manifest.Device ?? "auto";
            string heads = manifest.Defaults?.ClipHeads;
            if (heads != null)
            {
                var parts = heads.Split(',');
                if (parts.Length == 2 && int.TryParse(parts[0].Trim(), out int l) && int.TryParse(parts[1].Trim(), out int g)) { d.Model.ClipLHeads = l; d.Model.ClipGHeads = g; }
            }
            foreach (var t in manifest.Textures)
            {
                if (t.ClipHeads != null && t.ClipHeads != heads)
                    throw new BakeManifestException($"\"{t.Name}\" sets its own clip_heads, which a manifest asset cannot hold: bake that manifest as JSON (-manifest file.json).");
                d.Textures.Add(Rebased(BakeTextureData.FromEntry(t), manifest, projectRoot));
            }
            return d;
        }
    }
}
