using System;
using System.Collections.Generic;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using Sd3Tex.Json;

namespace Sd3Tex.Text
{
    /// <summary>T5's SentencePiece unigram tokenizer, behaving like the reference's <c>T5TokenizerFast</c> (Hugging Face
    /// <c>tokenizers</c>): special tokens written in the text are split out first; the rest is normalised
    /// (SentencePiece's precompiled <c>nmt_nfkc</c> map, right strip, runs of spaces -> one '▁'), pre-tokenized
    /// (spaces -> '▁', a '▁' prepended, split before each '▁') and each piece is segmented by Viterbi over the
    /// piece log-probabilities (unknown characters get the lowest score minus 10; consecutive unknowns fuse into one
    /// <c>&lt;unk&gt;</c>). Loads <c>tokenizer.json</c> (<see cref="LoadTokenizerJson"/>) or SentencePiece's
    /// <c>spiece.model</c> (<see cref="LoadSentencePieceModel"/>, converted as <c>transformers</c> converts it).
    /// Immutable after loading, so thread-safe.</summary>
    public sealed class T5Tokenizer
    {
        const double UnknownPenalty = 10.0;

        readonly string[] _pieces;
        readonly double[] _scores;
        readonly Dictionary<string, int> _pieceIds;
        readonly int _unkId;
        readonly double _unkScore;
        readonly bool _byteFallback;
        readonly Dictionary<long, int> _trieEdges; // (node << 16 | char) -> child node
        readonly int[] _triePiece;                 // node -> piece id ending there, or -1
        readonly NormalizerStep[] _normalizers;
        readonly PreTokenizerStep[] _preTokenizers;
        readonly AddedTokenSet _addedRaw, _addedNormalized;

        /// <summary>Id of <c>&lt;/s&gt;</c> (1 in T5), or -1 when the vocabulary has none.</summary>
        public int EosId { get; }
        /// <summary>Id of <c>&lt;pad&gt;</c> (0 in T5), or -1.</summary>
        public int PadId { get; }
        /// <summary>Id of <c>&lt;unk&gt;</c> (2 in T5).</summary>
        public int UnkId => _unkId;
        /// <summary>Number of pieces, extra ids included (32100 in T5 v1.1).</summary>
        public int VocabSize => _pieces.Length;
        /// <summary>The SentencePiece character map in use, or null when the normalizer has none.</summary>
        public PrecompiledCharsMap CharsMap { get; }

        T5Tokenizer(Definition d)
        {
            int n = d.Pieces.Count;
            _pieces = new string[n];
            _scores = new double[n];
            _pieceIds = new Dictionary<string, int>(n, StringComparer.Ordinal);
            double min = double.PositiveInfinity;
            _trieEdges = new Dictionary<long, int>(n * 4);
            var triePiece = new List<int> { -1 };
            for (int id = 0; id < n; id++)
            {
                string piece = d.Pieces[id].Key;
                double score = d.Pieces[id].Value;
                _pieces[id] = piece;
                _scores[id] = score;
                _pieceIds[piece] = id; // a repeated piece: the last id wins, as in the reference
                if (score < min) min = score;
                int node = 0;
                foreach (char c in piece)
                {
                    long key = ((long)node << 16) | c;
                    if (!_trieEdges.TryGetValue(key, out int child))
                    {
                        child = triePiece.Count;
                        triePiece.Add(-1);
                        _trieEdges[key] = child;
                    }
                    node = child;
                }
                if (piece.Length > 0) triePiece[node] = id;
            }
            _triePiece = triePiece.ToArray();
            if (d.UnkId < 0 || d.UnkId >= n) throw new TokenizerFormatException(d.Path, $"unk_id {d.UnkId} is not in the vocabulary of {n} pieces");
            _unkId = d.UnkId;
            _unkScore = min - UnknownPenalty;
            _byteFallback = d.ByteFallback;
            _normalizers = d.Normalizers.ToArray();
            _preTokenizers = d.PreTokenizers.ToArray();
            foreach (var step in _normalizers)
                if (step is PrecompiledStep p) CharsMap = p.Map;
            var raw = new List<AddedToken>();
            var normalized = new List<AddedToken>();
            foreach (var t in d.Added) (t.Normalized ? normalized : raw).Add(t);
            _addedRaw = new AddedTokenSet(raw);
            _addedNormalized = new AddedTokenSet(normalized);
            EosId = FindId(d, "</s>");
            PadId = FindId(d, "<pad>");
        }

