using System;
using System.Collections.Generic;
using System.IO;
using System.IO.Compression;
using System.Text;
using Sd3Tex.Checkpoints;

namespace Sd3Tex.Imaging
{
    /// <summary>A PNG text chunk: <c>tEXt</c> (Latin-1), <c>zTXt</c> (Latin-1, compressed) or <c>iTXt</c> (UTF-8).</summary>
    public sealed class PngText
    {
        /// <summary>1–79 Latin-1 characters, no leading, trailing or double spaces.</summary>
        public string Keyword { get; }
        public string Text { get; }
        /// <summary>Stored as iTXt (UTF-8). <see cref="Auto"/> picks tEXt when the text is Latin-1, else iTXt
        /// (what Pillow, and so AUTOMATIC1111, does).</summary>
        public bool International { get; }

        public PngText(string keyword, string text, bool international)
        {
            if (string.IsNullOrEmpty(keyword) || keyword.Length > 79 || !IsLatin1(keyword) || keyword.IndexOf('\0') >= 0 ||
                keyword.Trim() != keyword || keyword.Contains("  "))
                throw new ArgumentException($"\"{keyword}\" is not a PNG text keyword (1-79 Latin-1 characters, no NUL, no outer or double spaces).");
            Keyword = keyword; Text = text ?? ""; International = international;
        }

        /// <summary>tEXt when <paramref name="text"/> is Latin-1 without NUL, otherwise iTXt.</summary>
        public static PngText Auto(string keyword, string text) => new PngText(keyword, text, !IsLatin1(text ?? "") || (text ?? "").IndexOf('\0') >= 0);

        public static bool IsLatin1(string s)
        {
            foreach (char ch in s) if (ch > 0xFF) return false;
            return true;
        }

        public override string ToString() => $"{(International ? "iTXt" : "tEXt")} {Keyword}: {Text}";
    }

    /// <summary>A PNG read back: pixels (8-bit PNGs as written by <see cref="PngWriter"/>) and text chunks.</summary>
    public sealed class PngFile
    {
        public int Width { get; internal set; }
        public int Height { get; internal set; }
        public int BitDepth { get; internal set; }
        /// <summary>0 grey, 2 RGB, 3 palette, 4 grey + alpha, 6 RGBA.</summary>
        public int ColorType { get; internal set; }
        /// <summary>The pixels as RGBA, or null when only the metadata was read (or the format is not supported).</summary>
        public ImageRgba8 Image { get; internal set; }
        public List<PngText> Texts { get; } = new List<PngText>();

        /// <summary>The first text chunk with this keyword, or null.</summary>
        public string Text(string keyword)
        {
            foreach (var t in Texts) if (t.Keyword == keyword) return t.Text;
            return null;
        }
    }

    /// <summary>A PNG file is malformed (bad signature, chunk CRC, zlib checksum...).</summary>
    public sealed class PngException : Exception
    {
        public PngException(string message) : base(message) { }
    }

    /// <summary>CRC-32 (ISO-HDLC, PNG's) and Adler-32 (zlib's).</summary>
    public static class Checksums
    {
        static readonly uint[] Table = MakeTable();

        static uint[] MakeTable()
        {
            var t = new uint[256];
            for (uint n = 0; n < 256; n++)
            {
                uint c = n;
                for (int k = 0; k < 8; k++) c = (c & 1) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
                t[n] = c;
            }
            return t;
        }

        /// <summary>Continues a CRC-32 (start with 0).</summary>
        public static uint Crc32(uint crc, byte[] data, int offset, int count)
        {
            uint c = ~crc;
            for (int i = 0; i < count; i++) c = Table[(c ^ data[offset + i]) & 0xFF] ^ (c >> 8);
            return ~c;
        }

        public static uint Crc32(byte[] data) => Crc32(0, data, 0, data.Length);

