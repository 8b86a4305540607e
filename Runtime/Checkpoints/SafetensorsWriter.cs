using System;
using System.Collections.Generic;
using System.IO;
using System.Text;
using Sd3Tex.Json;

namespace Sd3Tex.Checkpoints
{
    /// <summary>
    /// Writes a safetensors file. Tensor data is streamed by callbacks, so multi-GB files never sit in memory.
    /// The file is written to a temporary name beside the target and renamed at the end (atomic on one volume).
    /// </summary>
    public sealed class SafetensorsWriter
    {
        readonly List<(string name, DType dtype, long[] shape, long bytes, Action<Stream> write)> _tensors =
            new List<(string, DType, long[], long, Action<Stream>)>();
        readonly Dictionary<string, string> _metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        readonly HashSet<string> _names = new HashSet<string>(StringComparer.Ordinal);

        public int Count => _tensors.Count;

        public SafetensorsWriter SetMetadata(string key, string value) { _metadata[key] = value; return this; }

        /// <summary>Adds a tensor whose bytes <paramref name="write"/> streams (exactly shape × dtype bytes).</summary>
        public SafetensorsWriter Add(string name, DType dtype, long[] shape, Action<Stream> write)
        {
            if (!_names.Add(name)) throw new ArgumentException($"duplicate tensor name \"{name}\"");
            long count = 1;
            foreach (long d in shape)
            {
                if (d < 0) throw new ArgumentException($"{name}: negative dimension");
                count *= d;
            }
            _tensors.Add((name, dtype, (long[])shape.Clone(), count * DTypes.SizeOf(dtype), write));
            return this;
        }

        public SafetensorsWriter Add(string name, DType dtype, long[] shape, byte[] data)
        {
            Add(name, dtype, shape, s => s.Write(data, 0, data.Length));
            return this;
        }

        /// <summary>Adds float values, stored as <paramref name="dtype"/> (F32, F16, BF16 or F8_E4M3).</summary>
        public SafetensorsWriter AddFloats(string name, DType dtype, long[] shape, float[] values)
            => Add(name, dtype, shape, s => WriteFloats(s, dtype, values, 0, values.Length));

        public SafetensorsWriter AddInt64(string name, long[] shape, long[] values)
            => Add(name, DType.I64, shape, s =>
            {
                var b = new byte[8];
                foreach (long v in values) { WriteLE(b, (ulong)v, 8); s.Write(b, 0, 8); }
            });

        static void WriteLE(byte[] b, ulong v, int n)
        {
            for (int i = 0; i < n; i++) { b[i] = (byte)v; v >>= 8; }
        }

        /// <summary>Encodes floats as <paramref name="dtype"/> little-endian bytes onto a stream.</summary>
        public static void WriteFloats(Stream s, DType dtype, float[] values, int start, int count)
        {
            int size = DTypes.SizeOf(dtype);
            var buf = new byte[Math.Min(count, 1 << 16) * size];
            int done = 0;
            while (done < count)
            {
                int n = Math.Min(count - done, buf.Length / size);
                for (int i = 0; i < n; i++)
                {
                    float v = values[start + done + i];
                    int o = i * size;
                    switch (dtype)
                    {
                        case DType.F32: EncodeInto(buf, o, (uint)BitConverter.SingleToInt32Bits(v), 4); break;
                        case DType.F16: EncodeInto(buf, o, DTypes.FloatToHalf(v), 2); break;
                        case DType.BF16: EncodeInto(buf, o, DTypes.FloatToBFloat16(v), 2); break;
                        case DType.F8_E4M3: buf[o] = DTypes.FloatToF8E4M3(v); break;
                        default: throw new ArgumentException($"cannot store floats as {DTypes.Name(dtype)}");
                    }
                }
                s.Write(buf, 0, n * size);
                done += n;
            }
        }

        static void EncodeInto(byte[] b, int o, ulong v, int n)
        {
            for (int i = 0; i < n; i++) { b[o + i] = (byte)v; v >>= 8; }
        }

