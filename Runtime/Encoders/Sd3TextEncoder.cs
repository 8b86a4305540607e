using System;
using Sd3Tex.Checkpoints;
using Sd3Tex.Kernels;
using Sd3Tex.Reference;

namespace Sd3Tex.Encoders
{
    /// <summary>How <see cref="Sd3TextEncoder.Open"/> builds the encoders.</summary>
    public sealed class TextEncoderOptions
    {
        /// <summary>CLIP attention heads; null infers 64-wide heads (real models: 12 and 20).</summary>
        public int? ClipLHeads { get; set; }
        public int? ClipGHeads { get; set; }
        /// <summary>Do not load T5 even when the checkpoint has it: the T5 slot of the context is 77 zero rows.</summary>
        public bool NoT5 { get; set; }
        /// <summary>The context width without T5 (the MMDiT's context_dim; 4096 in every SD3 / SD3.5 model).</summary>
        public int ContextDimWithoutT5 { get; set; } = 4096;
        /// <summary>T5 weight streaming: true, false, or null to decide from the device's memory
        /// (<see cref="T5Encoder.ShouldStream"/>).</summary>
        public bool? StreamT5 { get; set; }
    }

    /// <summary>
    /// SD3's three text encoders behind one call: token ids in, <see cref="Sd3Conditioning"/> out. Tokenisation is
    /// separate (a tokenizer gives the ids: CLIP-L and CLIP-G 77 each, T5 at least 77); cond and uncond prompts are
    /// usually encoded together as a batch of 2.
    /// </summary>
    public sealed class Sd3TextEncoder : IDisposable
    {
        readonly bool _ownsEncoders;

        public IClipEncoder ClipL { get; }
        public IClipEncoder ClipG { get; }
        /// <summary>Null without T5.</summary>
        public IT5Encoder T5 { get; }
        /// <summary>The context width: T5's d_model, or the MMDiT's context_dim without T5.</summary>
        public int ContextDim { get; }

        public Sd3TextEncoder(IClipEncoder clipL, IClipEncoder clipG, IT5Encoder t5, int contextDimWithoutT5 = 4096, bool ownsEncoders = true)
        {
            ClipL = clipL ?? throw new ArgumentNullException(nameof(clipL));
            ClipG = clipG ?? throw new ArgumentNullException(nameof(clipG));
            T5 = t5;
            ContextDim = t5 != null ? t5.Config.DModel : contextDimWithoutT5;
            _ownsEncoders = ownsEncoders;
        }

        /// <summary>
        /// The encoders of a checkpoint on <paramref name="device"/> (not owned: dispose it after this), or the plain C#
        /// references when <paramref name="device"/> is null. CLIP-L and CLIP-G are required; T5 is used when present and
        /// not switched off.
        /// </summary>
        public static Sd3TextEncoder Open(Checkpoint checkpoint, ComputeDevice device, TextEncoderOptions options = null)
        {
            options = options ?? new TextEncoderOptions();
            foreach (var c in new[] { Component.ClipL, Component.ClipG })
                if (!checkpoint.Has(c))
                    throw new CheckpointException(null, $"the weights hold no {TextEncoderSetup.NameOf(c)} text encoder ({Checkpoint.KeyOf(c)}); SD3 needs both CLIP-L and CLIP-G. " +
                                                        "Add the clip_l / clip_g files (or a checkpoint that includes them).");
            IClipEncoder l = null, g = null;
            IT5Encoder t5 = null;
            try
            {
                l = OpenClip(checkpoint, Component.ClipL, device, options.ClipLHeads);
                g = OpenClip(checkpoint, Component.ClipG, device, options.ClipGHeads);
                if (!options.NoT5 && checkpoint.Has(Component.T5xxl)) t5 = OpenT5(checkpoint, device, options.StreamT5);
                return new Sd3TextEncoder(l, g, t5, options.ContextDimWithoutT5);
            }
            catch
            {
                l?.Dispose(); g?.Dispose(); t5?.Dispose();
                throw;
            }
        }

        /// <summary>One CLIP encoder of the checkpoint, on the device or (device null) the reference. Heads: the given
        /// ones, else those the files declare (<see cref="Checkpoint.DeclaredClipHeads"/>), else inferred from the width.</summary>
        public static IClipEncoder OpenClip(Checkpoint checkpoint, Component role, ComputeDevice device, int? heads)
        {
            heads = heads ?? checkpoint.DeclaredClipHeads(role);
            var w = checkpoint.ComponentWeights(role);
            return device == null ? (IClipEncoder)new ReferenceClip(w, role, heads) : new ClipEncoder(w, role, device, heads);
        }

        /// <summary>The T5 encoder of the checkpoint, on the device or (device null) the reference.</summary>
        public static IT5Encoder OpenT5(Checkpoint checkpoint, ComputeDevice device, bool? stream = null)
        {
            var w = checkpoint.ComponentWeights(Component.T5xxl);
            return device == null ? (IT5Encoder)new ReferenceT5(w) : new T5Encoder(w, device, stream);
        }

        /// <summary>
        /// Encodes a batch: CLIP ids [B, 77] each, T5 ids [B, <paramref name="t5Tokens"/>] (ignored, may be null, without
        /// T5). Returns the conditioning.
        /// </summary>
        public Sd3Conditioning Encode(int[] clipLIds, int[] clipGIds, int[] t5Ids, int batch, int t5Tokens)
            => EncodeAll(clipLIds, clipGIds, t5Ids, batch, t5Tokens).Conditioning;

        /// <summary>As <see cref="Encode"/>, keeping every encoder's own outputs too.</summary>
        public Sd3TextOutputs EncodeAll(int[] clipLIds, int[] clipGIds, int[] t5Ids, int batch, int t5Tokens)
        {
            var l = ClipL.Encode(clipLIds, batch);
            var g = ClipG.Encode(clipGIds, batch);
            float[] t5 = null;
            if (T5 != null)
            {
                if (t5Ids == null) throw new ArgumentNullException(nameof(t5Ids), "T5 is loaded: its token ids are needed.");
                t5 = T5.Encode(t5Ids, batch, t5Tokens);
            }
            else t5Tokens = 0;
            return new Sd3TextOutputs(l, g, t5, t5Tokens, Sd3Conditioning.Assemble(l, g, t5, t5Tokens, ContextDim));
        }

        public void Dispose()
        {
            if (!_ownsEncoders) return;
            ClipL.Dispose();
            ClipG.Dispose();
            T5?.Dispose();
        }
    }

    /// <summary>The outputs of every encoder of one <see cref="Sd3TextEncoder.EncodeAll"/> call and the conditioning
    /// built from them.</summary>
    public sealed class Sd3TextOutputs
    {
        public ClipOutput ClipL { get; }
        public ClipOutput ClipG { get; }
        /// <summary>T5's output [B, <see cref="T5Tokens"/>, d_model]; null without T5.</summary>
        public float[] T5Hidden { get; }
        public int T5Tokens { get; }
        public Sd3Conditioning Conditioning { get; }

        public Sd3TextOutputs(ClipOutput clipL, ClipOutput clipG, float[] t5Hidden, int t5Tokens, Sd3Conditioning conditioning)
        {
            ClipL = clipL; ClipG = clipG; T5Hidden = t5Hidden; T5Tokens = t5Tokens; Conditioning = conditioning;
        }
    }
}
