using System;
using System.Collections.Generic;
using System.IO;
using System.IO.MemoryMappedFiles;
using System.Runtime.InteropServices;
using Sd3Tex.Json;

namespace Sd3Tex.Checkpoints
{
    /// <summary>One tensor of a safetensors file: its dtype, shape and byte range (relative to the data section).</summary>
    public sealed class TensorInfo
    {
        public SafetensorsFile File { get; }
        public string Name { get; }
        public DType DType { get; }
        public long[] Shape { get; }
        /// <summary>Byte offset of the first element, from the start of the data section.</summary>
        public long DataOffset { get; }
        public long ByteLength { get; }
        public long ElementCount { get; }

        internal TensorInfo(SafetensorsFile file, string name, DType dtype, long[] shape, long offset, long length, long count)
        {
            File = file; Name = name; DType = dtype; Shape = shape; DataOffset = offset; ByteLength = length; ElementCount = count;
        }

        public string ShapeText => "[" + string.Join(", ", Shape) + "]";
        public override string ToString() => $"{Name} {DTypes.Name(DType)} {ShapeText}";
    }

    /// <summary>
    /// A safetensors file opened by memory-mapping: the header is parsed and validated up front, and tensor data is
    /// read straight from the map, so a 16 GB checkpoint never lands in managed memory.
    /// Layout: 8-byte little-endian header length N, N bytes of JSON, then the data section.
    /// </summary>
    public sealed unsafe class SafetensorsFile : IDisposable
    {
        /// <summary>The largest header accepted (the format's own limit is 100 MB).</summary>
        public const long MaxHeaderBytes = 100L * 1024 * 1024;

        public string Path { get; }
        public long FileLength { get; }
        public long HeaderLength { get; }
        public long DataStart => 8 + HeaderLength;
        public long DataLength => FileLength - DataStart;
        /// <summary>Tensors in header order.</summary>
        public IReadOnlyList<TensorInfo> Tensors => _tensors;
        public IReadOnlyDictionary<string, string> Metadata => _metadata;

        readonly List<TensorInfo> _tensors = new List<TensorInfo>();
        readonly Dictionary<string, TensorInfo> _byName = new Dictionary<string, TensorInfo>(StringComparer.Ordinal);
        readonly Dictionary<string, string> _metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        MemoryMappedFile _map;
        MemoryMappedViewAccessor _view;
        byte* _base;

        SafetensorsFile(string path, long fileLength, long headerLength)
        {
            Path = path; FileLength = fileLength; HeaderLength = headerLength;
        }

        public TensorInfo this[string name] => _byName.TryGetValue(name, out var t) ? t : null;
        public bool Contains(string name) => _byName.ContainsKey(name);

        /// <summary>Opens and validates a file. Throws <see cref="CheckpointFormatException"/> naming the file and problem.</summary>
        public static SafetensorsFile Open(string path)
        {
            var file = ReadHeader(path);
            file.MapData();
            return file;
        }

        /// <summary>
        /// Reads and validates only the header (the 8-byte length and the JSON): names, dtypes, shapes, offsets and
        /// <see cref="Metadata"/>, with the same checks as <see cref="Open"/> against the file's length. Nothing is
        /// memory-mapped and no tensor byte is read: the data accessors throw <see cref="InvalidOperationException"/>.
        /// For listing and inspecting checkpoints without touching gigabytes.
        /// </summary>
        public static SafetensorsFile ReadHeader(string path)
        {
            if (path == null) throw new ArgumentNullException(nameof(path));
            if (Directory.Exists(path))
                throw new CheckpointException(path, "is a folder, not a .safetensors file.");
            if (!File.Exists(path))
                throw new CheckpointException(path, "file not found. Check the path to the checkpoint.");

            long length;
            byte[] header;
            using (var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read))
            {
                length = fs.Length;
                if (length < 8)
                    throw Bad(path, $"truncated: the file is {length} bytes, shorter than the 8-byte header length. Download it again.");
                var lenBytes = new byte[8];
                ReadExactly(fs, lenBytes, 8);
                ulong n = BitConverter.ToUInt64(lenBytes, 0);
                if (!BitConverter.IsLittleEndian) n = ReverseBytes(n);
                if (n > (ulong)(length - 8))
                    throw Bad(path, $"truncated or not a safetensors file: the header claims {n} bytes but only {length - 8} follow. " +
                                    "Download it again, or check that it is a .safetensors file (not .ckpt/.pt/.gguf).");
                if (n > MaxHeaderBytes)
                    throw Bad(path, $"the header is {n} bytes, above the {MaxHeaderBytes}-byte limit of the format.");
                if (n < 2)
                    throw Bad(path, "the JSON header is empty.");
                header = new byte[(int)n];
                ReadExactly(fs, header, (int)n);
            }

