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
    /// <summary>The PNG writer and reader, the generation parameters (A1111 text and JSON), RGBA conversion and the seam
    /// metric.</summary>
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
            // the prompt is not Latin-1: "parameters" is an iTXt chunk (as Pillow, and so A1111, writes it)
            Assert.That(png.Texts.Select(t => (t.Keyword, t.International)), Is.EqualTo(new[] { ("parameters", true), ("sd3tex", true) }));
            Assert.That(png.Text("parameters"), Is.EqualTo(p.ToA1111()));
            var back = GenerationParameters.FromPng(png);
            Assert.That(back.ToJson().ToJson(false), Is.EqualTo(p.ToJson().ToJson(false)));
            Assert.That(back.Prompt, Does.Contain("\n").And.Contain("猫 🐱"));
            // a Latin-1 text goes into tEXt
            var latin = new GenerationParameters { Prompt = "café", Steps = 4, Sampler = "Euler", CfgScale = 4, Seed = 1, Width = 37, Height = 23 };
            var png2 = PngReader.Read(PngWriter.Encode(img, latin.ToPngTexts()));
            Assert.That(png2.Texts[0].International, Is.False);
            Assert.That(png2.Text("parameters"), Is.EqualTo("café\nSteps: 4, Sampler: Euler, CFG scale: 4.0, Seed: 1, Size: 37x23"));
            Assert.That(GenerationParameters.FromPng(new PngFile { }), Is.Null);
        }

        [Test]
        public void ChunksPassAnIndependentCrcAndZlibCheck()
        {
            var img = Pattern(64, 40, false, 9);
            var bytes = PngWriter.Encode(img, Sample().ToPngTexts());
            Assert.That(bytes.Take(8), Is.EqualTo(new byte[] { 137, 80, 78, 71, 13, 10, 26, 10 }));
            // walk the chunks with a bit-by-bit CRC-32 (no table) and collect the IDAT stream
            int o = 8;
            var types = new System.Collections.Generic.List<string>();
            var idat = new MemoryStream();
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
                if (type == "IDAT") idat.Write(bytes, o + 8, len);
                types.Add(type);
                o += 12 + len;
            }
            Assert.That(types.First(), Is.EqualTo("IHDR"));
            Assert.That(types.Last(), Is.EqualTo("IEND"));
            Assert.That(o, Is.EqualTo(bytes.Length));
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
            Assert.That(Checksums.Crc32(Encoding.ASCII.GetBytes("123456789")), Is.EqualTo(0xCBF43926u), "the CRC-32 check value");
            Assert.That(Checksums.Adler32(1, Encoding.ASCII.GetBytes("Wikipedia"), 0, 9), Is.EqualTo(0x11E60398u), "the Adler-32 example");
        }

        [Test]
        public void CorruptFilesAreRejected()
        {
            var bytes = PngWriter.Encode(Pattern(8, 8, false, 1));
            var bad = (byte[])bytes.Clone();
            bad[20] ^= 1; // inside IHDR
            Assert.That(() => PngReader.Read(bad), Throws.TypeOf<PngException>().With.Message.Contains("CRC"));
            Assert.That(() => PngReader.Read(bytes.Take(bytes.Length - 12).ToArray()), Throws.TypeOf<PngException>().With.Message.Contains("IEND"));
            Assert.That(() => PngReader.Read(new byte[] { 1, 2, 3, 4, 5, 6, 7, 8, 9 }), Throws.TypeOf<PngException>().With.Message.Contains("signature"));
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
