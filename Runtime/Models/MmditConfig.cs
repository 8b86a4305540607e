using System;
using System.Collections.Generic;
using System.Linq;
using Sd3Tex.Checkpoints;
using static Sd3Tex.Models.Shapes;

namespace Sd3Tex.Models
{
    /// <summary>SD3 model families, as far as the weights tell them apart.</summary>
    public enum ModelFamily { Unknown, Sd3Medium, Sd35Medium, Sd35Large }

    public static class ModelFamilies
    {
        /// <summary>"sd3-medium", "sd3.5-medium", "sd3.5-large" or "unknown" (the JSON spelling).</summary>
        public static string Key(ModelFamily f)
        {
            switch (f)
            {
                case ModelFamily.Sd3Medium: return "sd3-medium";
                case ModelFamily.Sd35Medium: return "sd3.5-medium";
                case ModelFamily.Sd35Large: return "sd3.5-large";
                default: return "unknown";
            }
        }

        public static string DisplayName(ModelFamily f)
        {
            switch (f)
            {
                case ModelFamily.Sd3Medium: return "SD3 Medium";
                case ModelFamily.Sd35Medium: return "SD3.5 Medium";
                case ModelFamily.Sd35Large: return "SD3.5 Large";
                default: return "unknown";
            }
        }
    }

    /// <summary>
    /// The MMDiT's configuration, inferred from tensor names and shapes (never from file names), as in the
    /// reference's <c>mmditx.py</c>: depth from the joint blocks, 64-wide heads, QK RMSNorm from <c>attn.ln_q</c>,
    /// MMDiT-X dual attention from <c>x_block.attn2</c>.
    /// </summary>
    public sealed class MmditConfig
    {
        public const int HeadDim = 64;
        public const int TimestepFrequencyDim = 256;

        public int Depth { get; set; }                 // joint blocks, e.g. 24
        public int HiddenSize { get; set; }            // e.g. 1536
        public int NumHeads => HiddenSize / HeadDim;   // e.g. 24
        public int PatchSize { get; set; }             // 2
        public int InChannels { get; set; }            // 16
        public int OutChannels { get; set; }           // 16
        public int PosEmbedMaxSize { get; set; }       // 192 (SD3.5 Medium: 384)
        public int PooledDim { get; set; }             // 2048
        public int ContextDim { get; set; }            // 4096
        public int MlpHidden { get; set; }             // 4 × hidden
        public bool QkNorm { get; set; }               // RMSNorm on q and k per head (SD3.5)
        public bool QkNormHasBias { get; set; }        // "ln" variant of the reference (LayerNorm with bias)
        public int[] DualAttentionBlocks { get; set; } = new int[0]; // MMDiT-X x_block.attn2 layers (SD3.5 Medium: 0..12)

        public bool IsDualAttention(int block) => Array.IndexOf(DualAttentionBlocks, block) >= 0;

        /// <summary>The real family when every size matches a released model, else <see cref="ModelFamily.Unknown"/>.</summary>
        public ModelFamily Family
        {
            get
            {
                var arch = Architecture;
                if (arch == ModelFamily.Sd3Medium && Depth == 24 && HiddenSize == 1536) return arch;
                if (arch == ModelFamily.Sd35Medium && Depth == 24 && HiddenSize == 1536) return arch;
                if (arch == ModelFamily.Sd35Large && Depth == 38 && HiddenSize == 2432) return arch;
                return ModelFamily.Unknown;
            }
        }

        /// <summary>The family whose structure this follows, whatever its size (tiny test models included).</summary>
        public ModelFamily Architecture
        {
            get
            {
                if (PatchSize != 2 || InChannels != 16 || OutChannels != 16) return ModelFamily.Unknown;
                if (!QkNorm && DualAttentionBlocks.Length == 0) return ModelFamily.Sd3Medium;
                if (QkNorm && DualAttentionBlocks.Length > 0) return ModelFamily.Sd35Medium;
                if (QkNorm && DualAttentionBlocks.Length == 0) return ModelFamily.Sd35Large;
                return ModelFamily.Unknown;
            }
        }

