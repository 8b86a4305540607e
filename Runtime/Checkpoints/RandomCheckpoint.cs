using System;
using System.Collections.Generic;
using System.Linq;
using Sd3Tex.Models;

namespace Sd3Tex.Checkpoints
{
    /// <summary>One tensor a random checkpoint will hold: internal (single-file) name, dtype, shape and stored bytes.</summary>
    public readonly struct PlannedTensor
    {
        public readonly Component Component;
        public readonly string Name;
        public readonly DType DType;
        public readonly long[] Shape;

        public PlannedTensor(Component component, string name, DType dtype, long[] shape)
        {
            Component = component; Name = name; DType = dtype; Shape = shape;
        }

        public long ElementCount { get { long n = 1; foreach (var d in Shape) n *= d; return n; } }
        public long Bytes => ElementCount * DTypes.SizeOf(DType);
        public override string ToString() => $"{Name} {DTypes.Name(DType)} [{string.Join(", ", Shape)}]";
    }

    /// <summary>
    /// A whole SD3 model's configs (MMDiT, CLIP-L, CLIP-G with its text projection, T5-XXL, and the VAE with its
    /// encoder) for writing random checkpoints with the exact key names and shapes of a family:
    /// <list type="bullet">
    /// <item><c>tiny</c>: the structure of the tiny golden fixtures (an SD3-Medium-style MMDiT of depth 2 and width 128,
    /// CLIPs of widths 24 and 40 with the real 49408-token vocabulary and 77 positions, a 2-layer T5 of width 96 with the
    /// real 32128-token vocabulary, a VAE of base width 32), so it runs through the whole pipeline in seconds with the
    /// real tokenizers. Its CLIP widths are not multiples of 64: the files declare the heads (2, 2; see
    /// <see cref="ClipHeads"/>);</item>
    /// <item><c>sd3-medium</c>, <c>sd3.5-medium</c> (MMDiT-X), <c>sd3.5-large</c>: the released shapes, with the
    /// released CLIP-L (768 wide, 12 layers), CLIP-G (1280, 32), T5-XXL (4096, 24) and the SD3 VAE.</item>
    /// </list>
    /// Tensors are produced one at a time by <see cref="RandomWeights"/> while they are written, so memory stays
    /// bounded whatever the size. Values depend only on the seed and the component: a checkpoint of some components
    /// holds the same values as the full one.
    /// </summary>
    public sealed class RandomCheckpoint
    {
        /// <summary>The family names, as the command line spells them.</summary>
        public static readonly IReadOnlyList<string> Families = new[] { "tiny", "sd3-medium", "sd3.5-medium", "sd3.5-large" };

        /// <summary>Every component, in checkpoint order.</summary>
        public static readonly IReadOnlyList<Component> AllComponents =
            new[] { Component.Mmdit, Component.ClipL, Component.ClipG, Component.T5xxl, Component.Vae };

        public string Family { get; }
        public MmditConfig Mmdit { get; }
        public ClipConfig ClipL { get; }
        public ClipConfig ClipG { get; }
        public T5Config T5 { get; }
        public VaeConfig Vae { get; }

        RandomCheckpoint(string family, MmditConfig mmdit, ClipConfig clipL, ClipConfig clipG, T5Config t5, VaeConfig vae)
        {
            Family = family; Mmdit = mmdit; ClipL = clipL; ClipG = clipG; T5 = t5; Vae = vae;
        }

        /// <summary>The configs of a family (see <see cref="Families"/>); an unknown name is an
        /// <see cref="ArgumentException"/> that lists the valid ones.</summary>
        public static RandomCheckpoint ForFamily(string family)
        {
            switch (family)
            {
                case "tiny": return Tiny();
                case "sd3-medium": return Released(family, ModelFamily.Sd3Medium);
                case "sd3.5-medium": return Released(family, ModelFamily.Sd35Medium);
                case "sd3.5-large": return Released(family, ModelFamily.Sd35Large);
                default: throw new ArgumentException($"unknown family \"{family}\"; use one of {string.Join(", ", Families)}.");
            }
        }

        static RandomCheckpoint Released(string name, ModelFamily f) =>
            new RandomCheckpoint(name, MmditConfig.ForFamily(f), ClipConfig.ClipL(), ClipConfig.ClipG(), T5Config.Xxl(), VaeConfig.Sd3());