        /// <summary>Continues an Adler-32 (start with 1).</summary>
        public static uint Adler32(uint adler, byte[] data, int offset, int count)
        {
            const uint Mod = 65521;
            uint a = adler & 0xFFFF, b = adler >> 16;
            while (count > 0)
            {
                int n = Math.Min(count, 5552); // the largest run whose sums cannot overflow before the modulo
                count -= n;
                while (n-- > 0)
                {
                    a += data[offset++];
                    b += a;
                }
                a %= Mod;
                b %= Mod;
            }
            return (b << 16) | a;
        }
    }

    /// <summary>
    /// Writes 8-bit RGB or RGBA PNGs (IHDR, text chunks, IDAT, IEND), deflated with <see cref="DeflateStream"/> in a zlib
    /// wrapper (header + Adler-32) and an adaptive per-row filter (the one with the least sum of absolute differences,
    /// libpng's heuristic). Files are written atomically.
    /// </summary>
    public static class PngWriter
    {
        static readonly byte[] Signature = { 137, 80, 78, 71, 13, 10, 26, 10 };
        const int IdatChunk = 1 << 20;

        /// <summary>Writes <paramref name="image"/> to <paramref name="path"/> (temporary file, then a rename).
        /// <paramref name="alpha"/> null stores RGBA only when some pixel is not opaque.</summary>
        public static void Write(string path, ImageRgba8 image, IEnumerable<PngText> texts = null, bool? alpha = null)
            => AtomicFile.WriteAllBytes(path, Encode(image, texts, alpha));

        /// <summary>The PNG file's bytes.</summary>
        public static byte[] Encode(ImageRgba8 image, IEnumerable<PngText> texts = null, bool? alpha = null)
        {
            if (image == null) throw new ArgumentNullException(nameof(image));
            bool rgba = alpha ?? !image.IsOpaque;
            var ms = new MemoryStream();
            ms.Write(Signature, 0, Signature.Length);
            var ihdr = new byte[13];
            BigEndian(ihdr, 0, (uint)image.Width);
            BigEndian(ihdr, 4, (uint)image.Height);
            ihdr[8] = 8;                     // bit depth
            ihdr[9] = (byte)(rgba ? 6 : 2);  // colour type: RGBA or RGB
            ihdr[10] = 0; ihdr[11] = 0; ihdr[12] = 0; // deflate, adaptive filtering, no interlace
            Chunk(ms, "IHDR", ihdr);
            if (texts != null) foreach (var t in texts) Chunk(ms, t.International ? "iTXt" : "tEXt", TextData(t));
            var z = Zlib(Filter(image, rgba ? 4 : 3));
            for (int o = 0; o < z.Length; o += IdatChunk)
            {
                int n = Math.Min(IdatChunk, z.Length - o);
                var part = new byte[n];
                Buffer.BlockCopy(z, o, part, 0, n);
                Chunk(ms, "IDAT", part);
            }
            Chunk(ms, "IEND", new byte[0]);
            return ms.ToArray();
        }

        static byte[] TextData(PngText t)
        {
            var ms = new MemoryStream();
            var key = Latin1(t.Keyword);
            ms.Write(key, 0, key.Length);
            ms.WriteByte(0);
            if (t.International)
            {
                ms.WriteByte(0); // not compressed
                ms.WriteByte(0); // compression method
                ms.WriteByte(0); // empty language tag
                ms.WriteByte(0); // empty translated keyword
                var text = new UTF8Encoding(false).GetBytes(t.Text);
                ms.Write(text, 0, text.Length);
            }
            else
            {
                var text = Latin1(t.Text);
                ms.Write(text, 0, text.Length);
            }
            return ms.ToArray();
        }

        internal static byte[] Latin1(string s)
        {
            var b = new byte[s.Length];
            for (int i = 0; i < s.Length; i++)
            {
                if (s[i] > 0xFF) throw new ArgumentException("text is not Latin-1; store it as iTXt.");
                b[i] = (byte)s[i];
            }
            return b;
        }

