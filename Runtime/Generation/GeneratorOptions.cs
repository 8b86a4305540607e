using System.Collections.Generic;

namespace Sd3Tex.Generation
{
    /// <summary>How the model components stay in device memory.</summary>
    public enum Residency
    {
        /// <summary>Everything resident when it fits the budget, else <see cref="Sequential"/>.</summary>
        Auto,
        /// <summary>Encoders, transformer and decoder loaded once and kept between requests (fastest).</summary>
        KeepResident,
        /// <summary>One component at a time: encoders, free, transformer, free, decoder, free (least memory).</summary>
        Sequential,
    }

    /// <summary>Where a <see cref="TextureGenerator"/> finds its model and how it runs it.</summary>
    public sealed class GeneratorOptions
    {
        /// <summary>The weights: a single-file checkpoint (<c>sd3*_*.safetensors</c>), separate files (the MMDiT, clip_l,
        /// clip_g, t5xxl and VAE files, in any order; <c>clip_g=PATH</c> names a role), or a diffusers model folder.</summary>
        public IList<string> Weights { get; set; } = new List<string>();
        /// <summary>Instead of <see cref="Weights"/>: the name (or a unique prefix) of a model the
        /// <see cref="Checkpoints.ModelCatalog"/> finds in <see cref="ModelSearch"/> (<c>sd3tex models</c> lists them),
        /// opened with the encoders and VAE found with it.</summary>
        public string Model { get; set; }
        /// <summary>Where <see cref="Model"/> is looked for; null: <see cref="Checkpoints.ModelSearch.FromEnvironment"/>.</summary>
        public Checkpoints.ModelSearch ModelSearch { get; set; }
        /// <summary>The tokenizer folder (<c>clip/vocab.json</c>, <c>clip/merges.txt</c>, <c>t5/tokenizer.json</c>, or a
        /// diffusers folder); null uses a diffusers folder among <see cref="Weights"/> that has tokenizer files, else the
        /// tokenizers bundled with the package (<see cref="Text.PackageTokenizers"/>).</summary>
        public string Tokenizers { get; set; }
        /// <summary><c>auto</c> (CUDA, then OpenCL, then the CPU), <c>cuda[:N]</c>, <c>opencl[:N]</c>, <c>cpu</c>, or
        /// <c>reference</c> (the plain C# reference implementation: slow, for checking).</summary>
        public string Device { get; set; } = "auto";
        /// <summary>Attention heads of CLIP-L / CLIP-G when they cannot be inferred from the weights (12 / 20 in the
        /// released models, which are inferred by width).</summary>
        public int? ClipLHeads { get; set; }
        public int? ClipGHeads { get; set; }
        /// <summary>Device bytes the generator may use; 0 = the device's memory (host: 16 GiB).</summary>
        public long MemoryBudget { get; set; }
        public Residency Residency { get; set; } = Residency.Auto;
        /// <summary>VAE tile size in latent cells (0 = decide from the memory budget).</summary>
        public int VaeTileSize { get; set; }
        /// <summary>Allow patch grids beyond the position table (sizes the model was not trained on).</summary>
        public bool AllowLargeGrid { get; set; }

        public GeneratorOptions Clone()
        {
            var o = (GeneratorOptions)MemberwiseClone();
            o.Weights = new List<string>(Weights ?? new List<string>());
            return o;
        }
    }
}
