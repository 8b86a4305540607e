using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.IO;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Formats;
using SixLabors.ImageSharp.Formats.Bmp;
using SixLabors.ImageSharp.Formats.Jpeg;
using SixLabors.ImageSharp.Formats.Png;
using SixLabors.ImageSharp.Formats.Tga;
using SixLabors.ImageSharp.Formats.Webp;
using SixLabors.ImageSharp.Memory;
using SixLabors.ImageSharp.PixelFormats;

namespace Sd3Tex.Imaging
{
    /// <summary>An image file could not be read: the message names the file and says what is wrong (not found,
    /// unreadable, not an image in a supported format, damaged or truncated, too large) and what to do.</summary>
    public sealed class ImageFileException : IOException
    {
        /// <summary>The file (or the name given to in-memory bytes).</summary>
        public string FilePath { get; }

        public ImageFileException(string path, string problem, Exception inner = null)
            : base($"{path}: {problem}", inner)
        {
            FilePath = path;
        }
    }

    /// <summary>What an image may declare before it is refused, checked against its header before any pixel memory is
    /// allocated (so a small file declaring a huge size, a decompression bomb, costs nothing).</summary>
    public sealed class ImageLimits
    {
        /// <summary>Largest width or height (default 16384, Unity's largest texture).</summary>
        public int MaxSide { get; set; } = 16384;
        /// <summary>Most pixels (default 16384², 1 GiB as RGBA8).</summary>
        public long MaxPixels { get; set; } = 16384L * 16384;
        /// <summary>Largest file read (default 1 GiB).</summary>
        public long MaxFileBytes { get; set; } = 1L << 30;

        public static ImageLimits Default { get; } = new ImageLimits();
    }

    /// <summary>An image file's header: size, format and bits per pixel.</summary>
    public sealed class ImageFileInfo
    {
        public int Width { get; internal set; }
        public int Height { get; internal set; }
        /// <summary>"PNG", "JPEG", "BMP", "TGA" or "WEBP".</summary>
        public string Format { get; internal set; }
        public int BitsPerPixel { get; internal set; }
    }

    /// <summary>
    /// Reads user images (PNG, JPEG, BMP, TGA, WebP; 8- and 16-bit; grey, RGB, with or without alpha, palettes) through
    /// SixLabors.ImageSharp 2.1. Every problem is an <see cref="ImageFileException"/> naming the file, never another
    /// exception: the header is identified first and a size beyond <see cref="ImageLimits"/> is refused before the
    /// pixels are allocated; metadata chunks (text, ICC, EXIF) are not decoded when only the pixels are wanted.
    /// </summary>
    public static class ImageFiles
    {
        /// <summary>The formats read, as the messages name them.</summary>
        public const string SupportedFormats = "PNG, JPEG, BMP, TGA or WebP";

        /// <summary>Decode buffers are plain garbage-collected arrays, not ImageSharp's default pool of unmanaged memory:
        /// every access a damaged file provokes stays bounds-checked managed memory, nothing is held in a pool after a
        /// decode (Unity's memory profiler sees it all), and no pool trimming runs on a timer. Declared first: the
        /// configurations below are built from it.</summary>
        static readonly MemoryAllocator Managed = new SimpleGcMemoryAllocator();

        /// <summary>Decoders that skip metadata (pixels only): nothing a crafted text or profile chunk holds is inflated.</summary>
        internal static readonly Configuration Pixels = NewConfiguration(ignoreMetadata: true);
        /// <summary>The PNG decoder alone, keeping metadata (the text chunks this package writes): what
        /// <see cref="PngReader"/> reads with, so that no other format's decoder ever sees a file given as a PNG.</summary>
        internal static readonly Configuration PngWithMetadata = NewPngConfiguration();

        static Configuration NewPngConfiguration()
        {
            var c = new Configuration(new PngConfigurationModule()) { PreferContiguousImageBuffers = true, MemoryAllocator = Managed };
            c.ImageFormatsManager.SetDecoder(PngFormat.Instance, new PngDecoder { IgnoreMetadata = false });
            return c;
        }

