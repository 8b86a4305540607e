using System.Collections.Generic;

namespace Sd3Tex.Checkpoints
{
    /// <summary>Maps diffusers' SD3 names onto the internal (single-file) names and back. (Being written.)</summary>
    public static class DiffusersNames
    {
        /// <summary>diffusers <c>transformer/</c> keys and shapes → internal MMDiT tensors (names without
        /// <c>model.diffusion_model.</c>). Keys that map to nothing are appended to <paramref name="unmapped"/>.</summary>
        public static IReadOnlyList<TensorAssembly> TransformerToInternal(IReadOnlyDictionary<string, long[]> shapes, List<string> unmapped)
        { unmapped.AddRange(shapes.Keys); return new TensorAssembly[0]; }

        /// <summary>Internal MMDiT tensors (names without prefix) → diffusers <c>transformer/</c> tensors, for writing.</summary>
        public static IReadOnlyList<TensorAssembly> TransformerFromInternal(IReadOnlyDictionary<string, long[]> shapes, List<string> unmapped)
        { unmapped.AddRange(shapes.Keys); return new TensorAssembly[0]; }

        /// <summary>diffusers <c>vae/</c> keys → internal VAE tensors (names without <c>first_stage_model.</c>).</summary>
        public static IReadOnlyList<TensorAssembly> VaeToInternal(IReadOnlyDictionary<string, long[]> shapes, List<string> unmapped)
        { unmapped.AddRange(shapes.Keys); return new TensorAssembly[0]; }

        /// <summary>Internal VAE tensors (names without prefix) → diffusers <c>vae/</c> tensors, for writing.</summary>
        public static IReadOnlyList<TensorAssembly> VaeFromInternal(IReadOnlyDictionary<string, long[]> shapes, List<string> unmapped)
        { unmapped.AddRange(shapes.Keys); return new TensorAssembly[0]; }
    }
}
