using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Threading.Tasks;
using NUnit.Framework;
using Sd3Tex.Imaging;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Formats;
using SixLabors.ImageSharp.Formats.Bmp;
using SixLabors.ImageSharp.Formats.Jpeg;
using SixLabors.ImageSharp.Formats.Png;
using SixLabors.ImageSharp.Formats.Tga;
using SixLabors.ImageSharp.Formats.Webp;
using SixLabors.ImageSharp.PixelFormats;

namespace Sd3Tex.Tests.Imaging
{
    /// <summary>Reading user images (<see cref="ImageFiles"/>): every format and depth, the errors for bad files, and a
    /// fuzz of mutated images in every format that must only ever succeed or throw <see cref="ImageFileException"/>.</summary>
    public sealed class ImageFilesTests
    {
        string _dir;

        [SetUp] public void SetUp() => _dir = TestPaths.NewScratch("imagefiles");
        [TearDown] public void TearDown() => TestPaths.DeleteScratch(_dir);

        /// <summary>A smooth pattern with an alpha ramp (lossy codecs keep it close).</summary>
        static Image<Rgba32> Pattern(int w, int h, bool alpha)
        {
            var img = new Image<Rgba32>(w, h);
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++)
                    img[x, y] = new Rgba32((byte)(x * 255 / (w - 1)), (byte)(y * 255 / (h - 1)), (byte)((x + y) * 4), alpha ? (byte)(255 - x * 6) : (byte)255);
            return img;
        }

        static byte[] Encode(Image img, IImageEncoder encoder)
        {
            using (var ms = new MemoryStream())
            {
                img.Save(ms, encoder);
                return ms.ToArray();
            }
        }

        /// <summary>One valid file of each kind the fuzz starts from: (name, bytes, lossless).</summary>
        static List<(string name, byte[] bytes, bool lossless)> Seeds()
        {
            var rgb = Pattern(24, 16, false);
            var rgba = Pattern(24, 16, true);
            var grey16 = rgb.CloneAs<L16>();
            var rgba64 = rgba.CloneAs<Rgba64>();
            var texted = rgb.Clone();
            texted.Metadata.GetPngMetadata().TextData.Add(new PngTextData("parameters", new string('a', 1500), "", "")); // zTXt
            texted.Metadata.GetPngMetadata().TextData.Add(new PngTextData("sd3tex", "{\"prompt\":\"猫\"}", "", ""));     // iTXt
            texted.Metadata.GetPngMetadata().TextData.Add(new PngTextData("short", "x", "", ""));                        // tEXt
            var seeds = new List<(string, byte[], bool)>
            {
                ("rgb8.png", Encode(rgb, new PngEncoder { ColorType = PngColorType.Rgb }), true),
                ("rgba8.png", Encode(rgba, new PngEncoder { ColorType = PngColorType.RgbWithAlpha }), true),
                ("grey16.png", Encode(grey16, new PngEncoder { ColorType = PngColorType.Grayscale, BitDepth = PngBitDepth.Bit16 }), true),
                ("rgba16.png", Encode(rgba64, new PngEncoder { ColorType = PngColorType.RgbWithAlpha, BitDepth = PngBitDepth.Bit16 }), true),
                ("palette.png", Encode(rgba, new PngEncoder { ColorType = PngColorType.Palette }), false),
                ("interlaced-text.png", Encode(texted, new PngEncoder { ColorType = PngColorType.Rgb, InterlaceMethod = PngInterlaceMode.Adam7 }), true),
                ("rgb.jpg", Encode(rgb, new JpegEncoder { Quality = 90 }), false),
                ("grey.jpg", Encode(rgb, new JpegEncoder { Quality = 90, ColorType = JpegColorType.Luminance }), false),
                ("rgb24.bmp", Encode(rgb, new BmpEncoder { BitsPerPixel = BmpBitsPerPixel.Pixel24 }), true),
                ("rgba32.bmp", Encode(rgba, new BmpEncoder { BitsPerPixel = BmpBitsPerPixel.Pixel32, SupportTransparency = true }), true),
                ("palette8.bmp", Encode(rgb, new BmpEncoder { BitsPerPixel = BmpBitsPerPixel.Pixel8 }), false),
                ("palette4.bmp", Encode(rgb, new BmpEncoder { BitsPerPixel = BmpBitsPerPixel.Pixel4 }), false),
                ("rgba32.tga", Encode(rgba, new TgaEncoder { BitsPerPixel = TgaBitsPerPixel.Pixel32, Compression = TgaCompression.None }), true),
                ("rle24.tga", Encode(rgb, new TgaEncoder { BitsPerPixel = TgaBitsPerPixel.Pixel24, Compression = TgaCompression.RunLength }), true),
                ("lossless.webp", Encode(rgba, new WebpEncoder { FileFormat = WebpFileFormatType.Lossless }), true),
                ("lossy.webp", Encode(rgba, new WebpEncoder { FileFormat = WebpFileFormatType.Lossy, Quality = 90 }), false),
            };
            foreach (var i in new Image[] { rgb, rgba, grey16, rgba64, texted }) i.Dispose();
            return seeds;
        }