        int FindId(Definition d, string token)
        {
            foreach (var t in d.Added) if (t.Content == token) return t.Id;
            return _pieceIds.TryGetValue(token, out int id) ? id : -1;
        }

        /// <summary>The piece of an id (null when out of range).</summary>
        public string IdToPiece(int id) => id >= 0 && id < _pieces.Length ? _pieces[id] : null;

        /// <summary>The log-probability of a piece.</summary>
        public double Score(int id) => _scores[id];

        /// <summary>The id of a piece, or -1.</summary>
        public int PieceToId(string piece) => piece != null && _pieceIds.TryGetValue(piece, out int id) ? id : -1;

        #region Encoding

        /// <summary>The token ids of <paramref name="text"/>, without the final <c>&lt;/s&gt;</c> (the reference's
        /// <c>tokenizer(text)["input_ids"][:-1]</c>).</summary>
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
            text = UnicodeText.ReplaceLoneSurrogates(text);
            foreach (var seg in _addedRaw.Split(text))
            {
                if (seg.Id >= 0) { ids.Add(seg.Id); continue; }
                string normalized = ApplyNormalizers(seg.Text);
                foreach (var seg2 in _addedNormalized.Split(normalized))
                {
                    if (seg2.Id >= 0) { ids.Add(seg2.Id); continue; }
                    var pieces = new List<Piece> { new Piece(seg2.Text, seg.Start == 0 && seg2.Start == 0) };
                    foreach (var step in _preTokenizers)
                    {
                        var next = new List<Piece>();
                        foreach (var p in pieces) step.Apply(p, next);
                        pieces = next;
                    }
                    foreach (var p in pieces)
                        if (p.Text.Length > 0) Viterbi(p.Text, ids);
                }
            }
        }

        /// <summary>The normalizer alone (for checking against <c>tokenizer.normalizer.normalize_str</c>).</summary>
        public string Normalize(string text) => ApplyNormalizers(UnicodeText.ReplaceLoneSurrogates(text ?? throw new ArgumentNullException(nameof(text))));

        string ApplyNormalizers(string s)
        {
            foreach (var step in _normalizers) s = step.Apply(s);
            return s;
        }

        /// <summary>Best segmentation of one pre-tokenized piece (the reference's optimized unigram encode).</summary>
        void Viterbi(string s, List<int> ids)
        {
            int n = s.Length;
            var score = new double[n + 1];
            var from = new int[n + 1];
            var piece = new int[n + 1];
            for (int i = 1; i <= n; i++) from[i] = -1;
            for (int pos = 0; pos < n;)
            {
                double till = score[pos];
                UnicodeText.CodePointAt(s, pos, out int charLen);
                bool single = false;
                int node = 0;
                for (int k = pos; k < n; k++)
                {
                    if (!_trieEdges.TryGetValue(((long)node << 16) | s[k], out node)) break;
                    int id = _triePiece[node];
                    if (id < 0) continue;
                    int end = k + 1;
                    double candidate = _scores[id] + till;
                    if (from[end] < 0 || candidate > score[end]) { score[end] = candidate; from[end] = pos; piece[end] = id; }
                    if (end - pos == charLen) single = true;
                }
                if (!single)
                {
                    int end = pos + charLen;
                    double candidate = _unkScore + till;
                    if (from[end] < 0 || candidate > score[end]) { score[end] = candidate; from[end] = pos; piece[end] = _unkId; }
                }
                pos += charLen;
            }
            // backtrack; consecutive unknowns fuse into one token
            var tokens = new List<(int id, int start, int end)>();
            for (int end = n; end > 0;)
            {
                int start = from[end];
                int id = piece[end];
                if (id == _unkId && tokens.Count > 0 && tokens[tokens.Count - 1].id == _unkId && tokens[tokens.Count - 1].start == end)
                    tokens[tokens.Count - 1] = (_unkId, start, tokens[tokens.Count - 1].end);
                else tokens.Add((id, start, end));
                end = start;
            }
            for (int t = tokens.Count - 1; t >= 0; t--)
            {
                var (id, start, end) = tokens[t];
                if (id != _unkId) { ids.Add(id); continue; }
                string text = s.Substring(start, end - start);
                if (_pieceIds.TryGetValue(text, out int known)) { ids.Add(known); continue; }
                if (_byteFallback && TryBytes(text, ids)) continue;
                ids.Add(_unkId);
            }
        }

