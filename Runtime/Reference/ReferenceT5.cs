using System;
using System.Collections.Generic;
using Sd3Tex.Checkpoints;
using Sd3Tex.Encoders;
using Sd3Tex.Kernels;
using Sd3Tex.Models;
using static Sd3Tex.Reference.ReferenceOps;

namespace Sd3Tex.Reference
{
    /// <summary>
    /// The T5 v1.1 encoder (HF <c>T5EncoderModel</c>) in plain C#: embeddings; a relative position bias from block 0's
    /// table added in every block; per block <c>x += o(attn(RMSNorm(x)))</c> with NO 1/√d_kv scaling and no mask, then
    /// <c>x += wo(gelu_tanh(wi_0(h)) · wi_1(h))</c>, h = RMSNorm(x); a final RMSNorm (eps 1e-6, no biases anywhere).
    /// Weights of any stored type (F32, F16, BF16, F8) are read as floats. The ILGPU <see cref="T5Encoder"/> is tested
    /// against it.
    /// </summary>
    public sealed class ReferenceT5 : IT5Encoder
    {
        const float Eps = TextEncoderSetup.T5RmsNormEps;
        const string RelBias = "encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight";
        readonly IReadOnlyDictionary<string, Weight> _weights;
        readonly Dictionary<string, float[]> _cache = new Dictionary<string, float[]>(StringComparer.Ordinal);

        public T5Config Config { get; }

        /// <param name="weights">The encoder's weights, names without <c>text_encoders.t5xxl.transformer.</c>.</param>
        public ReferenceT5(IReadOnlyDictionary<string, Weight> weights)
        {
            Config = TextEncoderSetup.T5(weights);
            _weights = weights;
        }

        float[] W(string name)
        {
            if (!_cache.TryGetValue(name, out var v)) _cache[name] = v = _weights[name].ReadFloats();
            return v;
        }

        public float[] Encode(int[] ids, int batch, int tokens)
        {
            var cfg = Config;
            int t = tokens, d = cfg.DModel, heads = cfg.Heads, dkv = cfg.DKv, inner = heads * dkv, ff = cfg.DFf;
            TextEncoderSetup.CheckIds("T5-XXL", ids, batch, t, cfg.VocabSize);
            int rows = batch * t;

            var emb = _weights[cfg.EmbeddingKey];
            var x = new float[(long)rows * d];
            for (int r = 0; r < rows; r++) emb.ReadFloats((long)ids[r] * d, new Span<float>(x, r * d, d));

            var bias = T5RelativePosition.Bias(W(RelBias), cfg.NumBuckets, heads, t);
            for (int l = 0; l < cfg.Layers; l++)
            {
                string n = $"encoder.block.{l}.layer.";
                var h = RmsNorm(x, rows, d, Eps, W(n + "0.layer_norm.weight"));
                var q = Linear(h, rows, d, W(n + "0.SelfAttention.q.weight"), null, inner);
                var k = Linear(h, rows, d, W(n + "0.SelfAttention.k.weight"), null, inner);
                var v = Linear(h, rows, d, W(n + "0.SelfAttention.v.weight"), null, inner);
                var attn = new float[(long)rows * inner];
                for (int b = 0; b < batch; b++)
                {
                    var o = Attention(Rows(q, inner, b * t, t), Rows(k, inner, b * t, t), Rows(v, inner, b * t, t), t, t, heads, dkv, 1f, bias);
                    Array.Copy(o, 0, attn, (long)b * t * inner, o.Length);
                }
                var proj = Linear(attn, rows, inner, W(n + "0.SelfAttention.o.weight"), null, d);
                for (long i = 0; i < x.LongLength; i++) x[i] += proj[i];

                h = RmsNorm(x, rows, d, Eps, W(n + "1.layer_norm.weight"));
                var g = Linear(h, rows, d, W(n + "1.DenseReluDense.wi_0.weight"), null, ff);
                var u = Linear(h, rows, d, W(n + "1.DenseReluDense.wi_1.weight"), null, ff);
                for (long i = 0; i < g.LongLength; i++) g[i] = (float)(ActivationReference.GeluTanh(g[i]) * u[i]);
                var y = Linear(g, rows, ff, W(n + "1.DenseReluDense.wo.weight"), null, d);
                for (long i = 0; i < x.LongLength; i++) x[i] += y[i];
                // without caching, a block's float weights are dropped after use (a real T5-XXL as floats is 19 GB)
                if (!CacheWeights)
                    foreach (var s in new[] { "0.SelfAttention.q", "0.SelfAttention.k", "0.SelfAttention.v", "0.SelfAttention.o",
                                          "1.DenseReluDense.wi_0", "1.DenseReluDense.wi_1", "1.DenseReluDense.wo" })
                        _cache.Remove(n + s + ".weight");
            }
            return RmsNorm(x, rows, d, Eps, W("encoder.final_layer_norm.weight"));
        }

        /// <summary>Keep the blocks' weights as floats between calls. Off by default: each block's weights are read when
        /// it runs and dropped after it, so a real T5-XXL (19 GB as floats) never sits in memory whole.</summary>
        public bool CacheWeights { get; set; }

        public void Dispose() => _cache.Clear();
    }
}
