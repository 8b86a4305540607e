using System.Globalization;

namespace Sd3Tex.Text
{
    /// <summary>Extended grapheme clusters (Unicode UAX #29), which the Hugging Face <c>Precompiled</c> normalizer uses
    /// to decide what it looks up in the SentencePiece character map. Implemented here rather than with
    /// <c>StringInfo</c> because .NET Framework/Mono and .NET Core disagree on clusters. Rules GB3-GB13 are
    /// followed; the Grapheme_Cluster_Break property is derived from the general category plus the few explicit
    /// code points and ranges that matter. (Only clusters shorter than 6 UTF-8 bytes are ever looked up whole,
    /// so the rarer rules, emoji sequences and Hangul syllables, cannot change the T5 output.)</summary>
    internal static class Graphemes
    {
        enum Gcb : byte { Other, CR, LF, Control, Extend, ZWJ, RegionalIndicator, Prepend, SpacingMark, L, V, T, LV, LVT, ExtPict }

        /// <summary>The UTF-16 index where the cluster starting at <paramref name="start"/> ends.</summary>
        public static int ClusterEnd(string s, int start)
        {
            int cp = UnicodeText.CodePointAt(s, start, out int len);
            Gcb prev = Property(cp, UnicodeText.Category(s, start));
            int i = start + len;
            bool pictBeforeZwj = prev == Gcb.ExtPict; // GB11: ExtPict Extend* ZWJ x ExtPict
            int riCount = prev == Gcb.RegionalIndicator ? 1 : 0;
            while (i < s.Length)
            {
                int next = UnicodeText.CodePointAt(s, i, out len);
                Gcb cur = Property(next, UnicodeText.Category(s, i));
                if (!Joins(prev, cur, pictBeforeZwj, riCount)) break;
                if (cur == Gcb.ExtPict) pictBeforeZwj = true;
                else if (cur != Gcb.Extend && cur != Gcb.ZWJ) pictBeforeZwj = false;
                riCount = cur == Gcb.RegionalIndicator ? riCount + 1 : 0;
                prev = cur;
                i += len;
            }
            return i;
        }

        static bool Joins(Gcb prev, Gcb cur, bool pictBeforeZwj, int riCount)
        {
            if (prev == Gcb.CR && cur == Gcb.LF) return true;                                       // GB3
            if (prev == Gcb.CR || prev == Gcb.LF || prev == Gcb.Control) return false;             // GB4
            if (cur == Gcb.CR || cur == Gcb.LF || cur == Gcb.Control) return false;                // GB5
            if (prev == Gcb.L && (cur == Gcb.L || cur == Gcb.V || cur == Gcb.LV || cur == Gcb.LVT)) return true; // GB6
            if ((prev == Gcb.LV || prev == Gcb.V) && (cur == Gcb.V || cur == Gcb.T)) return true;  // GB7
            if ((prev == Gcb.LVT || prev == Gcb.T) && cur == Gcb.T) return true;                   // GB8
            if (cur == Gcb.Extend || cur == Gcb.ZWJ) return true;                                   // GB9
            if (cur == Gcb.SpacingMark) return true;                                                // GB9a
            if (prev == Gcb.Prepend) return true;                                                   // GB9b
            if (prev == Gcb.ZWJ && cur == Gcb.ExtPict && pictBeforeZwj) return true;               // GB11
            if (prev == Gcb.RegionalIndicator && cur == Gcb.RegionalIndicator) return riCount % 2 == 1; // GB12/13
            return false;                                                                           // GB999
        }

