using System;
using System.Collections.Generic;
using Sd3Tex.Checkpoints;
using Sd3Tex.Models;
using static Sd3Tex.Reference.ReferenceOps;

namespace Sd3Tex.Reference
{
    /// <summary>
    /// The SD3 / SD3.5 MMDiT forward pass in plain C#, following the reference's <c>mmditx.py</c> line by line.
    /// Module names mirror the checkpoint keys. It is slow and exists to be obviously right: the ILGPU model is
    /// tested against it, and it against the golden fixtures.
    /// </summary>
    public sealed class ReferenceMmdit : IMmditModel
    {
        const float Eps = 1e-6f;
        readonly MmditConfig _cfg;
        readonly Func<string, float[]> _load;
        readonly Dictionary<string, float[]> _cache = new Dictionary<string, float[]>(StringComparer.Ordinal);

        /// <summary>Intermediate tensors, named as in the mmdit fixture's golden file, filled when requested.</summary>
        public Dictionary<string, float[]> Captured { get; } = new Dictionary<string, float[]>(StringComparer.Ordinal);
        public bool Capture { get; set; }

        public MmditConfig Config => _cfg;

        public void Dispose() => _cache.Clear();

        /// <param name="weights">The MMDiT's weights, names without <c>model.diffusion_model.</c>.</param>
        public ReferenceMmdit(IReadOnlyDictionary<string, Weight> weights)
        {
            _cfg = MmditConfig.Infer(weights);
            _load = name => weights.TryGetValue(name, out var w) ? w.ReadFloats()
                : throw new CheckpointException(null, $"MMDiT: the tensor \"{name}\" is missing.");
        }

        float[] W(string name)
        {
            if (!_cache.TryGetValue(name, out var v)) _cache[name] = v = _load(name);
            return v;
        }

        float[] Lin(string name, float[] x, int rows, int inDim, int outDim) => Linear(x, rows, inDim, W(name + ".weight"), W(name + ".bias"), outDim);

        void Keep(string name, float[] v) { if (Capture) Captured[name] = (float[])v.Clone(); }

        /// <summary>
        /// The velocity prediction. x [B, C, H, W] latent, timestep [B] (= sigma·1000), y [B, pooled], context [B, Tc, ctx].
        /// Returns [B, C_out, H, W].
        /// </summary>
        public float[] Forward(float[] x, int batch, int height, int width, float[] timestep, float[] y, float[] context, int contextTokens,
                               ICollection<int> skipBlocks = null)
        {
            int p = _cfg.PatchSize, hid = _cfg.HiddenSize, c = _cfg.InChannels;
            if (height % p != 0 || width % p != 0) throw new ArgumentException($"latent {height}×{width} is not a multiple of the patch size {p}");
            int gh = height / p, gw = width / p, tx = gh * gw, tc = contextTokens;
            int m = _cfg.PosEmbedMaxSize;
            if (gh > m || gw > m) throw new ArgumentException($"patch grid {gh}×{gw} exceeds the position table {m}×{m}");

            // x_embedder: conv p×p stride p → tokens [B, Tx, hid], patches row-major
            var pw = W("x_embedder.proj.weight"); // [hid, C, p, p]
            var pb = W("x_embedder.proj.bias");
            var tokens = new float[(long)batch * tx * hid];
            for (int b = 0; b < batch; b++)
                for (int i = 0; i < gh; i++)
                    for (int j = 0; j < gw; j++)
                        for (int o = 0; o < hid; o++)
                        {
                            double acc = pb[o];
                            for (int ci = 0; ci < c; ci++)
                                for (int py = 0; py < p; py++)
                                    for (int px = 0; px < p; px++)
                                        acc += (double)pw[((o * c + ci) * p + py) * p + px] * x[(((long)b * c + ci) * height + i * p + py) * width + j * p + px];
                            tokens[((long)b * tx + i * gw + j) * hid + o] = (float)acc;
                        }

            // pos_embed read from the checkpoint, centre-cropped: top = (M - h) // 2, left = (M - w) // 2
            var table = W("pos_embed"); // [1, M*M, hid]
            int top = (m - gh) / 2, left = (m - gw) / 2;
            var pos = new float[tx * hid];
            for (int i = 0; i < gh; i++)
                for (int j = 0; j < gw; j++)
                    Array.Copy(table, ((long)(top + i) * m + left + j) * hid, pos, (i * gw + j) * hid, hid);
            Keep("pos_embed_cropped", pos);
            for (int b = 0; b < batch; b++)
                for (int t = 0; t < tx * hid; t++) tokens[(long)b * tx * hid + t] += pos[t];
            Keep("x_embedded", tokens);

            // c = t_embedder(timestep_embedding(t)) + y_embedder(y)
            var temb = TimestepEmbedding(timestep, MmditConfig.TimestepFrequencyDim);
            var tvec = Lin("t_embedder.mlp.2", Map(Lin("t_embedder.mlp.0", temb, batch, MmditConfig.TimestepFrequencyDim, hid), Silu), batch, hid, hid);
            var yvec = Lin("y_embedder.mlp.2", Map(Lin("y_embedder.mlp.0", y, batch, _cfg.PooledDim, hid), Silu), batch, hid, hid);
            var cvec = new float[batch * hid];
            for (int i = 0; i < cvec.Length; i++) cvec[i] = tvec[i] + yvec[i];
            Keep("c", cvec);
            var siluC = Map(cvec, Silu);

            var ctx = Lin("context_embedder", context, batch * tc, _cfg.ContextDim, hid);
            Keep("context_embedded", ctx);

            for (int i = 0; i < _cfg.Depth; i++)
            {
                if (skipBlocks != null && skipBlocks.Contains(i)) continue;
                JointBlock(i, ref ctx, tokens, siluC, batch, tc, tx);
                Keep($"block{i}_x", tokens);
                if (ctx != null) Keep($"block{i}_context", ctx);
            }

            // final_layer: (shift, scale) = adaLN(SiLU(c)); linear(modulate(LN(x)))
            var fm = Lin("final_layer.adaLN_modulation.1", siluC, batch, hid, 2 * hid);
            var xn = Modulate(LayerNorm(tokens, batch * tx, hid, Eps), batch, tx, hid, fm, 2 * hid, 0, hid);
            int outF = p * p * _cfg.OutChannels;
            var final = Lin("final_layer.linear", xn, batch * tx, hid, outF);
            Keep("final_tokens", final);

            // unpatchify: out[b, c, i*p + py, j*p + px] = final[b, i*gw + j, (py*p + px)*C + c]
            int co = _cfg.OutChannels;
            var outp = new float[(long)batch * co * height * width];
            for (int b = 0; b < batch; b++)
                for (int i = 0; i < gh; i++)
                    for (int j = 0; j < gw; j++)
                        for (int py = 0; py < p; py++)
                            for (int px = 0; px < p; px++)
                                for (int ch = 0; ch < co; ch++)
                                    outp[(((long)b * co + ch) * height + i * p + py) * width + j * p + px] =
                                        final[((long)b * tx + i * gw + j) * outF + (py * p + px) * co + ch];
            Keep("out", outp);
            return outp;
        }