        static Configuration NewConfiguration(bool ignoreMetadata)
        {
            var c = new Configuration(new PngConfigurationModule(), new JpegConfigurationModule(), new BmpConfigurationModule(),
                                      new TgaConfigurationModule(), new WebpConfigurationModule())
            {
                PreferContiguousImageBuffers = true,
                MemoryAllocator = Managed,
            };
            c.ImageFormatsManager.SetDecoder(PngFormat.Instance, new PngDecoder { IgnoreMetadata = ignoreMetadata });
            c.ImageFormatsManager.SetDecoder(JpegFormat.Instance, new JpegDecoder { IgnoreMetadata = ignoreMetadata });
            c.ImageFormatsManager.SetDecoder(WebpFormat.Instance, new WebpDecoder { IgnoreMetadata = ignoreMetadata });
            return c;
        }

        /// <summary>The image at <paramref name="path"/> as 8-bit RGBA (grey becomes R = G = B, missing alpha 255;
        /// 16-bit channels are rounded to 8 bits).</summary>
        public static ImageRgba8 Load(string path) => Load(path, null);

        /// <summary><see cref="Load(string)"/> for a request's files (init images, masks, the input of make-seamless): a
        /// failure is added to <paramref name="problems"/> (as "the {what} cannot be used: …", naming the file) instead
        /// of thrown, so that a request can report every problem at once. Null when it failed.</summary>
        public static ImageRgba8 TryLoad(string path, string what, List<string> problems)
        {
            if (string.IsNullOrWhiteSpace(path))
            {
                problems.Add($"the {what} cannot be used: no image file named (an empty path).");
                return null;
            }
            try { return Load(path); }
            catch (ImageFileException e)
            {
                problems.Add($"the {what} cannot be used: {e.Message}");
                return null;
            }
        }

        /// <summary><see cref="Load(string)"/> with other limits.</summary>
        public static ImageRgba8 Load(string path, ImageLimits limits) => Decode(ReadFile(path, limits), path, limits);

        /// <summary>Decodes image bytes; <paramref name="name"/> names them in messages.</summary>
        public static ImageRgba8 Decode(byte[] data, string name = "image", ImageLimits limits = null)
        {
            using (var image = DecodeAs<Rgba32>(data, name, limits ?? ImageLimits.Default, Pixels, out _))
            {
                var r = new ImageRgba8(image.Width, image.Height);
                image.CopyPixelDataTo(r.Pixels);
                return r;
            }
        }

        /// <summary>The image at <paramref name="path"/> as RGBA floats in [0, 1] with the file's full precision
        /// (16-bit PNG channels are kept, not rounded to 8 bits).</summary>
        public static FloatImage LoadFloat(string path, ImageLimits limits = null) => DecodeFloat(ReadFile(path, limits), path, limits);

        /// <summary>Decodes image bytes as RGBA floats in [0, 1] (16-bit precision).</summary>
        public static FloatImage DecodeFloat(byte[] data, string name = "image", ImageLimits limits = null)
        {
            using (var image = DecodeAs<Rgba64>(data, name, limits ?? ImageLimits.Default, Pixels, out _))
            {
                var pixels = new Rgba64[(long)image.Width * image.Height];
                image.CopyPixelDataTo(pixels);
                var r = new FloatImage(image.Width, image.Height, 4);
                const float Scale = 1f / 65535f;
                for (long i = 0; i < pixels.LongLength; i++)
                {
                    var p = pixels[i];
                    r.Data[i * 4] = p.R * Scale;
                    r.Data[i * 4 + 1] = p.G * Scale;
                    r.Data[i * 4 + 2] = p.B * Scale;
                    r.Data[i * 4 + 3] = p.A * Scale;
                }
                return r;
            }
        }

