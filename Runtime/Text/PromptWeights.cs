using System;
using System.Collections.Generic;
using System.Globalization;
using System.Text;

namespace Sd3Tex.Text
{
    /// <summary>A piece of prompt text with its emphasis weight.</summary>
    public readonly struct WeightedText
    {
        public string Text { get; }
        public double Weight { get; }
        public WeightedText(string text, double weight) { Text = text; Weight = weight; }
        public override string ToString() => $"({Text}:{Weight.ToString("R", CultureInfo.InvariantCulture)})";
    }

    /// <summary>The reference's prompt-weight syntax (SD3 <c>SDTokenizer.tokenize_with_weights</c>): <c>(text)</c>
    /// multiplies the weight by 1.1, <c>(text:1.3)</c> sets it (the <c>:number</c> part is removed only when it parses
    /// as a Python float), nesting applies again, <c>\(</c> and <c>\)</c> are literal parentheses. The parentheses
    /// are removed from the text. SD3's encoders ignore the weights; only the text changes.</summary>
    public static class PromptWeights
    {
        const string EscapedClose = "\0\u0001", EscapedOpen = "\0\u0002";

        sealed class Frame
        {
            public readonly List<string> Parts;
            public readonly double Weight;
            public int Next;
            public Frame(List<string> parts, double weight) { Parts = parts; Weight = weight; }
        }

        /// <summary>The prompt split into weighted pieces, in order (escapes already turned into parentheses).</summary>
        public static IReadOnlyList<WeightedText> Parse(string prompt)
        {
            if (prompt == null) throw new ArgumentNullException(nameof(prompt));
            string text = prompt.Replace("\\)", EscapedClose).Replace("\\(", EscapedOpen);
            var result = new List<WeightedText>();
            // depth-first over the bracket tree, iteratively so that deep nesting cannot overflow the stack
            var stack = new Stack<Frame>();
            stack.Push(new Frame(SplitTopLevel(text), 1.0));
            while (stack.Count > 0)
            {
                var frame = stack.Peek();
                if (frame.Next >= frame.Parts.Count) { stack.Pop(); continue; }
                string part = frame.Parts[frame.Next++];
                if (part.Length >= 2 && part[0] == '(' && part[part.Length - 1] == ')')
                {
                    string inner = part.Substring(1, part.Length - 2);
                    double weight = frame.Weight * 1.1;
                    int colon = inner.LastIndexOf(':');
                    if (colon > 0 && PythonFloat.TryParse(inner.Substring(colon + 1), out double w))
                    {
                        weight = w;
                        inner = inner.Substring(0, colon);
                    }
                    stack.Push(new Frame(SplitTopLevel(inner), weight));
                }
                else result.Add(new WeightedText(Unescape(part), frame.Weight));
            }
            return result;
        }

        /// <summary>The prompt text as SD3's encoders see it: the weight syntax removed (pieces concatenated).</summary>
        public static string StripWeights(string prompt)
        {
            var sb = new StringBuilder();
            foreach (var p in Parse(prompt)) sb.Append(p.Text);
            return sb.ToString();
        }

        static string Unescape(string s) => s.Replace(EscapedClose, ")").Replace(EscapedOpen, "(");

        /// <summary>Splits at top-level brackets: plain runs and whole "(...)" groups (an unclosed group runs to the
        /// end; a stray ')' makes the depth negative, as in the reference).</summary>
        static List<string> SplitTopLevel(string s)
        {
            var parts = new List<string>();
            var current = new StringBuilder();
            int depth = 0;
            foreach (char c in s)
            {
                if (c == '(')
                {
                    if (depth == 0)
                    {
                        if (current.Length > 0) parts.Add(current.ToString());
                        current.Clear();
                    }
                    current.Append(c);
                    depth++;
                }
                else if (c == ')')
                {
                    depth--;
                    current.Append(c);
                    if (depth == 0)
                    {
                        parts.Add(current.ToString());
                        current.Clear();
                    }
                }
                else current.Append(c);
            }
            if (current.Length > 0) parts.Add(current.ToString());
            return parts;
        }
    }

    /// <summary>Python's <c>float(str)</c> acceptance rules: surrounding whitespace, a sign, digits with single
    /// underscores between them, an optional fraction and exponent, "inf"/"infinity"/"nan" in any case, and any
    /// Unicode decimal digits.</summary>
    internal static class PythonFloat
    {
        public static bool TryParse(string s, out double value)
        {
            value = 0;
            var sb = new StringBuilder(s.Length);
            for (int i = 0; i < s.Length;)
            {
                int cp = UnicodeText.CodePointAt(s, i, out int len);
                var cat = UnicodeText.Category(s, i);
                if (cat == UnicodeCategory.DecimalDigitNumber)
                {
                    int digit = (int)CharUnicodeInfo.GetNumericValue(s, i);
                    if (digit < 0 || digit > 9) return false;
                    sb.Append((char)('0' + digit));
                }
                else if (UnicodeText.IsPythonSpace(cp, cat)) sb.Append(' ');
                else if (cp < 128) sb.Append((char)cp);
                else return false;
                i += len;
            }
            string t = sb.ToString().Trim(' ');
            if (t.Length == 0) return false;
            int p = 0;
            bool negative = false;
            if (t[0] == '+' || t[0] == '-') { negative = t[0] == '-'; p = 1; }
            string rest = t.Substring(p).ToLowerInvariant();
            if (rest == "inf" || rest == "infinity") { value = negative ? double.NegativeInfinity : double.PositiveInfinity; return true; }
            if (rest == "nan") { value = double.NaN; return true; }
            var clean = new StringBuilder();
            int q = 0;
            int intDigits = Digits(rest, ref q, clean);
            if (intDigits < 0) return false;
            int fracDigits = 0;
            if (q < rest.Length && rest[q] == '.')
            {
                clean.Append('.');
                q++;
                fracDigits = Digits(rest, ref q, clean);
                if (fracDigits < 0) return false;
            }
            if (intDigits + fracDigits == 0) return false;
            if (q < rest.Length && rest[q] == 'e')
            {
                clean.Append('e');
                q++;
                if (q < rest.Length && (rest[q] == '+' || rest[q] == '-')) clean.Append(rest[q++]);
                if (Digits(rest, ref q, clean) <= 0) return false;
            }
            if (q != rest.Length) return false;
            if (!double.TryParse(clean.ToString(), NumberStyles.Float, CultureInfo.InvariantCulture, out double v))
            {
                // only overflow can fail here: Python gives inf
                v = double.PositiveInfinity;
            }
            value = negative ? -v : v;
            return true;
        }

        /// <summary>Reads digits with single underscores between them; the count of digits, or -1 for a misplaced '_'.</summary>
        static int Digits(string s, ref int q, StringBuilder clean)
        {
            int count = 0;
            while (q < s.Length)
            {
                char c = s[q];
                if (c >= '0' && c <= '9') { clean.Append(c); count++; q++; }
                else if (c == '_' && count > 0 && q + 1 < s.Length && s[q + 1] >= '0' && s[q + 1] <= '9') q++;
                else break;
            }
            if (q < s.Length && s[q] == '_') return -1;
            return count;
        }
    }
}