        /// <summary>256-d sinusoidal embedding: [cos(t·f_i), sin(t·f_i)], f_i = exp(-ln(10000)·i/128), cos first.</summary>
        public static float[] TimestepEmbedding(float[] t, int dim)
        {
            int half = dim / 2;
            var r = new float[t.Length * dim];
            for (int b = 0; b < t.Length; b++)
                for (int i = 0; i < half; i++)
                {
                    float f = (float)Math.Exp(-Math.Log(10000) * i / half);
                    float a = t[b] * f;
                    r[b * dim + i] = (float)Math.Cos(a);
                    r[b * dim + half + i] = (float)Math.Sin(a);
                }
            return r;
        }

        /// <summary>q, k, v [B, T, H·64] from a qkv Linear of the modulated stream, with the optional per-head RMSNorm.</summary>
        (float[] q, float[] k, float[] v) Qkv(string attn, float[] xmod, int rows)
        {
            int hid = _cfg.HiddenSize, hd = MmditConfig.HeadDim;
            var qkv = Lin(attn + ".qkv", xmod, rows, hid, 3 * hid); // [rows, 3, H, 64]
            var q = Columns(qkv, rows, 3 * hid, 0, hid);
            var k = Columns(qkv, rows, 3 * hid, hid, hid);
            var v = Columns(qkv, rows, 3 * hid, 2 * hid, hid);
            if (_cfg.QkNorm)
            {
                q = _cfg.QkNormHasBias
                    ? LayerNorm(q, rows * _cfg.NumHeads, hd, Eps, W(attn + ".ln_q.weight"), W(attn + ".ln_q.bias"))
                    : RmsNorm(q, rows * _cfg.NumHeads, hd, Eps, W(attn + ".ln_q.weight"));
                k = _cfg.QkNormHasBias
                    ? LayerNorm(k, rows * _cfg.NumHeads, hd, Eps, W(attn + ".ln_k.weight"), W(attn + ".ln_k.bias"))
                    : RmsNorm(k, rows * _cfg.NumHeads, hd, Eps, W(attn + ".ln_k.weight"));
            }
            return (q, k, v);
        }

        static float[] Concat(float[] a, int ta, float[] b, int tb, int width, int batch)
        {
            var r = new float[(long)batch * (ta + tb) * width];
            for (int i = 0; i < batch; i++)
            {
                Array.Copy(a, (long)i * ta * width, r, (long)i * (ta + tb) * width, (long)ta * width);
                Array.Copy(b, (long)i * tb * width, r, ((long)i * (ta + tb) + ta) * width, (long)tb * width);
            }
            return r;
        }