        bool TryBytes(string text, List<int> ids)
        {
            var bytes = Encoding.UTF8.GetBytes(text);
            var found = new int[bytes.Length];
            for (int i = 0; i < bytes.Length; i++)
                if (!_pieceIds.TryGetValue("<0x" + bytes[i].ToString("X2", CultureInfo.InvariantCulture) + ">", out found[i])) return false;
            ids.AddRange(found);
            return true;
        }

        #endregion

        #region Pipeline pieces

        readonly struct Piece
        {
            public readonly string Text;
            public readonly bool AtOrigin; // starts at offset 0 of the original text
            public Piece(string text, bool atOrigin) { Text = text; AtOrigin = atOrigin; }
        }

        abstract class NormalizerStep { public abstract string Apply(string s); }

        sealed class PrecompiledStep : NormalizerStep
        {
            public readonly PrecompiledCharsMap Map;
            public PrecompiledStep(PrecompiledCharsMap map) { Map = map; }
            public override string Apply(string s) => Map.Normalize(s);
        }

        sealed class StripStep : NormalizerStep
        {
            readonly bool _left, _right;
            public StripStep(bool left, bool right) { _left = left; _right = right; }
            public override string Apply(string s)
            {
                int start = 0, end = s.Length;
                if (_left)
                    while (start < end) { int cp = UnicodeText.CodePointAt(s, start, out int len); if (!UnicodeText.IsWhiteSpaceProperty(cp)) break; start += len; }
                if (_right)
                    while (end > start && UnicodeText.IsWhiteSpaceProperty(s[end - 1])) end--; // White_Space is BMP-only
                return start == 0 && end == s.Length ? s : s.Substring(start, end - start);
            }
        }

        sealed class ReplaceStep : NormalizerStep
        {
            readonly string _literal;
            readonly Regex _regex;
            readonly string _content;
            public ReplaceStep(string literal, Regex regex, string content) { _literal = literal; _regex = regex; _content = content; }
            public override string Apply(string s)
            {
                if (_regex != null) return _regex.Replace(s, _content.Replace("$", "$$"));
                return _literal.Length == 0 ? s : s.Replace(_literal, _content);
            }
        }

        sealed class UnicodeFormStep : NormalizerStep
        {
            readonly NormalizationForm _form;
            public UnicodeFormStep(NormalizationForm form) { _form = form; }
            public override string Apply(string s)
            {
                try { return s.Normalize(_form); }
                catch (ArgumentException) { return s; }
            }
        }

        sealed class LowercaseStep : NormalizerStep
        {
            public override string Apply(string s) => s.ToLowerInvariant();
        }

        abstract class PreTokenizerStep { public abstract void Apply(Piece p, List<Piece> output); }

        /// <summary>Splits on whitespace, dropping it.</summary>
        sealed class WhitespaceSplitStep : PreTokenizerStep
        {
            public override void Apply(Piece p, List<Piece> output)
            {
                string s = p.Text;
                int i = 0;
                while (i < s.Length)
                {
                    while (i < s.Length && UnicodeText.IsWhiteSpaceProperty(s[i])) i++;
                    int start = i;
                    while (i < s.Length && !UnicodeText.IsWhiteSpaceProperty(s[i])) i++;
                    if (i > start) output.Add(new Piece(s.Substring(start, i - start), p.AtOrigin && start == 0));
                }
            }
        }

