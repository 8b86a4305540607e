using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;

namespace Sd3Tex.Generation
{
    /// <summary>
    /// Skip-layer guidance, as the reference's <c>SkipLayerCFGDenoiser</c> (Stability-AI/sd3.5 <c>sd3_impls.py</c>): in
    /// the guided steps a third transformer pass runs on the conditional input alone with the joint blocks
    /// <see cref="Layers"/> skipped, and the guided prediction gains <c>Scale · (cond − skip)</c> (in denoised space).
    /// Step i (counted from 0 over the steps actually sampled) of a request of N steps is guided when
    /// <c>i &gt; Start·N</c> and <c>i &lt; End·N</c>, both strict, N being the request's step count (for image-to-image
    /// too, as the reference passes its <c>steps</c>). SD3.5 Medium's reference configuration is layers 7, 8, 9,
    /// scale 2.5, start 0.01, end 0.20 (<see cref="Sd35Medium"/>); it is opt-in there too.
    /// </summary>
    public sealed class SkipLayerGuidance
    {
        /// <summary>Joint-block indices (0-based) the third pass skips.</summary>
        public int[] Layers { get; set; } = Array.Empty<int>();
        public float Scale { get; set; } = 2.5f;
        /// <summary>Fractions of the request's steps between which steps are guided.</summary>
        public float Start { get; set; } = 0.01f;
        public float End { get; set; } = 0.20f;

        /// <summary>SD3.5 Medium's reference configuration (<c>sd3_infer.py</c> CONFIGS "skip_layer_config"). That
        /// configuration also names a CFG of 4.0, which the reference's own code never applies (it is assigned to an
        /// unused variable), so the CFG stays the request's.</summary>
        public static SkipLayerGuidance Sd35Medium() => new SkipLayerGuidance { Layers = new[] { 7, 8, 9 }, Scale = 2.5f, Start = 0.01f, End = 0.20f };

        /// <summary>Guidance with an effect: at least one layer and a positive scale.</summary>
        public bool IsActive => Layers != null && Layers.Length > 0 && Scale > 0;

        public SkipLayerGuidance Clone()
        {
            var c = (SkipLayerGuidance)MemberwiseClone();
            c.Layers = (int[])(Layers ?? Array.Empty<int>()).Clone();
            return c;
        }

        /// <summary>Whether step <paramref name="step"/> of <paramref name="steps"/> is guided. The fractions are taken as
        /// the decimals they were written as (0.2 × 28 = 5.6, not 5.6000001), as in the reference's Python arithmetic.</summary>
        public bool IsGuidedStep(int step, int steps)
        {
            double s = (double)(decimal)Start * steps, e = (double)(decimal)End * steps;
            return step > s && step < e;
        }

        /// <summary>The problems of these settings, each a sentence saying what to change (<paramref name="depth"/>: the
        /// transformer's joint blocks, 0 when unknown).</summary>
        public List<string> Problems(int depth = 0)
        {
            var p = new List<string>();
            var inv = CultureInfo.InvariantCulture;
            if (Layers == null || Layers.Length == 0) p.Add("skip-layer guidance names no layers: give the joint blocks to skip, e.g. 7,8,9.");
            else
            {
                var negative = Layers.Where(l => l < 0).Distinct().ToList();
                if (negative.Count > 0) p.Add($"skip-layer guidance layers must not be negative ({string.Join(", ", negative)}).");
                var beyond = Layers.Where(l => depth > 0 && l >= depth).Distinct().ToList();
                if (beyond.Count > 0)
                    p.Add($"skip-layer guidance layer{(beyond.Count > 1 ? "s" : "")} {string.Join(", ", beyond)} {(beyond.Count > 1 ? "are" : "is")} beyond the model's " +
                          $"{depth} joint blocks: use 0 to {depth - 1}.");
                if (Layers.Distinct().Count() != Layers.Length) p.Add($"skip-layer guidance names a layer twice ({string.Join(",", Layers)}).");
            }
            if (!(Scale > 0) || float.IsInfinity(Scale)) p.Add($"the skip-layer guidance scale {Scale.ToString(inv)} must be a positive number (the reference uses 2.5).");
            if (!(Start >= 0 && Start <= 1) || !(End >= 0 && End <= 1) || !(Start < End))
                p.Add($"skip-layer guidance start {Start.ToString(inv)} and end {End.ToString(inv)} must be fractions of the steps with 0 ≤ start < end ≤ 1 (the reference uses 0.01 and 0.20).");
            return p;
        }

        /// <summary>"7,8,9" → [7, 8, 9]; false when a part is not an integer.</summary>
        public static bool TryParseLayers(string text, out int[] layers)
        {
            layers = null;
            if (string.IsNullOrWhiteSpace(text)) return false;
            var parts = text.Split(',');
            var r = new int[parts.Length];
            for (int i = 0; i < parts.Length; i++)
                if (!int.TryParse(parts[i].Trim(), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out r[i])) return false;
            layers = r;
            return true;
        }

        public static string FormatLayers(IEnumerable<int> layers) => string.Join(",", (layers ?? Array.Empty<int>()).Select(l => l.ToString(CultureInfo.InvariantCulture)));

        /// <summary>"layers 7,8,9, scale 2.5, steps 0.01-0.2" (image metadata, logs).</summary>
        public override string ToString() =>
            $"layers {FormatLayers(Layers)}, scale {Scale.ToString(CultureInfo.InvariantCulture)}, steps {Start.ToString(CultureInfo.InvariantCulture)}-{End.ToString(CultureInfo.InvariantCulture)}";
    }
}
