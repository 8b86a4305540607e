using System;
using System.Collections.Generic;

namespace Sd3Tex.Checkpoints
{
    /// <summary>A contiguous run of elements of one stored tensor.</summary>
    public readonly struct WeightPart
    {
        public readonly TensorInfo Source;
        public readonly long Start;
        public readonly long Count;
        public WeightPart(TensorInfo source, long start, long count) { Source = source; Start = start; Count = count; }
    }

    /// <summary>
    /// One model tensor under its internal (single-file checkpoint) name. Usually it is one stored tensor; for the
    /// diffusers layout it may be several stored tensors concatenated along dimension 0 (for example <c>to_q</c>,
    /// <c>to_k</c> and <c>to_v</c> fused into <c>qkv</c>), read in place from the memory maps.
    /// </summary>
    public sealed class Weight
    {
        public string Name { get; }
        public DType DType { get; }
        public long[] Shape { get; }
        public long ElementCount { get; }
        public IReadOnlyList<WeightPart> Parts { get; }

        public Weight(string name, long[] shape, IReadOnlyList<WeightPart> parts)
        {
            if (parts == null || parts.Count == 0) throw new ArgumentException("a weight needs at least one part");
            Name = name; Shape = shape; Parts = parts;
            DType = parts[0].Source.DType;
            long n = 0;
            foreach (var p in parts)
            {
                if (p.Source.DType != DType)
                    throw new CheckpointException(p.Source.File.Path,
                        $"\"{name}\" is assembled from tensors of different dtypes ({DTypes.Name(DType)} and {DTypes.Name(p.Source.DType)}).");
                if (p.Start < 0 || p.Count < 0 || p.Start + p.Count > p.Source.ElementCount)
                    throw new CheckpointException(p.Source.File.Path, $"\"{name}\": part out of range of \"{p.Source.Name}\".");
                n += p.Count;
            }
            long expect = 1;
            foreach (long d in shape) expect *= d;
            if (expect != n)
                throw new CheckpointException(parts[0].Source.File.Path,
                    $"\"{name}\": shape [{string.Join(", ", shape)}] holds {expect} elements but its sources hold {n}.");
            ElementCount = n;
        }

        /// <summary>A weight that is exactly one stored tensor.</summary>
        public static Weight Of(string name, TensorInfo t) => new Weight(name, t.Shape, new[] { new WeightPart(t, 0, t.ElementCount) });

        public long ByteLength => ElementCount * DTypes.SizeOf(DType);
        public string ShapeText => "[" + string.Join(", ", Shape) + "]";

        /// <summary>Where the data comes from: "file: key" (several when fused).</summary>
        public string SourceText
        {
            get
            {
                var names = new List<string>();
                foreach (var p in Parts) names.Add($"{System.IO.Path.GetFileName(p.Source.File.Path)}: {p.Source.Name}");
                return string.Join(" + ", names);
            }
        }

        /// <summary>Converts elements [start, start + destination.Length) to float, across parts.</summary>
        public void ReadFloats(long start, Span<float> destination)
        {
            if (start < 0 || start + destination.Length > ElementCount) throw new ArgumentOutOfRangeException(nameof(start));
            long partStart = 0;
            int written = 0;
            foreach (var p in Parts)
            {
                long partEnd = partStart + p.Count;
                long from = start + written;
                if (written < destination.Length && from < partEnd)
                {
                    int n = (int)Math.Min(destination.Length - written, partEnd - from);
                    p.Source.File.ReadFloats(p.Source, p.Start + (from - partStart), destination.Slice(written, n));
                    written += n;
                }
                partStart = partEnd;
            }
        }

        public float[] ReadFloats()
        {
            if (ElementCount > int.MaxValue) throw new InvalidOperationException($"{Name} is too large to read into one array.");
            var r = new float[ElementCount];
            ReadFloats(0, r);
            return r;
        }

        /// <summary>Copies the raw stored bytes (in <see cref="DType"/>) into <paramref name="destination"/>.</summary>
        public unsafe void CopyRawTo(Span<byte> destination)
        {
            if (destination.Length < ByteLength) throw new ArgumentException("destination too small");
            int size = DTypes.SizeOf(DType);
            long o = 0;
            foreach (var p in Parts)
            {
                long bytes = p.Count * size;
                var src = new ReadOnlySpan<byte>(p.Source.File.DataPointer(p.Source) + p.Start * size, checked((int)bytes));
                src.CopyTo(destination.Slice((int)o));
                o += bytes;
            }
        }

        public override string ToString() => $"{Name} {DTypes.Name(DType)} {ShapeText}";
    }

    /// <summary>How one tensor is assembled from others by name: concatenated element ranges, then viewed with
    /// <see cref="Shape"/>. Used both ways between the diffusers names and the internal names.</summary>
    public sealed class TensorAssembly
    {
        public string Name { get; }
        public long[] Shape { get; }
        public IReadOnlyList<AssemblyPart> Parts { get; }

        public TensorAssembly(string name, long[] shape, IReadOnlyList<AssemblyPart> parts) { Name = name; Shape = shape; Parts = parts; }

        /// <summary>A plain rename (and possibly reshape) of one whole tensor with <paramref name="count"/> elements.</summary>
        public static TensorAssembly Rename(string name, long[] shape, string from, long count)
            => new TensorAssembly(name, shape, new[] { new AssemblyPart(from, 0, count) });

        public override string ToString() => $"{Name} [{string.Join(", ", Shape)}] <- " +
            string.Join(" + ", System.Linq.Enumerable.Select(Parts, p => $"{p.From}[{p.Start}..{p.Start + p.Count})"));
    }

    public readonly struct AssemblyPart
    {
        public readonly string From;
        public readonly long Start;
        public readonly long Count;
        public AssemblyPart(string from, long start, long count) { From = from; Start = start; Count = count; }
    }
}
