using System;
using System.Collections.Generic;
using System.IO;
using Sd3Tex.Models;

namespace Sd3Tex.Checkpoints
{
    /// <summary>
    /// Deterministic random weights with exact key names and shapes, for tests and benchmarks that must run without
    /// real weights. Values are scaled like a freshly initialised network (uniform ±1/√fan_in; norm weights near 1),
    /// so activations stay O(1) through many layers. Random weights draw noise, not pictures.
    /// </summary>
    public static class RandomWeights
    {
        /// <summary>Tensor sources for <paramref name="specs"/> (names prefixed with <paramref name="prefix"/>),
        /// stored as <paramref name="dtype"/> (F32, F16 or BF16; integer buffers such as position_ids get 0..n-1).</summary>
        public static IEnumerable<TensorSource> For(IEnumerable<TensorSpec> specs, string prefix, DType dtype, int seed)
        {
            int i = 0;
            foreach (var spec in specs)
            {
                var s = spec;
                int tensorSeed = unchecked(seed * 1000003 + i++);
                if (s.Name.EndsWith("position_ids", StringComparison.Ordinal))
                {
                    yield return new TensorSource(prefix + s.Name, DType.I64, s.Shape, st =>
                    {
                        var b = new byte[8];
                        for (long k = 0; k < s.ElementCount; k++) { BitConverter.GetBytes(k).CopyTo(b, 0); st.Write(b, 0, 8); }
                    });
                    continue;
                }
                yield return new TensorSource(prefix + s.Name, dtype, s.Shape, st => WriteValues(st, s, dtype, tensorSeed));
            }
        }

        static void WriteValues(Stream st, TensorSpec s, DType dtype, int seed)
        {
            var rng = new Random(seed);
            long n = s.ElementCount;
            float center = 0f, range;
            string name = s.Name;
            bool isNorm = name.Contains("norm") || name.Contains("ln_q") || name.Contains("ln_k") || name.Contains("layer_norm");
            if (isNorm && name.EndsWith(".weight", StringComparison.Ordinal)) { center = 1f; range = 0.1f; }
            else if (name.EndsWith(".bias", StringComparison.Ordinal)) range = 0.02f;
            else if (s.Shape.Length >= 2)
            {
                long fanIn = 1;
                for (int d = 1; d < s.Shape.Length; d++) fanIn *= s.Shape[d];
                range = (float)(1.0 / Math.Sqrt(Math.Max(1, fanIn)));
                if (name == "pos_embed" || name.Contains("embedding") || name.EndsWith("shared.weight", StringComparison.Ordinal)) range = 0.5f;
            }
            else range = 0.5f;
            const int chunk = 1 << 16;
            var buf = new float[chunk];
            for (long done = 0; done < n; done += chunk)
            {
                int m = (int)Math.Min(chunk, n - done);
                for (int k = 0; k < m; k++) buf[k] = center + (float)(rng.NextDouble() * 2 - 1) * range;
                SafetensorsWriter.WriteFloats(st, dtype, buf, 0, m);
            }
        }

        /// <summary>A random MMDiT of <paramref name="cfg"/>, under the single-file names (<c>model.diffusion_model.*</c>).</summary>
        public static IEnumerable<TensorSource> Mmdit(MmditConfig cfg, DType dtype, int seed)
            => For(cfg.Tensors(), Checkpoint.MmditPrefix, dtype, seed);
    }
}
