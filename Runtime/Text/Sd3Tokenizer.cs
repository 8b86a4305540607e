using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;

namespace Sd3Tex.Text
{
    /// <summary>Turns a prompt into the token ids SD3 / SD3.5 feed their three text encoders, exactly as the reference
    /// (<c>sd3_impls</c> / <c>other_impls</c> <c>SD3Tokenizer</c>) does: the weight syntax is parsed and removed
    /// (<see cref="PromptWeights"/>), the text is split on spaces and newlines and every word is tokenized on its own;
    /// CLIP words are packed into 77-token windows (a word that would not fit moves whole to the next window unless
    /// it has 8 or more tokens, then it is split) of which only the first is used; T5 gets the first 226 characters,
    /// then &lt;/s&gt;, padded with 0 to at least 77 tokens and never truncated. Thread-safe.</summary>
    public sealed class Sd3Tokenizer
    {
        /// <summary>CLIP's window: start token, up to 75 prompt tokens, end token.</summary>
        public const int ClipLength = 77;
        /// <summary>T5 is padded to at least this many ids.</summary>
        public const int T5MinLength = 77;
        /// <summary>T5 reads this many characters (code points) of the prompt.</summary>
        public const int T5MaxCharacters = 226;
        /// <summary>A word with at least this many tokens may be split across CLIP windows.</summary>
        public const int MaxWordLength = 8;
        /// <summary>CLIP-G pads with id 0 (the reference's <c>pad_with_end=False</c>).</summary>
        public const int ClipGPadId = 0;
        /// <summary>T5 pads with id 0.</summary>
        public const int T5PadId = 0;

        public ClipTokenizer ClipL { get; }
        public ClipTokenizer ClipG { get; }
        public T5Tokenizer T5 { get; }

        /// <summary>One CLIP tokenizer for both CLIP-L and CLIP-G, as the reference does.</summary>
        public Sd3Tokenizer(ClipTokenizer clip, T5Tokenizer t5) : this(clip, clip, t5) { }

        public Sd3Tokenizer(ClipTokenizer clipL, ClipTokenizer clipG, T5Tokenizer t5)
        {
            ClipL = clipL ?? throw new ArgumentNullException(nameof(clipL));
            ClipG = clipG ?? throw new ArgumentNullException(nameof(clipG));
            T5 = t5 ?? throw new ArgumentNullException(nameof(t5));
            if (t5.EosId < 0) throw new ArgumentException("the T5 tokenizer has no </s> token", nameof(t5));
        }

        #region Loading