        enum PrependScheme { Always, First, Never }

        /// <summary>Spaces -> '▁', '▁' prepended (unless already there), split before each '▁' (a run of them
        /// stays with the text after it only for the last one).</summary>
        sealed class MetaspaceStep : PreTokenizerStep
        {
            readonly char _replacement;
            readonly PrependScheme _prepend;
            readonly bool _split;
            public MetaspaceStep(char replacement, PrependScheme prepend, bool split) { _replacement = replacement; _prepend = prepend; _split = split; }

            public override void Apply(Piece p, List<Piece> output)
            {
                if (p.Text.Length == 0) return;
                string s = p.Text.Replace(' ', _replacement);
                if (s[0] != _replacement && (_prepend == PrependScheme.Always || (_prepend == PrependScheme.First && p.AtOrigin)))
                    s = _replacement + s;
                if (!_split) { output.Add(new Piece(s, p.AtOrigin)); return; }
                int start = 0;
                for (int i = 1; i < s.Length; i++)
                {
                    if (s[i] != _replacement) continue;
                    output.Add(new Piece(s.Substring(start, i - start), p.AtOrigin && start == 0));
                    start = i;
                }
                output.Add(new Piece(s.Substring(start), p.AtOrigin && start == 0));
            }
        }

        sealed class AddedToken
        {
            public int Id;
            public string Content;
            public bool LStrip, RStrip, SingleWord, Normalized;
        }

        readonly struct Segment
        {
            public readonly string Text;
            public readonly int Id;    // -1: ordinary text
            public readonly int Start; // offset in the split string
            public Segment(string text, int id, int start) { Text = text; Id = id; Start = start; }
        }

        /// <summary>Finds added tokens leftmost-longest, as the reference's Aho-Corasick split does, with the
        /// tokens' lstrip/rstrip/single_word options; empty pieces are dropped.</summary>
        sealed class AddedTokenSet
        {
            readonly Dictionary<char, AddedToken[]> _byFirst = new Dictionary<char, AddedToken[]>();

            public AddedTokenSet(List<AddedToken> tokens)
            {
                var groups = new Dictionary<char, List<AddedToken>>();
                foreach (var t in tokens)
                {
                    if (string.IsNullOrEmpty(t.Content)) continue;
                    if (!groups.TryGetValue(t.Content[0], out var list)) groups[t.Content[0]] = list = new List<AddedToken>();
                    list.Add(t);
                }
                foreach (var kv in groups)
                {
                    kv.Value.Sort((a, b) => b.Content.Length.CompareTo(a.Content.Length));
                    _byFirst[kv.Key] = kv.Value.ToArray();
                }
            }

            public List<Segment> Split(string s)
            {
                var result = new List<Segment>();
                int done = 0; // end of the last emitted piece
                int search = 0;
                while (_byFirst.Count > 0 && search < s.Length)
                {
                    AddedToken match = null;
                    int at = search;
                    for (; at < s.Length && match == null; at++)
                    {
                        if (!_byFirst.TryGetValue(s[at], out var candidates)) continue;
                        foreach (var t in candidates)
                            if (t.Content.Length <= s.Length - at && string.CompareOrdinal(s, at, t.Content, 0, t.Content.Length) == 0) { match = t; break; }
                        if (match != null) break;
                    }
                    if (match == null) break;
                    int start = at, stop = at + match.Content.Length;
                    search = stop;
                    if (match.SingleWord)
                    {
                        bool startOk = start == 0 || !IsWordChar(s[start - 1]);
                        bool stopOk = stop == s.Length || !IsWordChar(s[stop]);
                        if (!startOk || !stopOk) continue;
                    }
                    if (match.LStrip)
                    {
                        int ns = start;
                        while (ns > 0 && UnicodeText.IsWhiteSpaceProperty(s[ns - 1])) ns--;
                        start = Math.Max(ns, done);
                    }
                    if (match.RStrip)
                        while (stop < s.Length && UnicodeText.IsWhiteSpaceProperty(s[stop])) stop++;
                    if (done < start) result.Add(new Segment(s.Substring(done, start - done), -1, done));
                    result.Add(new Segment(match.Content, match.Id, start));
                    done = stop;
                    search = stop;
                }
                if (done < s.Length) result.Add(new Segment(done == 0 ? s : s.Substring(done), -1, done));
                return result;
            }

