using System.Globalization;

namespace Sd3Tex.Authoring
{
    /// <summary>The window's image sizes: three squares SD3 handles well, or a custom width and height.</summary>
    public enum SizePreset
    {
        Square512,
        Square768,
        Square1024,
        Custom,
    }

    public static class SizePresets
    {
        /// <summary>Every preset, in menu order.</summary>
        public static readonly SizePreset[] All = { SizePreset.Square512, SizePreset.Square768, SizePreset.Square1024, SizePreset.Custom };

        /// <summary>The preset's size; false for <see cref="SizePreset.Custom"/>.</summary>
        public static bool TryGetSize(SizePreset preset, out int width, out int height)
        {
            switch (preset)
            {
                case SizePreset.Square512: width = height = 512; return true;
                case SizePreset.Square768: width = height = 768; return true;
                case SizePreset.Square1024: width = height = 1024; return true;
                default: width = height = 0; return false;
            }
        }

        /// <summary>"512 × 512" ... or "Custom".</summary>
        public static string Label(SizePreset preset) =>
            TryGetSize(preset, out int w, out int h) ? $"{w.ToString(CultureInfo.InvariantCulture)} × {h.ToString(CultureInfo.InvariantCulture)}" : "Custom";

        /// <summary>The preset of a size, <see cref="SizePreset.Custom"/> when none has it.</summary>
        public static SizePreset Match(int width, int height)
        {
            foreach (var p in All)
                if (TryGetSize(p, out int w, out int h) && w == width && h == height) return p;
            return SizePreset.Custom;
        }

        /// <summary>Parses a label or a name ("1024", "1024x1024", "Square1024", "custom"), case-insensitively.</summary>
        public static bool TryParse(string text, out SizePreset preset)
        {
            string t = (text ?? "").Trim().Replace(" ", "").Replace("×", "x").ToLowerInvariant();
            foreach (var p in All)
            {
                TryGetSize(p, out int w, out _);
                string size = w.ToString(CultureInfo.InvariantCulture);
                if (t == p.ToString().ToLowerInvariant() || (w > 0 && (t == size || t == size + "x" + size)))
                {
                    preset = p;
                    return true;
                }
            }
            preset = SizePreset.Custom;
            return false;
        }
    }
}