        /// <summary>Loads the three tokenizers from <paramref name="folder"/>, which is either a diffusers model folder
        /// (<c>tokenizer/vocab.json</c> + <c>merges.txt</c> for CLIP-L, <c>tokenizer_2/</c> for CLIP-G, used only when
        /// its files differ from <c>tokenizer/</c>'s, <c>tokenizer_3/tokenizer.json</c> or <c>spiece.model</c> for T5)
        /// or a folder laid out as <c>clip/vocab.json</c>, <c>clip/merges.txt</c>, <c>t5/tokenizer.json</c> (or
        /// <c>t5/spiece.model</c>). A missing file throws <see cref="TokenizerFileNotFoundException"/> naming it;
        /// a malformed one <see cref="TokenizerFormatException"/>.</summary>
        public static Sd3Tokenizer Load(string folder)
        {
            if (folder == null) throw new ArgumentNullException(nameof(folder));
            if (!Directory.Exists(folder))
                throw new TokenizerFileNotFoundException($"tokenizer folder not found: {folder}. {TokenizerFileNotFoundException.WhereToGetThem}", folder);
            string P(params string[] parts) => Path.Combine(folder, Path.Combine(parts));
            bool shared = Directory.Exists(P("clip")) || Directory.Exists(P("t5"));
            bool diffusers = Directory.Exists(P("tokenizer")) || Directory.Exists(P("tokenizer_2")) || Directory.Exists(P("tokenizer_3"))
                             || File.Exists(P("model_index.json"));
            if (!shared && !diffusers)
                throw new TokenizerFileNotFoundException(
                    $"{folder} holds no tokenizer files: expected tokenizer/vocab.json, tokenizer/merges.txt and tokenizer_3/tokenizer.json "
                    + $"(a diffusers model folder) or clip/vocab.json, clip/merges.txt and t5/tokenizer.json. {TokenizerFileNotFoundException.WhereToGetThem}",
                    P("tokenizer", "vocab.json"));
            if (shared)
            {
                var clip = ClipTokenizer.Load(Require(P("clip", "vocab.json"), "CLIP vocabulary"), Require(P("clip", "merges.txt"), "CLIP merges"));
                return new Sd3Tokenizer(clip, LoadT5(P("t5")));
            }
            string dirL = P("tokenizer"), dirG = P("tokenizer_2");
            bool hasL = File.Exists(Path.Combine(dirL, "vocab.json")) || File.Exists(Path.Combine(dirL, "merges.txt"));
            bool hasG = File.Exists(Path.Combine(dirG, "vocab.json")) && File.Exists(Path.Combine(dirG, "merges.txt"));
            if (!hasL && hasG) dirL = dirG; // CLIP-L and CLIP-G share one vocabulary
            var clipL = ClipTokenizer.Load(Require(Path.Combine(dirL, "vocab.json"), "CLIP-L vocabulary"), Require(Path.Combine(dirL, "merges.txt"), "CLIP-L merges"));
            var clipG = clipL;
            if (hasG && dirG != dirL
                && !(SameFile(Path.Combine(dirL, "vocab.json"), Path.Combine(dirG, "vocab.json")) && SameFile(Path.Combine(dirL, "merges.txt"), Path.Combine(dirG, "merges.txt"))))
                clipG = ClipTokenizer.Load(Path.Combine(dirG, "vocab.json"), Path.Combine(dirG, "merges.txt"));
            return new Sd3Tokenizer(clipL, clipG, LoadT5(P("tokenizer_3")));
        }

        /// <summary>Whether <paramref name="folder"/> holds tokenizer files of its own (a diffusers folder's
        /// <c>tokenizer/</c> or <c>tokenizer_2/</c> vocabulary, or a <c>clip/</c> folder); diffusers folders written
        /// without them (as <c>save_pretrained</c> of a pipeline without tokenizers does) have none.</summary>
        public static bool HasTokenizerFiles(string folder)
        {
            if (string.IsNullOrEmpty(folder) || !Directory.Exists(folder)) return false;
            foreach (var sub in new[] { "tokenizer", "tokenizer_2", "clip" })
                if (File.Exists(Path.Combine(folder, sub, "vocab.json"))) return true;
            return false;
        }

        static T5Tokenizer LoadT5(string dir)
        {
            string json = Path.Combine(dir, "tokenizer.json"), model = Path.Combine(dir, "spiece.model");
            if (File.Exists(json)) return T5Tokenizer.LoadTokenizerJson(json);
            if (File.Exists(model)) return T5Tokenizer.LoadSentencePieceModel(model);
            throw new TokenizerFileNotFoundException(
                $"T5 tokenizer not found: {json} (or {model}). {TokenizerFileNotFoundException.WhereToGetThem}", json);
        }

        static string Require(string path, string what)
        {
            if (!File.Exists(path)) throw TokenizerFiles.Missing(path, what);
            return path;
        }

        static bool SameFile(string a, string b)
        {
            var fa = new FileInfo(a);
            var fb = new FileInfo(b);
            if (fa.Length != fb.Length) return false;
            byte[] x = File.ReadAllBytes(a), y = File.ReadAllBytes(b);
            for (int i = 0; i < x.Length; i++) if (x[i] != y[i]) return false;
            return true;
        }

        #endregion

        #region Tokenizing

