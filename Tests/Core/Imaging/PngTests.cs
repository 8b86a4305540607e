using System;
using System.IO;
using System.IO.Compression;
using System.Linq;
using System.Text;
using NUnit.Framework;
using Sd3Tex.Imaging;
using Sd3Tex.Json;
using Sd3Tex.Vae;

namespace Sd3Tex.Tests.Imaging
{
    /// <summary>What the PNG writer (SixLabors.ImageSharp) writes, checked byte by byte where it matters, the reader, the
    /// generation parameters (A1111 text and JSON), RGBA conversion and the seam metric.</summary>
    public sealed class PngTests
    {
        string _dir;

        [SetUp] public void SetUp() => _dir = TestPaths.NewScratch("png");
        [TearDown] public void TearDown() => TestPaths.DeleteScratch(_dir);

        static ImageRgba8 Pattern(int w, int h, bool alpha, int seed)
        {
            var r = new Random(seed);
            var img = new ImageRgba8(w, h);
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++)
                {
                    // smooth gradients (the filters matter) plus some noise (every byte value appears)
                    img[x, y, 0] = (byte)(x * 255 / Math.Max(1, w - 1));
                    img[x, y, 1] = (byte)(y * 7 + x * 3);
                    img[x, y, 2] = (byte)r.Next(256);
                    img[x, y, 3] = alpha ? (byte)r.Next(256) : (byte)255;
                }
            return img;
        }

        static GenerationParameters Sample() => new GenerationParameters
        {
            Prompt = "a weathered brick wall, seamless texture\nsecond line: «ünïcödé» 猫 🐱",
            NegativePrompt = "blurry, text",
            Steps = 28, Sampler = "Euler", CfgScale = 4.5, Seed = 1234567890123, Width = 1024, Height = 768,
            Model = "sd3.5-medium", Shift = 3.0,
        };

        [Test]
        public void A1111TextHasTheWebuiLayout()
        {
            var p = new GenerationParameters
            {
                Prompt = "a cat", NegativePrompt = "blurry", Steps = 28, Sampler = "Euler", CfgScale = 5, Seed = 42,
                Width = 1024, Height = 512, Model = "sd3-medium", Shift = 3.0,
            };
            Assert.That(p.ToA1111(), Is.EqualTo("a cat\nNegative prompt: blurry\nSteps: 28, Sampler: Euler, CFG scale: 5.0, Seed: 42, Size: 1024x512, Model: sd3-medium, Shift: 3.0"));
            // no negative prompt: no line for it; values with commas or colons are JSON-quoted (A1111's quote)
            p.NegativePrompt = "";
            p.Extra.Add(new System.Collections.Generic.KeyValuePair<string, string>("Note", "a, b: c"));
            Assert.That(p.ToA1111(), Is.EqualTo("a cat\nSteps: 28, Sampler: Euler, CFG scale: 5.0, Seed: 42, Size: 1024x512, Model: sd3-medium, Shift: 3.0, Note: \"a, b: c\""));
            Assert.That(GenerationParameters.SamplerDisplayName("dpmpp_2m"), Is.EqualTo("DPM++ 2M"));
            Assert.That(GenerationParameters.FormatNumber(4.5), Is.EqualTo("4.5"));
        }

        [Test]
        public void A1111TextParsesBack()
        {
            var p = Sample();
            p.Extra.Add(new System.Collections.Generic.KeyValuePair<string, string>("Seamless", "xy"));
            var q = GenerationParameters.ParseA1111(p.ToA1111());
            Assert.That(q.Prompt, Is.EqualTo(p.Prompt));
            Assert.That(q.NegativePrompt, Is.EqualTo(p.NegativePrompt));
            Assert.That((q.Steps, q.Sampler, q.CfgScale, q.Seed, q.Width, q.Height, q.Model, q.Shift),
                        Is.EqualTo((p.Steps, p.Sampler, p.CfgScale, p.Seed, p.Width, p.Height, p.Model, p.Shift)));
            Assert.That(q.Extra.Single().Value, Is.EqualTo("xy"));
        }