        /// <summary>The header of the image at <paramref name="path"/> (size, format, bits per pixel) without its pixels.</summary>
        public static ImageFileInfo Identify(string path, ImageLimits limits = null) => Identify(ReadFile(path, limits), path);

        /// <summary>The header of image bytes.</summary>
        public static ImageFileInfo Identify(byte[] data, string name = "image")
        {
            if (data == null) throw new ArgumentNullException(nameof(data));
            data = NormalizeBmp(name, data);
            return Guard(name, () =>
            {
                var info = Image.Identify(Pixels, data, out IImageFormat format);
                if (info == null || format == null) throw Unknown(name);
                return new ImageFileInfo { Width = info.Width, Height = info.Height, Format = format.Name, BitsPerPixel = info.PixelType?.BitsPerPixel ?? 0 };
            });
        }

        /// <summary>Reads a whole file with the limits' size cap; a missing or unreadable file is an <see cref="ImageFileException"/>.</summary>
        internal static byte[] ReadFile(string path, ImageLimits limits)
        {
            if (string.IsNullOrEmpty(path)) throw new ArgumentException("no image path given.", nameof(path));
            limits = limits ?? ImageLimits.Default;
            try
            {
                if (Directory.Exists(path)) throw new ImageFileException(path, "is a folder, not an image file.");
                if (!File.Exists(path)) throw new ImageFileException(path, "not found.");
                long length = new FileInfo(path).Length;
                if (length == 0) throw new ImageFileException(path, "is empty (0 bytes): not an image.");
                if (length > limits.MaxFileBytes)
                    throw new ImageFileException(path, $"is {length / (1024.0 * 1024):0} MiB, more than the {limits.MaxFileBytes / (1024.0 * 1024):0} MiB an image may have here.");
                return File.ReadAllBytes(path);
            }
            catch (ImageFileException) { throw; }
            catch (Exception e) when (e is IOException || e is UnauthorizedAccessException || e is NotSupportedException || e is System.Security.SecurityException)
            {
                throw new ImageFileException(path, "cannot be read: " + e.Message, e);
            }
        }

        /// <summary>Identifies, checks the declared size against <paramref name="limits"/>, then decodes.</summary>
        internal static Image<TPixel> DecodeAs<TPixel>(byte[] data, string name, ImageLimits limits, Configuration configuration, out IImageFormat format)
            where TPixel : unmanaged, IPixel<TPixel>
        {
            if (data == null) throw new ArgumentNullException(nameof(data));
            if (data.Length == 0) throw new ImageFileException(name, "is empty (0 bytes): not an image.");
            IImageFormat detected = null;
            data = NormalizeBmp(name, data); // before ImageSharp reads the header (see there)
            var image = Guard(name, () =>
            {
                var info = Image.Identify(configuration, data, out detected);
                if (info == null || detected == null) throw Unknown(name);
                CheckSize(name, info.Width, info.Height, limits);
                if (detected is PngFormat)
                {
                    CheckPngData(name, data.LongLength, info);
                    CheckInterlacedPngData(name, data);
                }
                return Image.Load<TPixel>(configuration, data);
            });
            format = detected;
            return image;
        }

        /// <summary>Refuses a declared size of zero or beyond the limits, before anything is allocated for it.</summary>
        internal static void CheckSize(string name, int width, int height, ImageLimits limits)
        {
            if (width < 1 || height < 1) throw new ImageFileException(name, $"declares a size of {width} × {height} pixels: the file is damaged.");
            if (width > limits.MaxSide || height > limits.MaxSide || (long)width * height > limits.MaxPixels)
                throw new ImageFileException(name, $"declares {width} × {height} pixels, more than the {limits.MaxSide} × {limits.MaxSide} " +
                                                   $"({limits.MaxPixels / 1e6:0.#} million pixels) an image may have here: the file is damaged or too large; scale it down.");
        }

