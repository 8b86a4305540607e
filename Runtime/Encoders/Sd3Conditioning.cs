using System;

namespace Sd3Tex.Encoders
{
    /// <summary>
    /// SD3's text conditioning for a batch, as the reference's <c>get_cond</c> builds it:
    /// <list type="bullet">
    /// <item><see cref="Context"/> [B, 77 + T5 tokens, W]: CLIP-L's and CLIP-G's penultimate hidden states side by side
    /// on the features (768 + 1280), zero-padded on the right to the T5 width W (4096), then the T5 output on the token
    /// axis: the 77 CLIP rows first, then the T5 rows;</item>
    /// <item><see cref="Pooled"/> [B, 2048]: CLIP-L's pooled row (not projected) then CLIP-G's pooled row projected.</item>
    /// </list>
    /// Without T5 the T5 slot is 77 zero rows, keeping the reference's 154-token layout (ComfyUI would keep only the 77
    /// CLIP rows, diffusers would append 256 zero rows); the width is then the MMDiT's context_dim.
    /// </summary>
    public sealed class Sd3Conditioning
    {
        /// <summary>Zero rows standing in for T5 when it is absent.</summary>
        public const int ZeroT5Tokens = 77;

        public int Batch { get; }
        public int ContextTokens { get; }
        public int ContextDim { get; }
        /// <summary>[B, ContextTokens, ContextDim].</summary>
        public float[] Context { get; }
        public int PooledDim { get; }
        /// <summary>[B, PooledDim].</summary>
        public float[] Pooled { get; }

        public Sd3Conditioning(int batch, int contextTokens, int contextDim, float[] context, int pooledDim, float[] pooled)
        {
            if (context.LongLength != (long)batch * contextTokens * contextDim) throw new ArgumentException("context does not hold [B, tokens, dim] values.");
            if (pooled.LongLength != (long)batch * pooledDim) throw new ArgumentException("pooled does not hold [B, dim] values.");
            Batch = batch; ContextTokens = contextTokens; ContextDim = contextDim; Context = context; PooledDim = pooledDim; Pooled = pooled;
        }

        /// <summary>
        /// Builds the conditioning from the encoders' outputs. <paramref name="t5Hidden"/> [B, <paramref name="t5Tokens"/>,
        /// <paramref name="contextDim"/>], or null for 77 zero rows (then <paramref name="t5Tokens"/> is ignored and
        /// <paramref name="contextDim"/> is the MMDiT's context_dim).
        /// </summary>
        public static Sd3Conditioning Assemble(ClipOutput clipL, ClipOutput clipG, float[] t5Hidden, int t5Tokens, int contextDim)
        {
            if (clipL == null || clipG == null) throw new ArgumentNullException(clipL == null ? nameof(clipL) : nameof(clipG));
            if (clipG.PooledProjected == null) throw new ArgumentException("CLIP-G's pooled output was not projected (no text_projection).");
            int batch = clipL.Batch;
            if (clipG.Batch != batch) throw new ArgumentException($"CLIP-L encoded {batch} sequences, CLIP-G {clipG.Batch}.");
            if (clipG.Tokens != clipL.Tokens) throw new ArgumentException($"CLIP-L gave {clipL.Tokens} tokens, CLIP-G {clipG.Tokens}.");
            int ct = clipL.Tokens, wl = clipL.Width, wg = clipG.Width;
            if (wl + wg > contextDim)
                throw new ArgumentException($"the CLIP features ({wl} + {wg}) are wider than the context width {contextDim}.");
            if (t5Hidden == null) t5Tokens = ZeroT5Tokens;
            else if (t5Hidden.LongLength != (long)batch * t5Tokens * contextDim)
                throw new ArgumentException($"the T5 output holds {t5Hidden.LongLength} values, not [{batch}, {t5Tokens}, {contextDim}].");

            int tokens = ct + t5Tokens;
            var context = new float[(long)batch * tokens * contextDim];
            for (int b = 0; b < batch; b++)
            {
                for (int t = 0; t < ct; t++)
                {
                    long o = ((long)b * tokens + t) * contextDim;
                    Array.Copy(clipL.Penultimate, ((long)b * ct + t) * wl, context, o, wl);
                    Array.Copy(clipG.Penultimate, ((long)b * ct + t) * wg, context, o + wl, wg);
                }
                if (t5Hidden != null)
                    Array.Copy(t5Hidden, (long)b * t5Tokens * contextDim, context, ((long)b * tokens + ct) * contextDim, (long)t5Tokens * contextDim);
            }

            int pl = wl, pg = clipG.ProjectionDim;
            var pooled = new float[batch * (pl + pg)];
            for (int b = 0; b < batch; b++)
            {
                Array.Copy(clipL.Pooled, b * pl, pooled, b * (pl + pg), pl);
                Array.Copy(clipG.PooledProjected, b * pg, pooled, b * (pl + pg) + pl, pg);
            }
            return new Sd3Conditioning(batch, tokens, contextDim, context, pl + pg, pooled);
        }

        /// <summary>Rows [first, first + count) of the batch (e.g. cond and uncond of a CFG batch of 2).</summary>
        public Sd3Conditioning Slice(int first, int count)
        {
            if (first < 0 || count < 1 || first + count > Batch) throw new ArgumentOutOfRangeException(nameof(first));
            long cs = (long)ContextTokens * ContextDim;
            var c = new float[count * cs];
            Array.Copy(Context, first * cs, c, 0, c.LongLength);
            var p = new float[count * PooledDim];
            Array.Copy(Pooled, first * PooledDim, p, 0, p.Length);
            return new Sd3Conditioning(count, ContextTokens, ContextDim, c, PooledDim, p);
        }
    }
}