            static bool IsWordChar(char c) => char.IsLetterOrDigit(c) || c == '_';
        }

        #endregion

        #region Loading

        sealed class Definition
        {
            public string Path;
            public List<KeyValuePair<string, double>> Pieces = new List<KeyValuePair<string, double>>();
            public int UnkId = -1;
            public bool ByteFallback;
            public List<NormalizerStep> Normalizers = new List<NormalizerStep>();
            public List<PreTokenizerStep> PreTokenizers = new List<PreTokenizerStep>();
            public List<AddedToken> Added = new List<AddedToken>();
        }

        /// <summary>Loads <c>tokenizer.json</c> (Hugging Face <c>tokenizers</c> format with a Unigram model), or
        /// <c>spiece.model</c> when the file name ends in <c>.model</c>.</summary>
        public static T5Tokenizer Load(string path)
        {
            if (path == null) throw new ArgumentNullException(nameof(path));
            return path.EndsWith(".model", StringComparison.OrdinalIgnoreCase) ? LoadSentencePieceModel(path) : LoadTokenizerJson(path);
        }

        /// <summary>Loads a Hugging Face <c>tokenizer.json</c> with a Unigram model (T5's <c>tokenizer_3/tokenizer.json</c>).</summary>
        public static T5Tokenizer LoadTokenizerJson(string path) => FromTokenizerJson(TokenizerFiles.ReadText(path, "T5 tokenizer.json"), path);

        /// <summary>Builds the tokenizer from the text of a <c>tokenizer.json</c>.</summary>
        public static T5Tokenizer FromTokenizerJson(string json, string path = null)
        {
            if (json == null) throw new ArgumentNullException(nameof(json));
            JsonValue root;
            try { root = JsonValue.Parse(json); }
            catch (JsonException e) { throw new TokenizerFormatException(path, "not valid JSON: " + e.Message, e); }
            try { return new T5Tokenizer(ReadTokenizerJson(root, path)); }
            catch (InvalidOperationException e) { throw new TokenizerFormatException(path, "unexpected JSON: " + e.Message, e); }
            catch (FormatException e) { throw new TokenizerFormatException(path, e.Message, e); }
        }

        static Definition ReadTokenizerJson(JsonValue root, string path)
        {
            var d = new Definition { Path = path };
            TokenizerFormatException Bad(string what) => new TokenizerFormatException(path, what);
            if (root.Kind != JsonKind.Object) throw Bad("expected a JSON object");
            var model = root["model"];
            if (model == null || model.Kind != JsonKind.Object) throw Bad("no \"model\"");
            string type = model["type"]?.Kind == JsonKind.String ? model["type"].AsString : null;
            if (type != "Unigram") throw Bad($"the model is {type ?? "untyped"}; only a Unigram (SentencePiece) model is supported for T5");
            var vocab = model["vocab"];
            if (vocab == null || vocab.Kind != JsonKind.Array || vocab.Items.Count == 0) throw Bad("model.vocab is missing or empty");
            foreach (var entry in vocab.Items)
            {
                if (entry.Kind != JsonKind.Array || entry.Items.Count != 2 || entry.Items[0].Kind != JsonKind.String || entry.Items[1].Kind != JsonKind.Number)
                    throw Bad("model.vocab entries must be [piece, score]");
                d.Pieces.Add(new KeyValuePair<string, double>(entry.Items[0].AsString, entry.Items[1].AsDouble));
            }
            var unk = model["unk_id"];
            if (unk == null || !unk.IsInteger) throw Bad("model.unk_id is missing (a Unigram model without an unknown token is not supported)");
            d.UnkId = (int)unk.AsLong;
            d.ByteFallback = model["byte_fallback"]?.Kind == JsonKind.Bool && model["byte_fallback"].AsBool;

            var added = root["added_tokens"];
            if (added != null && added.Kind == JsonKind.Array)
                foreach (var t in added.Items)
                    d.Added.Add(new AddedToken
                    {
                        Id = (int)t["id"].AsLong,
                        Content = t["content"].AsString,
                        LStrip = Bool(t["lstrip"]),
                        RStrip = Bool(t["rstrip"]),
                        SingleWord = Bool(t["single_word"]),
                        Normalized = Bool(t["normalized"]),
                    });
            ReadNormalizer(root["normalizer"], d, path);
            ReadPreTokenizer(root["pre_tokenizer"], d, path);
            return d;
        }

