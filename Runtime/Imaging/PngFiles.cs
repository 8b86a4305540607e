using System;
using System.Collections.Generic;
using System.IO;
using Sd3Tex.Checkpoints;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Formats;
using SixLabors.ImageSharp.Formats.Png;
using SixLabors.ImageSharp.Metadata;
using SixLabors.ImageSharp.PixelFormats;

namespace Sd3Tex.Imaging
{
    /// <summary>A PNG text chunk: <c>tEXt</c> (Latin-1) or <c>iTXt</c> (UTF-8).</summary>
    public sealed class PngText
    {
        /// <summary>1–79 Latin-1 characters, no leading, trailing or double spaces.</summary>
        public string Keyword { get; }
        public string Text { get; }
        /// <summary>Not Latin-1, so stored as iTXt (UTF-8); Latin-1 text is stored as tEXt (what Pillow, and so
        /// AUTOMATIC1111, does). Text chunks are never compressed.</summary>
        public bool International { get; }

        public PngText(string keyword, string text)
        {
            if (string.IsNullOrEmpty(keyword) || keyword.Length > 79 || !IsLatin1(keyword) || keyword.IndexOf('\0') >= 0 ||
                keyword.Trim() != keyword || keyword.Contains("  "))
                throw new ArgumentException($"\"{keyword}\" is not a PNG text keyword (1-79 Latin-1 characters, no NUL, no outer or double spaces).");
            Keyword = keyword;
            Text = (text ?? "").Replace("\0", "");
            International = !IsLatin1(Text);
        }

        /// <summary>The chunk of <paramref name="text"/>: tEXt when it is Latin-1, otherwise iTXt.</summary>
        public static PngText Auto(string keyword, string text) => new PngText(keyword, text);

        public static bool IsLatin1(string s)
        {
            foreach (char ch in s) if (ch > 0xFF) return false;
            return true;
        }

        public override string ToString() => $"{(International ? "iTXt" : "tEXt")} {Keyword}: {Text}";
    }

    /// <summary>A PNG read back: its header, pixels (as RGBA8) and text chunks.</summary>
    public sealed class PngFile
    {
        public int Width { get; internal set; }
        public int Height { get; internal set; }
        /// <summary>Bits per channel: 1, 2, 4, 8 or 16.</summary>
        public int BitDepth { get; internal set; }
        /// <summary>0 grey, 2 RGB, 3 palette, 4 grey + alpha, 6 RGBA.</summary>
        public int ColorType { get; internal set; }
        /// <summary>The pixels as RGBA8, or null when only the header and metadata were read.</summary>
        public ImageRgba8 Image { get; internal set; }
        public List<PngText> Texts { get; } = new List<PngText>();

        /// <summary>The first text chunk with this keyword, or null.</summary>
        public string Text(string keyword)
        {
            foreach (var t in Texts) if (t.Keyword == keyword) return t.Text;
            return null;
        }
    }

    /// <summary>
    /// Writes PNGs through SixLabors.ImageSharp: 8-bit RGB or RGBA from <see cref="ImageRgba8"/>, 8- or 16-bit grey,
    /// RGB or RGBA from <see cref="FloatImage"/>, with text chunks (tEXt for Latin-1 text, iTXt otherwise, never
    /// compressed) written after IHDR and before the image data, and no other ancillary chunk. Adaptive filtering,
    /// zlib level 6. Files are written atomically (a temporary file beside the target, then a rename).
    /// </summary>
    public static class PngWriter
    {
        /// <summary>Writes <paramref name="image"/> to <paramref name="path"/> atomically. <paramref name="alpha"/> null
        /// stores RGBA only when some pixel is not opaque.</summary>
        public static void Write(string path, ImageRgba8 image, IEnumerable<PngText> texts = null, bool? alpha = null)
            => AtomicFile.WriteAllBytes(path, Encode(image, texts, alpha));

        /// <summary>The PNG file's bytes.</summary>
        public static byte[] Encode(ImageRgba8 image, IEnumerable<PngText> texts = null, bool? alpha = null)
        {
            if (image == null) throw new ArgumentNullException(nameof(image));
            bool rgba = alpha ?? !image.IsOpaque;
            using (var img = SixLabors.ImageSharp.Image.LoadPixelData<Rgba32>(ImageFiles.Pixels, image.Pixels, image.Width, image.Height))
                return Encode(img, texts, rgba ? PngColorType.RgbWithAlpha : PngColorType.Rgb, PngBitDepth.Bit8);
        }

        /// <summary>Writes a float image atomically as an 8- or 16-bit PNG: 1 channel grey, 2 grey + alpha, 3 RGB, 4 RGBA;
        /// values clamped to [0, 1] and rounded.</summary>
        public static void Write(string path, FloatImage image, int bitDepth, IEnumerable<PngText> texts = null)
            => AtomicFile.WriteAllBytes(path, Encode(image, bitDepth, texts));