        static void BigEndian(byte[] b, int o, uint v)
        {
            b[o] = (byte)(v >> 24); b[o + 1] = (byte)(v >> 16); b[o + 2] = (byte)(v >> 8); b[o + 3] = (byte)v;
        }

        static void Chunk(Stream s, string type, byte[] data)
        {
            var head = new byte[8];
            BigEndian(head, 0, (uint)data.Length);
            for (int i = 0; i < 4; i++) head[4 + i] = (byte)type[i];
            s.Write(head, 0, 8);
            s.Write(data, 0, data.Length);
            uint crc = Checksums.Crc32(0, head, 4, 4);
            crc = Checksums.Crc32(crc, data, 0, data.Length);
            var tail = new byte[4];
            BigEndian(tail, 0, crc);
            s.Write(tail, 0, 4);
        }

        /// <summary>The filtered scanlines: per row a filter byte (0 None, 1 Sub, 2 Up, 3 Average, 4 Paeth) and the
        /// filtered bytes, the filter chosen by the least Σ|signed byte|.</summary>
        static byte[] Filter(ImageRgba8 image, int bpp)
        {
            int w = image.Width, h = image.Height, stride = w * bpp;
            var raw = new byte[(long)h * (stride + 1)];
            var prev = new byte[stride];
            var cur = new byte[stride];
            var cand = new byte[5][];
            for (int f = 0; f < 5; f++) cand[f] = new byte[stride];
            var px = image.Pixels;
            for (int y = 0; y < h; y++)
            {
                long src = (long)y * w * 4;
                if (bpp == 4) Buffer.BlockCopy(px, (int)src, cur, 0, stride);
                else
                    for (int x = 0; x < w; x++)
                    {
                        cur[x * 3] = px[src + x * 4];
                        cur[x * 3 + 1] = px[src + x * 4 + 1];
                        cur[x * 3 + 2] = px[src + x * 4 + 2];
                    }
                int best = 0;
                long bestScore = long.MaxValue;
                for (int f = 0; f < 5; f++)
                {
                    var c = cand[f];
                    long score = 0;
                    for (int i = 0; i < stride; i++)
                    {
                        int a = i >= bpp ? cur[i - bpp] : 0, b = y > 0 ? prev[i] : 0, d = i >= bpp && y > 0 ? prev[i - bpp] : 0;
                        int pred;
                        switch (f)
                        {
                            case 0: pred = 0; break;
                            case 1: pred = a; break;
                            case 2: pred = b; break;
                            case 3: pred = (a + b) >> 1; break;
                            default: pred = Paeth(a, b, d); break;
                        }
                        byte v = (byte)(cur[i] - pred);
                        c[i] = v;
                        score += v < 128 ? v : 256 - v;
                    }
                    if (score < bestScore) { bestScore = score; best = f; }
                }
                long o = (long)y * (stride + 1);
                raw[o] = (byte)best;
                Buffer.BlockCopy(cand[best], 0, raw, (int)o + 1, stride);
                var t = prev; prev = cur; cur = t;
            }
            return raw;
        }

        internal static int Paeth(int a, int b, int c)
        {
            int p = a + b - c;
            int pa = Math.Abs(p - a), pb = Math.Abs(p - b), pc = Math.Abs(p - c);
            if (pa <= pb && pa <= pc) return a;
            return pb <= pc ? b : c;
        }

        /// <summary>A zlib stream (RFC 1950): header 78 DA, raw deflate data, Adler-32 of the input, big-endian.</summary>
        internal static byte[] Zlib(byte[] data)
        {
            var ms = new MemoryStream();
            ms.WriteByte(0x78);
            ms.WriteByte(0xDA); // FLEVEL 3 (maximum compression), FCHECK so that 0x78DA % 31 == 0
            using (var d = new DeflateStream(ms, CompressionLevel.Optimal, true)) d.Write(data, 0, data.Length);
            var adler = new byte[4];
            BigEndian(adler, 0, Checksums.Adler32(1, data, 0, data.Length));
            ms.Write(adler, 0, 4);
            return ms.ToArray();
        }
    }