        /// <summary>The chunks of a PNG, walked by hand with a bit-by-bit CRC-32 (no table) checked on each: (type,
        /// keyword of a text chunk or null, data).</summary>
        static System.Collections.Generic.List<(string type, string keyword, byte[] data)> Chunks(byte[] bytes)
        {
            Assert.That(bytes.Take(8), Is.EqualTo(new byte[] { 137, 80, 78, 71, 13, 10, 26, 10 }), "PNG signature");
            var r = new System.Collections.Generic.List<(string, string, byte[])>();
            int o = 8;
            while (o < bytes.Length)
            {
                int len = (bytes[o] << 24) | (bytes[o + 1] << 16) | (bytes[o + 2] << 8) | bytes[o + 3];
                string type = Encoding.ASCII.GetString(bytes, o + 4, 4);
                uint crc = 0xFFFFFFFF;
                for (int i = o + 4; i < o + 8 + len; i++)
                {
                    crc ^= bytes[i];
                    for (int k = 0; k < 8; k++) crc = (crc & 1) != 0 ? (crc >> 1) ^ 0xEDB88320 : crc >> 1;
                }
                crc = ~crc;
                uint stored = (uint)((bytes[o + 8 + len] << 24) | (bytes[o + 9 + len] << 16) | (bytes[o + 10 + len] << 8) | bytes[o + 11 + len]);
                Assert.That(stored, Is.EqualTo(crc), $"{type} CRC");
                var data = bytes.Skip(o + 8).Take(len).ToArray();
                string keyword = type == "tEXt" || type == "iTXt" || type == "zTXt" ? Encoding.GetEncoding(28591).GetString(data, 0, Array.IndexOf(data, (byte)0)) : null;
                r.Add((type, keyword, data));
                o += 12 + len;
            }
            Assert.That(o, Is.EqualTo(bytes.Length), "the last chunk ends the file");
            return r;
        }

        [Test]
        public void PixelsAndMetadataRoundTrip([Values(false, true)] bool alpha)
        {
            var img = Pattern(37, 23, alpha, 5);
            var p = Sample();
            string path = Path.Combine(_dir, "out.png");
            PngWriter.Write(path, img, p.ToPngTexts());
            Assert.That(Directory.GetFiles(_dir), Is.EqualTo(new[] { path }), "written atomically: no temporary file is left");
            var png = PngReader.Read(path);
            Assert.That((png.Width, png.Height, png.BitDepth, png.ColorType), Is.EqualTo((37, 23, 8, alpha ? 6 : 2)));
            Assert.That(png.Image.Pixels, Is.EqualTo(img.Pixels));
            // the prompt is not Latin-1: both chunks are iTXt (as Pillow, and so A1111, writes such text), uncompressed,
            // right after IHDR, with empty language tag and translated keyword
            var chunks = Chunks(File.ReadAllBytes(path));
            Assert.That(chunks.Where(c => c.keyword != null).Select(c => (c.type, c.keyword)), Is.EqualTo(new[] { ("iTXt", "parameters"), ("iTXt", "sd3tex") }));
            Assert.That(chunks.Take(3).Select(c => c.type), Is.EqualTo(new[] { "IHDR", "iTXt", "iTXt" }));
            var itxt = chunks[1].data;
            Assert.That(itxt.Skip("parameters".Length).Take(5), Is.EqualTo(new byte[] { 0, 0, 0, 0, 0 }), "uncompressed, no language tag, no translated keyword");
            Assert.That(new UTF8Encoding(false).GetString(itxt, "parameters".Length + 5, itxt.Length - "parameters".Length - 5), Is.EqualTo(p.ToA1111()));
            Assert.That(png.Texts.Select(t => (t.Keyword, t.International)), Is.EqualTo(new[] { ("parameters", true), ("sd3tex", true) }));
            Assert.That(png.Text("parameters"), Is.EqualTo(p.ToA1111()));
            var back = GenerationParameters.FromPng(png);
            Assert.That(back.ToJson().ToJson(false), Is.EqualTo(p.ToJson().ToJson(false)));
            Assert.That(back.Prompt, Does.Contain("\n").And.Contain("猫 🐱"));
            // Latin-1 text goes into tEXt, byte for byte
            var latin = new GenerationParameters { Prompt = "café", Steps = 4, Sampler = "Euler", CfgScale = 4, Seed = 1, Width = 37, Height = 23 };
            var bytes = PngWriter.Encode(img, latin.ToPngTexts());
            var text = Chunks(bytes).Where(c => c.keyword != null).ToList();
            Assert.That(text.Select(c => (c.type, c.keyword)), Is.EqualTo(new[] { ("tEXt", "parameters"), ("tEXt", "sd3tex") }));
            Assert.That(text[0].data, Is.EqualTo(Encoding.GetEncoding(28591).GetBytes("parameters\0café\nSteps: 4, Sampler: Euler, CFG scale: 4.0, Seed: 1, Size: 37x23")));
            var png2 = PngReader.Read(bytes);
            Assert.That(png2.Texts[0].International, Is.False);
            Assert.That(png2.Text("parameters"), Is.EqualTo("café\nSteps: 4, Sampler: Euler, CFG scale: 4.0, Seed: 1, Size: 37x23"));
            // long text stays uncompressed (tEXt, not zTXt)
            var big = new GenerationParameters { Prompt = new string('x', 5000) };
            Assert.That(Chunks(PngWriter.Encode(img, big.ToPngTexts())).Where(c => c.keyword != null).Select(c => c.type), Is.EqualTo(new[] { "tEXt", "tEXt" }));
            Assert.That(GenerationParameters.FromPng(new PngFile { }), Is.Null);
            // the metadata alone, without decoding the pixels
            var meta = PngReader.Read(path, pixels: false);
            Assert.That((meta.Width, meta.Height, meta.Image), Is.EqualTo((37, 23, (ImageRgba8)null)));
            Assert.That(meta.Text("sd3tex"), Is.EqualTo(png.Text("sd3tex")));
        }

