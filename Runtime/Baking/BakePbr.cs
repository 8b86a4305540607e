using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Security.Cryptography;
using System.Text;
using Sd3Tex.Imaging;
using Sd3Tex.Json;
using Sd3Tex.Kernels;
using Sd3Tex.Materials;

namespace Sd3Tex.Baking
{
    /// <summary>
    /// The <c>pbr</c> field of a bake manifest's texture (or its defaults) and the maps' part of a bake. The field is
    /// <c>true</c> (every map, default settings), <c>false</c> (none, overriding the defaults), a list of maps
    /// (<c>"normal,ao,mask"</c>), or an object <c>{"maps": "...", "strength": 2, "normal_convention": "opengl",
    /// "ao_strength": 1.5, "roughness": 0.6}</c> (fields left out take their defaults). The maps are written beside each
    /// PNG (<c>name_normal.png</c> ...), atomically, with a hash of the albedo's hash and the pbr settings in their
    /// metadata: a re-run skips maps that are up to date, and changing <c>pbr</c> re-derives the maps from the PNG
    /// already baked without generating it again.
    /// </summary>
    public static class BakePbr
    {
        /// <summary>Options meaning "no maps" (<c>"pbr": false</c>): they override the defaults' pbr.</summary>
        public static PbrOptions Off() => new PbrOptions { Maps = PbrMapKinds.None };

        public static bool IsOn(PbrOptions o) => o != null && (o.Maps & PbrMapKinds.All) != PbrMapKinds.None;

        /// <summary>Reads a <c>pbr</c> value (see the class summary); <paramref name="at"/> names it in errors.</summary>
        public static PbrOptions FromJson(JsonValue v, string at)
        {
            switch (v.Kind)
            {
                case JsonKind.Bool: return v.AsBool ? new PbrOptions() : Off();
                case JsonKind.String: return new PbrOptions { Maps = Maps(v.AsString, at) };
                case JsonKind.Object:
                    var o = new PbrOptions();
                    foreach (var kv in v.Properties)
                    {
                        string f = $"{at}.{kv.Key}";
                        var x = kv.Value;
                        switch (kv.Key)
                        {
                            case "maps": o.Maps = Maps(x.Kind == JsonKind.String ? x.AsString : throw new BakeManifestException($"{f} must be a string such as \"normal,ao,mask\"."), f); break;
                            case "strength": o.Strength = Number(x, f); break;
                            case "ao_strength": o.AoStrength = Number(x, f); break;
                            case "roughness": o.RoughnessBase = Number(x, f); break;
                            case "normal_convention":
                                if (x.Kind != JsonKind.String || !PbrOptions.TryParseConvention(x.AsString, out var c))
                                    throw new BakeManifestException($"{f} must be \"opengl\" or \"directx\".");
                                o.NormalConvention = c;
                                break;
                            default:
                                throw new BakeManifestException($"unknown field \"{kv.Key}\" in {at}. Known fields: {string.Join(", ", PbrOptions.Fields)}.");
                        }
                    }
                    var problems = o.Problems();
                    if (problems.Count > 0) throw new BakeManifestException($"{at}: {string.Join(" ", problems)}");
                    return o;
                default:
                    throw new BakeManifestException($"{at} must be true, false, a list of maps (\"normal,ao,mask\") or an object with \"maps\", \"strength\", \"normal_convention\".");
            }
        }

        static PbrMapKinds Maps(string text, string at)
        {
            if (!PbrMapNames.TryParse(text, out var maps, out string problem)) throw new BakeManifestException($"{at}: {problem}.");
            return maps;
        }

        static float Number(JsonValue v, string at) =>
            v.Kind == JsonKind.Number ? (float)v.AsDouble : throw new BakeManifestException($"{at} must be a number.");

        /// <summary>The JSON of a <c>pbr</c> value: <c>false</c> when off, else the full object.</summary>
        public static JsonValue ToJson(PbrOptions o) => IsOn(o) ? o.ToJson() : JsonValue.From(false);

        /// <summary>The maps' hash: the albedo's hash and every pbr setting.</summary>
        public static string MapHash(string albedoHash, PbrOptions o)
        {
            using (var sha = SHA256.Create())
            {
                var h = sha.ComputeHash(Encoding.UTF8.GetBytes("pbr-v1|" + albedoHash + "|" + o.Identity()));
                var sb = new StringBuilder();
                for (int i = 0; i < 16; i++) sb.Append(h[i].ToString("x2", CultureInfo.InvariantCulture));
                return sb.ToString();
            }
        }

        /// <summary>Whether every map of <paramref name="albedoPng"/> exists and was derived with <paramref name="mapHash"/>.</summary>
        public static bool MapsUpToDate(string albedoPng, PbrOptions o, string mapHash) =>
            PbrMaps.PathsBeside(albedoPng, o.Maps).All(p => Baker.UpToDate(p, mapHash));

        /// <summary>Derives and writes the maps of one baked PNG (<paramref name="albedo"/> and its parameters, or read
        /// back from the file when null). Returns the paths written.</summary>
        public static IReadOnlyList<string> WriteMaps(string albedoPng, ImageRgba8 albedo, GenerationParameters parameters, PbrOptions o,
                                                      string mapHash, ComputeDevice device)
        {
            if (albedo == null)
            {
                albedo = ImageFiles.Load(albedoPng);
                parameters = GenerationParameters.FromPng(PngReader.Read(albedoPng, pixels: false));
            }
            var p = parameters != null ? GenerationParameters.FromJson(parameters.ToJson()) : new GenerationParameters();
            p.Extra.RemoveAll(kv => kv.Key == Baker.HashKey);
            var maps = PbrMaps.Derive(albedo, o, device);
            return maps.SaveBeside(albedoPng, p, new[] { new KeyValuePair<string, string>(Baker.HashKey, mapHash) });
        }

        /// <summary>The device the maps are derived on, opened on first use (null: the plain C# reference).</summary>
        internal sealed class DeviceHolder : IDisposable
        {
            readonly string _spec;
            ComputeDevice _device;
            bool _opened;

            public DeviceHolder(string spec) { _spec = string.IsNullOrWhiteSpace(spec) ? "auto" : spec.Trim(); }

            public ComputeDevice Get()
            {
                if (!_opened)
                {
                    _opened = true;
                    _device = PbrMaps.OpenDevice(_spec);
                }
                return _device;
            }

            public void Dispose() => _device?.Dispose();
        }
    }
}
