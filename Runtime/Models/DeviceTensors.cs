using System;
using System.Collections.Generic;
using System.Runtime.InteropServices;
using ILGPU;
using ILGPU.Runtime;
using Sd3Tex.Checkpoints;
using Sd3Tex.Kernels;

namespace Sd3Tex.Models
{
    /// <summary>
    /// One tensor converted on the host for upload: either floats, or 16-bit patterns of <see cref="Type"/> (F16 or
    /// BF16). Preparing is separate from uploading so that a streaming model can convert the next block's weights while
    /// the device still runs the previous block.
    /// </summary>
    public sealed class HostTensor
    {
        public DType Type { get; }
        public float[] Floats { get; }
        public ushort[] Bits { get; }
        public long Length => Type == DType.F32 ? Floats.LongLength : Bits.LongLength;
        public long DeviceBytes => Length * (Type == DType.F32 ? 4 : 2);

        HostTensor(DType type, float[] floats, ushort[] bits) { Type = type; Floats = floats; Bits = bits; }

        /// <summary>The device type a weight (or a concatenation of weights) is kept in: F16 and BF16 as stored;
        /// F8 (E4M3 or E5M2) as F16, which holds every F8 value exactly (so the GEMM needs no F8 path and nothing is
        /// lost; it takes twice the F8 bytes); F32, F64 and mixed types as F32. <paramref name="keepStored"/> false
        /// always gives F32.</summary>
        public static DType DeviceType(bool keepStored, params Weight[] parts)
        {
            if (!keepStored) return DType.F32;
            DType? r = null;
            foreach (var w in parts)
            {
                DType t = w.DType == DType.F8_E4M3 || w.DType == DType.F8_E5M2 ? DType.F16 : w.DType;
                if (t != DType.F16 && t != DType.BF16) return DType.F32;
                if (r.HasValue && r.Value != t) return DType.F32;
                r = t;
            }
            return r ?? DType.F32;
        }

        /// <summary>Device bytes of the weights once uploaded (see <see cref="DeviceType"/>).</summary>
        public static long DeviceBytesOf(bool keepStored, params Weight[] parts)
        {
            long n = 0;
            foreach (var w in parts) n += w.ElementCount;
            return n * (DeviceType(keepStored, parts) == DType.F32 ? 4 : 2);
        }

        static ushort[] _e4m3, _e5m2;

        /// <summary>F8 → F16 bit patterns (exact), one table per F8 type.</summary>
        static ushort[] F8Table(DType t)
        {
            var table = t == DType.F8_E4M3 ? _e4m3 : _e5m2;
            if (table != null) return table;
            table = new ushort[256];
            for (int i = 0; i < 256; i++)
                table[i] = t == DType.F8_E4M3 ? DTypes.FloatToHalf(DTypes.F8E4M3ToFloat((byte)i)) : (ushort)(i << 8);
            if (t == DType.F8_E4M3) _e4m3 = table; else _e5m2 = table;
            return table;
        }

        /// <summary>The concatenation (flattened, in order) of <paramref name="parts"/> in their device type.</summary>
        public static HostTensor Prepare(bool keepStored, params Weight[] parts)
        {
            var type = DeviceType(keepStored, parts);
            long total = 0;
            foreach (var w in parts) total += w.ElementCount;
            if (total > int.MaxValue) throw new CheckpointException(null, $"{parts[0].Name}: {total} elements are too many for one device buffer.");
            if (type == DType.F32)
            {
                var f = new float[total];
                long o = 0;
                foreach (var w in parts)
                {
                    w.ReadFloats(0, new Span<float>(f, (int)o, (int)w.ElementCount));
                    o += w.ElementCount;
                }
                return new HostTensor(DType.F32, f, null);
            }
            var bits = new ushort[total];
            long at = 0;
            foreach (var w in parts)
            {
                var dst = new Span<ushort>(bits, (int)at, (int)w.ElementCount);
                if (w.DType == DType.F16 || w.DType == DType.BF16) w.CopyRawTo(MemoryMarshal.AsBytes(dst));
                else
                {
                    var raw = new byte[w.ByteLength];
                    w.CopyRawTo(raw);
                    var table = F8Table(w.DType);
                    for (int i = 0; i < raw.Length; i++) dst[i] = table[raw[i]];
                }
                at += w.ElementCount;
            }
            return new HostTensor(type, null, bits);
        }
    }

    /// <summary>
    /// Named device tensors of an encoder: linear weights and embedding tables in their device type (see
    /// <see cref="HostTensor.DeviceType"/>), everything else as F32. Putting a tensor under a name that already holds one
    /// of the same type and length overwrites it in place: streamed blocks reuse one buffer set.
    /// <para>On the managed CPU backend (<see cref="ComputeDevice.IsManaged"/>) a 16-bit tensor kept in its stored type
    /// whose bytes lie contiguously in one checkpoint file is not copied: its view points into the file's memory map
    /// (the file is kept open with <see cref="SafetensorsFile.Retain"/> until this is disposed), so a 4 GB F16
    /// checkpoint costs no extra memory. Other tensors are copied as on any device.</para>
    /// </summary>
    public sealed class DeviceTensors : IDisposable
    {
        sealed class Entry
        {
            public DType Type;
            public MemoryBuffer1D<float, Stride1D.Dense> F32;
            public MemoryBuffer1D<ushort, Stride1D.Dense> Bits;
            public MemoryBuffer Mapped;
            public SafetensorsFile MappedFile;
            public ArrayView<ushort> BitsView;
            public long Length;
            public void Dispose()
            {
                F32?.Dispose(); Bits?.Dispose(); Mapped?.Dispose();
                MappedFile?.Release();
                MappedFile = null;
            }
        }