        [Test]
        public void EveryFormatAndDepthLoads()
        {
            using (var expected = Pattern(24, 16, true))
                foreach (var (name, bytes, lossless) in Seeds())
                {
                    string path = Path.Combine(_dir, name);
                    File.WriteAllBytes(path, bytes);
                    var img = ImageFiles.Load(path);
                    Assert.That((img.Width, img.Height), Is.EqualTo((24, 16)), name);
                    bool alpha = name.Contains("rgba") || name.Contains("palette") || name.Contains("webp");
                    bool grey = name.Contains("grey");
                    int worst = 0;
                    for (int y = 0; y < 16; y++)
                        for (int x = 0; x < 24; x++)
                        {
                            var e = expected[x, y];
                            int luma = (int)Math.Round(0.2126 * e.R + 0.7152 * e.G + 0.0722 * e.B); // ImageSharp's grey is BT.709 luma
                            int[] want = grey ? new[] { luma, luma, luma, 255 } : new int[] { e.R, e.G, e.B, alpha ? e.A : 255 };
                            for (int c = 0; c < 4; c++) worst = Math.Max(worst, Math.Abs(img[x, y, c] - want[c]));
                        }
                    // (the BMP encoder's 4- and 8-bit palettes are too coarse for the gradient: only their size is compared)
                    if (!name.StartsWith("palette") || !name.EndsWith(".bmp"))
                        Assert.That(worst, Is.LessThanOrEqualTo(lossless ? (grey ? 1 : 0) : 24), $"{name}: largest channel difference");
                    var info = ImageFiles.Identify(path);
                    Assert.That((info.Width, info.Height), Is.EqualTo((24, 16)), name);
                    // 16-bit files keep their precision as floats
                    var f = ImageFiles.LoadFloat(path);
                    Assert.That(f.Data[(5 * 24 + 7) * 4 + 1], Is.EqualTo(img[7, 5, 1] / 255f).Within(lossless ? 0.5 / 255 : 0.5 / 255), name);
                }
        }

        [Test]
        public void BadFilesGiveOneClearError()
        {
            string P(string n) => Path.Combine(_dir, n);
            File.WriteAllText(P("notes.txt"), "this is not an image at all, just some text");
            File.WriteAllBytes(P("empty.png"), new byte[0]);
            var png = Seeds()[0].bytes;
            File.WriteAllBytes(P("cut.png"), png.Take(png.Length / 2).ToArray());
            File.WriteAllBytes(P("bomb.png"), HugePng(100000, 100000));
            Directory.CreateDirectory(P("folder.png"));
            var cases = new (string file, string says)[]
            {
                ("missing.png", "not found"), ("folder.png", "folder"), ("empty.png", "empty"), ("notes.txt", "not an image in a supported format"),
                ("cut.png", "truncated"), ("bomb.png", "100000 × 100000"),
            };
            foreach (var (file, says) in cases)
            {
                var e = Assert.Throws<ImageFileException>(() => ImageFiles.Load(P(file)), file);
                Assert.That(e.Message, Does.StartWith(P(file) + ": ").And.Contain(says), file);
                Assert.That(e.FilePath, Is.EqualTo(P(file)));
            }
        }