        [Test]
        public void ChunksPassAnIndependentCrcAndZlibCheck()
        {
            var img = Pattern(64, 40, false, 9);
            var bytes = PngWriter.Encode(img, Sample().ToPngTexts());
            var chunks = Chunks(bytes);
            var types = chunks.Select(c => c.type).ToList();
            Assert.That(types.First(), Is.EqualTo("IHDR"));
            Assert.That(types.Last(), Is.EqualTo("IEND"));
            Assert.That(types.Distinct(), Is.EqualTo(new[] { "IHDR", "iTXt", "IDAT", "IEND" }), "no other ancillary chunk (pHYs, gAMA ...)");
            var ihdr = chunks[0].data;
            Assert.That(ihdr.Skip(8), Is.EqualTo(new byte[] { 8, 2, 0, 0, 0 }), "8-bit RGB, deflate, adaptive filtering, not interlaced");
            var idat = new MemoryStream();
            foreach (var c in chunks.Where(c => c.type == "IDAT")) idat.Write(c.data, 0, c.data.Length);
            // zlib: header check, raw deflate body, Adler-32 of the scanlines (computed here the slow way)
            var z = idat.ToArray();
            Assert.That(((z[0] << 8) | z[1]) % 31, Is.EqualTo(0));
            Assert.That(z[0] & 0x0F, Is.EqualTo(8));
            var raw = new MemoryStream();
            using (var d = new DeflateStream(new MemoryStream(z, 2, z.Length - 6), CompressionMode.Decompress)) d.CopyTo(raw);
            var scan = raw.ToArray();
            Assert.That(scan.Length, Is.EqualTo(40 * (64 * 3 + 1)));
            uint a = 1, b = 0;
            foreach (byte v in scan) { a = (a + v) % 65521; b = (b + a) % 65521; }
            uint adler = (uint)((z[z.Length - 4] << 24) | (z[z.Length - 3] << 16) | (z[z.Length - 2] << 8) | z[z.Length - 1]);
            Assert.That(adler, Is.EqualTo((b << 16) | a));
            // unfiltering the scanlines by hand gives the pixels back
            var prev = new byte[64 * 3];
            for (int y = 0; y < 40; y++)
            {
                int f = scan[y * (64 * 3 + 1)];
                var cur = new byte[64 * 3];
                for (int i = 0; i < cur.Length; i++)
                {
                    int left = i >= 3 ? cur[i - 3] : 0, up = prev[i], ul = i >= 3 ? prev[i - 3] : 0;
                    int pa = Math.Abs(up - ul), pb = Math.Abs(left - ul), pc = Math.Abs(left + up - 2 * ul);
                    int pred = f == 0 ? 0 : f == 1 ? left : f == 2 ? up : f == 3 ? (left + up) >> 1 : pa <= pb && pa <= pc ? left : pb <= pc ? up : ul;
                    cur[i] = (byte)(scan[y * (64 * 3 + 1) + 1 + i] + pred);
                }
                for (int x = 0; x < 64; x++)
                    for (int c = 0; c < 3; c++) Assert.That(cur[x * 3 + c], Is.EqualTo(img[x, y, c]), $"pixel ({x}, {y}) channel {c}");
                prev = cur;
            }
        }