        /// <summary>The three encoders' ids for <paramref name="prompt"/>, with what was dropped.</summary>
        public TokenizedPrompt Tokenize(string prompt)
        {
            if (prompt == null) throw new ArgumentNullException(nameof(prompt));
            var warnings = new List<string>();

            var clipWords = WordTokens(prompt, ClipL.Encode);
            long[] clipL = PackFirstWindow(clipWords, ClipL.StartId, ClipL.EndId, ClipL.EndId, out int total, out int dropped);
            long[] clipG = ReferenceEquals(ClipG, ClipL)
                ? PackFirstWindow(clipWords, ClipG.StartId, ClipG.EndId, ClipGPadId, out _, out _)
                : PackFirstWindow(WordTokens(prompt, ClipG.Encode), ClipG.StartId, ClipG.EndId, ClipGPadId, out _, out _);
            if (dropped > 0)
                warnings.Add(string.Format(CultureInfo.InvariantCulture,
                    "The prompt is {0} CLIP tokens long; CLIP-L and CLIP-G see only the first {1} (one {2}-token window), so {3} tokens were dropped. "
                    + "Shorten the prompt or put what matters first.", total, total - dropped, ClipLength, dropped));

            string t5Text = FirstCodePoints(prompt, T5MaxCharacters, out int droppedChars);
            var t5Ids = new List<long>();
            foreach (var word in WordTokens(t5Text, T5.Encode))
                foreach (int id in word) t5Ids.Add(id);
            t5Ids.Add(T5.EosId);
            while (t5Ids.Count < T5MinLength) t5Ids.Add(T5PadId);
            if (droppedChars > 0)
                warnings.Add(string.Format(CultureInfo.InvariantCulture,
                    "T5-XXL reads only the first {0} characters of the prompt; the last {1} characters were dropped.", T5MaxCharacters, droppedChars));

            return new TokenizedPrompt(clipL, clipG, t5Ids.ToArray(), total, dropped, droppedChars, warnings);
        }

        /// <summary>The words SD3 tokenizes one by one: each weighted piece, newlines made spaces, split on single
        /// spaces, empty words dropped.</summary>
        public static List<string> Words(string prompt)
        {
            var words = new List<string>();
            foreach (var piece in PromptWeights.Parse(prompt))
                foreach (var w in piece.Text.Replace('\n', ' ').Split(' '))
                    if (w.Length > 0) words.Add(w);
            return words;
        }

        static List<int[]> WordTokens(string prompt, Func<string, int[]> encode)
        {
            var result = new List<int[]>();
            foreach (var w in Words(prompt)) result.Add(encode(w));
            return result;
        }

        /// <summary>The reference's CLIP packing, returning its first 77-token window; <paramref name="total"/> counts
        /// all word tokens, <paramref name="dropped"/> those outside the first window.</summary>
        internal static long[] PackFirstWindow(List<int[]> words, int start, int end, int pad, out int total, out int dropped)
        {
            var first = new List<long>(ClipLength) { start };
            var batch = first;
            total = 0;
            int inFirst = 0;
            foreach (var word in words)
            {
                total += word.Length;
                bool large = word.Length >= MaxWordLength;
                int offset = 0;
                while (offset < word.Length)
                {
                    int rest = word.Length - offset;
                    if (rest + batch.Count > ClipLength - 1)
                    {
                        int room = ClipLength - batch.Count - 1;
                        if (large)
                        {
                            for (int i = 0; i < room; i++) batch.Add(word[offset + i]);
                            if (batch == first) inFirst += room;
                            offset += room;
                            batch.Add(end);
                        }
                        else
                        {
                            batch.Add(end);
                            for (int i = 0; i < room; i++) batch.Add(pad);
                        }
                        batch = new List<long>(ClipLength) { start };
                    }
                    else
                    {
                        for (int i = offset; i < word.Length; i++) batch.Add(word[i]);
                        if (batch == first) inFirst += rest;
                        offset = word.Length;
                    }
                }
            }
            if (batch == first)
            {
                first.Add(end);
                while (first.Count < ClipLength) first.Add(pad);
            }
            dropped = total - inFirst;
            return first.ToArray();
        }

        /// <summary>The first <paramref name="count"/> code points (Python's <c>text[:count]</c>).</summary>
        static string FirstCodePoints(string s, int count, out int dropped)
        {
            int i = 0, n = 0;
            while (i < s.Length && n < count)
            {
                UnicodeText.CodePointAt(s, i, out int len);
                i += len;
                n++;
            }
            dropped = 0;
            for (int j = i; j < s.Length;)
            {
                UnicodeText.CodePointAt(s, j, out int len);
                j += len;
                dropped++;
            }
            return i == s.Length ? s : s.Substring(0, i);
        }

        #endregion
    }
}