        float[] Mlp(string name, float[] x, int rows)
        {
            int hid = _cfg.HiddenSize;
            return Lin(name + ".fc2", Map(Lin(name + ".fc1", x, rows, hid, _cfg.MlpHidden), GeluTanh), rows, _cfg.MlpHidden, hid);
        }

        void JointBlock(int index, ref float[] ctx, float[] x, float[] siluC, int batch, int tc, int tx)
        {
            int hid = _cfg.HiddenSize, heads = _cfg.NumHeads, hd = MmditConfig.HeadDim;
            bool preOnly = index == _cfg.Depth - 1;
            bool dual = _cfg.IsDualAttention(index);
            string cb = $"joint_blocks.{index}.context_block", xb = $"joint_blocks.{index}.x_block";
            float scale = 1f / (float)Math.Sqrt(hd);

            // modulation chunks: shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp (, shift_msa2, scale_msa2, gate_msa2)
            int cmods = preOnly ? 2 : 6, xmods = dual ? 9 : 6;
            var cm = Lin(cb + ".adaLN_modulation.1", siluC, batch, hid, cmods * hid);
            var xm = Lin(xb + ".adaLN_modulation.1", siluC, batch, hid, xmods * hid);

            var cn = LayerNorm(ctx, batch * tc, hid, Eps);
            var xn = LayerNorm(x, batch * tx, hid, Eps);
            var (cq, ck, cv) = Qkv(cb + ".attn", Modulate(cn, batch, tc, hid, cm, cmods * hid, 0, hid), batch * tc);
            var (xq, xk, xv) = Qkv(xb + ".attn", Modulate(xn, batch, tx, hid, xm, xmods * hid, 0, hid), batch * tx);

            // joint attention over [context ; image] tokens, context first
            int t = tc + tx;
            var q = Concat(cq, tc, xq, tx, hid, batch);
            var k = Concat(ck, tc, xk, tx, hid, batch);
            var v = Concat(cv, tc, xv, tx, hid, batch);
            var attn = new float[(long)batch * t * hid];
            for (int b = 0; b < batch; b++)
            {
                var o = Attention(Rows(q, hid, b * t, t), Rows(k, hid, b * t, t), Rows(v, hid, b * t, t), t, t, heads, hd, scale);
                Array.Copy(o, 0, attn, (long)b * t * hid, o.Length);
            }
            var cAttn = new float[(long)batch * tc * hid];
            var xAttn = new float[(long)batch * tx * hid];
            for (int b = 0; b < batch; b++)
            {
                Array.Copy(attn, (long)b * t * hid, cAttn, (long)b * tc * hid, (long)tc * hid);
                Array.Copy(attn, ((long)b * t + tc) * hid, xAttn, (long)b * tx * hid, (long)tx * hid);
            }

            // MMDiT-X: a second self-attention over image tokens, fed from the same LayerNorm(x) with msa2 modulation
            float[] x2 = null;
            if (dual)
            {
                var (q2, k2, v2) = Qkv(xb + ".attn2", Modulate(xn, batch, tx, hid, xm, xmods * hid, 6 * hid, 7 * hid), batch * tx);
                x2 = new float[(long)batch * tx * hid];
                for (int b = 0; b < batch; b++)
                {
                    var o = Attention(Rows(q2, hid, b * tx, tx), Rows(k2, hid, b * tx, tx), Rows(v2, hid, b * tx, tx), tx, tx, heads, hd, scale);
                    Array.Copy(o, 0, x2, (long)b * tx * hid, o.Length);
                }
            }

            // context stream post-attention (absent for the last block's pre-only context)
            if (preOnly) ctx = null;
            else
            {
                GatedAdd(ctx, Lin(cb + ".attn.proj", cAttn, batch * tc, hid, hid), batch, tc, hid, cm, cmods * hid, 2 * hid);
                var h = Modulate(LayerNorm(ctx, batch * tc, hid, Eps), batch, tc, hid, cm, cmods * hid, 3 * hid, 4 * hid);
                GatedAdd(ctx, Mlp(cb + ".mlp", h, batch * tc), batch, tc, hid, cm, cmods * hid, 5 * hid);
            }

            // image stream
            GatedAdd(x, Lin(xb + ".attn.proj", xAttn, batch * tx, hid, hid), batch, tx, hid, xm, xmods * hid, 2 * hid);
            if (dual) GatedAdd(x, Lin(xb + ".attn2.proj", x2, batch * tx, hid, hid), batch, tx, hid, xm, xmods * hid, 8 * hid);
            var hx = Modulate(LayerNorm(x, batch * tx, hid, Eps), batch, tx, hid, xm, xmods * hid, 3 * hid, 4 * hid);
            GatedAdd(x, Mlp(xb + ".mlp", hx, batch * tx), batch, tx, hid, xm, xmods * hid, 5 * hid);
        }
    }
}