        static bool Bool(JsonValue v) => v != null && v.Kind == JsonKind.Bool && v.AsBool;

        static void ReadNormalizer(JsonValue n, Definition d, string path)
        {
            if (n == null || n.IsNull) return;
            string type = n["type"]?.AsString;
            switch (type)
            {
                case "Sequence":
                    foreach (var child in n["normalizers"].Items) ReadNormalizer(child, d, path);
                    break;
                case "Precompiled":
                    var map = n["precompiled_charsmap"];
                    if (map == null || map.IsNull || map.AsString.Length == 0) break;
                    byte[] bytes;
                    try { bytes = Convert.FromBase64String(map.AsString); }
                    catch (FormatException e) { throw new TokenizerFormatException(path, "precompiled_charsmap is not base64", e); }
                    d.Normalizers.Add(new PrecompiledStep(new PrecompiledCharsMap(bytes)));
                    break;
                case "Strip":
                    d.Normalizers.Add(new StripStep(Bool(n["strip_left"]), Bool(n["strip_right"])));
                    break;
                case "Replace":
                    var pattern = n["pattern"];
                    string content = n["content"].AsString;
                    if (pattern["String"] != null) d.Normalizers.Add(new ReplaceStep(pattern["String"].AsString, null, content));
                    else if (pattern["Regex"] != null)
                        d.Normalizers.Add(new ReplaceStep(null, new Regex(pattern["Regex"].AsString, RegexOptions.CultureInvariant), content));
                    else throw new TokenizerFormatException(path, "a Replace normalizer has neither a String nor a Regex pattern");
                    break;
                case "NFC": d.Normalizers.Add(new UnicodeFormStep(NormalizationForm.FormC)); break;
                case "NFD": d.Normalizers.Add(new UnicodeFormStep(NormalizationForm.FormD)); break;
                case "NFKC": d.Normalizers.Add(new UnicodeFormStep(NormalizationForm.FormKC)); break;
                case "NFKD": d.Normalizers.Add(new UnicodeFormStep(NormalizationForm.FormKD)); break;
                case "Lowercase": d.Normalizers.Add(new LowercaseStep()); break;
                default: throw new TokenizerFormatException(path, $"unsupported normalizer \"{type}\"");
            }
        }