            var file = new SafetensorsFile(path, length, header.Length);
            file.ParseHeader(header);
            return file;
        }

        /// <summary>False for a file opened with <see cref="ReadHeader"/> (and after <see cref="Dispose"/>).</summary>
        public bool IsMapped => _base != null;

        static long _mapsCreated;
        /// <summary>How many files this process has memory-mapped (a diagnostic: listing checkpoints maps none).</summary>
        internal static long MapsCreated => System.Threading.Interlocked.Read(ref _mapsCreated);

        static void ReadExactly(Stream s, byte[] buffer, int count)
        {
            int read = 0;
            while (read < count)
            {
                int r = s.Read(buffer, read, count - read);
                if (r <= 0) throw new EndOfStreamException();
                read += r;
            }
        }

        static ulong ReverseBytes(ulong v)
        {
            ulong r = 0;
            for (int i = 0; i < 8; i++) { r = (r << 8) | (v & 0xFF); v >>= 8; }
            return r;
        }

        static CheckpointFormatException Bad(string path, string message, Exception inner = null)
            => new CheckpointFormatException(path, message, inner);

        [System.Runtime.CompilerServices.MethodImpl(Sd3Tex.Json.JitHints.Optimize)]
        void ParseHeader(byte[] header)
        {
            JsonValue root;
            try
            {
                // safetensors pads the header with trailing spaces; JSON allows that
                root = JsonValue.Parse(JsonValue.DecodeUtf8(header, 0, header.Length), 32);
            }
            catch (JsonException e)
            {
                throw Bad(Path, "malformed JSON header: " + e.Message + ". The file is damaged or not a safetensors file.", e);
            }
            if (root.Kind != JsonKind.Object)
                throw Bad(Path, "the JSON header is not an object.");

            long dataLength = DataLength;
            foreach (var p in root.Properties)
            {
                if (p.Key == "__metadata__")
                {
                    if (p.Value.Kind != JsonKind.Object) throw Bad(Path, "__metadata__ is not an object.");
                    foreach (var m in p.Value.Properties)
                    {
                        if (m.Value.Kind != JsonKind.String) throw Bad(Path, $"__metadata__ value \"{m.Key}\" is not a string.");
                        _metadata[m.Key] = m.Value.AsString;
                    }
                    continue;
                }
                _tensors.Add(ParseTensor(p.Key, p.Value, dataLength));
                _byName[p.Key] = _tensors[_tensors.Count - 1];
            }

            // no two tensors may share bytes
            var sorted = new List<TensorInfo>(_tensors);
            sorted.Sort((a, b) => a.DataOffset != b.DataOffset ? a.DataOffset.CompareTo(b.DataOffset) : a.ByteLength.CompareTo(b.ByteLength));
            TensorInfo prev = null;
            foreach (var t in sorted)
            {
                if (t.ByteLength == 0) continue;
                if (prev != null && t.DataOffset < prev.DataOffset + prev.ByteLength)
                    throw Bad(Path, $"tensors \"{prev.Name}\" and \"{t.Name}\" overlap (bytes {prev.DataOffset}-{prev.DataOffset + prev.ByteLength} " +
                                    $"and {t.DataOffset}-{t.DataOffset + t.ByteLength}). The file is damaged.");
                prev = t;
            }
        }