        [Test]
        public void AHugeDeclaredSizeIsRefusedBeforeAllocating()
        {
            // a few hundred bytes declaring 30000 × 30000 RGBA (3.6 GB decoded); one beyond smaller limits; one inside the
            // default limits whose data cannot hold it (deflate stays under 1032 : 1)
            var bomb = HugePng(30000, 30000);
            long before = GC.GetAllocatedBytesForCurrentThread();
            Assert.That(() => ImageFiles.Decode(bomb, "bomb.png"), Throws.TypeOf<ImageFileException>().With.Message.Contains("30000 × 30000"));
            Assert.That(() => ImageFiles.Decode(HugePng(4000, 4000), "small.png", new ImageLimits { MaxSide = 2048 }), Throws.TypeOf<ImageFileException>());
            Assert.That(() => ImageFiles.Decode(HugePng(16000, 16000), "thin.png"), Throws.TypeOf<ImageFileException>().With.Message.Contains("cannot hold"));
            // a BMP whose pixel offset lies far past its end (ImageSharp 2.1 would allocate its 2 GB "palette" first)
            var bmp = Seeds().First(s => s.name == "palette8.bmp").bytes.ToArray();
            bmp[10] = 0xF0; bmp[11] = 0xFF; bmp[12] = 0xFF; bmp[13] = 0x7F;
            bmp[46] = bmp[47] = bmp[48] = bmp[49] = 0;
            Assert.That(() => ImageFiles.Decode(bmp, "far.bmp"), Throws.TypeOf<ImageFileException>().With.Message.Contains("past the end"));
            long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            Assert.That(allocated, Is.LessThan(8 << 20), "bytes allocated while refusing the bombs");
        }

        static int Le32(byte[] b, int o) => b[o] | (b[o + 1] << 8) | (b[o + 2] << 16) | (b[o + 3] << 24);

        [Test]
        public void EveryPaletteBmpGetsA256ColourTableSoNoColourReadRunsPastIt()
        {
            // an 8-bit BMP whose header gives no colour count and whose table is 64 bytes: ImageSharp takes 3-byte
            // entries from it, and the entry at byte 63 would be read from 63 to 65, past the table
            var good = Seeds().First(s => s.name == "palette8.bmp").bytes;
            int offset = Le32(good, 10), header = Le32(good, 14);
            var b = good.Take(14 + header + 64).Concat(good.Skip(offset)).ToArray();
            int o = 14 + header + 64;
            b[10] = (byte)o; b[11] = (byte)(o >> 8); b[12] = 0; b[13] = 0;
            b[46] = b[47] = b[48] = b[49] = 0; // no colour count
            var n = ImageFiles.NormalizeBmp("p.bmp", b);
            int table = 14 + header;
            Assert.That(Le32(n, 10), Is.EqualTo(table + 1024), "a table of 256 four-byte colours");
            Assert.That(Le32(n, 46), Is.EqualTo(256), "colour count 256");
            Assert.That(Le32(n, 2), Is.EqualTo(n.Length), "file size");
            for (int k = 0; k < 21; k++) // 21 whole 3-byte entries fit in 64 bytes
                Assert.That(n.Skip(table + k * 4).Take(4), Is.EqualTo(b.Skip(table + k * 3).Take(3).Append((byte)0)), $"colour {k}");
            Assert.That(n.Skip(table + 21 * 4).Take(1024 - 21 * 4).All(v => v == 0), Is.True, "black after the file's table ends");
            Assert.That(n.Skip(table + 1024), Is.EqualTo(b.Skip(o)), "the pixels follow unchanged");
            Assert.That(ImageFiles.Decode(b, "p.bmp").Width, Is.EqualTo(24), "it decodes");
        }

