using System;

namespace Sd3Tex.Models
{
    /// <summary>An MMDiT forward pass: the plain C# reference or an accelerated implementation.</summary>
    public interface IMmditModel : IDisposable
    {
        MmditConfig Config { get; }

        /// <summary>
        /// The velocity prediction. x [B, C, H, W] latent, timestep [B] (= sigma·1000), y [B, pooled],
        /// context [B, Tc, ctx]. Returns [B, C_out, H, W]. The joint blocks whose indices <paramref name="skipBlocks"/>
        /// holds are left out (their input passes through unchanged), as the reference's <c>skip_layers</c> for
        /// skip-layer guidance; null or empty runs every block.
        /// </summary>
        float[] Forward(float[] x, int batch, int height, int width, float[] timestep, float[] y, float[] context, int contextTokens,
                        System.Collections.Generic.ICollection<int> skipBlocks = null);
    }
}
