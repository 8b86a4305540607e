using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text;
using NUnit.Framework;
using Sd3Tex.Checkpoints;

namespace Sd3Tex.Tests.Checkpoints
{
    public sealed class SafetensorsTests
    {
        string _dir;

        [SetUp] public void SetUp() => _dir = TestPaths.NewScratch("safetensors");
        [TearDown] public void TearDown() => TestPaths.DeleteScratch(_dir);

        [Test]
        public void DroppedResidentPagesReadTheSameValuesAgain()
        {
            using var f = SafetensorsFile.Open(TestPaths.Fixture("mmdit-tiny-sd3m", "model.safetensors"));
            var t = f.Tensors.First(x => x.ElementCount > 1000);
            var before = f.ReadFloats(t);
            bool dropped = f.DropResidentPages();
            if (System.Runtime.InteropServices.RuntimeInformation.IsOSPlatform(System.Runtime.InteropServices.OSPlatform.Linux))
                Assert.That(dropped, Is.True, "madvise on the read-only map");
            Assert.That(f.ReadFloats(t), Is.EqualTo(before));
        }

        [Test]
        public void ReadsTheFixtureCheckpoints()
        {
            using var f = SafetensorsFile.Open(TestPaths.Fixture("mmdit-tiny-sd3m", "model.safetensors"));
            var pos = f["model.diffusion_model.pos_embed"];
            Assert.That(pos.DType, Is.EqualTo(DType.F16));
            Assert.That(pos.Shape, Is.EqualTo(new long[] { 1, 256, 128 }));
            var values = f.ReadFloats(pos);
            // the floats are the F16 bits converted one by one
            var raw = f.GetBytes(pos).ToArray();
            for (int i = 0; i < values.Length; i += 97)
                Assert.That(values[i], Is.EqualTo(DTypes.HalfToFloat(BitConverter.ToUInt16(raw, 2 * i))));
            Assert.That(f.Metadata["format"], Is.EqualTo("pt"));

            using var vae = SafetensorsFile.Open(TestPaths.Fixture("vae-tiny", "model.safetensors"));
            Assert.That(vae.Tensors.All(t => t.DType == DType.BF16), Is.True);
            using var clip = SafetensorsFile.Open(TestPaths.Fixture("clip-tiny", "model.safetensors"));
            var ids = clip["text_encoders.clip_l.transformer.text_model.embeddings.position_ids"];
            Assert.That(clip.ReadInt64(ids), Is.EqualTo(Enumerable.Range(0, 77).Select(i => (long)i).ToArray()));
        }

        [Test]
        public void AHeaderAloneIsReadWithoutTouchingTheData()
        {
            string path = Path.Combine(_dir, "h.safetensors");
            new SafetensorsWriter().SetMetadata("num_attention_heads", "2").AddFloats("w", DType.F16, new long[] { 2, 3 }, new float[6]).Write(path);
            using var f = SafetensorsFile.ReadHeader(path);
            Assert.That(f.IsMapped, Is.False);
            Assert.That((f["w"].DType, f["w"].Shape, f["w"].ByteLength), Is.EqualTo((DType.F16, new long[] { 2, 3 }, 12L)));
            Assert.That(f.Metadata["num_attention_heads"], Is.EqualTo("2"));
            Assert.That(() => f.ReadFloats(f["w"]), Throws.InvalidOperationException.With.Message.Contains("header only"));
            Assert.That(() => f.GetBytes(f["w"]).ToArray(), Throws.InvalidOperationException);
            // the same checks as a full open: a truncated file is refused from its header
            File.WriteAllBytes(path, File.ReadAllBytes(path).Take((int)new FileInfo(path).Length - 4).ToArray());
            Assert.That(() => SafetensorsFile.ReadHeader(path), Throws.InstanceOf<CheckpointFormatException>().With.Message.Contains("truncated"));
            using var mapped = SafetensorsFile.Open(TestPaths.Fixture("vae-tiny", "model.safetensors"));
            Assert.That(mapped.IsMapped, Is.True);
        }