        /// <summary>Deflate compresses at most about 1032 : 1, so a PNG whose file is far smaller than its declared
        /// scanlines (a decompression bomb, or a damaged size) is refused before its pixels are allocated.</summary>
        static void CheckPngData(string name, long fileBytes, IImageInfo info)
        {
            int bits = Math.Max(1, info.PixelType?.BitsPerPixel ?? 8);
            long raw = (long)info.Height * (1 + ((long)info.Width * bits + 7) / 8);
            if (fileBytes * 1032 + 4096 < raw)
                throw new ImageFileException(name, $"declares {info.Width} × {info.Height} pixels, which its {fileBytes} bytes of data cannot hold: the file is damaged or truncated.");
        }

        static readonly int[] Adam7FirstRow = { 0, 0, 4, 0, 2, 0, 1 }, Adam7RowStep = { 8, 8, 8, 4, 4, 2, 2 };
        static readonly int[] Adam7FirstColumn = { 0, 4, 0, 2, 0, 1, 0 }, Adam7ColumnStep = { 8, 8, 4, 4, 2, 2, 1 };

        /// <summary>
        /// ImageSharp 2.1's decoder loops forever on an interlaced (Adam7) PNG whose compressed data ends before its
        /// last scanline (its end-of-data exit sits inside the pass loop; found by the fuzz test). For interlaced
        /// PNGs the image data (the first run of IDAT chunks, as the decoder reads it) is inflated here first, counting
        /// bytes without keeping them, and a file whose data ends early is refused as truncated.
        /// </summary>
        public static void CheckInterlacedPngData(string name, byte[] b)
        {
            if (b.Length < 33 || b[28] != 1) return; // IHDR's interlace method: 1 = Adam7
            int width = (b[16] << 24) | (b[17] << 16) | (b[18] << 8) | b[19], height = (b[20] << 24) | (b[21] << 16) | (b[22] << 8) | b[23];
            int depth = b[24], type = b[25];
            int channels = type == 2 ? 3 : type == 4 ? 2 : type == 6 ? 4 : 1;
            long bits = (long)depth * channels, need = 0;
            for (int p = 0; p < 7; p++)
            {
                long cols = width > Adam7FirstColumn[p] ? (width - Adam7FirstColumn[p] + Adam7ColumnStep[p] - 1) / Adam7ColumnStep[p] : 0;
                long rows = height > Adam7FirstRow[p] ? (height - Adam7FirstRow[p] + Adam7RowStep[p] - 1) / Adam7RowStep[p] : 0;
                if (cols > 0) need += rows * (1 + (cols * bits + 7) / 8);
            }
            // the first run of consecutive IDAT chunks
            var idat = new System.IO.MemoryStream();
            int o = 8;
            bool started = false;
            while (o + 12 <= b.Length)
            {
                long len = (uint)((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]);
                bool isIdat = b[o + 4] == 'I' && b[o + 5] == 'D' && b[o + 6] == 'A' && b[o + 7] == 'T';
                if (started && !isIdat) break;
                long available = Math.Min(len, b.Length - (o + 8L));
                if (isIdat) { started = true; idat.Write(b, o + 8, (int)Math.Max(0, available)); }
                if (available < len) break;
                o += 12 + (int)len;
            }
            long inflated = 0;
            if (idat.Length > 2)
            {
                idat.Position = 2; // the zlib header
                try
                {
                    using (var z = new System.IO.Compression.DeflateStream(idat, System.IO.Compression.CompressionMode.Decompress))
                    {
                        var buffer = new byte[1 << 16];
                        int n;
                        while (inflated < need && (n = z.Read(buffer, 0, buffer.Length)) > 0) inflated += n;
                    }
                }
                catch (InvalidDataException e) { throw new ImageFileException(name, "is damaged: its compressed image data is corrupt (" + e.Message + ").", e); }
            }
            if (inflated < need)
                throw new ImageFileException(name, $"is truncated or damaged: its interlaced image data holds {inflated} of the {need} bytes its {width} × {height} pixels need.");
        }

