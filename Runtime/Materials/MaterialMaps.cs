using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using Sd3Tex.Imaging;
using Sd3Tex.Json;
using Sd3Tex.Kernels;
using Sd3Tex.Kernels.Reference;

namespace Sd3Tex.Materials
{
    /// <summary>The material maps derived from an albedo. Each is written beside the albedo as
    /// <c>&lt;name&gt;_&lt;key&gt;.png</c> with the key of <see cref="PbrMapNames.Key"/>.</summary>
    [Flags]
    public enum PbrMapKinds
    {
        None = 0,
        /// <summary><c>_height</c>: 16-bit grey, [0, 1].</summary>
        Height = 1,
        /// <summary><c>_normal</c>: 8-bit RGB tangent-space normal (OpenGL / Unity convention unless asked otherwise).</summary>
        Normal = 2,
        /// <summary><c>_roughness</c>: 8-bit grey (smoothness = 1 − roughness).</summary>
        Roughness = 4,
        /// <summary><c>_ao</c>: 8-bit grey ambient occlusion.</summary>
        Occlusion = 8,
        /// <summary><c>_mask</c>: HDRP's mask map, RGBA = metallic 0, occlusion, detail mask 0, smoothness.</summary>
        Mask = 16,
        /// <summary><c>_metallic</c>: URP / Built-in metallic-smoothness map, RGB = metallic 0, A = smoothness.</summary>
        Metallic = 32,
        All = Height | Normal | Roughness | Occlusion | Mask | Metallic,
    }

    /// <summary>The normal map's green channel: OpenGL (Unity, Blender: +Y up) or DirectX (Unreal, Substance's default: −Y).</summary>
    public enum NormalConvention { OpenGL = 0, DirectX = 1 }

    /// <summary>Names of the maps: the keys of <c>--maps</c> and of the file suffixes.</summary>
    public static class PbrMapNames
    {
        static readonly (PbrMapKinds kind, string key)[] Keys =
        {
            (PbrMapKinds.Height, "height"), (PbrMapKinds.Normal, "normal"), (PbrMapKinds.Roughness, "roughness"),
            (PbrMapKinds.Occlusion, "ao"), (PbrMapKinds.Mask, "mask"), (PbrMapKinds.Metallic, "metallic"),
        };

        /// <summary>Each single map, in file order.</summary>
        public static IEnumerable<PbrMapKinds> Each(PbrMapKinds maps) => Keys.Where(k => (maps & k.kind) != 0).Select(k => k.kind);

        /// <summary>"height", "normal", "roughness", "ao", "mask" or "metallic".</summary>
        public static string Key(PbrMapKinds single) => Keys.First(k => k.kind == single).key;

        /// <summary>The file suffix: "_" + <see cref="Key"/>.</summary>
        public static string Suffix(PbrMapKinds single) => "_" + Key(single);

        /// <summary>Parses a comma-separated list of keys ("all" for every map; "occlusion" and "metallic_smoothness" are also read).</summary>
        public static bool TryParse(string text, out PbrMapKinds maps, out string problem)
        {
            maps = PbrMapKinds.None;
            problem = null;
            foreach (var raw in (text ?? "").Split(','))
            {
                string t = raw.Trim().ToLowerInvariant();
                if (t.Length == 0) continue;
                if (t == "all") { maps |= PbrMapKinds.All; continue; }
                if (t == "occlusion") t = "ao";
                if (t == "metallic_smoothness" || t == "metallicsmoothness") t = "metallic";
                var k = Keys.FirstOrDefault(x => x.key == t);
                if (k.key == null)
                {
                    problem = $"\"{raw.Trim()}\" is not a map; use {string.Join(", ", Keys.Select(x => x.key))} or all";
                    return false;
                }
                maps |= k.kind;
            }
            if (maps == PbrMapKinds.None) { problem = "no map named"; return false; }
            return true;
        }

        /// <summary>The keys of a set, comma-separated.</summary>
        public static string Format(PbrMapKinds maps) => string.Join(",", Each(maps).Select(Key));
    }

    /// <summary>What to derive and how (see <see cref="Pbr"/> for the formulas).</summary>
    public sealed class PbrOptions
    {
        /// <summary>The maps to write (default: all six).</summary>
        public PbrMapKinds Maps { get; set; } = PbrMapKinds.All;
        /// <summary>The normal map's slope multiplier (default 2).</summary>
        public float Strength { get; set; } = 2f;
        public NormalConvention NormalConvention { get; set; } = NormalConvention.OpenGL;
        public NormalFilter Filter { get; set; } = NormalFilter.Scharr;
        /// <summary>How dark cavities get in the occlusion (default 1.5).</summary>
        public float AoStrength { get; set; } = 1.5f;
        /// <summary>The roughness of an average pixel (default 0.6).</summary>
        public float RoughnessBase { get; set; } = 0.6f;