    /// <summary>
    /// Reads PNGs: every chunk's CRC is checked; text chunks (tEXt, zTXt, iTXt) are returned; pixels are decoded for
    /// non-interlaced 8-bit grey, grey + alpha, RGB and RGBA images (what <see cref="PngWriter"/> writes; other
    /// formats give the metadata only).
    /// </summary>
    public static class PngReader
    {
        public static PngFile Read(string path, bool pixels = true) => Read(File.ReadAllBytes(path), pixels);

        public static PngFile Read(byte[] bytes, bool pixels = true)
        {
            if (bytes == null || bytes.Length < 8 || bytes[0] != 137 || bytes[1] != 80 || bytes[2] != 78 || bytes[3] != 71 ||
                bytes[4] != 13 || bytes[5] != 10 || bytes[6] != 26 || bytes[7] != 10)
                throw new PngException("not a PNG file (bad signature).");
            var png = new PngFile();
            var idat = new MemoryStream();
            int interlace = 0;
            bool end = false, header = false;
            int o = 8;
            while (o < bytes.Length && !end)
            {
                if (o + 12 > bytes.Length) throw new PngException($"truncated chunk at byte {o}.");
                uint len = BigEndian(bytes, o);
                if (len > int.MaxValue || o + 12 + (long)len > bytes.Length) throw new PngException($"chunk at byte {o} runs past the end of the file.");
                string type = Encoding.ASCII.GetString(bytes, o + 4, 4);
                uint crc = Checksums.Crc32(0, bytes, o + 4, 4 + (int)len);
                if (crc != BigEndian(bytes, o + 8 + (int)len)) throw new PngException($"{type} chunk at byte {o}: CRC mismatch.");
                int d = o + 8, n = (int)len;
                switch (type)
                {
                    case "IHDR":
                        if (n != 13) throw new PngException("IHDR has the wrong length.");
                        png.Width = (int)BigEndian(bytes, d);
                        png.Height = (int)BigEndian(bytes, d + 4);
                        png.BitDepth = bytes[d + 8];
                        png.ColorType = bytes[d + 9];
                        interlace = bytes[d + 12];
                        header = true;
                        break;
                    case "IDAT": idat.Write(bytes, d, n); break;
                    case "IEND": end = true; break;
                    case "tEXt": png.Texts.Add(ReadText(bytes, d, n)); break;
                    case "zTXt": png.Texts.Add(ReadZText(bytes, d, n)); break;
                    case "iTXt": png.Texts.Add(ReadIText(bytes, d, n)); break;
                }
                o += 12 + n;
            }
            if (!header) throw new PngException("no IHDR chunk.");
            if (!end) throw new PngException("no IEND chunk (truncated file).");
            if (pixels && png.BitDepth == 8 && interlace == 0 && (png.ColorType == 0 || png.ColorType == 2 || png.ColorType == 4 || png.ColorType == 6))
                png.Image = DecodePixels(Inflate(idat.ToArray()), png.Width, png.Height, png.ColorType);
            return png;
        }

        static uint BigEndian(byte[] b, int o) => ((uint)b[o] << 24) | ((uint)b[o + 1] << 16) | ((uint)b[o + 2] << 8) | b[o + 3];

        static int Nul(byte[] b, int from, int end)
        {
            for (int i = from; i < end; i++) if (b[i] == 0) return i;
            throw new PngException("text chunk without a NUL separator.");
        }

        static string Latin1(byte[] b, int o, int n)
        {
            var c = new char[n];
            for (int i = 0; i < n; i++) c[i] = (char)b[o + i];
            return new string(c);
        }

        static PngText ReadText(byte[] b, int o, int n)
        {
            int z = Nul(b, o, o + n);
            return new PngText(Latin1(b, o, z - o), Latin1(b, z + 1, o + n - z - 1), false);
        }

