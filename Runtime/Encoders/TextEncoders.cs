using System;
using System.Collections.Generic;
using Sd3Tex.Checkpoints;
using Sd3Tex.Models;

namespace Sd3Tex.Encoders
{
    /// <summary>What a CLIP text encoder gives SD3, for a batch of B sequences of T (= 77) tokens, width D.</summary>
    public sealed class ClipOutput
    {
        public int Batch { get; }
        public int Tokens { get; }
        public int Width { get; }
        /// <summary>The penultimate hidden state (the output of layer n−2, counting from 0; no final LayerNorm) [B, T, D]:
        /// the sequence output SD3 uses.</summary>
        public float[] Penultimate { get; }
        /// <summary>final_layer_norm of the last layer's output [B, T, D] (a debugging output).</summary>
        public float[] LastNormed { get; }
        /// <summary>The row of <see cref="LastNormed"/> at the first end token (argmax of the ids) [B, D], not projected:
        /// CLIP-L's pooled output in SD3.</summary>
        public float[] Pooled { get; }
        /// <summary><see cref="Pooled"/> · text_projectionᵀ [B, P] (CLIP-G's pooled output in SD3); null when the
        /// weights have no text_projection.</summary>
        public float[] PooledProjected { get; }
        public int ProjectionDim { get; }

        public ClipOutput(int batch, int tokens, int width, float[] penultimate, float[] lastNormed, float[] pooled, float[] pooledProjected, int projectionDim)
        {
            Batch = batch; Tokens = tokens; Width = width; Penultimate = penultimate; LastNormed = lastNormed; Pooled = pooled;
            PooledProjected = pooledProjected; ProjectionDim = projectionDim;
        }
    }

    /// <summary>A CLIP text encoder (CLIP-L or CLIP-G): the plain C# reference or the ILGPU one.</summary>
    public interface IClipEncoder : IDisposable
    {
        /// <summary>The inferred config, with <see cref="ClipConfig.Heads"/> resolved.</summary>
        ClipConfig Config { get; }
        Component Role { get; }
        /// <summary>Encodes <paramref name="batch"/> sequences of exactly <see cref="ClipConfig.MaxPositions"/> (77)
        /// token ids, row-major [B, 77].</summary>
        ClipOutput Encode(int[] ids, int batch);
    }

    /// <summary>The T5 v1.1 encoder: the plain C# reference or the ILGPU one.</summary>
    public interface IT5Encoder : IDisposable
    {
        T5Config Config { get; }
        /// <summary>The final hidden state [B, T, d_model] of <paramref name="batch"/> sequences of
        /// <paramref name="tokens"/> ids (any T ≥ 1; SD3 uses at least 77), row-major [B, T].</summary>
        float[] Encode(int[] ids, int batch, int tokens);
    }

    /// <summary>Config resolution and input checks shared by the reference and the device encoders.</summary>
    public static class TextEncoderSetup
    {
        public const float ClipLayerNormEps = 1e-5f;
        public const float T5RmsNormEps = 1e-6f;
        public const int T5MaxDistance = 128;

        public static string NameOf(Component role) => role == Component.ClipG ? "CLIP-G" : role == Component.ClipL ? "CLIP-L" : "T5-XXL";

        /// <summary>
        /// The CLIP config of <paramref name="weights"/>, its tensors checked. Heads come from <paramref name="heads"/>
        /// when given, otherwise from the width (real CLIPs use 64-wide heads); a width that is not a multiple of 64
        /// (tiny test models) needs them given (<c>--clip-heads L,G</c>).
        /// </summary>
        public static ClipConfig Clip(IReadOnlyDictionary<string, Weight> weights, Component role, int? heads)
        {
            if (role != Component.ClipL && role != Component.ClipG) throw new ArgumentException($"a CLIP role is clip_l or clip_g, not {Checkpoint.KeyOf(role)}.", nameof(role));
            string name = NameOf(role);
            if (weights == null || weights.Count == 0)
                throw new CheckpointException(null, $"the weights hold no {name} text encoder (no {Checkpoint.PrefixOf(role)}* tensors).");
            var cfg = ClipConfig.Infer(weights, role);
            if (cfg.Layers < 1) throw new CheckpointException(null, $"{name}: no text_model.encoder.layers.* tensors were found.");
            var check = SchemaCheck.Compare(weights, cfg.Tensors());
            if (!check.IsComplete)
                throw new CheckpointException(null, $"{name}: {check.Missing.Count} tensors missing and {check.WrongShape.Count} wrongly shaped " +
                                                     $"(first: {First(check.Missing)}{First(check.WrongShape)}). Run `sd3tex inspect` for details.");
            if (heads.HasValue)
            {
                if (heads.Value < 1 || cfg.HiddenSize % heads.Value != 0)
                    throw new CheckpointException(null, $"{name}: {heads.Value} attention heads do not divide the width {cfg.HiddenSize}.");
                cfg.Heads = heads.Value;
            }
            else if (!cfg.Heads.HasValue)
                throw new CheckpointException(null, $"{name}: the number of attention heads is not stored in the weights and cannot be inferred " +
                                                     $"(the width {cfg.HiddenSize} is not a multiple of 64). Pass it with --clip-heads L,G (e.g. --clip-heads 2,2).");
            if (role == Component.ClipG && !cfg.ProjectionDim.HasValue)
                throw new CheckpointException(null, "CLIP-G: text_projection.weight is missing; SD3 projects CLIP-G's pooled output with it.");
            return cfg;
        }