        [Test]
        public void ANormalizedPaletteBmpDecodesToTheSamePixels()
        {
            foreach (var name in new[] { "palette8.bmp", "palette4.bmp" })
            {
                var good = Seeds().First(s => s.name == name).bytes;
                var n = ImageFiles.NormalizeBmp(name, good);
                Assert.That(Le32(n, 46), Is.EqualTo(256), name + " gets 256 colours");
                using (var expected = Image.Load<Rgba32>(good)) // a valid file: ImageSharp alone reads it safely
                {
                    var got = ImageFiles.Decode(good, name);
                    Assert.That(got.Width, Is.EqualTo(expected.Width));
                    for (int y = 0; y < expected.Height; y++)
                        for (int x = 0; x < expected.Width; x++)
                        {
                            var e = expected[x, y];
                            int i = (y * got.Width + x) * 4;
                            Assert.That(new[] { got.Pixels[i], got.Pixels[i + 1], got.Pixels[i + 2], got.Pixels[i + 3] }, Is.EqualTo(new[] { e.R, e.G, e.B, e.A }), $"{name} ({x}, {y})");
                        }
                }
            }
            // an OS/2 1.x core header (12 bytes, 3-byte colours) becomes a Windows header with the same pixels
            var win = Seeds().First(s => s.name == "palette4.bmp").bytes;
            int winOffset = Le32(win, 10);
            var core = new List<byte>();
            core.AddRange(win.Take(14));
            core.AddRange(new byte[] { 12, 0, 0, 0, 24, 0, 16, 0, 1, 0, 4, 0 });
            for (int k = 0; k < 16; k++) core.AddRange(win.Skip(54 + k * 4).Take(3));
            int coreOffset = core.Count;
            core.AddRange(win.Skip(winOffset));
            var c = core.ToArray();
            c[10] = (byte)coreOffset; c[11] = (byte)(coreOffset >> 8); c[12] = c[13] = 0;
            Assert.That(ImageFiles.Decode(c, "core.bmp").Pixels, Is.EqualTo(ImageFiles.Decode(win, "win.bmp").Pixels));
        }

        [Test]
        public void DamagedBmpHeadersAreRefusedBeforeTheDecoderRuns()
        {
            var good = Seeds().First(s => s.name == "palette8.bmp").bytes;
            byte[] With(Action<byte[]> change) { var b = good.ToArray(); change(b); return b; }
            Assert.That(() => ImageFiles.Decode(With(b => { b[10] = 30; b[11] = 0; }).Take(40).ToArray(), "cut.bmp"), Throws.TypeOf<ImageFileException>().With.Message.Contains("truncated inside its 40-byte BMP header"));
            Assert.That(() => ImageFiles.Decode(With(b => b[1] = (byte)'A'), "array.bmp"), Throws.TypeOf<ImageFileException>().With.Message.Contains("OS/2 bitmap array"));
            Assert.That(() => ImageFiles.Decode(With(b => b[28] = 0), "zero.bmp"), Throws.TypeOf<ImageFileException>().With.Message.Contains("0 bits per pixel"));
            Assert.That(() => ImageFiles.Decode(With(b => { b[10] = 20; b[11] = 0; }), "inside.bmp"), Throws.TypeOf<ImageFileException>().With.Message.Contains("inside its 40-byte header"));
            Assert.That(() => ImageFiles.Decode(With(b => { b[46] = 0; b[47] = 0x10; }), "many.bmp"), Throws.TypeOf<ImageFileException>().With.Message.Contains("palette colours, more than"));
        }