        public PbrOptions Clone() => (PbrOptions)MemberwiseClone();

        /// <summary>Every problem with these options (empty when they can be used).</summary>
        public List<string> Problems()
        {
            var r = new List<string>();
            if ((Maps & PbrMapKinds.All) == PbrMapKinds.None) r.Add("PBR: no map chosen; name at least one of height, normal, roughness, ao, mask, metallic.");
            if (!(Strength > 0) || float.IsInfinity(Strength) || Strength > 1000) r.Add($"PBR: strength {Strength.ToString(CultureInfo.InvariantCulture)} must be above 0 (and at most 1000); 2 is the default.");
            if (!(AoStrength >= 0) || AoStrength > 100) r.Add($"PBR: occlusion strength {AoStrength.ToString(CultureInfo.InvariantCulture)} must be within 0 to 100.");
            if (!(RoughnessBase >= 0 && RoughnessBase <= 1)) r.Add($"PBR: base roughness {RoughnessBase.ToString(CultureInfo.InvariantCulture)} must be within 0 to 1.");
            return r;
        }

        /// <summary>The kernels' settings.</summary>
        public PbrSettings ToSettings() => new PbrSettings
        {
            Strength = Strength, DirectX = NormalConvention == NormalConvention.DirectX, Filter = Filter, AoStrength = AoStrength, RoughnessBase = RoughnessBase,
        };

        /// <summary>"opengl" or "directx".</summary>
        public static string ConventionName(NormalConvention c) => c == NormalConvention.DirectX ? "directx" : "opengl";

        /// <summary>Parses "opengl" (or "gl", "unity") and "directx" (or "dx").</summary>
        public static bool TryParseConvention(string text, out NormalConvention c)
        {
            switch ((text ?? "").Trim().ToLowerInvariant())
            {
                case "opengl": case "gl": case "unity": c = NormalConvention.OpenGL; return true;
                case "directx": case "dx": c = NormalConvention.DirectX; return true;
                default: c = NormalConvention.OpenGL; return false;
            }
        }

        /// <summary>The JSON of a bake manifest's <c>pbr</c> object: <c>maps</c>, <c>strength</c>, <c>normal_convention</c>,
        /// <c>ao_strength</c>, <c>roughness</c> (every field written).</summary>
        public JsonValue ToJson()
        {
            var j = JsonValue.NewObject();
            j.Set("maps", PbrMapNames.Format(Maps));
            j.Set("strength", (double)(decimal)Strength);
            j.Set("normal_convention", ConventionName(NormalConvention));
            j.Set("ao_strength", (double)(decimal)AoStrength);
            j.Set("roughness", (double)(decimal)RoughnessBase);
            return j;
        }

        /// <summary>The JSON fields of a <c>pbr</c> object.</summary>
        public static readonly string[] Fields = { "maps", "strength", "normal_convention", "ao_strength", "roughness" };

        /// <summary>A stable text of every setting that changes the maps (for hashes and metadata).</summary>
        public string Identity() => ToJson().ToJson(false);
    }

    /// <summary>The maps of one albedo (the ones asked for; the others null).</summary>
    public sealed class MaterialMaps
    {
        public int Width { get; internal set; }
        public int Height { get; internal set; }
        public PbrOptions Options { get; internal set; }
        /// <summary>One channel in [0, 1] (written as a 16-bit PNG).</summary>
        public FloatImage HeightMap { get; internal set; }
        public ImageRgba8 Normal { get; internal set; }
        /// <summary>One channel in [0, 1].</summary>
        public FloatImage Roughness { get; internal set; }
        /// <summary>One channel in [0, 1].</summary>
        public FloatImage Occlusion { get; internal set; }
        public ImageRgba8 Mask { get; internal set; }
        public ImageRgba8 MetallicSmoothness { get; internal set; }

        /// <summary>A map as RGBA8 (grey maps with R = G = B), or null when it was not derived.</summary>
        public ImageRgba8 Image(PbrMapKinds single)
        {
            switch (single)
            {
                case PbrMapKinds.Height: return HeightMap?.ToRgba8();
                case PbrMapKinds.Normal: return Normal;
                case PbrMapKinds.Roughness: return Roughness?.ToRgba8();
                case PbrMapKinds.Occlusion: return Occlusion?.ToRgba8();
                case PbrMapKinds.Mask: return Mask;
                case PbrMapKinds.Metallic: return MetallicSmoothness;
                default: throw new ArgumentException($"{single} is not one map.", nameof(single));
            }
        }

