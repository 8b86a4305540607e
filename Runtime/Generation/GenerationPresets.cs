using Sd3Tex.Models;
using Sd3Tex.Sampling;

namespace Sd3Tex.Generation
{
    /// <summary>Sampling defaults of one model family.</summary>
    public sealed class GenerationPreset
    {
        public ModelFamily Family { get; }
        public int Steps { get; }
        public float Cfg { get; }
        public float Shift { get; }
        public SamplerKind Sampler { get; }
        /// <summary>The skip-layer guidance the family's reference configuration offers (SD3.5 Medium: layers 7, 8, 9,
        /// scale 2.5, steps 0.01 to 0.20), or null. Offered, not applied: it is off by default, as in the reference.</summary>
        public SkipLayerGuidance OfferedSkipLayerGuidance => Family == ModelFamily.Sd35Medium ? SkipLayerGuidance.Sd35Medium() : null;

        public GenerationPreset(ModelFamily family, int steps, float cfg, float shift, SamplerKind sampler)
        {
            Family = family; Steps = steps; Cfg = cfg; Shift = shift; Sampler = sampler;
        }

        public override string ToString() => $"{ModelFamilies.DisplayName(Family)}: {Steps} steps, CFG {Cfg}, shift {Shift}, {SamplerNames.Key(Sampler)}";
    }

    /// <summary>
    /// The reference's defaults per family (Stability-AI/sd3.5 <c>sd3_infer.py</c> CONFIGS): SD3 Medium 50 steps, CFG 5,
    /// shift 1.0, DPM++ 2M; SD3.5 Medium 50 steps, CFG 5, shift 3, DPM++ 2M; SD3.5 Large 40 steps, CFG 4.5, shift 3,
    /// DPM++ 2M. Unknown models get the reference's fallback (50 steps, CFG 5, shift 3, DPM++ 2M).
    /// </summary>
    public static class GenerationPresets
    {
        public static GenerationPreset For(ModelFamily family)
        {
            switch (family)
            {
                case ModelFamily.Sd3Medium: return new GenerationPreset(family, 50, 5.0f, 1.0f, SamplerKind.DpmPp2M);
                case ModelFamily.Sd35Medium: return new GenerationPreset(family, 50, 5.0f, 3.0f, SamplerKind.DpmPp2M);
                case ModelFamily.Sd35Large: return new GenerationPreset(family, 40, 4.5f, 3.0f, SamplerKind.DpmPp2M);
                default: return new GenerationPreset(family, 50, 5.0f, 3.0f, SamplerKind.DpmPp2M);
            }
        }
    }
}