        static Gcb Property(int cp, UnicodeCategory cat)
        {
            if (cp == 0x0D) return Gcb.CR;
            if (cp == 0x0A) return Gcb.LF;
            if (cp == 0x200D) return Gcb.ZWJ;
            if (cp == 0x200C || (cp >= 0xFF9E && cp <= 0xFF9F) || (cp >= 0x1F3FB && cp <= 0x1F3FF) || (cp >= 0xE0020 && cp <= 0xE007F))
                return Gcb.Extend;
            if ((cp >= 0x0600 && cp <= 0x0605) || cp == 0x06DD || cp == 0x070F || cp == 0x0890 || cp == 0x0891 || cp == 0x08E2
                || cp == 0x110BD || cp == 0x110CD)
                return Gcb.Prepend;
            if (cp >= 0x1F1E6 && cp <= 0x1F1FF) return Gcb.RegionalIndicator;
            if ((cp >= 0x1100 && cp <= 0x115F) || (cp >= 0xA960 && cp <= 0xA97C)) return Gcb.L;
            if ((cp >= 0x1160 && cp <= 0x11A7) || (cp >= 0xD7B0 && cp <= 0xD7C6)) return Gcb.V;
            if ((cp >= 0x11A8 && cp <= 0x11FF) || (cp >= 0xD7CB && cp <= 0xD7FB)) return Gcb.T;
            if (cp >= 0xAC00 && cp <= 0xD7A3) return (cp - 0xAC00) % 28 == 0 ? Gcb.LV : Gcb.LVT;
            switch (cat)
            {
                case UnicodeCategory.Control:
                case UnicodeCategory.Format:
                case UnicodeCategory.Surrogate:
                case UnicodeCategory.LineSeparator:
                case UnicodeCategory.ParagraphSeparator:
                    return Gcb.Control;
                case UnicodeCategory.NonSpacingMark:
                case UnicodeCategory.EnclosingMark:
                    return Gcb.Extend;
                case UnicodeCategory.SpacingCombiningMark:
                    return IsOtherGraphemeExtend(cp) ? Gcb.Extend : Gcb.SpacingMark;
            }
            if (cp == 0x0E33 || cp == 0x0EB3) return Gcb.SpacingMark;
            if (IsExtendedPictographic(cp)) return Gcb.ExtPict;
            return Gcb.Other;
        }

        static bool IsOtherGraphemeExtend(int cp) =>
            cp == 0x09BE || cp == 0x09D7 || cp == 0x0B3E || cp == 0x0B57 || cp == 0x0BBE || cp == 0x0BD7 || cp == 0x0CC2
            || cp == 0x0CD5 || cp == 0x0CD6 || cp == 0x0D3E || cp == 0x0D57 || cp == 0x0DCF || cp == 0x0DDF || cp == 0x1B35
            || cp == 0x302E || cp == 0x302F || cp == 0x1133E || cp == 0x11357 || cp == 0x114B0 || cp == 0x114BD
            || cp == 0x115AF || cp == 0x11930 || cp == 0x1D165 || (cp >= 0x1D16E && cp <= 0x1D172);

        static bool IsExtendedPictographic(int cp) =>
            cp == 0x00A9 || cp == 0x00AE || cp == 0x203C || cp == 0x2049 || cp == 0x2122 || cp == 0x2139
            || (cp >= 0x2194 && cp <= 0x2199) || (cp >= 0x21A9 && cp <= 0x21AA) || (cp >= 0x231A && cp <= 0x231B) || cp == 0x2328
            || cp == 0x2388 || cp == 0x23CF || (cp >= 0x23E9 && cp <= 0x23F3) || (cp >= 0x23F8 && cp <= 0x23FA) || cp == 0x24C2
            || (cp >= 0x25AA && cp <= 0x25AB) || cp == 0x25B6 || cp == 0x25C0 || (cp >= 0x25FB && cp <= 0x25FE)
            || (cp >= 0x2600 && cp <= 0x27BF) || (cp >= 0x2934 && cp <= 0x2935) || (cp >= 0x2B05 && cp <= 0x2B07)
            || (cp >= 0x2B1B && cp <= 0x2B1C) || cp == 0x2B50 || cp == 0x2B55 || cp == 0x3030 || cp == 0x303D || cp == 0x3297
            || cp == 0x3299 || (cp >= 0x1F000 && cp <= 0x1FAFF && !(cp >= 0x1F1E6 && cp <= 0x1F1FF) && !(cp >= 0x1F3FB && cp <= 0x1F3FF))
            || (cp >= 0x1FC00 && cp <= 0x1FFFD);
    }
}
