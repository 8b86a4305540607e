using System;
using System.Collections.Generic;
using System.Linq;

namespace Sd3Tex.Checkpoints
{
    /// <summary>A weight holding NaN or ±Inf values.</summary>
    public sealed class NonFiniteWeight
    {
        public string Name { get; }
        public long Count { get; }
        public long Elements { get; }
        public NonFiniteWeight(string name, long count, long elements) { Name = name; Count = count; Elements = elements; }
        public override string ToString() => $"{Name}: {Count} of {Elements} values are NaN or infinite";
    }

    /// <summary>Reads every floating-point weight of a checkpoint (chunk by chunk from the memory map) and lists those
    /// holding NaN or ±Inf: what <c>sd3tex inspect --values</c> reports for a damaged file.</summary>
    public static class CheckpointValues
    {
        public static List<NonFiniteWeight> FindNonFinite(Checkpoint checkpoint, Action<int, int> progress = null)
        {
            if (checkpoint == null) throw new ArgumentNullException(nameof(checkpoint));
            var r = new List<NonFiniteWeight>();
            var weights = checkpoint.Weights.Values.Where(w => DTypes.IsFloat(w.DType)).OrderBy(w => w.Name, StringComparer.Ordinal).ToList();
            var buffer = new float[1 << 20];
            for (int k = 0; k < weights.Count; k++)
            {
                var w = weights[k];
                long bad = 0;
                for (long start = 0; start < w.ElementCount; start += buffer.Length)
                {
                    int n = (int)Math.Min(buffer.Length, w.ElementCount - start);
                    var chunk = n == buffer.Length ? buffer : new float[n];
                    w.ReadFloats(start, chunk);
                    bad += Kernels.FiniteCheck.CountNonFinite(chunk);
                }
                if (bad > 0) r.Add(new NonFiniteWeight(w.Name, bad, w.ElementCount));
                progress?.Invoke(k + 1, weights.Count);
            }
            return r;
        }
    }
}