        /// <summary>The PNG bytes of a map: height 16-bit grey, roughness and occlusion 8-bit grey, normal 8-bit RGB, the
        /// packed maps 8-bit RGBA, with <paramref name="parameters"/> as metadata.</summary>
        public byte[] EncodePng(PbrMapKinds single, GenerationParameters parameters)
        {
            var texts = parameters?.ToPngTexts();
            switch (single)
            {
                case PbrMapKinds.Height: return PngWriter.Encode(Need(HeightMap, single), 16, texts);
                case PbrMapKinds.Roughness: return PngWriter.Encode(Need(Roughness, single), 8, texts);
                case PbrMapKinds.Occlusion: return PngWriter.Encode(Need(Occlusion, single), 8, texts);
                case PbrMapKinds.Normal: return PngWriter.Encode(Need(Normal, single), texts, alpha: false);
                case PbrMapKinds.Mask: return PngWriter.Encode(Need(Mask, single), texts, alpha: true);
                case PbrMapKinds.Metallic: return PngWriter.Encode(Need(MetallicSmoothness, single), texts, alpha: true);
                default: throw new ArgumentException($"{single} is not one map.", nameof(single));
            }
        }

        static T Need<T>(T map, PbrMapKinds kind) where T : class =>
            map ?? throw new InvalidOperationException($"the {PbrMapNames.Key(kind)} map was not derived (it is not in the options' maps).");

        /// <summary>
        /// Writes the maps asked for beside <paramref name="albedoPath"/> (<c>stone.png</c> → <c>stone_normal.png</c> ...),
        /// each atomically, with the albedo's parameters plus <c>PBR map</c>, <c>PBR</c> (the options) as metadata;
        /// <paramref name="extra"/> adds more pairs to every map (e.g. a bake hash). Returns the paths written.
        /// </summary>
        public IReadOnlyList<string> SaveBeside(string albedoPath, GenerationParameters albedoParameters = null,
                                                IEnumerable<KeyValuePair<string, string>> extra = null)
        {
            var written = new List<string>();
            foreach (var kind in PbrMapNames.Each(Options.Maps))
            {
                string path = PbrMaps.PathBeside(albedoPath, kind);
                var p = PbrMaps.MapParameters(albedoParameters, kind, Options);
                if (extra != null) p.Extra.AddRange(extra);
                Checkpoints.AtomicFile.WriteAllBytes(path, EncodePng(kind, p));
                written.Add(path);
            }
            return written;
        }
    }

    /// <summary>
    /// Derives material maps from an albedo on a device (the ILGPU kernels of <see cref="Pbr"/>, the managed CPU
    /// backend, or the plain C# reference when the device is null):
    /// <code>
    /// using var device = ComputeDevice.Open("auto");
    /// var maps = PbrMaps.Derive(ImageFiles.Load("stone.png"), new PbrOptions { Strength = 3 }, device);
    /// maps.SaveBeside("stone.png");   // stone_height.png, stone_normal.png, stone_roughness.png, stone_ao.png, stone_mask.png, stone_metallic.png
    /// </code>
    /// </summary>
    public static class PbrMaps
    {
        /// <summary>The metadata key naming which map a PNG is.</summary>
        public const string MapKey = "PBR map";
        /// <summary>The metadata key holding the options a map was derived with.</summary>
        public const string OptionsKey = "PBR";