        static PngText ReadZText(byte[] b, int o, int n)
        {
            int z = Nul(b, o, o + n);
            var raw = new byte[o + n - z - 2];
            Buffer.BlockCopy(b, z + 2, raw, 0, raw.Length);
            var text = Inflate(raw);
            return new PngText(Latin1(b, o, z - o), Latin1(text, 0, text.Length), false);
        }

        static PngText ReadIText(byte[] b, int o, int n)
        {
            int end = o + n;
            int z = Nul(b, o, end);
            string keyword = Latin1(b, o, z - o);
            bool compressed = b[z + 1] != 0;
            int lang = Nul(b, z + 3, end);
            int translated = Nul(b, lang + 1, end);
            int start = translated + 1;
            var data = new byte[end - start];
            Buffer.BlockCopy(b, start, data, 0, data.Length);
            if (compressed) data = Inflate(data);
            return new PngText(keyword, new UTF8Encoding(false, true).GetString(data), true);
        }

        /// <summary>Inflates a zlib stream and checks its header and Adler-32.</summary>
        internal static byte[] Inflate(byte[] z)
        {
            if (z.Length < 6) throw new PngException("zlib stream too short.");
            if ((z[0] & 0x0F) != 8 || ((z[0] << 8) | z[1]) % 31 != 0 || (z[1] & 0x20) != 0) throw new PngException("bad zlib header.");
            var outp = new MemoryStream();
            using (var d = new DeflateStream(new MemoryStream(z, 2, z.Length - 2), CompressionMode.Decompress)) d.CopyTo(outp);
            var data = outp.ToArray();
            uint expected = BigEndian(z, z.Length - 4);
            if (Checksums.Adler32(1, data, 0, data.Length) != expected) throw new PngException("zlib Adler-32 mismatch.");
            return data;
        }

        static ImageRgba8 DecodePixels(byte[] raw, int w, int h, int colorType)
        {
            int bpp = colorType == 0 ? 1 : colorType == 4 ? 2 : colorType == 2 ? 3 : 4;
            int stride = w * bpp;
            if (raw.LongLength < (long)h * (stride + 1)) throw new PngException("image data too short.");
            var prev = new byte[stride];
            var cur = new byte[stride];
            var img = new ImageRgba8(w, h);
            var px = img.Pixels;
            for (int y = 0; y < h; y++)
            {
                long o = (long)y * (stride + 1);
                int f = raw[o];
                for (int i = 0; i < stride; i++)
                {
                    int a = i >= bpp ? cur[i - bpp] : 0, b = prev[i], c = i >= bpp ? prev[i - bpp] : 0;
                    int pred;
                    switch (f)
                    {
                        case 0: pred = 0; break;
                        case 1: pred = a; break;
                        case 2: pred = b; break;
                        case 3: pred = (a + b) >> 1; break;
                        case 4: pred = PngWriter.Paeth(a, b, c); break;
                        default: throw new PngException($"row {y}: unknown filter {f}.");
                    }
                    cur[i] = (byte)(raw[o + 1 + i] + pred);
                }
                for (int x = 0; x < w; x++)
                {
                    long p = ((long)y * w + x) * 4;
                    switch (colorType)
                    {
                        case 0: px[p] = px[p + 1] = px[p + 2] = cur[x]; px[p + 3] = 255; break;
                        case 4: px[p] = px[p + 1] = px[p + 2] = cur[2 * x]; px[p + 3] = cur[2 * x + 1]; break;
                        case 2: px[p] = cur[3 * x]; px[p + 1] = cur[3 * x + 1]; px[p + 2] = cur[3 * x + 2]; px[p + 3] = 255; break;
                        default: Buffer.BlockCopy(cur, 4 * x, px, (int)p, 4); break;
                    }
                }
                var t = prev; prev = cur; cur = t;
            }
            return img;
        }
    }
}