        [Test]
        public void SixteenBitAndGreyImagesRoundTrip()
        {
            // a 16-bit grey ramp keeps every 16-bit level; 8-bit grey and RGBA floats round to bytes
            var grey = new FloatImage(300, 3, 1);
            for (int i = 0; i < grey.Data.Length; i++) grey.Data[i] = (i * 219) % 65536 / 65535f;
            string path = Path.Combine(_dir, "h16.png");
            PngWriter.Write(path, grey, 16, new[] { PngText.Auto("note", "16-bit") });
            var png = PngReader.Read(path, pixels: false);
            Assert.That((png.BitDepth, png.ColorType, png.Text("note")), Is.EqualTo((16, 0, "16-bit")));
            var back = ImageFiles.LoadFloat(path);
            for (int i = 0; i < grey.Data.Length; i++) Assert.That(back.Data[i * 4], Is.EqualTo(grey.Data[i]).Within(1e-7), $"value {i}");
            Assert.That(ImageFiles.Load(path)[5, 0, 0], Is.EqualTo(FloatImage.ToByte(grey.Data[5])).Within(1));
            var rgba = new FloatImage(5, 4, 4, KernelAssert.Random(80, 3).Select(v => v * 0.5f + 0.5f).ToArray());
            string p8 = Path.Combine(_dir, "rgba8.png");
            PngWriter.Write(p8, rgba, 8);
            Assert.That(ImageFiles.Load(p8).Pixels, Is.EqualTo(rgba.ToRgba8().Pixels));
            Assert.That(PngReader.Read(p8, pixels: false).ColorType, Is.EqualTo(6));
        }

        [Test]
        public void CorruptFilesAreRejected()
        {
            var bytes = PngWriter.Encode(Pattern(8, 8, false, 1));
            var bad = (byte[])bytes.Clone();
            bad[20] ^= 1; // inside IHDR
            Assert.That(() => PngReader.Read(bad, name: "bad.png"), Throws.TypeOf<ImageFileException>().With.Message.Contains("bad.png").And.Message.Contains("CRC"));
            Assert.That(() => PngReader.Read(bytes.Take(bytes.Length - 30).ToArray(), name: "cut.png"),
                        Throws.TypeOf<ImageFileException>().With.Message.StartsWith("cut.png: "));
            Assert.That(() => PngReader.Read(new byte[] { 1, 2, 3, 4, 5, 6, 7, 8, 9 }, name: "junk.png"),
                        Throws.TypeOf<ImageFileException>().With.Message.Contains("junk.png").And.Message.Contains("not"));
            Assert.That(() => PngReader.Read(Path.Combine(_dir, "missing.png")), Throws.TypeOf<ImageFileException>().With.Message.Contains("not found"));
        }

        [Test]
        public void DecodedImagesBecomeRgbaBytes()
        {
            // [1, 3, 1, 3]: -1 → 0, 0 → 127 (trunc of 127.5), 1 → 255, clamped outside [-1, 1]
            var img = new VaeImage(new float[] { -1, 0, 1, -5, 0.5f, 5, 0.99f, -0.99f, float.NaN }, 1, 3, 1, 3);
            var rgba = ImageRgba8.FromVaeImage(img);
            Assert.That(rgba.Pixels, Is.EqualTo(new byte[] { 0, 0, 253, 255, 127, 191, 1, 255, 255, 255, 0, 255 }));
            Assert.That(rgba.ToPlanar(), Is.EqualTo(img.ToUint8()));
        }

        [Test]
        public void SeamMetricByHand()
        {
            // a ramp 0, 1, 2, 3 along x: interior steps 1, wrap step 3 → 3; a periodic 0, 1, 0, 1: every step 1 → 1
            double Ramp(int x, int y, int c) => x;
            double Periodic(int x, int y, int c) => x % 2;
            Assert.That(SeamMetric.Measure(Ramp, 4, 3, 1, SeamlessAxes.X), Is.EqualTo(3.0).Within(1e-12));
            Assert.That(SeamMetric.Measure(Periodic, 4, 3, 1, SeamlessAxes.X), Is.EqualTo(1.0).Within(1e-12));
            // both axes pool the edges: y is flat, so only x adds up: edges 9 + 0 over 3 + 4, interior 9 + 0 over 9 + 8
            Assert.That(SeamMetric.Measure(Ramp, 4, 3, 1, SeamlessAxes.Both), Is.EqualTo((9.0 / 7) / (9.0 / 17)).Within(1e-12));
        }
    }
}
