using System.Globalization;
using System.Text;

namespace Sd3Tex.Text
{
    /// <summary>Code-point helpers shared by the tokenizers. .NET strings are UTF-16; the reference tokenizers
    /// (Python, Rust) work on code points, so everything here steps over surrogate pairs as one character.</summary>
    internal static class UnicodeText
    {
        /// <summary>The code point at <paramref name="i"/> and how many UTF-16 units it takes (a lone surrogate is
        /// returned as itself, length 1).</summary>
        public static int CodePointAt(string s, int i, out int length)
        {
            char c = s[i];
            if (char.IsHighSurrogate(c) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1]))
            {
                length = 2;
                return char.ConvertToUtf32(c, s[i + 1]);
            }
            length = 1;
            return c;
        }

        public static UnicodeCategory Category(string s, int i) => CharUnicodeInfo.GetUnicodeCategory(s, i);

        public static bool IsLetter(UnicodeCategory c) =>
            c == UnicodeCategory.UppercaseLetter || c == UnicodeCategory.LowercaseLetter || c == UnicodeCategory.TitlecaseLetter
            || c == UnicodeCategory.ModifierLetter || c == UnicodeCategory.OtherLetter;

        public static bool IsNumber(UnicodeCategory c) =>
            c == UnicodeCategory.DecimalDigitNumber || c == UnicodeCategory.LetterNumber || c == UnicodeCategory.OtherNumber;

        public static bool IsMark(UnicodeCategory c) =>
            c == UnicodeCategory.NonSpacingMark || c == UnicodeCategory.SpacingCombiningMark || c == UnicodeCategory.EnclosingMark;

        /// <summary>The C* general categories (control, format, surrogate, private use, unassigned).</summary>
        public static bool IsOther(UnicodeCategory c) =>
            c == UnicodeCategory.Control || c == UnicodeCategory.Format || c == UnicodeCategory.Surrogate
            || c == UnicodeCategory.PrivateUse || c == UnicodeCategory.OtherNotAssigned;

        /// <summary>Unicode's White_Space property (what Rust's <c>char::is_whitespace</c> tests).</summary>
        public static bool IsWhiteSpaceProperty(int cp) =>
            (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A)
            || cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000;

        /// <summary>Python's <c>str.isspace()</c> for one code point.</summary>
        public static bool IsPythonSpace(int cp, UnicodeCategory c) =>
            (cp >= 0x09 && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x20) || cp == 0x85
            || c == UnicodeCategory.SpaceSeparator || c == UnicodeCategory.LineSeparator || c == UnicodeCategory.ParagraphSeparator;

        /// <summary>Bytes of the code point in UTF-8 (a lone surrogate counts as U+FFFD, 3 bytes).</summary>
        public static int Utf8Length(int cp) => cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;

        /// <summary>Replaces lone surrogates with U+FFFD (Rust strings cannot hold them; Python would refuse them).</summary>
        public static string ReplaceLoneSurrogates(string s)
        {
            StringBuilder sb = null;
            for (int i = 0; i < s.Length; i++)
            {
                char c = s[i];
                bool lone = (char.IsHighSurrogate(c) && !(i + 1 < s.Length && char.IsLowSurrogate(s[i + 1])))
                            || (char.IsLowSurrogate(c) && !(i > 0 && char.IsHighSurrogate(s[i - 1])));
                if (lone)
                {
                    sb ??= new StringBuilder(s, 0, i, s.Length);
                    sb.Append('\uFFFD');
                }
                else sb?.Append(c);
            }
            return sb == null ? s : sb.ToString();
        }

        /// <summary>NFC, as Python's <c>unicodedata.normalize("NFC", ...)</c>; text .NET refuses to normalize is kept.</summary>
        public static string Nfc(string s)
        {
            try { return s.IsNormalized(NormalizationForm.FormC) ? s : s.Normalize(NormalizationForm.FormC); }
            catch (System.ArgumentException) { return s; }
        }
    }
}
