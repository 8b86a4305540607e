using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Text;
using Sd3Tex.Json;

namespace Sd3Tex.Text
{
    /// <summary>CLIP's byte-level BPE tokenizer, behaving like the reference's <c>transformers.CLIPTokenizer</c> (the
    /// Python one, without ftfy installed): text cleanup (control characters dropped, whitespace collapsed, spaces
    /// around CJK ideographs, NFC), lower case, CLIP's pre-tokenization pattern (<c>'s 't 're 've 'm 'll 'd</c>,
    /// letter runs, single digits, runs of other characters), UTF-8 bytes mapped to printable characters, then BPE
    /// with <c>&lt;/w&gt;</c> on the last symbol of each piece. <c>&lt;|startoftext|&gt;</c> and
    /// <c>&lt;|endoftext|&gt;</c> written in the text become their ids. Immutable after loading, so thread-safe.</summary>
    public sealed class ClipTokenizer
    {
        public const string StartOfText = "<|startoftext|>";
        public const string EndOfText = "<|endoftext|>";
        const string EndOfWord = "</w>";
        /// <summary>The reference reads at most this many merges (49152 - 256 - 2 = 48894, all of CLIP's).</summary>
        public const int MaxMerges = 49152 - 256 - 2;

        readonly Dictionary<string, int> _vocab;
        readonly string[] _idToToken;
        // BPE works on "symbols": every vocabulary entry plus any merge part that is not one; pair -> (rank, merged)
        readonly int[] _symbolToId;
        readonly Dictionary<long, long> _merges; // (left << 32 | right) -> (rank << 32 | merged symbol)
        readonly int[] _byteSymbol = new int[256], _byteEndSymbol = new int[256];

        /// <summary>Id of <c>&lt;|startoftext|&gt;</c> (49406 in CLIP).</summary>
        public int StartId { get; }
        /// <summary>Id of <c>&lt;|endoftext|&gt;</c> (49407 in CLIP); also the unknown token.</summary>
        public int EndId { get; }
        /// <summary>Number of vocabulary entries (49408 in CLIP).</summary>
        public int VocabSize => _vocab.Count;
        /// <summary>Number of merges in use.</summary>
        public int MergeCount { get; }

        static readonly char[] ByteToChar = BuildByteToChar();

        /// <summary>GPT-2's reversible byte -> printable character table: printable Latin-1 bytes map to themselves,
        /// the others to U+0100 upwards in byte order.</summary>
        static char[] BuildByteToChar()
        {
            var table = new char[256];
            int next = 256;
            for (int b = 0; b < 256; b++)
            {
                bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
                table[b] = printable ? (char)b : (char)next++;
            }
            return table;
        }

        ClipTokenizer(Dictionary<string, int> vocab, string mergesText, string mergesPath)
        {
            _vocab = vocab;
            int maxId = -1;
            foreach (var kv in vocab) maxId = Math.Max(maxId, kv.Value);
            _idToToken = new string[maxId + 1];
            foreach (var kv in vocab) _idToToken[kv.Value] = kv.Key;
            if (!vocab.TryGetValue(StartOfText, out int start) || !vocab.TryGetValue(EndOfText, out int end))
                throw new TokenizerFormatException(null, $"the CLIP vocabulary has no {StartOfText} or {EndOfText} entry");
            StartId = start;
            EndId = end;

            var symbols = new Dictionary<string, int>(vocab.Count + 64, StringComparer.Ordinal);
            var symbolIds = new List<int>(vocab.Count + 64);
            foreach (var kv in vocab) { symbols[kv.Key] = symbolIds.Count; symbolIds.Add(kv.Value); }
            int Symbol(string s)
            {
                if (symbols.TryGetValue(s, out int sym)) return sym;
                symbols[s] = symbolIds.Count;
                symbolIds.Add(EndId); // not in the vocabulary: the unknown token, as the reference maps it
                return symbolIds.Count - 1;
            }

            _merges = new Dictionary<long, long>(MaxMerges + 16);
            int rank = 0, lineNo = 0, pos = 0;
            string text = mergesText;
            // the reference strips the whole file, then reads it line by line; a "#version" first line is a header
            int endPos = text.Length;
            while (pos < endPos && char.IsWhiteSpace(text[pos])) pos++;
            while (endPos > pos && char.IsWhiteSpace(text[endPos - 1])) endPos--;
            while (pos < endPos && rank < MaxMerges)
            {
                int nl = text.IndexOf('\n', pos, endPos - pos);
                if (nl < 0) nl = endPos;
                string line = text.Substring(pos, nl - pos);
                pos = nl + 1;
                lineNo++;
                if (lineNo == 1 && line.StartsWith("#version", StringComparison.Ordinal)) continue;
                var parts = line.Split((char[])null, StringSplitOptions.RemoveEmptyEntries);
                if (parts.Length == 0) continue;
                if (parts.Length != 2)
                    throw new TokenizerFormatException(mergesPath, $"line {lineNo} is not a merge (two symbols separated by a space): \"{line.Trim()}\"");
                int a = Symbol(parts[0]), b = Symbol(parts[1]), ab = Symbol(parts[0] + parts[1]);
                _merges[((long)a << 32) | (uint)b] = ((long)rank << 32) | (uint)ab;
                rank++;
            }
            MergeCount = rank;
            for (int bt = 0; bt < 256; bt++)
            {
                string c = ByteToChar[bt].ToString();
                _byteSymbol[bt] = Symbol(c);
                _byteEndSymbol[bt] = Symbol(c + EndOfWord);
            }
            _symbolToId = symbolIds.ToArray();
        }