        /// <summary>The PNG bytes of a float image (see <see cref="Write(string, FloatImage, int, IEnumerable{PngText})"/>).</summary>
        public static byte[] Encode(FloatImage image, int bitDepth, IEnumerable<PngText> texts = null)
        {
            if (image == null) throw new ArgumentNullException(nameof(image));
            if (bitDepth != 8 && bitDepth != 16) throw new ArgumentOutOfRangeException(nameof(bitDepth), bitDepth, "8 or 16");
            int w = image.Width, h = image.Height, c = image.Channels;
            long n = (long)w * h;
            var d = image.Data;
            var type = c == 1 ? PngColorType.Grayscale : c == 2 ? PngColorType.GrayscaleWithAlpha : c == 3 ? PngColorType.Rgb : PngColorType.RgbWithAlpha;
            if (bitDepth == 8)
            {
                var px = new Rgba32[n];
                for (long i = 0; i < n; i++)
                {
                    long s = i * c;
                    byte r = FloatImage.ToByte(d[s]);
                    px[i] = c <= 2
                        ? new Rgba32(r, r, r, c == 2 ? FloatImage.ToByte(d[s + 1]) : (byte)255)
                        : new Rgba32(r, FloatImage.ToByte(d[s + 1]), FloatImage.ToByte(d[s + 2]), c == 4 ? FloatImage.ToByte(d[s + 3]) : (byte)255);
                }
                using (var img = SixLabors.ImageSharp.Image.LoadPixelData(ImageFiles.Pixels, px, w, h))
                    return Encode(img, texts, type, PngBitDepth.Bit8);
            }
            var wide = new Rgba64[n];
            for (long i = 0; i < n; i++)
            {
                long s = i * c;
                ushort r = FloatImage.ToUShort(d[s]);
                wide[i] = c <= 2
                    ? new Rgba64(r, r, r, c == 2 ? FloatImage.ToUShort(d[s + 1]) : ushort.MaxValue)
                    : new Rgba64(r, FloatImage.ToUShort(d[s + 1]), FloatImage.ToUShort(d[s + 2]), c == 4 ? FloatImage.ToUShort(d[s + 3]) : ushort.MaxValue);
            }
            using (var img = SixLabors.ImageSharp.Image.LoadPixelData(ImageFiles.Pixels, wide, w, h))
                return Encode(img, texts, type, PngBitDepth.Bit16);
        }

        static byte[] Encode<TPixel>(Image<TPixel> img, IEnumerable<PngText> texts, PngColorType type, PngBitDepth depth)
            where TPixel : unmanaged, IPixel<TPixel>
        {
            var meta = img.Metadata.GetPngMetadata();
            if (texts != null)
                foreach (var t in texts) meta.TextData.Add(new PngTextData(t.Keyword, t.Text, "", ""));
            var encoder = new PngEncoder
            {
                ColorType = type,
                BitDepth = depth,
                FilterMethod = PngFilterMethod.Adaptive,
                CompressionLevel = PngCompressionLevel.DefaultCompression,
                InterlaceMethod = PngInterlaceMode.None,
                // text as Pillow writes it: tEXt or iTXt, never zTXt or compressed iTXt
                TextCompressionThreshold = int.MaxValue,
                // nothing but IHDR, the text chunks, IDAT and IEND
                ChunkFilter = PngChunkFilter.ExcludePhysicalChunk | PngChunkFilter.ExcludeGammaChunk | PngChunkFilter.ExcludeExifChunk,
                TransparentColorMode = PngTransparentColorMode.Preserve,
            };
            using (var ms = new MemoryStream())
            {
                img.Save(ms, encoder);
                return ms.ToArray();
            }
        }
    }

    /// <summary>
    /// Reads PNGs through SixLabors.ImageSharp: the header, the text chunks (tEXt, zTXt, iTXt) and, when asked, the
    /// pixels as RGBA8. A damaged or non-PNG file is an <see cref="ImageFileException"/> naming it.
    /// </summary>
    public static class PngReader
    {
        public static PngFile Read(string path, bool pixels = true)
        {
            if (pixels) return Read(ImageFiles.ReadFile(path, null), pixels, path);
            // metadata only: the header and text chunks are read from the file, the image data is skipped
            try
            {
                if (!File.Exists(path)) throw new ImageFileException(path, "not found.");
                using (var fs = File.OpenRead(path))
                    return ImageFiles.Guard(path, () =>
                    {
                        var info = SixLabors.ImageSharp.Image.Identify(ImageFiles.PngWithMetadata, fs, out IImageFormat format);
                        return FromInfo(path, info, format, null);
                    });
            }
            catch (ImageFileException) { throw; }
            catch (Exception e) when (e is IOException || e is UnauthorizedAccessException)
            {
                throw new ImageFileException(path, "cannot be read: " + e.Message, e);
            }
        }

        /// <summary>Reads PNG bytes; <paramref name="name"/> names them in messages.</summary>
        public static PngFile Read(byte[] bytes, bool pixels = true, string name = "PNG")
        {
            if (bytes == null) throw new ArgumentNullException(nameof(bytes));
            if (!pixels)
                return ImageFiles.Guard(name, () =>
                {
                    var info = SixLabors.ImageSharp.Image.Identify(ImageFiles.PngWithMetadata, bytes, out IImageFormat format);
                    return FromInfo(name, info, format, null);
                });
            using (var img = ImageFiles.DecodeAs<Rgba32>(bytes, name, ImageLimits.Default, ImageFiles.PngWithMetadata, out IImageFormat format))
            {
                var rgba = new ImageRgba8(img.Width, img.Height);
                img.CopyPixelDataTo(rgba.Pixels);
                return FromInfo(name, img, format, rgba);
            }
        }

        static PngFile FromInfo(string name, IImageInfo info, IImageFormat format, ImageRgba8 pixels)
        {
            if (info == null || format == null) throw new ImageFileException(name, "is not a PNG file (or its header is damaged).");
            if (!(format is PngFormat)) throw new ImageFileException(name, $"is a {format.Name} file, not a PNG.");
            var meta = info.Metadata.GetPngMetadata();
            var png = new PngFile
            {
                Width = info.Width,
                Height = info.Height,
                BitDepth = meta.BitDepth.HasValue ? (int)meta.BitDepth.Value : 8,
                ColorType = meta.ColorType.HasValue ? (int)meta.ColorType.Value : 6,
                Image = pixels,
            };
            foreach (var t in meta.TextData) png.Texts.Add(new PngText(t.Keyword, t.Value));
            return png;
        }
    }
}
