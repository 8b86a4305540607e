using System;
using System.Collections.Generic;
using System.Linq;
using Sd3Tex.Checkpoints;

namespace Sd3Tex.Models
{
    /// <summary>A tensor a component of a given config must (or may) have: its name inside the component and its shape.</summary>
    public readonly struct TensorSpec
    {
        public readonly string Name;
        public readonly long[] Shape;
        /// <summary>Optional tensors (buffers, tied copies, encoder halves) are neither missing when absent nor unexpected when present.</summary>
        public readonly bool Optional;

        public TensorSpec(string name, long[] shape, bool optional = false) { Name = name; Shape = shape; Optional = optional; }

        public long ElementCount { get { long n = 1; foreach (var d in Shape) n *= d; return n; } }
        public override string ToString() => $"{Name} [{string.Join(", ", Shape)}]";
    }

    /// <summary>What a component's weights lack or carry beyond its inferred config.</summary>
    public sealed class SchemaCheck
    {
        public List<string> Missing { get; } = new List<string>();
        public List<string> Unexpected { get; } = new List<string>();
        /// <summary>"name: has [a, b], expected [c, d]".</summary>
        public List<string> WrongShape { get; } = new List<string>();
        public bool IsComplete => Missing.Count == 0 && WrongShape.Count == 0;

        /// <summary>Compares weights (names inside the component) with the specs of the inferred config.
        /// <paramref name="optionalPrefixes"/> are name prefixes whose tensors are accepted without a spec.</summary>
        public static SchemaCheck Compare(IReadOnlyDictionary<string, Weight> weights, IEnumerable<TensorSpec> specs, params string[] optionalPrefixes)
            => Compare(Shapes.Of(weights), specs, optionalPrefixes);

        /// <summary>The same on names and shapes alone.</summary>
        [System.Runtime.CompilerServices.MethodImpl(Sd3Tex.Json.JitHints.Optimize)]
        public static SchemaCheck Compare(IReadOnlyDictionary<string, long[]> weights, IEnumerable<TensorSpec> specs, params string[] optionalPrefixes)
        {
            var r = new SchemaCheck();
            var known = new HashSet<string>(StringComparer.Ordinal);
            foreach (var s in specs)
            {
                known.Add(s.Name);
                if (!weights.TryGetValue(s.Name, out var w))
                {
                    if (!s.Optional) r.Missing.Add(s.Name);
                    continue;
                }
                if (!w.SequenceEqual(s.Shape))
                    r.WrongShape.Add($"{s.Name}: has [{string.Join(", ", w)}], expected [{string.Join(", ", s.Shape)}]");
            }
            foreach (var name in weights.Keys)
                if (!known.Contains(name) && !optionalPrefixes.Any(p => name.StartsWith(p, StringComparison.Ordinal)))
                    r.Unexpected.Add(name);
            r.Missing.Sort(StringComparer.Ordinal);
            r.Unexpected.Sort(StringComparer.Ordinal);
            return r;
        }
    }

    internal static class Shapes
    {
        public static long[] S(params long[] d) => d;

        /// <summary>The shape of a weight, or null when absent.</summary>
        public static long[] Of(IReadOnlyDictionary<string, long[]> w, string name) => w.TryGetValue(name, out var t) ? t : null;

        /// <summary>Names and shapes of weights: all that config inference needs.</summary>
        [System.Runtime.CompilerServices.MethodImpl(Sd3Tex.Json.JitHints.Optimize)]
        public static IReadOnlyDictionary<string, long[]> Of(IReadOnlyDictionary<string, Weight> w)
        {
            var r = new Dictionary<string, long[]>(StringComparer.Ordinal);
            foreach (var kv in w) r[kv.Key] = kv.Value.Shape;
            return r;
        }

        /// <summary>Dimension <paramref name="dim"/> of a required weight; a clear error when it is absent or of another rank.</summary>
        public static int Dim(IReadOnlyDictionary<string, long[]> w, string component, string name, int dim, int rank)
        {
            var s = Of(w, name);
            if (s == null)
                throw new CheckpointException(null, $"{component}: the tensor \"{name}\" is missing, so the model's size cannot be inferred. " +
                                                     "The checkpoint is incomplete or not an SD3 checkpoint.");
            if (s.Length != rank)
                throw new CheckpointException(null, $"{component}: \"{name}\" has shape [{string.Join(", ", s)}], expected {rank} dimensions.");
            if (s[dim] > int.MaxValue) throw new CheckpointException(null, $"{component}: \"{name}\" is implausibly large.");
            return (int)s[dim];
        }

        /// <summary>Distinct integer indices N of names "prefix.N.…", sorted.</summary>
        [System.Runtime.CompilerServices.MethodImpl(Sd3Tex.Json.JitHints.Optimize)]
        public static List<int> Indices(IEnumerable<string> names, string prefix)
        {
            var set = new SortedSet<int>();
            foreach (var n in names)
            {
                if (!n.StartsWith(prefix, StringComparison.Ordinal)) continue;
                int end = n.IndexOf('.', prefix.Length);
                string num = end < 0 ? n.Substring(prefix.Length) : n.Substring(prefix.Length, end - prefix.Length);
                if (int.TryParse(num, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int i) && i < 100000)
                    set.Add(i);
            }
            return set.ToList();
        }

        [System.Runtime.CompilerServices.MethodImpl(Sd3Tex.Json.JitHints.Optimize)]
        public static long Parameters(IReadOnlyDictionary<string, Weight> w, Func<string, bool> counted = null)
        {
            long n = 0;
            foreach (var kv in w)
                if ((counted == null || counted(kv.Key)) && DTypes.IsFloat(kv.Value.DType)) n += kv.Value.ElementCount;
            return n;
        }
    }
}