        /// <summary>Loads <c>vocab.json</c> and <c>merges.txt</c> (CLIP's, or any byte-level BPE with <c>&lt;/w&gt;</c>).</summary>
        public static ClipTokenizer Load(string vocabJsonPath, string mergesTxtPath)
        {
            string vocabText = TokenizerFiles.ReadText(vocabJsonPath, "CLIP vocabulary");
            string mergesText = TokenizerFiles.ReadText(mergesTxtPath, "CLIP merges");
            return FromText(vocabText, mergesText, vocabJsonPath, mergesTxtPath);
        }

        /// <summary>Builds the tokenizer from the contents of <c>vocab.json</c> and <c>merges.txt</c>.</summary>
        public static ClipTokenizer FromText(string vocabJson, string mergesText, string vocabPath = null, string mergesPath = null)
        {
            if (vocabJson == null) throw new ArgumentNullException(nameof(vocabJson));
            if (mergesText == null) throw new ArgumentNullException(nameof(mergesText));
            JsonValue root;
            try { root = JsonValue.Parse(vocabJson); }
            catch (JsonException e) { throw new TokenizerFormatException(vocabPath, "not valid JSON: " + e.Message, e); }
            if (root.Kind != JsonKind.Object) throw new TokenizerFormatException(vocabPath, "expected a JSON object {token: id}");
            var vocab = new Dictionary<string, int>(root.Properties.Count, StringComparer.Ordinal);
            foreach (var kv in root.Properties)
            {
                if (!kv.Value.IsInteger || kv.Value.AsLong < 0 || kv.Value.AsLong > int.MaxValue)
                    throw new TokenizerFormatException(vocabPath, $"the id of \"{kv.Key}\" is not a non-negative integer");
                vocab[kv.Key] = (int)kv.Value.AsLong;
            }
            try { return new ClipTokenizer(vocab, mergesText, mergesPath); }
            catch (TokenizerFormatException e) when (e.FilePath == null && vocabPath != null)
            {
                throw new TokenizerFormatException(vocabPath, e.Message, e);
            }
        }

        /// <summary>The vocabulary entry of an id (null when out of range).</summary>
        public string IdToToken(int id) => id >= 0 && id < _idToToken.Length ? _idToToken[id] : null;

        /// <summary>The id of a vocabulary entry, or -1.</summary>
        public int TokenToId(string token) => token != null && _vocab.TryGetValue(token, out int id) ? id : -1;

        /// <summary>The token ids of <paramref name="text"/>, without start/end tokens (the reference's
        /// <c>tokenizer(text)["input_ids"][1:-1]</c>).</summary>
        public int[] Encode(string text)
        {
            if (text == null) throw new ArgumentNullException(nameof(text));
            var ids = new List<int>();
            Encode(text, ids);
            return ids.ToArray();
        }

        /// <summary>Appends the ids of <paramref name="text"/> to <paramref name="ids"/>.</summary>
        public void Encode(string text, List<int> ids)
        {
            // special tokens written literally are split out first (case-sensitive), as the reference does
            int pos = 0;
            while (pos < text.Length)
            {
                int s = text.IndexOf(StartOfText, pos, StringComparison.Ordinal);
                int e = text.IndexOf(EndOfText, pos, StringComparison.Ordinal);
                int next = s < 0 ? e : e < 0 ? s : Math.Min(s, e);
                if (next < 0) { EncodeOrdinary(text.Substring(pos), ids); break; }
                if (next > pos) EncodeOrdinary(text.Substring(pos, next - pos), ids);
                bool isStart = next == s;
                ids.Add(isStart ? StartId : EndId);
                pos = next + (isStart ? StartOfText.Length : EndOfText.Length);
            }
        }