        [System.Runtime.CompilerServices.MethodImpl(Sd3Tex.Json.JitHints.Optimize)]
        TensorInfo ParseTensor(string name, JsonValue v, long dataLength)
        {
            if (v.Kind != JsonKind.Object) throw Bad(Path, $"tensor \"{name}\": its header entry is not an object.");
            var dt = v["dtype"];
            var shape = v["shape"];
            var offsets = v["data_offsets"];
            if (dt == null || dt.Kind != JsonKind.String) throw Bad(Path, $"tensor \"{name}\": missing or non-string \"dtype\".");
            if (!DTypes.TryParse(dt.AsString, out var dtype))
                throw Bad(Path, $"tensor \"{name}\": unknown dtype \"{dt.AsString}\". Supported: F32, F16, BF16, F8_E4M3, F8_E5M2, F64 and integer types.");
            if (shape == null || shape.Kind != JsonKind.Array) throw Bad(Path, $"tensor \"{name}\": missing or non-array \"shape\".");
            if (shape.Items.Count > 8) throw Bad(Path, $"tensor \"{name}\": {shape.Items.Count} dimensions is more than any model uses.");
            if (offsets == null || offsets.Kind != JsonKind.Array || offsets.Items.Count != 2)
                throw Bad(Path, $"tensor \"{name}\": \"data_offsets\" must be [begin, end].");

            var dims = new long[shape.Items.Count];
            long count = 1;
            bool overflow = false;
            for (int i = 0; i < dims.Length; i++)
            {
                var d = shape.Items[i];
                if (!d.IsInteger || d.AsLong < 0) throw Bad(Path, $"tensor \"{name}\": shape entry {i} is not a non-negative integer.");
                dims[i] = d.AsLong;
                if (!overflow && dims[i] != 0 && count > long.MaxValue / dims[i]) overflow = true;
                else count *= dims[i];
            }
            for (int i = 0; i < 2; i++)
                if (!offsets.Items[i].IsInteger || offsets.Items[i].AsLong < 0)
                    throw Bad(Path, $"tensor \"{name}\": data_offsets must be non-negative integers.");
            long begin = offsets.Items[0].AsLong, end = offsets.Items[1].AsLong;
            if (end < begin) throw Bad(Path, $"tensor \"{name}\": data_offsets [{begin}, {end}] end before they begin.");
            if (end > dataLength)
                throw Bad(Path, $"tensor \"{name}\": data_offsets [{begin}, {end}] run past the end of the data ({dataLength} bytes). " +
                                "The file is truncated: download it again.");
            int size = DTypes.SizeOf(dtype);
            if (overflow || (count > 0 && count > long.MaxValue / size) || count * size != end - begin)
                throw Bad(Path, $"tensor \"{name}\": shape [{string.Join(", ", dims)}] × {DTypes.Name(dtype)} does not match its {end - begin}-byte range.");
            return new TensorInfo(this, name, dtype, dims, begin, end - begin, count);
        }

        void MapData()
        {
            _mapped = true;
            if (DataLength == 0) return;
            try
            {
                System.Threading.Interlocked.Increment(ref _mapsCreated);
                _map = MemoryMappedFile.CreateFromFile(
                    new FileStream(Path, FileMode.Open, FileAccess.Read, FileShare.Read), null, 0,
                    MemoryMappedFileAccess.Read, HandleInheritability.None, false);
                _view = _map.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
                byte* p = null;
                _view.SafeMemoryMappedViewHandle.AcquirePointer(ref p);
                _mapStart = p;
                _mapLength = (long)_view.SafeMemoryMappedViewHandle.ByteLength;
                _base = p + _view.PointerOffset;
            }
            catch (Exception e) when (e is IOException || e is UnauthorizedAccessException)
            {
                Dispose();
                throw new CheckpointException(Path, "could not be memory-mapped: " + e.Message, e);
            }
        }

        byte* _mapStart;
        long _mapLength;