        /// <summary>Infers the config from the MMDiT's weights (names without <c>model.diffusion_model.</c>).</summary>
        public static MmditConfig Infer(IReadOnlyDictionary<string, Weight> weights) => Infer(Shapes.Of(weights));

        /// <summary>The same from names and shapes alone.</summary>
        public static MmditConfig Infer(IReadOnlyDictionary<string, long[]> w)
        {
            const string c = "MMDiT";
            var cfg = new MmditConfig();
            cfg.HiddenSize = Dim(w, c, "x_embedder.proj.weight", 0, 4);
            cfg.InChannels = Dim(w, c, "x_embedder.proj.weight", 1, 4);
            cfg.PatchSize = Dim(w, c, "x_embedder.proj.weight", 2, 4);
            if (cfg.PatchSize <= 0 || cfg.HiddenSize % HeadDim != 0)
                throw new CheckpointException(null, $"MMDiT: hidden size {cfg.HiddenSize} is not a multiple of the 64-wide heads, or the patch size is 0.");
            var depthIdx = Indices(w.Keys, "joint_blocks.");
            cfg.Depth = depthIdx.Count == 0 ? 0 : depthIdx.Max() + 1;
            if (cfg.Depth == 0) throw new CheckpointException(null, "MMDiT: no joint_blocks found. The checkpoint is incomplete or not an SD3 model.");
            int outFeatures = Dim(w, c, "final_layer.linear.weight", 0, 2);
            cfg.OutChannels = outFeatures / (cfg.PatchSize * cfg.PatchSize);
            long posRows = Dim(w, c, "pos_embed", 1, 3);
            int m = (int)Math.Round(Math.Sqrt(posRows));
            if ((long)m * m != posRows) throw new CheckpointException(null, $"MMDiT: pos_embed has {posRows} rows, not a square grid.");
            cfg.PosEmbedMaxSize = m;
            cfg.PooledDim = Dim(w, c, "y_embedder.mlp.0.weight", 1, 2);
            cfg.ContextDim = Dim(w, c, "context_embedder.weight", 1, 2);
            cfg.MlpHidden = Dim(w, c, "joint_blocks.0.x_block.mlp.fc1.weight", 0, 2);
            cfg.QkNorm = w.ContainsKey("joint_blocks.0.x_block.attn.ln_q.weight");
            cfg.QkNormHasBias = w.ContainsKey("joint_blocks.0.x_block.attn.ln_q.bias");
            cfg.DualAttentionBlocks = Enumerable.Range(0, cfg.Depth).Where(i => w.ContainsKey($"joint_blocks.{i}.x_block.attn2.qkv.weight")).ToArray();
            return cfg;
        }

        /// <summary>Every tensor the reference model of this config has, with its shape.</summary>
        public IEnumerable<TensorSpec> Tensors()
        {
            long h = HiddenSize;
            yield return new TensorSpec("pos_embed", S(1, (long)PosEmbedMaxSize * PosEmbedMaxSize, h));
            yield return new TensorSpec("x_embedder.proj.weight", S(h, InChannels, PatchSize, PatchSize));
            yield return new TensorSpec("x_embedder.proj.bias", S(h));
            foreach (var t in Mlp2("t_embedder", TimestepFrequencyDim, h)) yield return t;
            foreach (var t in Mlp2("y_embedder", PooledDim, h)) yield return t;
            yield return new TensorSpec("context_embedder.weight", S(h, ContextDim));
            yield return new TensorSpec("context_embedder.bias", S(h));
            for (int i = 0; i < Depth; i++)
            {
                bool last = i == Depth - 1;
                foreach (var t in Block($"joint_blocks.{i}.context_block", preOnly: last, dual: false)) yield return t;
                foreach (var t in Block($"joint_blocks.{i}.x_block", preOnly: false, dual: IsDualAttention(i))) yield return t;
            }
            yield return new TensorSpec("final_layer.adaLN_modulation.1.weight", S(2 * h, h));
            yield return new TensorSpec("final_layer.adaLN_modulation.1.bias", S(2 * h));
            yield return new TensorSpec("final_layer.linear.weight", S((long)PatchSize * PatchSize * OutChannels, h));
            yield return new TensorSpec("final_layer.linear.bias", S((long)PatchSize * PatchSize * OutChannels));
        }