        static void ReadPreTokenizer(JsonValue p, Definition d, string path)
        {
            if (p == null || p.IsNull) return;
            string type = p["type"]?.AsString;
            switch (type)
            {
                case "Sequence":
                    foreach (var child in p["pretokenizers"].Items) ReadPreTokenizer(child, d, path);
                    break;
                case "WhitespaceSplit":
                    d.PreTokenizers.Add(new WhitespaceSplitStep());
                    break;
                case "Metaspace":
                    string rep = p["replacement"]?.AsString ?? "\u2581";
                    if (rep.Length != 1) throw new TokenizerFormatException(path, "a Metaspace replacement must be one character");
                    var scheme = PrependScheme.Always;
                    var ps = p["prepend_scheme"];
                    if (ps != null && ps.Kind == JsonKind.String)
                    {
                        switch (ps.AsString)
                        {
                            case "always": scheme = PrependScheme.Always; break;
                            case "first": scheme = PrependScheme.First; break;
                            case "never": scheme = PrependScheme.Never; break;
                            default: throw new TokenizerFormatException(path, $"unknown Metaspace prepend_scheme \"{ps.AsString}\"");
                        }
                    }
                    else if (p["add_prefix_space"] != null && p["add_prefix_space"].Kind == JsonKind.Bool)
                        scheme = p["add_prefix_space"].AsBool ? PrependScheme.Always : PrependScheme.Never;
                    bool split = p["split"] == null || p["split"].Kind != JsonKind.Bool || p["split"].AsBool;
                    d.PreTokenizers.Add(new MetaspaceStep(rep[0], scheme, split));
                    break;
                default: throw new TokenizerFormatException(path, $"unsupported pre_tokenizer \"{type}\"");
            }
        }

        /// <summary>Loads SentencePiece's <c>spiece.model</c> (a protobuf), converted as <c>transformers</c>'
        /// T5 converter does: the pieces plus <paramref name="extraIds"/> <c>&lt;extra_id_N&gt;</c> tokens
        /// (N from extraIds-1 down to 0), the precompiled map, right strip, spaces collapsed, Metaspace.</summary>
        public static T5Tokenizer LoadSentencePieceModel(string path, int extraIds = 100) =>
            FromSentencePieceModel(TokenizerFiles.ReadBytes(path, "T5 spiece.model"), path, extraIds);

        /// <summary>Builds the tokenizer from the bytes of a <c>spiece.model</c>.</summary>
        public static T5Tokenizer FromSentencePieceModel(byte[] model, string path = null, int extraIds = 100)
        {
            if (model == null) throw new ArgumentNullException(nameof(model));
            var d = new Definition { Path = path };
            int unkId = 0, modelType = 1;
            bool addDummyPrefix = true;
            byte[] charsmap = null;
            try
            {
                var r = new ProtoReader(model, 0, model.Length);
                var types = new List<int>();
                while (r.Next(out int field, out int wire))
                {
                    if (field == 1 && wire == 2)
                    {
                        var pr = r.Message();
                        string piece = ""; float score = 0; int type = 1;
                        while (pr.Next(out int f, out int w))
                        {
                            if (f == 1 && w == 2) piece = pr.String();
                            else if (f == 2 && w == 5) score = pr.Fixed32Float();
                            else if (f == 3 && w == 0) type = (int)pr.Varint();
                            else pr.Skip(w);
                        }
                        d.Pieces.Add(new KeyValuePair<string, double>(piece, score));
                        types.Add(type);
                    }
                    else if (field == 2 && wire == 2)
                    {
                        var tr = r.Message();
                        while (tr.Next(out int f, out int w))
                        {
                            if (w != 0) { tr.Skip(w); continue; }
                            long v = (long)tr.Varint();
                            switch (f)
                            {
                                case 3: modelType = (int)v; break;
                                case 35: d.ByteFallback = v != 0; break;
                                case 40: unkId = (int)v; break;
                            }
                        }
                    }
                    else if (field == 3 && wire == 2)
                    {
                        var nr = r.Message();
                        while (nr.Next(out int f, out int w))
                        {
                            if (f == 2 && w == 2) charsmap = nr.Bytes();
                            else if (f == 3 && w == 0) addDummyPrefix = nr.Varint() != 0;
                            else nr.Skip(w);
                        }
                    }
                    else r.Skip(wire);
                }
                if (d.Pieces.Count == 0) throw new FormatException("no pieces (is this a SentencePiece model?)");
                if (modelType != 1) throw new FormatException($"model type {modelType} is not UNIGRAM (1)");
                // control and unknown pieces become special tokens, matched in the raw text
                for (int id = 0; id < types.Count; id++)
                    if (types[id] == 2 || types[id] == 3)
                        d.Added.Add(new AddedToken { Id = id, Content = d.Pieces[id].Key });
            }
            catch (FormatException e) { throw new TokenizerFormatException(path, "not a SentencePiece model: " + e.Message, e); }
            catch (IndexOutOfRangeException e) { throw new TokenizerFormatException(path, "not a SentencePiece model: truncated", e); }
            catch (ArgumentException e) { throw new TokenizerFormatException(path, "not a SentencePiece model: " + e.Message, e); }
            for (int i = extraIds - 1; i >= 0; i--)
            {
                string extra = "<extra_id_" + i.ToString(CultureInfo.InvariantCulture) + ">";
                d.Added.Add(new AddedToken { Id = d.Pieces.Count, Content = extra, LStrip = true, RStrip = true });
                d.Pieces.Add(new KeyValuePair<string, double>(extra, 0.0));
            }
            d.UnkId = unkId;
            if (charsmap != null && charsmap.Length > 0)
            {
                try { d.Normalizers.Add(new PrecompiledStep(new PrecompiledCharsMap(charsmap))); }
                catch (FormatException e) { throw new TokenizerFormatException(path, e.Message, e); }
            }
            d.Normalizers.Add(new StripStep(false, true));
            d.Normalizers.Add(new ReplaceStep(null, new Regex(" {2,}", RegexOptions.CultureInvariant), "\u2581"));
            d.PreTokenizers.Add(new MetaspaceStep('\u2581', addDummyPrefix ? PrependScheme.Always : PrependScheme.Never, true));
            return new T5Tokenizer(d);
        }