        /// <summary>The JSON header, padded with spaces to a multiple of 8 bytes so the data stays aligned.</summary>
        public byte[] BuildHeader()
        {
            var root = JsonValue.NewObject();
            if (_metadata.Count > 0)
            {
                var m = JsonValue.NewObject();
                foreach (var kv in _metadata) m.Set(kv.Key, kv.Value);
                root.Set("__metadata__", m);
            }
            long offset = 0;
            foreach (var t in _tensors)
            {
                var shape = JsonValue.NewArray();
                foreach (long d in t.shape) shape.Add(JsonValue.From(d));
                root.Set(t.name, JsonValue.NewObject()
                    .Set("dtype", DTypes.Name(t.dtype))
                    .Set("shape", shape)
                    .Set("data_offsets", JsonValue.NewArray(new[] { JsonValue.From(offset), JsonValue.From(offset + t.bytes) })));
                offset += t.bytes;
            }
            var json = Encoding.UTF8.GetBytes(root.ToJson(false));
            int padded = (json.Length + 7) / 8 * 8;
            var header = new byte[padded];
            Array.Copy(json, header, json.Length);
            for (int i = json.Length; i < padded; i++) header[i] = (byte)' ';
            return header;
        }

        /// <summary>Writes the file atomically: to "name.tmp-…" beside it, then a rename over the target.</summary>
        public void Write(string path)
        {
            string dir = Path.GetDirectoryName(Path.GetFullPath(path));
            if (!string.IsNullOrEmpty(dir)) Directory.CreateDirectory(dir);
            string tmp = path + ".tmp-" + Guid.NewGuid().ToString("N").Substring(0, 8);
            try
            {
                using (var fs = new FileStream(tmp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 20))
                {
                    var header = BuildHeader();
                    var len = new byte[8];
                    WriteLE(len, (ulong)header.Length, 8);
                    fs.Write(len, 0, 8);
                    fs.Write(header, 0, header.Length);
                    foreach (var t in _tensors)
                    {
                        long before = fs.Position;
                        t.write(fs);
                        if (fs.Position - before != t.bytes)
                            throw new InvalidOperationException($"{t.name}: wrote {fs.Position - before} bytes, expected {t.bytes}");
                    }
                    fs.Flush(true);
                }
                AtomicFile.Replace(tmp, path);
            }
            catch
            {
                try { File.Delete(tmp); } catch (IOException) { }
                throw;
            }
        }
    }

    /// <summary>Atomic file replacement: write a temporary file beside the target, then rename it over the target.</summary>
    public static class AtomicFile
    {
        public static void Replace(string tempPath, string targetPath)
        {
            if (File.Exists(targetPath))
            {
#if NETSTANDARD2_1
                File.Replace(tempPath, targetPath, null); // a rename over the target: never a moment without the file
#else
                File.Move(tempPath, targetPath, true);
#endif
            }
            else File.Move(tempPath, targetPath);
        }

        /// <summary>Writes all bytes to <paramref name="path"/> atomically.</summary>
        public static void WriteAllBytes(string path, byte[] bytes)
        {
            string dir = Path.GetDirectoryName(Path.GetFullPath(path));
            if (!string.IsNullOrEmpty(dir)) Directory.CreateDirectory(dir);
            string tmp = path + ".tmp-" + Guid.NewGuid().ToString("N").Substring(0, 8);
            try
            {
                using (var fs = new FileStream(tmp, FileMode.CreateNew, FileAccess.Write))
                {
                    fs.Write(bytes, 0, bytes.Length);
                    fs.Flush(true);
                }
                Replace(tmp, path);
            }
            catch
            {
                try { File.Delete(tmp); } catch (IOException) { }
                throw;
            }
        }

        public static void WriteAllText(string path, string text) => WriteAllBytes(path, new UTF8Encoding(false).GetBytes(text));
    }
}