        /// <summary>The T5 config of <paramref name="weights"/>, its tensors checked.</summary>
        public static T5Config T5(IReadOnlyDictionary<string, Weight> weights)
        {
            if (weights == null || weights.Count == 0)
                throw new CheckpointException(null, $"the weights hold no T5-XXL text encoder (no {Checkpoint.T5Prefix}* tensors).");
            var cfg = T5Config.Infer(weights);
            if (cfg.Layers < 1) throw new CheckpointException(null, "T5-XXL: no encoder.block.* tensors were found.");
            if (!cfg.GatedGelu)
                throw new CheckpointException(null, "T5-XXL: DenseReluDense.wi (the original T5's ReLU MLP) is not supported; SD3 uses T5 v1.1 (wi_0, wi_1: gated GELU).");
            var check = cfg.Check(weights);
            if (!check.IsComplete)
                throw new CheckpointException(null, $"T5-XXL: {check.Missing.Count} tensors missing and {check.WrongShape.Count} wrongly shaped " +
                                                     $"(first: {First(check.Missing)}{First(check.WrongShape)}). Run `sd3tex inspect` for details.");
            return cfg;
        }

        static string First(List<string> l) => l.Count == 0 ? "" : l[0];

        /// <summary>Checks ids [batch, tokens] against the vocabulary.</summary>
        public static void CheckIds(string what, int[] ids, int batch, int tokens, int vocab)
        {
            if (ids == null) throw new ArgumentNullException(nameof(ids));
            if (batch < 1 || tokens < 1) throw new ArgumentException($"{what}: batch {batch} and tokens {tokens} must be positive.");
            if (ids.Length != (long)batch * tokens)
                throw new ArgumentException($"{what}: {ids.Length} token ids given, [{batch}, {tokens}] = {(long)batch * tokens} expected.");
            for (int i = 0; i < ids.Length; i++)
                if (ids[i] < 0 || ids[i] >= vocab)
                    throw new ArgumentException($"{what}: token id {ids[i]} at [{i / tokens}, {i % tokens}] is outside the vocabulary [0, {vocab}).");
        }

        /// <summary>Token ids read from an integer tensor (I64 in the fixtures) as ints.</summary>
        public static int[] ToInt32(long[] ids, string what = "token ids")
        {
            var r = new int[ids.Length];
            for (int i = 0; i < ids.Length; i++)
            {
                if (ids[i] < int.MinValue || ids[i] > int.MaxValue) throw new ArgumentException($"{what}: {ids[i]} is not a token id.");
                r[i] = (int)ids[i];
            }
            return r;
        }

        /// <summary>For each sequence the index of its first largest id (torch's argmax): CLIP's first end token, 49407.</summary>
        public static int[] PooledIndices(int[] ids, int batch, int tokens)
        {
            var r = new int[batch];
            for (int b = 0; b < batch; b++)
            {
                int best = 0;
                for (int t = 1; t < tokens; t++)
                    if (ids[b * tokens + t] > ids[b * tokens + best]) best = t;
                r[b] = best;
            }
            return r;
        }
    }

    /// <summary>T5's relative position bias (bidirectional buckets, as HF <c>T5Attention._relative_position_bucket</c>).</summary>
    public static class T5RelativePosition
    {
        /// <summary>
        /// The bucket of <c>rel = key − query</c>: half the buckets for rel &gt; 0; within a half, |rel| itself below
        /// maxExact = buckets/4, then logarithmic up to <paramref name="maxDistance"/>:
        /// <c>min(half − 1, maxExact + trunc(log(|rel| / maxExact) / log(maxDistance / maxExact) · (half − maxExact)))</c>,
        /// evaluated in float32 as torch does.
        /// </summary>
        public static int Bucket(int rel, int numBuckets = 32, int maxDistance = TextEncoderSetup.T5MaxDistance)
        {
            int half = numBuckets / 2;
            int bucket = rel > 0 ? half : 0;
            int n = Math.Abs(rel);
            int maxExact = half / 2;
            if (n < maxExact) return bucket + n;
            float ratio = (float)n / maxExact;
            float logRatio = (float)Math.Log(ratio);
            float logRange = (float)Math.Log((double)maxDistance / maxExact);
            float scaled = logRatio / logRange * (half - maxExact);
            int large = maxExact + (int)scaled;
            return bucket + Math.Min(large, half - 1);
        }

        /// <summary>The [q, k] bucket table of a sequence of <paramref name="tokens"/>.</summary>
        public static int[] Buckets(int tokens, int numBuckets = 32, int maxDistance = TextEncoderSetup.T5MaxDistance)
        {
            var r = new int[tokens * tokens];
            for (int q = 0; q < tokens; q++)
                for (int k = 0; k < tokens; k++)
                    r[q * tokens + k] = Bucket(k - q, numBuckets, maxDistance);
            return r;
        }

        /// <summary>The additive attention bias [H, T, T]: <c>bias[h, q, k] = table[bucket(k − q), h]</c> with block 0's
        /// <c>relative_attention_bias.weight</c> [buckets, H].</summary>
        public static float[] Bias(float[] table, int numBuckets, int heads, int tokens, int maxDistance = TextEncoderSetup.T5MaxDistance)
        {
            if (table.Length != numBuckets * heads) throw new ArgumentException($"relative_attention_bias holds {table.Length} values, not {numBuckets}×{heads}.");
            var buckets = Buckets(tokens, numBuckets, maxDistance);
            var bias = new float[(long)heads * tokens * tokens];
            for (int h = 0; h < heads; h++)
                for (int i = 0; i < buckets.Length; i++)
                    bias[(long)h * buckets.Length + i] = table[buckets[i] * heads + h];
            return bias;
        }
    }
}