        [Test]
        public void WritesAndReadsEveryFloatDType()
        {
            var values = new float[] { 0f, 1f, -2.5f, 0.333f, 1000f, -1e-3f, 448f };
            var w = new SafetensorsWriter().SetMetadata("format", "pt");
            foreach (var dt in new[] { DType.F32, DType.F16, DType.BF16, DType.F8_E4M3 })
                w.AddFloats("t_" + DTypes.Name(dt), dt, new long[] { 7 }, values);
            w.AddInt64("ids", new long[] { 2, 2 }, new long[] { 1, -2, 3, long.MaxValue });
            w.Add("empty", DType.F32, new long[] { 0, 4 }, new byte[0]);
            string path = Path.Combine(_dir, "all.safetensors");
            w.Write(path);
            using var f = SafetensorsFile.Open(path);
            Assert.That(f.HeaderLength % 8, Is.EqualTo(0), "header padded so the data is aligned");
            Assert.That(f.ReadFloats(f["t_F32"]), Is.EqualTo(values));
            for (int i = 0; i < values.Length; i++)
            {
                Assert.That(f.ReadFloats(f["t_F16"])[i], Is.EqualTo(DTypes.HalfToFloat(DTypes.FloatToHalf(values[i]))));
                Assert.That(f.ReadFloats(f["t_BF16"])[i], Is.EqualTo(DTypes.BFloat16ToFloat(DTypes.FloatToBFloat16(values[i]))));
                Assert.That(f.ReadFloats(f["t_F8_E4M3"])[i], Is.EqualTo(DTypes.F8E4M3ToFloat(DTypes.FloatToF8E4M3(values[i]))));
            }
            Assert.That(f.ReadInt64(f["ids"]), Is.EqualTo(new long[] { 1, -2, 3, long.MaxValue }));
            Assert.That(f["empty"].ElementCount, Is.EqualTo(0));
            // partial reads
            var part = new float[3];
            f.ReadFloats(f["t_F32"], 2, part);
            Assert.That(part, Is.EqualTo(new[] { -2.5f, 0.333f, 1000f }));
            Assert.Throws<ArgumentOutOfRangeException>(() => f.ReadFloats(f["t_F32"], 5, part));
        }

        [Test]
        public void WritesAtomically()
        {
            string path = Path.Combine(_dir, "a.safetensors");
            new SafetensorsWriter().AddFloats("x", DType.F32, new long[] { 1 }, new[] { 1f }).Write(path);
            // a writer that fails half-way leaves the old file intact and no temporary behind
            var bad = new SafetensorsWriter().Add("x", DType.F32, new long[] { 4 }, s => { s.WriteByte(1); throw new IOException("disk full"); });
            Assert.Throws<IOException>(() => bad.Write(path));
            using (var f = SafetensorsFile.Open(path)) Assert.That(f.ReadFloats(f["x"]), Is.EqualTo(new[] { 1f }));
            Assert.That(Directory.GetFiles(_dir), Has.Length.EqualTo(1));
        }

        #region Corrupt files: every one gives a CheckpointFormatException that names the file and the problem

        static byte[] Build(string json, int dataBytes, int? claimedHeaderLength = null)
        {
            var h = Encoding.UTF8.GetBytes(json);
            var b = new byte[8 + h.Length + dataBytes];
            BitConverter.GetBytes((ulong)(claimedHeaderLength ?? h.Length)).CopyTo(b, 0);
            h.CopyTo(b, 8);
            return b;
        }

        CheckpointFormatException Corrupt(byte[] bytes)
        {
            string path = Path.Combine(_dir, "bad.safetensors");
            File.WriteAllBytes(path, bytes);
            var e = Assert.Throws<CheckpointFormatException>(() => SafetensorsFile.Open(path).Dispose());
            Assert.That(e.Message, Does.Contain("bad.safetensors"));
            Assert.That(e.FilePath, Is.EqualTo(path));
            return e;
        }