        /// <summary>
        /// Rewrites a palette BMP so that ImageSharp 2.1's decoder can never read outside its colour table, and refuses
        /// what it would mishandle. That decoder reads each colour as 3 bytes at index × entry size without a bounds
        /// check on the last 2 bytes; the entry size and table length come from header fields a damaged file sets at
        /// will (no colour count: the gap before the pixels ÷ 2^bits, at least 3), so a read can run past the table and
        /// crash the process (a memory-access violation, found by the fuzz test). Every 1-, 2-, 4- and 8-bit BMP
        /// (uncompressed, RLE8, RLE4) is therefore given a table of exactly 256 colours of 4 bytes, with its colour
        /// count set to 256: the colours the decoder would have taken, in order, and black where the file's table ends
        /// early. Index × 4 + 3 then stays inside the table for every index a pixel can hold. OS/2 core headers
        /// (12 and 16 bytes, which cannot state a colour count) become the 40-byte Windows header with the same fields.
        /// Also refused before the decoder runs: a pixel offset past the end of the file (the decoder would first
        /// allocate a "palette" that large: 2 GB from 60 bytes), a header cut short (the decoder would read the rest of
        /// it from uninitialised stack memory), pixels that start inside the header, a table that does not fit before
        /// the pixels, bit depths no BMP has, and OS/2 bitmap arrays ("BA").
        /// </summary>
        public static byte[] NormalizeBmp(string name, byte[] b)
        {
            if (b.Length < 2 || b[0] != (byte)'B' || (b[1] != (byte)'M' && b[1] != (byte)'A')) return b;
            if (b.Length < 14 + 16) return b; // too short for any header: the decoder refuses it itself
            if (b[1] == (byte)'A')
                throw new ImageFileException(name, "is an OS/2 bitmap array (a BMP starting with \"BA\"), which is not read here: save it as PNG or as a Windows BMP.");
            int offset = BinaryPrimitives.ReadInt32LittleEndian(b.AsSpan(10)), header = BinaryPrimitives.ReadInt32LittleEndian(b.AsSpan(14));
            if (offset < 0 || offset > b.Length)
                throw new ImageFileException(name, $"says its pixels start at byte {(uint)offset}, past the end of its {b.Length} bytes: the file is damaged or truncated.");
            bool known = header == 12 || header == 16 || header == 40 || header == 52 || header == 56 || header == 64 || (header >= 108 && header <= 124);
            if (!known) return b; // the decoder refuses other header sizes with its own error
            if (b.Length < 14 + header)
                throw new ImageFileException(name, $"is truncated inside its {header}-byte BMP header ({b.Length} bytes in all).");
            int bpp = BinaryPrimitives.ReadInt16LittleEndian(b.AsSpan(header == 12 ? 24 : 28));
            if (bpp != 1 && bpp != 2 && bpp != 4 && bpp != 8 && bpp != 16 && bpp != 24 && bpp != 32)
                throw new ImageFileException(name, $"says it has {bpp} bits per pixel, not a BMP depth read here (1, 2, 4, 8, 16, 24 or 32): the file is damaged or of an unsupported kind.");
            int compression = header >= 40 ? BinaryPrimitives.ReadInt32LittleEndian(b.AsSpan(30)) : 0;
            if (bpp > 8 || (compression != 0 && compression != 1 && compression != 2)) return b; // no colour table is read
            int colours = header >= 40 ? BinaryPrimitives.ReadInt32LittleEndian(b.AsSpan(46)) : 0;
            int tableStart = 14 + header, gap = offset - tableStart;
            if (gap < 0)
                throw new ImageFileException(name, $"says its pixels start at byte {offset}, inside its {header}-byte header: the file is damaged.");
            // the table as the decoder would read it: `count` entries of `entry` bytes from `tableStart`
            int entry, count;
            if (colours != 0)
            {
                if (colours < 0 || (long)colours * 4 > gap)
                    throw new ImageFileException(name, $"says it has {(uint)colours} palette colours, more than the {gap} bytes before its pixels hold: the file is damaged.");
                entry = 4; count = colours;
            }
            else
            {
                count = 1 << bpp;
                entry = bpp == 2 ? 4 : Math.Max(gap / count, 3);
            }
            const int Table = 256 * 4;
            int newHeader = header < 40 ? 40 : header, newOffset = 14 + newHeader + Table;
            var r = new byte[newOffset + (b.Length - offset)];
            Buffer.BlockCopy(b, 0, r, 0, 14);
            if (header < 40)
            {
                // OS/2 1.x (12 bytes: 16-bit width and height) or 2.x short (16 bytes) as a Windows 40-byte header
                int width = header == 12 ? BinaryPrimitives.ReadUInt16LittleEndian(b.AsSpan(18)) : BinaryPrimitives.ReadInt32LittleEndian(b.AsSpan(18));
                int height = header == 12 ? BinaryPrimitives.ReadUInt16LittleEndian(b.AsSpan(20)) : BinaryPrimitives.ReadInt32LittleEndian(b.AsSpan(22));
                BinaryPrimitives.WriteInt32LittleEndian(r.AsSpan(14), 40);
                BinaryPrimitives.WriteInt32LittleEndian(r.AsSpan(18), width);
                BinaryPrimitives.WriteInt32LittleEndian(r.AsSpan(22), height);
                r[26] = 1; // planes
                r[28] = (byte)bpp;
            }
            else Buffer.BlockCopy(b, 14, r, 14, header);
            BinaryPrimitives.WriteInt32LittleEndian(r.AsSpan(2), r.Length);   // file size
            BinaryPrimitives.WriteInt32LittleEndian(r.AsSpan(10), newOffset);
            BinaryPrimitives.WriteInt32LittleEndian(r.AsSpan(46), 256);       // colours used
            for (int k = 0; k < Math.Min(count, 256); k++)
            {
                long at = (long)k * entry;
                if (at + 3 > gap) break; // the file's table ends here: the rest stays black
                Buffer.BlockCopy(b, tableStart + (int)at, r, 14 + newHeader + k * 4, 3);
            }
            Buffer.BlockCopy(b, offset, r, newOffset, b.Length - offset);
            return r;
        }

