using System;
using System.Collections.Generic;
using System.Text;

namespace Sd3Tex.Text
{
    /// <summary>SentencePiece's <c>precompiled_charsmap</c> (the compiled <c>nmt_nfkc</c> normalisation rules of T5):
    /// a darts-clone double-array trie over UTF-8 byte strings whose values point at NUL-terminated replacements.
    /// <see cref="Normalize"/> applies it the way the Hugging Face <c>tokenizers</c> <c>Precompiled</c> normalizer
    /// does (that is what <c>T5TokenizerFast</c> runs): each grapheme cluster shorter than 6 UTF-8 bytes is looked
    /// up whole and, if the trie has any prefix of it, the whole cluster becomes the replacement of the SHORTEST
    /// matching prefix; otherwise each code point of the cluster is looked up alone.</summary>
    public sealed class PrecompiledCharsMap
    {
        readonly uint[] _units;
        readonly byte[] _normalized;
        readonly Dictionary<int, string> _replacements = new Dictionary<int, string>();
        readonly string[] _ascii = new string[128]; // replacement of each ASCII character, null = unchanged

        /// <summary>The raw map, as stored in spiece.model or base64 in tokenizer.json.</summary>
        public byte[] Bytes { get; }

        public PrecompiledCharsMap(byte[] charsmap)
        {
            Bytes = charsmap ?? throw new ArgumentNullException(nameof(charsmap));
            if (charsmap.Length < 4) throw new FormatException("precompiled_charsmap is shorter than its 4-byte header");
            uint trieSize = BitConverter.ToUInt32(charsmap, 0);
            if (!BitConverter.IsLittleEndian) trieSize = Swap(trieSize);
            if (trieSize % 4 != 0 || trieSize > (uint)(charsmap.Length - 4))
                throw new FormatException($"precompiled_charsmap: bad trie size {trieSize} for {charsmap.Length} bytes");
            _units = new uint[trieSize / 4];
            for (int i = 0; i < _units.Length; i++)
            {
                uint u = BitConverter.ToUInt32(charsmap, 4 + 4 * i);
                _units[i] = BitConverter.IsLittleEndian ? u : Swap(u);
            }
            int start = 4 + (int)trieSize;
            _normalized = new byte[charsmap.Length - start];
            Buffer.BlockCopy(charsmap, start, _normalized, 0, _normalized.Length);
            if (_units.Length == 0) throw new FormatException("precompiled_charsmap: empty trie");
            var utf8 = new UTF8Encoding(false, true);
            // the replacement strings, keyed by their offset in the blob
            for (int p = 0; p < _normalized.Length;)
            {
                int end = Array.IndexOf(_normalized, (byte)0, p);
                if (end < 0) end = _normalized.Length;
                try { _replacements[p] = utf8.GetString(_normalized, p, end - p); }
                catch (DecoderFallbackException) { throw new FormatException("precompiled_charsmap: a replacement is not valid UTF-8"); }
                p = end + 1;
            }
            var key = new byte[1];
            for (int c = 1; c < 128; c++)
            {
                key[0] = (byte)c;
                _ascii[c] = Lookup(key, 1);
            }
        }

        static uint Swap(uint v) => (v >> 24) | ((v >> 8) & 0xFF00) | ((v << 8) & 0xFF0000) | (v << 24);

        /// <summary>The replacement of the shortest prefix of <paramref name="key"/>[0..length) that the trie holds, or null.
        /// A NUL byte ends the key (as in the reference).</summary>
        string Lookup(byte[] key, int length)
        {
            uint nodePos = 0;
            uint unit = _units[0];
            nodePos ^= Offset(unit);
            for (int i = 0; i < length; i++)
            {
                byte c = key[i];
                if (c == 0) break;
                nodePos ^= c;
                if (nodePos >= _units.Length) return null;
                unit = _units[nodePos];
                if ((unit & ((1u << 31) | 0xFF)) != c) return null; // label mismatch
                nodePos ^= Offset(unit);
                if (((unit >> 8) & 1) == 1) // has a leaf: the first (shortest) match wins
                {
                    if (nodePos >= _units.Length) return null;
                    int value = (int)(_units[nodePos] & ((1u << 31) - 1));
                    return Replacement(value);
                }
            }
            return null;
        }

        static uint Offset(uint unit) => (unit >> 10) << (int)((unit & (1u << 9)) >> 6);

        string Replacement(int offset)
        {
            if (_replacements.TryGetValue(offset, out var s)) return s;
            if (offset < 0 || offset > _normalized.Length) return "";
            int end = Array.IndexOf(_normalized, (byte)0, offset);
            if (end < 0) end = _normalized.Length;
            return Encoding.UTF8.GetString(_normalized, offset, end - offset);
        }

        /// <summary>Normalises <paramref name="text"/> (which must hold no lone surrogates).</summary>
        public string Normalize(string text)
        {
            var sb = new StringBuilder(text.Length + 8);
            byte[] buffer = new byte[32];
            int i = 0;
            while (i < text.Length)
            {
                int end = Graphemes.ClusterEnd(text, i);
                if (end == i + 1 && text[i] < 128)
                {
                    // single ASCII character: precomputed
                    string r = _ascii[text[i]];
                    if (r != null) sb.Append(r); else sb.Append(text[i]);
                    i = end;
                    continue;
                }
                int bytes = Utf8Bytes(text, i, end);
                if (bytes < 6)
                {
                    int n = Encoding.UTF8.GetBytes(text, i, end - i, buffer, 0);
                    string whole = Lookup(buffer, n);
                    if (whole != null)
                    {
                        sb.Append(whole);
                        i = end;
                        continue;
                    }
                }
                // code point by code point
                while (i < end)
                {
                    UnicodeText.CodePointAt(text, i, out int len);
                    if (len == 1 && text[i] < 128)
                    {
                        string r = _ascii[text[i]];
                        if (r != null) sb.Append(r); else sb.Append(text[i]);
                    }
                    else
                    {
                        int n = Encoding.UTF8.GetBytes(text, i, len, buffer, 0);
                        string r = Lookup(buffer, n);
                        if (r != null) sb.Append(r); else sb.Append(text, i, len);
                    }
                    i += len;
                }
            }
            return sb.ToString();
        }

        static int Utf8Bytes(string s, int start, int end)
        {
            int n = 0;
            for (int i = start; i < end;)
            {
                int cp = UnicodeText.CodePointAt(s, i, out int len);
                n += UnicodeText.Utf8Length(cp);
                i += len;
                if (n >= 6) break;
            }
            return n;
        }
    }
}