        /// <summary>The tiny fixtures' structure (mmdit-tiny-sd3m, clip-tiny, t5-tiny, vae-tiny).</summary>
        static RandomCheckpoint Tiny()
        {
            var mmdit = new MmditConfig
            {
                Depth = 2, HiddenSize = 128, PatchSize = 2, InChannels = 16, OutChannels = 16, PosEmbedMaxSize = 16,
                PooledDim = 24 + 40, ContextDim = 96, MlpHidden = 4 * 128,
            };
            var clipL = new ClipConfig { Layers = 3, HiddenSize = 24, IntermediateSize = 64, VocabSize = 49408, MaxPositions = 77, Heads = 2, ProjectionDim = 24, Activation = "quick_gelu" };
            var clipG = new ClipConfig { Layers = 3, HiddenSize = 40, IntermediateSize = 96, VocabSize = 49408, MaxPositions = 77, Heads = 2, ProjectionDim = 40, Activation = "gelu", RequiresProjection = true };
            var t5 = new T5Config { Layers = 2, DModel = 96, Heads = 4, DKv = 24, DFf = 160, VocabSize = 32128, NumBuckets = 32 };
            var vae = new VaeConfig { LatentChannels = 16, OutChannels = 3, BaseChannels = 32, ChannelMult = new[] { 1, 1, 2, 2 }, BlocksPerLevel = 3 };
            return new RandomCheckpoint("tiny", mmdit, clipL, clipG, t5, vae);
        }

        /// <summary>The CLIP encoders' attention heads, which the weights do not hold: written into the checkpoint
        /// (<see cref="CheckpointWriter.Write"/>) so that nothing has to be passed to use it.</summary>
        public IReadOnlyDictionary<Component, int> ClipHeads => new Dictionary<Component, int>
        {
            [Component.ClipL] = ClipL.Heads ?? ClipL.HiddenSize / 64,
            [Component.ClipG] = ClipG.Heads ?? ClipG.HiddenSize / 64,
        };

        /// <summary>The tensors of one component (names inside the component), as the single-file checkpoints and the
        /// tiny fixtures carry them: CLIPs with position_ids and text_projection but no logit_scale, T5 with
        /// shared.weight only (the tied embed_tokens copy left out), the VAE with its encoder.</summary>
        public IEnumerable<TensorSpec> Specs(Component c)
        {
            switch (c)
            {
                case Component.Mmdit: return Mmdit.Tensors();
                case Component.ClipL: return ClipL.Tensors().Where(t => t.Name != "logit_scale");
                case Component.ClipG: return ClipG.Tensors().Where(t => t.Name != "logit_scale");
                case Component.T5xxl: return T5.Tensors().Where(t => t.Name != "encoder.embed_tokens.weight");
                default: return Vae.Tensors().Concat(Vae.EncoderTensors());
            }
        }

        /// <summary>Every tensor the given components hold in <paramref name="dtype"/> (integer buffers stay I64), in
        /// write order, under internal names.</summary>
        public List<PlannedTensor> Plan(IEnumerable<Component> components, DType dtype)
        {
            CheckDType(dtype);
            var r = new List<PlannedTensor>();
            foreach (var c in Ordered(components))
            {
                string prefix = Checkpoint.PrefixOf(c);
                foreach (var t in Specs(c))
                    r.Add(new PlannedTensor(c, prefix + t.Name, IsIndexBuffer(t.Name) ? DType.I64 : dtype, t.Shape));
            }
            return r;
        }

        /// <summary>The tensor sources to hand to <see cref="CheckpointWriter.Write"/>: values are generated tensor by
        /// tensor as the writer streams them. Deterministic in (seed, component).</summary>
        public List<TensorSource> Tensors(IEnumerable<Component> components, DType dtype, int seed)
        {
            CheckDType(dtype);
            var r = new List<TensorSource>();
            foreach (var c in Ordered(components))
                r.AddRange(RandomWeights.For(Specs(c), Checkpoint.PrefixOf(c), dtype, ComponentSeed(seed, c)));
            return r;
        }

        /// <summary>The seed of one component's tensors: distinct for every (seed, component) pair.</summary>
        public static int ComponentSeed(int seed, Component c) => unchecked(seed * 5 + (int)c);

        static bool IsIndexBuffer(string name) => name.EndsWith("position_ids", StringComparison.Ordinal);

        static List<Component> Ordered(IEnumerable<Component> components)
        {
            var set = new HashSet<Component>(components ?? throw new ArgumentNullException(nameof(components)));
            return AllComponents.Where(set.Contains).ToList();
        }

        static void CheckDType(DType dtype)
        {
            if (dtype != DType.F32 && dtype != DType.F16 && dtype != DType.BF16)
                throw new ArgumentException($"random weights are written as F32, F16 or BF16, not {DTypes.Name(dtype)}.");
        }
    }
}