        const string Good = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";

        [Test] public void ShorterThanTheLengthPrefix() => Assert.That(Corrupt(new byte[5]).Message, Does.Contain("truncated"));
        [Test] public void HeaderLengthBeyondTheFile() => Assert.That(Corrupt(Build(Good, 8, 100000)).Message, Does.Contain("truncated"));
        [Test] public void HugeHeaderLength() => Assert.That(Corrupt(Build(Good, 8, int.MaxValue)).Message, Does.Contain("header"));
        [Test] public void TruncatedData() => Assert.That(Corrupt(Build(Good, 4)).Message, Does.Contain("truncated").And.Contain("\"a\""));
        [Test] public void MalformedJson() => Assert.That(Corrupt(Build("{\"a\":{\"dtype\":\"F32\",", 8)).Message, Does.Contain("malformed JSON"));
        [Test] public void NotUtf8() => Assert.That(Corrupt(Build("{\"\u00ff\":1}", 0).Select(x => x == 0xC3 ? (byte)0xFF : x).ToArray()).Message, Does.Contain("malformed JSON"));
        [Test] public void HeaderNotAnObject() => Assert.That(Corrupt(Build("[1,2,3]", 0)).Message, Does.Contain("not an object"));
        [Test] public void UnknownDType() => Assert.That(Corrupt(Build(Good.Replace("F32", "Q4_K"), 8)).Message, Does.Contain("unknown dtype \"Q4_K\""));
        [Test] public void ShapeTimesDTypeMismatch() => Assert.That(Corrupt(Build(Good.Replace("[2]", "[3]"), 12)).Message, Does.Contain("does not match"));
        [Test] public void NegativeShape() => Assert.That(Corrupt(Build(Good.Replace("[2]", "[-2]"), 8)).Message, Does.Contain("non-negative"));
        [Test] public void OverflowingShape() => Assert.That(Corrupt(Build(Good.Replace("[2]", "[4611686018427387904,4611686018427387904]"), 8)).Message, Does.Contain("does not match"));
        [Test] public void OffsetsOutOfRange() => Assert.That(Corrupt(Build(Good.Replace("[0,8]", "[8,16]"), 8)).Message, Does.Contain("past the end"));
        [Test] public void OffsetsReversed() => Assert.That(Corrupt(Build(Good.Replace("[0,8]", "[8,0]"), 8)).Message, Does.Contain("before they begin"));
        [Test] public void MissingOffsets() => Assert.That(Corrupt(Build("{\"a\":{\"dtype\":\"F32\",\"shape\":[2]}}", 8)).Message, Does.Contain("data_offsets"));
        [Test] public void DuplicateKey() => Assert.That(Corrupt(Build("{\"a\":{},\"a\":{}}", 0)).Message, Does.Contain("duplicate"));
        [Test] public void DeepNesting() => Assert.That(Corrupt(Build(new string('[', 5000) + new string(']', 5000), 0)).Message, Does.Contain("malformed JSON"));

        [Test]
        public void OverlappingTensors()
        {
            string json = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}";
            Assert.That(Corrupt(Build(json, 12)).Message, Does.Contain("overlap").And.Contain("\"a\"").And.Contain("\"b\""));
        }

        [Test]
        public void MissingFileAndFolder()
        {
            var e = Assert.Throws<CheckpointException>(() => SafetensorsFile.Open(Path.Combine(_dir, "nope.safetensors")));
            Assert.That(e.Message, Does.Contain("not found"));
            e = Assert.Throws<CheckpointException>(() => SafetensorsFile.Open(_dir));
            Assert.That(e.Message, Does.Contain("folder"));
        }

        #endregion