        static IEnumerable<TensorSpec> Mlp2(string name, long inDim, long h)
        {
            yield return new TensorSpec(name + ".mlp.0.weight", S(h, inDim));
            yield return new TensorSpec(name + ".mlp.0.bias", S(h));
            yield return new TensorSpec(name + ".mlp.2.weight", S(h, h));
            yield return new TensorSpec(name + ".mlp.2.bias", S(h));
        }

        IEnumerable<TensorSpec> Attention(string name, bool preOnly)
        {
            long h = HiddenSize;
            yield return new TensorSpec(name + ".qkv.weight", S(3 * h, h));
            yield return new TensorSpec(name + ".qkv.bias", S(3 * h));
            if (!preOnly)
            {
                yield return new TensorSpec(name + ".proj.weight", S(h, h));
                yield return new TensorSpec(name + ".proj.bias", S(h));
            }
            if (QkNorm)
            {
                yield return new TensorSpec(name + ".ln_q.weight", S(HeadDim));
                yield return new TensorSpec(name + ".ln_k.weight", S(HeadDim));
                if (QkNormHasBias)
                {
                    yield return new TensorSpec(name + ".ln_q.bias", S(HeadDim));
                    yield return new TensorSpec(name + ".ln_k.bias", S(HeadDim));
                }
            }
        }

        IEnumerable<TensorSpec> Block(string name, bool preOnly, bool dual)
        {
            long h = HiddenSize;
            int mods = preOnly ? 2 : dual ? 9 : 6;
            yield return new TensorSpec(name + ".adaLN_modulation.1.weight", S(mods * h, h));
            yield return new TensorSpec(name + ".adaLN_modulation.1.bias", S(mods * h));
            foreach (var t in Attention(name + ".attn", preOnly)) yield return t;
            if (dual) foreach (var t in Attention(name + ".attn2", false)) yield return t;
            if (!preOnly)
            {
                yield return new TensorSpec(name + ".mlp.fc1.weight", S(MlpHidden, h));
                yield return new TensorSpec(name + ".mlp.fc1.bias", S(MlpHidden));
                yield return new TensorSpec(name + ".mlp.fc2.weight", S(h, MlpHidden));
                yield return new TensorSpec(name + ".mlp.fc2.bias", S(h));
            }
        }

        /// <summary>The config of a released family (for random checkpoints and benchmarks).</summary>
        public static MmditConfig ForFamily(ModelFamily f)
        {
            switch (f)
            {
                case ModelFamily.Sd3Medium:
                    return new MmditConfig { Depth = 24, HiddenSize = 1536, PatchSize = 2, InChannels = 16, OutChannels = 16, PosEmbedMaxSize = 192, PooledDim = 2048, ContextDim = 4096, MlpHidden = 4 * 1536 };
                case ModelFamily.Sd35Medium:
                    return new MmditConfig { Depth = 24, HiddenSize = 1536, PatchSize = 2, InChannels = 16, OutChannels = 16, PosEmbedMaxSize = 384, PooledDim = 2048, ContextDim = 4096, MlpHidden = 4 * 1536, QkNorm = true, DualAttentionBlocks = Enumerable.Range(0, 13).ToArray() };
                case ModelFamily.Sd35Large:
                    return new MmditConfig { Depth = 38, HiddenSize = 2432, PatchSize = 2, InChannels = 16, OutChannels = 16, PosEmbedMaxSize = 192, PooledDim = 2048, ContextDim = 4096, MlpHidden = 4 * 2432, QkNorm = true };
                default: throw new ArgumentException("no released config for " + f);
            }
        }
    }
}