        /// <summary>The maps of <paramref name="albedo"/> (its alpha is ignored). <paramref name="device"/> null runs the
        /// plain C# reference.</summary>
        public static MaterialMaps Derive(ImageRgba8 albedo, PbrOptions options, ComputeDevice device)
        {
            if (albedo == null) throw new ArgumentNullException(nameof(albedo));
            options = options ?? new PbrOptions();
            var problems = options.Problems();
            if (problems.Count > 0) throw new ArgumentException(string.Join(" ", problems));
            int w = albedo.Width, h = albedo.Height;
            var rgba = new int[w * h];
            Buffer.BlockCopy(albedo.Pixels, 0, rgba, 0, albedo.Pixels.Length);
            if (!BitConverter.IsLittleEndian)
                for (int i = 0; i < rgba.Length; i++)
                {
                    uint v = (uint)rgba[i];
                    rgba[i] = (int)((v >> 24) | ((v >> 8) & 0xFF00) | ((v << 8) & 0xFF0000) | (v << 24));
                }
            var o = device == null ? PbrReference.Derive(rgba, w, h, options.ToSettings()) : new Pbr(device).Derive(rgba, w, h, options.ToSettings());
            var maps = options.Maps;
            return new MaterialMaps
            {
                Width = w, Height = h, Options = options.Clone(),
                HeightMap = (maps & PbrMapKinds.Height) != 0 ? FloatImage.Grey(w, h, o.HeightMap) : null,
                Normal = (maps & PbrMapKinds.Normal) != 0 ? Unpack(o.Normal, w, h) : null,
                Roughness = (maps & PbrMapKinds.Roughness) != 0 ? FloatImage.Grey(w, h, o.Roughness) : null,
                Occlusion = (maps & PbrMapKinds.Occlusion) != 0 ? FloatImage.Grey(w, h, o.Occlusion) : null,
                Mask = (maps & PbrMapKinds.Mask) != 0 ? Unpack(o.Mask, w, h) : null,
                MetallicSmoothness = (maps & PbrMapKinds.Metallic) != 0 ? Unpack(o.MetallicSmoothness, w, h) : null,
            };
        }

        /// <summary><see cref="Derive(ImageRgba8, PbrOptions, ComputeDevice)"/> on the device a spec names (opened and
        /// released here; <c>reference</c>: the plain C# reference).</summary>
        public static MaterialMaps DeriveOn(ImageRgba8 albedo, PbrOptions options, string device)
        {
            using (var d = OpenDevice(device)) return Derive(albedo, options, d);
        }

        /// <summary>The device a spec names (<see cref="ComputeDevice.Open"/>'s names); null for <c>reference</c>, the
        /// plain C# reference.</summary>
        public static ComputeDevice OpenDevice(string spec) =>
            string.Equals((spec ?? "").Trim(), "reference", StringComparison.OrdinalIgnoreCase) ? null : ComputeDevice.Open(spec);

        static ImageRgba8 Unpack(int[] packed, int w, int h)
        {
            var img = new ImageRgba8(w, h);
            for (int i = 0; i < packed.Length; i++)
            {
                int v = packed[i];
                img.Pixels[i * 4] = (byte)v;
                img.Pixels[i * 4 + 1] = (byte)(v >> 8);
                img.Pixels[i * 4 + 2] = (byte)(v >> 16);
                img.Pixels[i * 4 + 3] = (byte)(v >> 24);
            }
            return img;
        }

        /// <summary><c>dir/name.png</c> → <c>dir/name_&lt;key&gt;.png</c>.</summary>
        public static string PathBeside(string albedoPath, PbrMapKinds single)
        {
            string dir = Path.GetDirectoryName(albedoPath) ?? "";
            return Path.Combine(dir, Path.GetFileNameWithoutExtension(albedoPath) + PbrMapNames.Suffix(single) + ".png");
        }

        /// <summary>The paths of every map in <paramref name="maps"/> beside an albedo.</summary>
        public static IReadOnlyList<string> PathsBeside(string albedoPath, PbrMapKinds maps) =>
            PbrMapNames.Each(maps).Select(k => PathBeside(albedoPath, k)).ToList();

        /// <summary>A map's metadata: the albedo's parameters (a copy) plus <see cref="MapKey"/> = the map's key and
        /// <see cref="OptionsKey"/> = the options.</summary>
        public static GenerationParameters MapParameters(GenerationParameters albedo, PbrMapKinds single, PbrOptions options)
        {
            var p = albedo != null ? GenerationParameters.FromJson(albedo.ToJson()) : new GenerationParameters();
            p.Extra.RemoveAll(kv => kv.Key == MapKey || kv.Key == OptionsKey);
            p.Extra.Add(new KeyValuePair<string, string>(MapKey, PbrMapNames.Key(single)));
            p.Extra.Add(new KeyValuePair<string, string>(OptionsKey, options.Identity()));
            return p;
        }

        /// <summary>The map a PNG's parameters say it is (<see cref="PbrMapKinds.None"/> for an albedo or another image).</summary>
        public static PbrMapKinds MapOf(GenerationParameters parameters)
        {
            if (parameters == null) return PbrMapKinds.None;
            foreach (var kv in parameters.Extra)
                if (kv.Key == MapKey && PbrMapNames.TryParse(kv.Value, out var k, out _) && PbrMapNames.Each(k).Count() == 1) return k;
            return PbrMapKinds.None;
        }
    }
}