        [Test]
        public void AnInterlacedPngWhoseDataEndsEarlyIsRefusedNotDecodedForever()
        {
            // Adam7 with the deflate stream cut short but every chunk's CRC valid: ImageSharp 2.1 alone would loop forever
            var good = Seeds().First(s => s.name == "interlaced-text.png").bytes;
            Assert.That(ImageFiles.Decode(good, "ok.png").Width, Is.EqualTo(24), "the whole file decodes");
            int idat = PngChunks(good).First(c => System.Text.Encoding.ASCII.GetString(good, c + 4, 4) == "IDAT");
            int len = ReadBE(good, idat);
            var z = good.Skip(idat + 8).Take(len).ToArray();
            // recompress only the first half of the scanlines: a valid zlib stream that ends early
            var raw = new MemoryStream();
            using (var d = new System.IO.Compression.DeflateStream(new MemoryStream(z, 2, z.Length - 2), System.IO.Compression.CompressionMode.Decompress)) d.CopyTo(raw);
            var first = raw.ToArray().Take((int)raw.Length / 2).ToArray();
            var half = new MemoryStream();
            half.WriteByte(0x78); half.WriteByte(0xDA);
            using (var c = new System.IO.Compression.DeflateStream(half, System.IO.Compression.CompressionLevel.Optimal, true)) c.Write(first, 0, first.Length);
            uint a1 = 1, a2 = 0;
            foreach (byte v in first) { a1 = (a1 + v) % 65521; a2 = (a2 + a1) % 65521; }
            var adler = new byte[4];
            WriteBE(adler, 0, (a2 << 16) | a1);
            half.Write(adler, 0, 4);
            var data = half.ToArray();
            var chunk = new byte[12 + data.Length];
            WriteBE(chunk, 0, (uint)data.Length);
            System.Text.Encoding.ASCII.GetBytes("IDAT").CopyTo(chunk, 4);
            data.CopyTo(chunk, 8);
            FixCrc(chunk, 0);
            var cut = good.Take(idat).Concat(chunk).Concat(good.Skip(idat + 12 + len)).ToArray();
            var task = Task.Run(() => Assert.Throws<ImageFileException>(() => ImageFiles.Decode(cut, "cut.png")));
            Assert.That(task.Wait(TimeSpan.FromSeconds(20)), Is.True, "no hang");
            Assert.That(task.Result.Message, Does.Contain("cut.png: is truncated or damaged: its interlaced image data holds"));
        }

        /// <summary>A PNG whose IHDR (with a valid CRC) declares width × height RGBA and whose IDAT is a few bytes.</summary>
        static byte[] HugePng(int width, int height)
        {
            var b = Seeds()[1].bytes.ToArray();
            WriteBE(b, 16, (uint)width);
            WriteBE(b, 20, (uint)height);
            FixCrc(b, 8);
            return b;
        }

        static void WriteBE(byte[] b, int o, uint v)
        {
            b[o] = (byte)(v >> 24); b[o + 1] = (byte)(v >> 16); b[o + 2] = (byte)(v >> 8); b[o + 3] = (byte)v;
        }

        static int ReadBE(byte[] b, int o) => (b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3];

        /// <summary>Recomputes the CRC of the PNG chunk starting at <paramref name="o"/> (its length field), when it fits.</summary>
        static void FixCrc(byte[] b, int o)
        {
            if (o + 8 > b.Length) return;
            long len = (uint)ReadBE(b, o);
            if (o + 12 + len > b.Length) return;
            uint crc = 0xFFFFFFFF;
            for (long i = o + 4; i < o + 8 + len; i++)
            {
                crc ^= b[i];
                for (int k = 0; k < 8; k++) crc = (crc & 1) != 0 ? (crc >> 1) ^ 0xEDB88320 : crc >> 1;
            }
            WriteBE(b, (int)(o + 8 + len), ~crc);
        }

        /// <summary>Offsets of the PNG chunks (their length fields).</summary>
        static List<int> PngChunks(byte[] b)
        {
            var r = new List<int>();
            int o = 8;
            while (o + 12 <= b.Length)
            {
                r.Add(o);
                long next = o + 12L + (uint)ReadBE(b, o);
                if (next > b.Length) break;
                o = (int)next;
            }
            return r;
        }

        /// <summary>Where each format keeps its declared width and height: (offset, bytes, big-endian) pairs.</summary>
        static (int offset, int size, bool bigEndian)[] SizeFields(string name, byte[] b)
        {
            if (name.EndsWith(".png")) return new[] { (16, 4, true), (20, 4, true) };
            if (name.EndsWith(".bmp")) return new[] { (18, 4, false), (22, 4, false) };
            if (name.EndsWith(".tga")) return new[] { (12, 2, false), (14, 2, false) };
            if (name.EndsWith(".jpg"))
            {
                for (int i = 2; i + 9 < b.Length; i++)
                    if (b[i] == 0xFF && (b[i + 1] == 0xC0 || b[i + 1] == 0xC1 || b[i + 1] == 0xC2)) return new[] { (i + 5, 2, true), (i + 7, 2, true) };
                return new (int, int, bool)[0];
            }
            // WebP: VP8L packs 14-bit sizes at 21; VP8 has 16-bit little-endian sizes at 26 and 28; VP8X 24-bit at 24 and 27
            string fourcc = System.Text.Encoding.ASCII.GetString(b, 12, 4);
            if (fourcc == "VP8L") return new[] { (21, 2, false), (22, 2, false) };
            if (fourcc == "VP8X") return new[] { (24, 3, false), (27, 3, false) };
            return new[] { (26, 2, false), (28, 2, false) };
        }