        static ImageFileException Unknown(string name) =>
            new ImageFileException(name, $"is not an image in a supported format ({SupportedFormats}), or its header is damaged.");

        /// <summary>Runs a decoder call, turning whatever a damaged file makes it throw into an <see cref="ImageFileException"/>.</summary>
        internal static T Guard<T>(string name, Func<T> decode)
        {
            try { return decode(); }
            catch (ImageFileException) { throw; }
            catch (UnknownImageFormatException e) { throw new ImageFileException(name, $"is not an image in a supported format ({SupportedFormats}).", e); }
            catch (InvalidImageContentException e) { throw new ImageFileException(name, "is damaged or truncated: " + e.Message, e); }
            catch (ImageFormatException e) { throw new ImageFileException(name, "is damaged or truncated: " + e.Message, e); }
            catch (EndOfStreamException e) { throw new ImageFileException(name, "is truncated (it ends in the middle of the image data).", e); }
            catch (NotSupportedException e) { throw new ImageFileException(name, "uses a feature that cannot be read: " + e.Message, e); }
            catch (Exception e) when (e is OutOfMemoryException || e is InsufficientMemoryException)
            {
                throw new ImageFileException(name, "is too large to decode in the memory available; scale it down.", e);
            }
            catch (Exception e) when (!(e is OperationCanceledException))
            {
                // a decoder tripping over inconsistent data (an index out of range, an overflow ...): the file is damaged
                throw new ImageFileException(name, $"is damaged (the decoder failed: {e.GetType().Name}: {e.Message}).", e);
            }
        }
    }
}