        readonly Accelerator _acc;
        readonly bool _mapInPlace;
        readonly Dictionary<string, Entry> _entries = new Dictionary<string, Entry>(StringComparer.Ordinal);

        /// <summary>Device bytes held (copies; tensors read in place from a memory map are <see cref="MappedBytes"/>).</summary>
        public long Bytes { get; private set; }

        /// <summary>Bytes read in place from checkpoint memory maps (managed CPU backend).</summary>
        public long MappedBytes { get; private set; }

        public DeviceTensors(Accelerator accelerator) { _acc = accelerator ?? throw new ArgumentNullException(nameof(accelerator)); }

        /// <summary>Tensors for a device; on the managed CPU backend 16-bit weights are read in place from the memory map.</summary>
        public DeviceTensors(ComputeDevice device) : this(device?.Accelerator) { _mapInPlace = device.IsManaged; }

        public bool Contains(string name) => _entries.ContainsKey(name);

        /// <summary>Uploads a prepared tensor under <paramref name="name"/> (in place when the name holds one of the same
        /// type and length).</summary>
        public void Put(string name, HostTensor t)
        {
            if (_entries.TryGetValue(name, out var e))
            {
                if (e.Type != t.Type || e.Length != t.Length || e.Mapped != null)
                {
                    if (e.Mapped != null) MappedBytes -= e.Length * 2;
                    else Bytes -= e.Length * (e.Type == DType.F32 ? 4 : 2);
                    e.Dispose();
                    _entries.Remove(name);
                    e = null;
                }
            }
            if (e == null)
            {
                e = new Entry { Type = t.Type, Length = t.Length };
                if (t.Type == DType.F32) e.F32 = _acc.Allocate1D<float>(Math.Max(1, t.Length));
                else
                {
                    e.Bits = _acc.Allocate1D<ushort>(Math.Max(1, t.Length));
                    e.BitsView = e.Bits.View;
                }
                _entries[name] = e;
                Bytes += t.DeviceBytes;
            }
            if (t.Length == 0) return;
            if (t.Type == DType.F32) e.F32.View.SubView(0, t.Length).CopyFromCPU(t.Floats);
            else e.Bits.View.SubView(0, t.Length).CopyFromCPU(t.Bits);
        }

        /// <summary>Uploads the concatenation of <paramref name="parts"/>; 16-bit (or F8 as F16) when
        /// <paramref name="keepStored"/>, else F32 (mapped in place instead when the class summary says so).</summary>
        public void Put(string name, bool keepStored, params Weight[] parts)
        {
            if (_mapInPlace && keepStored && TryMap(name, parts)) return;
            Put(name, HostTensor.Prepare(keepStored, parts));
        }

        /// <summary>Maps F16/BF16 parts whose bytes are contiguous in one file.</summary>
        unsafe bool TryMap(string name, Weight[] parts)
        {
            if (parts.Length == 0) return false;
            DType type = parts[0].DType;
            if (type != DType.F16 && type != DType.BF16) return false;
            SafetensorsFile file = null;
            byte* start = null, next = null;
            long count = 0;
            foreach (var w in parts)
            {
                if (w.DType != type) return false;
                foreach (var p in w.Parts)
                {
                    if (file == null) file = p.Source.File;
                    else if (p.Source.File != file) return false;
                    byte* at = file.DataPointer(p.Source) + p.Start * 2;
                    if (start == null) start = at;
                    else if (at != next) return false;
                    next = at + p.Count * 2;
                    count += p.Count;
                }
            }
            if (count == 0 || count > int.MaxValue) return false;
            if (_entries.TryGetValue(name, out var old))
            {
                Bytes -= old.Mapped != null ? 0 : old.Length * (old.Type == DType.F32 ? 4 : 2);
                if (old.Mapped != null) MappedBytes -= old.Length * 2;
                old.Dispose();
                _entries.Remove(name);
            }
            file.Retain();
            var buffer = ILGPU.Runtime.CPU.CPUMemoryBuffer.Create(_acc, (IntPtr)start, count, sizeof(ushort));
            _entries[name] = new Entry { Type = type, Mapped = buffer, MappedFile = file, BitsView = buffer.AsArrayView<ushort>(0, count), Length = count };
            MappedBytes += count * 2;
            return true;
        }

        Entry Get(string name) => _entries.TryGetValue(name, out var e) ? e : throw new KeyNotFoundException($"no device tensor \"{name}\"");

        /// <summary>An F32 tensor.</summary>
        public ArrayView<float> F(string name)
        {
            var e = Get(name);
            if (e.Type != DType.F32) throw new InvalidOperationException($"\"{name}\" is {e.Type} on the device, not F32.");
            return e.F32.View.SubView(0, Math.Max(1, e.Length));
        }

        /// <summary>A linear weight in its device type.</summary>
        public WeightView Linear(string name)
        {
            var e = Get(name);
            return e.Type == DType.F32 ? WeightView.FromF32(e.F32.View) : WeightView.FromBits(e.Type, e.BitsView);
        }

        /// <summary>A table (embedding) in its device type.</summary>
        public TableView Table(string name) => TableView.From(Linear(name));

        public void Dispose()
        {
            foreach (var e in _entries.Values) e.Dispose();
            _entries.Clear();
            Bytes = 0;
            MappedBytes = 0;
        }
    }
}