        static void WriteField(byte[] b, (int offset, int size, bool bigEndian) f, long value)
        {
            for (int k = 0; k < f.size && f.offset + k < b.Length; k++)
            {
                int shift = 8 * (f.bigEndian ? f.size - 1 - k : k);
                b[f.offset + k] = (byte)(value >> shift);
            }
        }

        /// <summary>
        /// ≥ 1000 mutated images in every format (bit flips, truncations, overwritten runs, corrupted PNG chunk lengths
        /// and types with and without valid CRCs, data changed under a valid CRC, huge or zero declared sizes), each
        /// decoded under a time limit: the only outcomes allowed are an image or an <see cref="ImageFileException"/>.
        /// </summary>
        [Test]
        public void FuzzedImagesFailCleanly()
        {
            var seeds = Seeds();
            // SD3TEX_FUZZ_ITERATIONS (per seed image, default 110) and SD3TEX_FUZZ_SEED make a longer or another run
            int perSeed = int.TryParse(Environment.GetEnvironmentVariable("SD3TEX_FUZZ_ITERATIONS"), out int it) && it > 0 ? it : 110;
            int seed = int.TryParse(Environment.GetEnvironmentVariable("SD3TEX_FUZZ_SEED"), out int sd) ? sd : 20240613;
            var rng = new Random(seed);
            var limits = new ImageLimits { MaxSide = 4096, MaxPixels = 4096L * 1024 };
            int decoded = 0, rejected = 0, mutations = 0;
            var failures = new List<string>();
            var clock = Stopwatch.StartNew();
            double slowest = 0;
            string slowestCase = "";
            foreach (var (name, good, _) in seeds)
            {
                bool isPng = name.EndsWith(".png");
                for (int iter = 0; iter < perSeed; iter++)
                {
                    var b = (byte[])good.Clone();
                    int kind = rng.Next(isPng ? 9 : 6);
                    switch (kind)
                    {
                        case 0: // flip bits anywhere
                            for (int k = rng.Next(1, 5); k > 0; k--) b[rng.Next(b.Length)] ^= (byte)(1 << rng.Next(8));
                            break;
                        case 1: // truncate anywhere
                            Array.Resize(ref b, rng.Next(0, b.Length));
                            break;
                        case 2: // overwrite a run with random bytes
                        {
                            int at = rng.Next(b.Length);
                            for (int k = rng.Next(1, 16); k > 0 && at < b.Length; k--, at++) b[at] = (byte)rng.Next(256);
                            break;
                        }
                        case 3: // flip bits in the first 64 bytes (the headers)
                            for (int k = rng.Next(1, 4); k > 0; k--) b[rng.Next(Math.Min(64, b.Length))] ^= (byte)(1 << rng.Next(8));
                            break;
                        case 4: // a huge, zero or odd declared size
                        {
                            var fields = SizeFields(name, b);
                            long[] values = { 0, 1, 65535, 16383, 30000, int.MaxValue, uint.MaxValue, rng.Next(1, 1 << 20) };
                            foreach (var f in fields) if (rng.Next(2) == 0) WriteField(b, f, values[rng.Next(values.Length)]);
                            if (isPng) FixCrc(b, 8);
                            break;
                        }
                        case 5: // overwrite an aligned 32-bit word (lengths, offsets, counts) with an extreme value
                        {
                            uint[] values = { 0, 1, 0x7FFFFFFF, 0xFFFFFFFF, 0x80000000, (uint)rng.Next() };
                            int at = rng.Next(Math.Max(1, b.Length / 4)) * 4;
                            if (at + 4 <= b.Length) WriteBE(b, at, values[rng.Next(values.Length)]);
                            break;
                        }
                        case 6: // PNG: corrupt a chunk's length field
                        {
                            var chunks = PngChunks(b);
                            int c = chunks[rng.Next(chunks.Count)];
                            uint[] values = { 0, 0xFFFFFFFF, 0x7FFFFFFF, (uint)rng.Next(0, b.Length * 2), (uint)ReadBE(b, c) + (uint)rng.Next(1, 9) };
                            WriteBE(b, c, values[rng.Next(values.Length)]);
                            break;
                        }
                        case 7: // PNG: change bytes inside a chunk and give it a valid CRC (the decoder, not the CRC, must cope)
                        {
                            var chunks = PngChunks(b);
                            int c = chunks[rng.Next(chunks.Count)];
                            int len = ReadBE(b, c);
                            if (len > 0)
                                for (int k = rng.Next(1, 6); k > 0; k--) b[c + 8 + rng.Next(len)] = (byte)rng.Next(256);
                            FixCrc(b, c);
                            break;
                        }
                        default: // PNG: rename, duplicate or drop a chunk
                        {
                            var chunks = PngChunks(b);
                            int ci = rng.Next(chunks.Count), c = chunks[ci];
                            int end = ci + 1 < chunks.Count ? chunks[ci + 1] : b.Length;
                            string[] types = { "IHDR", "IDAT", "IEND", "PLTE", "tRNS", "zTXt", "iTXt", "acTL", "fcTL", "gAMA", "iCCP" };
                            int op = rng.Next(3);
                            if (op == 0)
                            {
                                var t = System.Text.Encoding.ASCII.GetBytes(types[rng.Next(types.Length)]);
                                Array.Copy(t, 0, b, c + 4, 4);
                                FixCrc(b, c);
                            }
                            else if (op == 1) b = b.Take(end).Concat(b.Skip(c).Take(end - c)).Concat(b.Skip(end)).ToArray();
                            else b = b.Take(c).Concat(b.Skip(end)).ToArray();
                            break;
                        }
                    }
                    mutations++;
                    string label = $"{name} mutation {iter} (kind {kind}, {b.Length} bytes)";
                    var sw = Stopwatch.StartNew();
                    var task = Task.Run(() =>
                    {
                        try
                        {
                            var img = ImageFiles.Decode(b, name, limits);
                            if (isPng) PngReader.Read(b, pixels: false, name: name);
                            if (name.Contains("16")) ImageFiles.DecodeFloat(b, name, limits);
                            return img != null ? "ok" : "null image";
                        }
                        catch (ImageFileException e) { return e.Message.StartsWith(name + ": ", StringComparison.Ordinal) ? "rejected" : "unnamed: " + e.Message; }
                        catch (Exception e) { return $"{e.GetType().Name}: {e.Message}"; }
                    });
                    if (!task.Wait(TimeSpan.FromSeconds(20)))
                    {
                        // kept to reproduce: ImageFiles.Decode(File.ReadAllBytes(path), ...)
                        string keep = Path.Combine(Path.GetTempPath(), $"sd3tex-fuzz-{seed}-{iter}-{name}");
                        File.WriteAllBytes(keep, b);
                        failures.Add(label + $": no result after 20 s (a hang); the bytes are in {keep}");
                        continue;
                    }
                    double s = sw.Elapsed.TotalSeconds;
                    if (s > slowest) { slowest = s; slowestCase = label; }
                    if (task.Result == "ok") decoded++;
                    else if (task.Result == "rejected") rejected++;
                    else failures.Add(label + ": " + task.Result);
                }
            }
            TestContext.WriteLine($"image fuzz (seed {seed}): {mutations} mutated images ({seeds.Count} seeds), {decoded} decoded, {rejected} rejected cleanly, " +
                                  $"{failures.Count} failures, {clock.Elapsed.TotalSeconds:0.0} s, slowest {slowest * 1000:0} ms ({slowestCase})");
            Assert.That(failures, Is.Empty, "mutations that crashed, hung or gave another exception");
            Assert.That(mutations, Is.GreaterThanOrEqualTo(1000));
            Assert.That(rejected, Is.GreaterThan(300), "many mutations are caught");
        }
    }
}
