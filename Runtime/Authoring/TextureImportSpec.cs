using System;
using System.Collections.Generic;
using System.IO;
using Sd3Tex.Imaging;
using Sd3Tex.Json;
using Sd3Tex.Vae;

namespace Sd3Tex.Authoring
{
    /// <summary>
    /// How a generated texture is imported into Unity: sRGB colour, mipmaps, wrap mode Repeat on the axes it tiles
    /// along (Clamp on the others, so bilinear filtering does not bleed the opposite edge in), and the generation
    /// parameters in the importer's userData (shown in the texture's inspector). A material map (its parameters
    /// name it, <see cref="Materials.PbrMaps.MapKey"/>) is linear (sRGB off), and the normal map is imported as a
    /// normal map. The editor applies it.
    /// </summary>
    public sealed class TextureImportSpec
    {
        public bool SRgb { get; set; } = true;
        public bool Mipmaps { get; set; } = true;
        public bool RepeatU { get; set; }
        public bool RepeatV { get; set; }
        /// <summary>Import as <c>TextureImporterType.NormalMap</c> (the <c>_normal</c> map).</summary>
        public bool NormalMap { get; set; }
        /// <summary>The material map this texture is (None for an albedo).</summary>
        public Materials.PbrMapKinds Map { get; set; }
        /// <summary>The importer's userData: <see cref="ImporterUserData.Encode"/> of the parameters.</summary>
        public string UserData { get; set; } = "";

        public static TextureImportSpec For(GenerationParameters parameters)
        {
            if (parameters == null) throw new ArgumentNullException(nameof(parameters));
            var axes = SeamlessOf(parameters);
            var map = Materials.PbrMaps.MapOf(parameters);
            return new TextureImportSpec
            {
                SRgb = map == Materials.PbrMapKinds.None,
                NormalMap = map == Materials.PbrMapKinds.Normal,
                Map = map,
                RepeatU = (axes & SeamlessAxes.X) != 0,
                RepeatV = (axes & SeamlessAxes.Y) != 0,
                UserData = ImporterUserData.Encode(parameters),
            };
        }

        /// <summary>The spec of a PNG written by this package (its metadata chunks); null for any other file.</summary>
        public static TextureImportSpec ForPng(string path)
        {
            if (!File.Exists(path)) return null;
            try
            {
                var png = PngReader.Read(path, pixels: false);
                if (png.Text(GenerationParameters.JsonKeyword) == null) return null;
                var p = GenerationParameters.FromPng(png);
                return p == null ? null : For(p);
            }
            catch (Exception e) when (e is ImageFileException || e is FormatException || e is IOException || e is InvalidOperationException)
            {
                return null;
            }
        }

        /// <summary>The axes a texture tiles along, from the "Seamless" parameter (x, y or xy).</summary>
        public static SeamlessAxes SeamlessOf(GenerationParameters parameters)
        {
            foreach (var kv in parameters.Extra)
                if (kv.Key == "Seamless" && SeamlessAxesNames.TryParse(kv.Value, out var axes)) return axes;
            return SeamlessAxes.None;
        }
    }

    /// <summary>Generation parameters kept in a texture importer's userData ("sd3tex:" + the parameters' JSON).</summary>
    public static class ImporterUserData
    {
        public const string Prefix = "sd3tex:";

        public static string Encode(GenerationParameters parameters)
        {
            if (parameters == null) throw new ArgumentNullException(nameof(parameters));
            return Prefix + parameters.ToJson().ToJson(false);
        }

        /// <summary>The parameters in <paramref name="userData"/>; null when it is not ours or is damaged.</summary>
        public static GenerationParameters Decode(string userData)
        {
            if (string.IsNullOrEmpty(userData) || !userData.StartsWith(Prefix, StringComparison.Ordinal)) return null;
            try { return GenerationParameters.FromJson(JsonValue.Parse(userData.Substring(Prefix.Length))); }
            catch (FormatException) { return null; }
            catch (InvalidOperationException) { return null; }
        }

        /// <summary>The rows the inspector shows: prompt, negative prompt, then the A1111 parameters in order.</summary>
        public static List<KeyValuePair<string, string>> DisplayRows(GenerationParameters parameters)
        {
            if (parameters == null) throw new ArgumentNullException(nameof(parameters));
            var rows = new List<KeyValuePair<string, string>> { new KeyValuePair<string, string>("Prompt", parameters.Prompt ?? "") };
            if (!string.IsNullOrEmpty(parameters.NegativePrompt)) rows.Add(new KeyValuePair<string, string>("Negative prompt", parameters.NegativePrompt));
            rows.AddRange(parameters.ParameterPairs());
            return rows;
        }
    }

    /// <summary>Pixel layout for Unity textures.</summary>
    public static class TexturePixels
    {
        /// <summary>The image's RGBA bytes with the bottom row first, the order Texture2D's raw data uses.</summary>
        public static byte[] BottomUp(ImageRgba8 image)
        {
            if (image == null) throw new ArgumentNullException(nameof(image));
            int row = image.Width * 4;
            var r = new byte[image.Pixels.Length];
            for (int y = 0; y < image.Height; y++)
                Buffer.BlockCopy(image.Pixels, y * row, r, (image.Height - 1 - y) * row, row);
            return r;
        }
    }
}