        /// <summary>Just enough of the protobuf wire format.</summary>
        struct ProtoReader
        {
            readonly byte[] _b;
            int _pos;
            readonly int _end;

            public ProtoReader(byte[] b, int start, int end) { _b = b; _pos = start; _end = end; }

            public bool Next(out int field, out int wire)
            {
                if (_pos >= _end) { field = 0; wire = 0; return false; }
                ulong key = Varint();
                field = (int)(key >> 3);
                wire = (int)(key & 7);
                if (field == 0) throw new FormatException("field number 0");
                return true;
            }

            public ulong Varint()
            {
                ulong v = 0;
                for (int shift = 0; shift < 64; shift += 7)
                {
                    if (_pos >= _end) throw new FormatException("truncated varint");
                    byte c = _b[_pos++];
                    v |= (ulong)(c & 0x7F) << shift;
                    if (c < 0x80) return v;
                }
                throw new FormatException("varint longer than 10 bytes");
            }

            int Length()
            {
                ulong len = Varint();
                if (len > (ulong)(_end - _pos)) throw new FormatException("length runs past the end");
                return (int)len;
            }

            public ProtoReader Message()
            {
                int len = Length();
                var r = new ProtoReader(_b, _pos, _pos + len);
                _pos += len;
                return r;
            }

            public string String()
            {
                int len = Length();
                string s = new UTF8Encoding(false, true).GetString(_b, _pos, len);
                _pos += len;
                return s;
            }

            public byte[] Bytes()
            {
                int len = Length();
                var r = new byte[len];
                Buffer.BlockCopy(_b, _pos, r, 0, len);
                _pos += len;
                return r;
            }

            public float Fixed32Float()
            {
                if (_end - _pos < 4) throw new FormatException("truncated fixed32");
                int bits = _b[_pos] | (_b[_pos + 1] << 8) | (_b[_pos + 2] << 16) | (_b[_pos + 3] << 24);
                _pos += 4;
                return BitConverter.ToSingle(BitConverter.GetBytes(bits), 0);
            }

            public void Skip(int wire)
            {
                switch (wire)
                {
                    case 0: Varint(); break;
                    case 1: if (_end - _pos < 8) throw new FormatException("truncated fixed64"); _pos += 8; break;
                    case 2: { int len = Length(); _pos += len; break; } // not "_pos += Length()": that reads _pos first
                    case 5: if (_end - _pos < 4) throw new FormatException("truncated fixed32"); _pos += 4; break;
                    default: throw new FormatException($"unsupported wire type {wire}");
                }
            }
        }

        #endregion
    }
}
