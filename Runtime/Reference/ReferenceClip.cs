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
    /// A CLIP text encoder (HF <c>CLIPTextModel</c>) in plain C#, as SD3 uses it: token + position embeddings, pre-LN
    /// blocks with causal attention (scale 1/√head size) and quick_gelu (CLIP-L) or erf-GELU (CLIP-G) MLPs; it returns the
    /// penultimate hidden state, the final LayerNorm of the last one, the pooled row at the first end token and its
    /// text_projection. Slow and obviously right: the ILGPU <see cref="ClipEncoder"/> is tested against it.
    /// </summary>
    public sealed class ReferenceClip : IClipEncoder
    {
        const float Eps = TextEncoderSetup.ClipLayerNormEps;
        const string P = "text_model.";
        readonly IReadOnlyDictionary<string, Weight> _weights;
        readonly Dictionary<string, float[]> _cache = new Dictionary<string, float[]>(StringComparer.Ordinal);

        public ClipConfig Config { get; }
        public Component Role { get; }

        /// <param name="weights">The encoder's weights, names without <c>text_encoders.clip_x.transformer.</c>.</param>
        /// <param name="role">CLIP-L or CLIP-G (selects the activation).</param>
        /// <param name="heads">Attention heads; null infers 64-wide heads (see <see cref="TextEncoderSetup.Clip"/>).</param>
        public ReferenceClip(IReadOnlyDictionary<string, Weight> weights, Component role, int? heads = null)
        {
            Config = TextEncoderSetup.Clip(weights, role, heads);
            Role = role;
            _weights = weights;
        }

        float[] W(string name)
        {
            if (!_cache.TryGetValue(name, out var v)) _cache[name] = v = _weights[name].ReadFloats();
            return v;
        }

        float[] Lin(string name, float[] x, int rows, int inDim, int outDim) => Linear(x, rows, inDim, W(name + ".weight"), W(name + ".bias"), outDim);

        float[] LN(string name, float[] x, int rows, int d) => LayerNorm(x, rows, d, Eps, W(name + ".weight"), W(name + ".bias"));

        public ClipOutput Encode(int[] ids, int batch)
        {
            var cfg = Config;
            int t = cfg.MaxPositions, d = cfg.HiddenSize, heads = cfg.Heads.Value, hd = d / heads, ff = cfg.IntermediateSize;
            TextEncoderSetup.CheckIds(TextEncoderSetup.NameOf(Role), ids, batch, t, cfg.VocabSize);
            var act = cfg.Activation == "quick_gelu" ? Activation.QuickGelu : Activation.GeluErf;
            int rows = batch * t;

            // embeddings: token_embedding[ids] + position_embedding (the whole table: sequences are MaxPositions long)
            var tok = W(P + "embeddings.token_embedding.weight");
            var pos = W(P + "embeddings.position_embedding.weight");
            var x = new float[(long)rows * d];
            for (int r = 0; r < rows; r++)
                for (int i = 0; i < d; i++)
                    x[(long)r * d + i] = tok[(long)ids[r] * d + i] + pos[(r % t) * d + i];

            float[] penultimate = cfg.Layers == 1 ? (float[])x.Clone() : null;
            for (int l = 0; l < cfg.Layers; l++)
            {
                string n = $"{P}encoder.layers.{l}.";
                // x = x + out_proj(causal_attention(LN1(x)))
                var h = LN(n + "layer_norm1", x, rows, d);
                var q = Lin(n + "self_attn.q_proj", h, rows, d, d);
                var k = Lin(n + "self_attn.k_proj", h, rows, d, d);
                var v = Lin(n + "self_attn.v_proj", h, rows, d, d);
                var attn = new float[(long)rows * d];
                for (int b = 0; b < batch; b++)
                {
                    var o = Attention(Rows(q, d, b * t, t), Rows(k, d, b * t, t), Rows(v, d, b * t, t), t, t, heads, hd,
                                      (float)(1.0 / Math.Sqrt(hd)), causal: true);
                    Array.Copy(o, 0, attn, (long)b * t * d, o.Length);
                }
                var proj = Lin(n + "self_attn.out_proj", attn, rows, d, d);
                for (long i = 0; i < x.LongLength; i++) x[i] += proj[i];

                // x = x + fc2(act(fc1(LN2(x))))
                h = LN(n + "layer_norm2", x, rows, d);
                var f = Lin(n + "mlp.fc1", h, rows, d, ff);
                for (long i = 0; i < f.LongLength; i++) f[i] = (float)ActivationReference.Apply(act, f[i]);
                var y = Lin(n + "mlp.fc2", f, rows, ff, d);
                for (long i = 0; i < x.LongLength; i++) x[i] += y[i];

                if (l == cfg.Layers - 2) penultimate = (float[])x.Clone();
            }

            var normed = LN(P + "final_layer_norm", x, rows, d);
            var at = TextEncoderSetup.PooledIndices(ids, batch, t);
            var pooled = new float[batch * d];
            for (int b = 0; b < batch; b++) Array.Copy(normed, ((long)b * t + at[b]) * d, pooled, b * d, d);
            float[] projected = null;
            int pdim = cfg.ProjectionDim ?? 0;
            if (cfg.ProjectionDim.HasValue) projected = Linear(pooled, batch, d, W("text_projection.weight"), null, pdim);
            return new ClipOutput(batch, t, d, penultimate, normed, pooled, projected, pdim);
        }

        public void Dispose() => _cache.Clear();
    }
}