        /// <summary>
        /// Mutates a valid file in many ways (bit flips and byte runs in the header, truncation, random header lengths,
        /// splices of JSON text) and opens each: the only acceptable outcomes are success or a CheckpointFormatException.
        /// No other exception, crash, hang or unbounded allocation (reads of opened files are also attempted).
        /// </summary>
        [Test]
        public void FuzzedFilesFailCleanly()
        {
            var w = new SafetensorsWriter().SetMetadata("format", "pt");
            w.AddFloats("w.weight", DType.F16, new long[] { 3, 4 }, Enumerable.Range(0, 12).Select(i => i * 0.5f).ToArray());
            w.AddFloats("w.bias", DType.BF16, new long[] { 3 }, new[] { 1f, 2f, 3f });
            w.AddFloats("x", DType.F8_E4M3, new long[] { 5 }, new[] { 1f, 2f, 3f, 4f, 5f });
            w.AddInt64("ids", new long[] { 2 }, new long[] { 7, 8 });
            string src = Path.Combine(_dir, "src.safetensors");
            w.Write(src);
            var good = File.ReadAllBytes(src);
            int headerEnd = 8 + (int)BitConverter.ToUInt64(good, 0);
            var rng = new Random(1234);
            string path = Path.Combine(_dir, "fuzz.safetensors");
            string[] splices = { "-1", "1e308", "null", "\"F64\"", "[]", "{}", "[0,99999999999]", "\"BOOL\"", "[4294967296]", "\\u0000", "\"", "," };
            int opened = 0, rejected = 0;
            var sw = System.Diagnostics.Stopwatch.StartNew();
            for (int iter = 0; iter < 3000; iter++)
            {
                var b = (byte[])good.Clone();
                switch (rng.Next(6))
                {
                    case 0: // flip bits in the header
                        for (int k = rng.Next(1, 4); k > 0; k--) b[rng.Next(8, headerEnd)] ^= (byte)(1 << rng.Next(8));
                        break;
                    case 1: // truncate anywhere
                        Array.Resize(ref b, rng.Next(0, b.Length));
                        break;
                    case 2: // random header length
                        BitConverter.GetBytes(rng.Next(2) == 0 ? (ulong)rng.Next(0, b.Length + 64) : (ulong)rng.NextDouble() * ulong.MaxValue).CopyTo(b, 0);
                        break;
                    case 3: // splice a token into the JSON (keeping the header length)
                    {
                        var json = Encoding.UTF8.GetString(b, 8, headerEnd - 8);
                        int at = rng.Next(json.Length);
                        string s = splices[rng.Next(splices.Length)];
                        json = json.Substring(0, at) + s + json.Substring(Math.Min(json.Length, at + s.Length));
                        var jb = Encoding.UTF8.GetBytes(json);
                        if (jb.Length != headerEnd - 8) continue;
                        jb.CopyTo(b, 8);
                        break;
                    }
                    case 4: // overwrite a run of header bytes with random bytes
                    {
                        int at = rng.Next(8, headerEnd);
                        for (int k = 0; k < 8 && at + k < headerEnd; k++) b[at + k] = (byte)rng.Next(256);
                        break;
                    }
                    default: // change digits in the header (shapes and offsets)
                        for (int k = 8; k < headerEnd; k++)
                            if (b[k] >= (byte)'0' && b[k] <= (byte)'9' && rng.Next(8) == 0) b[k] = (byte)('0' + rng.Next(10));
                        break;
                }
                File.WriteAllBytes(path, b);
                try
                {
                    using var f = SafetensorsFile.Open(path);
                    opened++;
                    foreach (var t in f.Tensors)
                    {
                        if (DTypes.IsFloat(t.DType) && t.ElementCount < 1 << 20) f.ReadFloats(t);
                        else if (!DTypes.IsFloat(t.DType) && t.ElementCount < 1 << 20) f.ReadInt64(t);
                    }
                }
                catch (CheckpointFormatException) { rejected++; }
            }
            Assert.That(opened + rejected, Is.GreaterThan(2500));
            Assert.That(rejected, Is.GreaterThan(1000), "most mutations are caught");
            Assert.That(sw.Elapsed.TotalSeconds, Is.LessThan(120), "no mutation makes the reader hang");
        }
    }
}