        void EncodeOrdinary(string text, List<int> ids)
        {
            string clean = Clean(text);
            var bytes = new byte[64];
            int i = 0;
            while (i < clean.Length)
            {
                int end = MatchEnd(clean, i);
                if (end == i) { i++; continue; } // a space: no match here
                if (end - i == StartOfText.Length && string.CompareOrdinal(clean, i, StartOfText, 0, end - i) == 0) ids.Add(StartId);
                else if (end - i == EndOfText.Length && string.CompareOrdinal(clean, i, EndOfText, 0, end - i) == 0) ids.Add(EndId);
                else
                {
                    int max = Encoding.UTF8.GetMaxByteCount(end - i);
                    if (bytes.Length < max) bytes = new byte[max];
                    int n = Encoding.UTF8.GetBytes(clean, i, end - i, bytes, 0);
                    Bpe(bytes, n, ids);
                }
                i = end;
            }
        }

        /// <summary>End of the pre-tokenization match starting at <paramref name="i"/> (== i when none starts there).
        /// The pattern, tried in this order: the two special tokens, <c>'s|'t|'re|'ve|'m|'ll|'d</c> (case-insensitive),
        /// <c>\p{L}+</c>, one <c>\p{N}</c>, <c>[^\s\p{L}\p{N}]+</c>.</summary>
        static int MatchEnd(string s, int i)
        {
            if (string.CompareOrdinal(s, i, StartOfText, 0, StartOfText.Length) == 0) return i + StartOfText.Length;
            if (string.CompareOrdinal(s, i, EndOfText, 0, EndOfText.Length) == 0) return i + EndOfText.Length;
            if (s[i] == '\'' && i + 1 < s.Length)
            {
                char a = char.ToLowerInvariant(s[i + 1]);
                if (a == 's' || a == 't' || a == 'm' || a == 'd' || a == '\u017F') return i + 2;
                if (i + 2 < s.Length)
                {
                    char b = char.ToLowerInvariant(s[i + 2]);
                    if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return i + 3;
                }
            }
            int cp = UnicodeText.CodePointAt(s, i, out int len);
            var cat = UnicodeText.Category(s, i);
            if (UnicodeText.IsLetter(cat))
            {
                int j = i + len;
                while (j < s.Length && UnicodeText.IsLetter(UnicodeText.Category(s, j))) { UnicodeText.CodePointAt(s, j, out len); j += len; }
                return j;
            }
            if (UnicodeText.IsNumber(cat)) return i + len;
            if (UnicodeText.IsPythonSpace(cp, cat)) return i;
            int k = i + len;
            while (k < s.Length)
            {
                int c2 = UnicodeText.CodePointAt(s, k, out len);
                var cat2 = UnicodeText.Category(s, k);
                if (UnicodeText.IsLetter(cat2) || UnicodeText.IsNumber(cat2) || UnicodeText.IsPythonSpace(c2, cat2)) break;
                k += len;
            }
            return k;
        }

        /// <summary>BPE over one pre-tokenized piece given as UTF-8 bytes; appends the ids.</summary>
        void Bpe(byte[] bytes, int n, List<int> ids)
        {
            var word = new List<int>(n);
            for (int i = 0; i < n; i++) word.Add(i == n - 1 ? _byteEndSymbol[bytes[i]] : _byteSymbol[bytes[i]]);
            var next = new List<int>(n);
            while (word.Count > 1)
            {
                long best = long.MaxValue;
                int first = -1, second = -1;
                for (int i = 0; i + 1 < word.Count; i++)
                {
                    if (_merges.TryGetValue(((long)word[i] << 32) | (uint)word[i + 1], out long m) && m < best)
                    {
                        best = m; first = word[i]; second = word[i + 1];
                    }
                }
                if (best == long.MaxValue) break;
                int merged = (int)(best & 0xFFFFFFFF);
                // merge every occurrence of the lowest-rank pair, left to right
                next.Clear();
                for (int i = 0; i < word.Count;)
                {
                    if (i + 1 < word.Count && word[i] == first && word[i + 1] == second) { next.Add(merged); i += 2; }
                    else { next.Add(word[i]); i++; }
                }
                var t = word; word = next; next = t;
            }
            foreach (int sym in word) ids.Add(_symbolToId[sym]);
        }