        [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "madvise", SetLastError = true)]
        static extern int Madvise(IntPtr address, UIntPtr length, int advice);

        /// <summary>
        /// Lets the process give back the map's resident pages (Linux and macOS: madvise MADV_DONTNEED on the read-only
        /// mapping): they leave the process's resident set but stay in the OS file cache, and the next read faults them
        /// in again from there (a few hundred MB/s of minor faults, no disk read while the cache holds them). A model
        /// whose weights are read in place calls this through <see cref="Checkpoint.DropResidentPages"/> when it will
        /// not run for a while (the encoders after encoding, the transformer before the VAE decode), so that the
        /// process's peak is one component's weights, not all of them. Returns false where it is not supported.
        /// </summary>
        public bool DropResidentPages()
        {
            lock (_tensors)
            {
                if (_mapStart == null || _mapLength <= 0) return false;
                var os = System.Runtime.InteropServices.RuntimeInformation.IsOSPlatform(System.Runtime.InteropServices.OSPlatform.Linux) ? 4 // MADV_DONTNEED
                       : System.Runtime.InteropServices.RuntimeInformation.IsOSPlatform(System.Runtime.InteropServices.OSPlatform.OSX) ? 4 : -1;
                if (os < 0) return false;
                try { return Madvise((IntPtr)_mapStart, (UIntPtr)(ulong)_mapLength, os) == 0; }
                catch (DllNotFoundException) { return false; }
                catch (EntryPointNotFoundException) { return false; }
            }
        }
        bool _mapped;

        void CheckOpen()
        {
            if (!_mapped) throw new InvalidOperationException($"{Path} was opened for its header only (SafetensorsFile.ReadHeader): its tensor data cannot be read.");
            if (_base == null && DataLength > 0) throw new ObjectDisposedException(Path);
        }

        /// <summary>Pointer to a tensor's first byte inside the memory map. Valid until <see cref="Dispose"/>.</summary>
        public byte* DataPointer(TensorInfo t)
        {
            CheckOwner(t);
            CheckOpen();
            return _base + DataStart + t.DataOffset;
        }

        /// <summary>A span over part of a tensor's bytes (a span holds at most 2 GB; use offsets for larger tensors).</summary>
        public ReadOnlySpan<byte> GetBytes(TensorInfo t, long byteOffset = 0, int byteCount = -1)
        {
            CheckOwner(t);
            if (byteCount < 0) byteCount = (int)Math.Min(int.MaxValue, t.ByteLength - byteOffset);
            if (byteOffset < 0 || byteOffset + byteCount > t.ByteLength) throw new ArgumentOutOfRangeException(nameof(byteOffset));
            if (byteCount == 0) return ReadOnlySpan<byte>.Empty;
            return new ReadOnlySpan<byte>(DataPointer(t) + byteOffset, byteCount);
        }

        /// <summary>Converts <paramref name="destination"/>.Length elements, starting at element <paramref name="start"/>, to float.</summary>
        public void ReadFloats(TensorInfo t, long start, Span<float> destination)
        {
            CheckOwner(t);
            if (start < 0 || start + destination.Length > t.ElementCount) throw new ArgumentOutOfRangeException(nameof(start));
            if (destination.Length == 0) return;
            byte* p = DataPointer(t);
            Convert(t.DType, p, start, destination, t.Name);
        }

        /// <summary>The whole tensor as floats (for small tensors: biases, norms, test fixtures).</summary>
        public float[] ReadFloats(TensorInfo t)
        {
            if (t.ElementCount > int.MaxValue) throw new InvalidOperationException($"{t.Name} is too large to read into one array.");
            var r = new float[t.ElementCount];
            ReadFloats(t, 0, r);
            return r;
        }

        /// <summary>An integer tensor (I64, I32 ...) as longs, e.g. token ids.</summary>
        public long[] ReadInt64(TensorInfo t)
        {
            CheckOwner(t);
            var r = new long[t.ElementCount];
            byte* p = DataPointer(t);
            for (long i = 0; i < r.LongLength; i++)
            {
                switch (t.DType)
                {
                    case DType.I64: r[i] = Unaligned<long>(p + i * 8); break;
                    case DType.U64: r[i] = (long)Unaligned<ulong>(p + i * 8); break;
                    case DType.I32: r[i] = Unaligned<int>(p + i * 4); break;
                    case DType.U32: r[i] = Unaligned<uint>(p + i * 4); break;
                    case DType.I16: r[i] = Unaligned<short>(p + i * 2); break;
                    case DType.U16: r[i] = Unaligned<ushort>(p + i * 2); break;
                    case DType.I8: r[i] = (sbyte)p[i]; break;
                    case DType.U8: case DType.Bool: r[i] = p[i]; break;
                    default: throw new InvalidOperationException($"{t.Name} is {DTypes.Name(t.DType)}, not an integer tensor.");
                }
            }
            return r;
        }

        static T Unaligned<T>(byte* p) where T : unmanaged
        {
            T v;
            Buffer.MemoryCopy(p, &v, sizeof(T), sizeof(T));
            return v;
        }

        /// <summary>Element conversion from a raw buffer of <paramref name="dtype"/> to float.</summary>
        public static void Convert(DType dtype, byte* p, long start, Span<float> dst, string what = "tensor")
        {
            int n = dst.Length;
            switch (dtype)
            {
                case DType.F32:
                    new ReadOnlySpan<float>(p + start * 4, n).CopyTo(dst);
                    break;
                case DType.F16:
                {
                    ushort* s = (ushort*)(p + start * 2);
                    for (int i = 0; i < n; i++) dst[i] = DTypes.HalfToFloat(s[i]);
                    break;
                }
                case DType.BF16:
                {
                    ushort* s = (ushort*)(p + start * 2);
                    for (int i = 0; i < n; i++) dst[i] = DTypes.BFloat16ToFloat(s[i]);
                    break;
                }
                case DType.F8_E4M3:
                {
                    byte* s = p + start;
                    for (int i = 0; i < n; i++) dst[i] = DTypes.F8E4M3ToFloat(s[i]);
                    break;
                }
                case DType.F8_E5M2:
                {
                    byte* s = p + start;
                    for (int i = 0; i < n; i++) dst[i] = DTypes.F8E5M2ToFloat(s[i]);
                    break;
                }
                case DType.F64:
                {
                    double* s = (double*)(p + start * 8);
                    for (int i = 0; i < n; i++) dst[i] = (float)s[i];
                    break;
                }
                default:
                    throw new InvalidOperationException($"{what} is {DTypes.Name(dtype)}; only F32, F16, BF16, F8 and F64 convert to float.");
            }
        }

        void CheckOwner(TensorInfo t)
        {
            if (t == null) throw new ArgumentNullException(nameof(t));
            if (t.File != this) throw new ArgumentException($"{t.Name} belongs to another file.");
        }

        int _leases;
        bool _disposeRequested;

        /// <summary>Keeps the memory map alive past <see cref="Dispose"/> until <see cref="Release"/> (the managed CPU
        /// backend reads weights in place from the map, so a model holds a lease while it lives).</summary>
        public void Retain()
        {
            lock (_tensors)
            {
                if (_base == null && DataLength > 0) throw new ObjectDisposedException(Path);
                _leases++;
            }
        }

        /// <summary>Ends a <see cref="Retain"/>; the map closes when the last lease ends after <see cref="Dispose"/>.</summary>
        public void Release()
        {
            lock (_tensors)
            {
                if (_leases == 0) return;
                if (--_leases > 0 || !_disposeRequested) return;
            }
            Close();
        }

        public void Dispose()
        {
            lock (_tensors)
            {
                _disposeRequested = true;
                if (_leases > 0) return;
            }
            Close();
        }

        void Close()
        {
            lock (_tensors) { _mapStart = null; _mapLength = 0; }
            if (_view != null)
            {
                if (_base != null) _view.SafeMemoryMappedViewHandle.ReleasePointer();
                _view.Dispose();
                _view = null;
            }
            _base = null;
            _map?.Dispose();
            _map = null;
        }

        public override string ToString() => $"{System.IO.Path.GetFileName(Path)} ({_tensors.Count} tensors)";
    }
}