        /// <summary>The reference's text cleanup (transformers' BasicTokenizer with accents kept and no punctuation
        /// split): drops NUL, U+FFFD and control/format/unassigned characters, turns whitespace into spaces, puts
        /// spaces around CJK ideographs, applies NFC, splits on whitespace, lower-cases each piece (Python's
        /// <c>str.lower</c>) and joins them with single spaces.</summary>
        internal static string Clean(string text)
        {
            var sb = new StringBuilder(text.Length + 8);
            for (int i = 0; i < text.Length;)
            {
                int cp = UnicodeText.CodePointAt(text, i, out int len);
                var cat = UnicodeText.Category(text, i);
                bool whitespace = cp == ' ' || cp == '\t' || cp == '\n' || cp == '\r' || cat == UnicodeCategory.SpaceSeparator;
                if (cp == 0 || cp == 0xFFFD || (!whitespace && UnicodeText.IsOther(cat))) { i += len; continue; }
                if (whitespace) sb.Append(' ');
                else if (IsCjkIdeograph(cp)) sb.Append(' ').Append(text, i, len).Append(' ');
                else sb.Append(text, i, len);
                i += len;
            }
            string s = UnicodeText.Nfc(sb.ToString());
            var output = new StringBuilder(s.Length);
            int p = 0;
            while (p < s.Length)
            {
                int cp = UnicodeText.CodePointAt(s, p, out int len);
                if (UnicodeText.IsPythonSpace(cp, UnicodeText.Category(s, p))) { p += len; continue; }
                int start = p;
                while (p < s.Length)
                {
                    cp = UnicodeText.CodePointAt(s, p, out len);
                    if (UnicodeText.IsPythonSpace(cp, UnicodeText.Category(s, p))) break;
                    p += len;
                }
                if (output.Length > 0) output.Append(' ');
                PythonLower(s, start, p, output);
            }
            return output.ToString();
        }

        static bool IsCjkIdeograph(int cp) =>
            (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) || (cp >= 0x20000 && cp <= 0x2A6DF)
            || (cp >= 0x2A700 && cp <= 0x2B73F) || (cp >= 0x2B740 && cp <= 0x2B81F) || (cp >= 0x2B820 && cp <= 0x2CEAF)
            || (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);

        /// <summary>Python's <c>str.lower()</c> on s[start..end): the invariant simple mapping plus Python's two
        /// differences that matter, U+0130 -> "i\u0307" and a final capital sigma -> "ς".</summary>
        static void PythonLower(string s, int start, int end, StringBuilder output)
        {
            for (int i = start; i < end;)
            {
                int cp = UnicodeText.CodePointAt(s, i, out int len);
                if (cp == 0x130) output.Append("i\u0307");
                else if (cp == 0x3A3) output.Append(IsFinalSigma(s, start, end, i) ? '\u03C2' : '\u03C3');
                else if (len == 1) output.Append(char.ToLowerInvariant(s[i]));
                else output.Append(s.Substring(i, 2).ToLowerInvariant());
                i += len;
            }
        }

        static bool IsFinalSigma(string s, int start, int end, int at)
        {
            // Python: preceded by a cased letter and not followed by one, skipping case-ignorable characters
            bool casedBefore = false;
            for (int j = at; j > start;)
            {
                int p = j - 1;
                if (char.IsLowSurrogate(s[p]) && p > start && char.IsHighSurrogate(s[p - 1])) p--;
                if (IsCaseIgnorableAt(s, p)) { j = p; continue; }
                casedBefore = IsCased(s, p);
                break;
            }
            if (!casedBefore) return false;
            for (int k = at + 1; k < end;)
            {
                UnicodeText.CodePointAt(s, k, out int len);
                if (!IsCaseIgnorableAt(s, k)) return !IsCased(s, k);
                k += len;
            }
            return true;
        }

        static bool IsCaseIgnorableAt(string s, int i)
        {
            char c = s[i];
            if (c == '\'' || c == '.' || c == ':' || c == '\u00B7' || c == '\u0387' || c == '\u055F' || c == '\u05F4' || c == '\u2018'
                || c == '\u2019' || c == '\u2024' || c == '\u2027' || c == '\uFE13' || c == '\uFE52' || c == '\uFE55' || c == '\uFF07'
                || c == '\uFF0E' || c == '\uFF1A')
                return true;
            var cat = UnicodeText.Category(s, i);
            return cat == UnicodeCategory.NonSpacingMark || cat == UnicodeCategory.EnclosingMark || cat == UnicodeCategory.Format
                   || cat == UnicodeCategory.ModifierLetter || cat == UnicodeCategory.ModifierSymbol;
        }

        static bool IsCased(string s, int i)
        {
            var cat = UnicodeText.Category(s, i);
            return cat == UnicodeCategory.UppercaseLetter || cat == UnicodeCategory.LowercaseLetter || cat == UnicodeCategory.TitlecaseLetter;
        }
    }
}
