using System;
using System.Collections.Generic;
using System.Globalization;
using System.Text;

namespace Sd3Tex.Json
{
    public enum JsonKind { Null, Bool, Number, String, Array, Object }

    /// <summary>Thrown for malformed JSON; the message gives the offset and what was expected.</summary>
    /// <summary>Code-generation hints for the parsing and inspection paths that short-lived tools run over megabytes of
    /// safetensors headers (<c>sd3tex models</c>, <c>inspect</c>).</summary>
    internal static class JitHints
    {
        /// <summary><c>MethodImplOptions.AggressiveOptimization</c> (512; .NET Standard 2.1 does not name it): compiled
        /// optimised at once instead of tier 0 first. Runtimes that do not know it (Mono) ignore it.</summary>
        public const System.Runtime.CompilerServices.MethodImplOptions Optimize = (System.Runtime.CompilerServices.MethodImplOptions)512;
    }

    public sealed class JsonException : FormatException
    {
        public long Offset { get; }
        public JsonException(string message, long offset) : base($"{message} (at offset {offset})") { Offset = offset; }
    }

    /// <summary>A small immutable JSON value. Unity's .NET Standard 2.1 profile has no System.Text.Json, so the
    /// package carries its own: enough for safetensors headers, diffusers configs, manifests and CLI output.</summary>
    public sealed class JsonValue
    {
        public static readonly JsonValue Null = new JsonValue(JsonKind.Null);
        public static readonly JsonValue True = new JsonValue(JsonKind.Bool) { _bool = true };
        public static readonly JsonValue False = new JsonValue(JsonKind.Bool);

        public JsonKind Kind { get; }
        bool _bool;
        double _number;
        long _integer;
        bool _isInteger;
        string _string;
        List<JsonValue> _array;
        List<KeyValuePair<string, JsonValue>> _object;
        Dictionary<string, JsonValue> _index;

        JsonValue(JsonKind kind) { Kind = kind; }

        public static JsonValue From(bool b) => b ? True : False;
        public static JsonValue From(string s) => s == null ? Null : new JsonValue(JsonKind.String) { _string = s };
        public static JsonValue From(long v) => new JsonValue(JsonKind.Number) { _integer = v, _number = v, _isInteger = true };
        public static JsonValue From(double v) => new JsonValue(JsonKind.Number) { _number = v, _integer = (long)v, _isInteger = false };
        public static JsonValue NewArray(IEnumerable<JsonValue> items = null)
            => new JsonValue(JsonKind.Array) { _array = items == null ? new List<JsonValue>() : new List<JsonValue>(items) };
        public static JsonValue NewObject() => new JsonValue(JsonKind.Object)
            { _object = new List<KeyValuePair<string, JsonValue>>(), _index = new Dictionary<string, JsonValue>(StringComparer.Ordinal) };

        public bool IsNull => Kind == JsonKind.Null;
        public bool IsInteger => Kind == JsonKind.Number && _isInteger;
        public bool AsBool => Kind == JsonKind.Bool ? _bool : throw new InvalidOperationException("not a JSON bool");
        public double AsDouble => Kind == JsonKind.Number ? _number : throw new InvalidOperationException("not a JSON number");
        public long AsLong => Kind == JsonKind.Number && _isInteger ? _integer : throw new InvalidOperationException("not a JSON integer");
        public string AsString => Kind == JsonKind.String ? _string : throw new InvalidOperationException("not a JSON string");
        public IReadOnlyList<JsonValue> Items => Kind == JsonKind.Array ? _array : throw new InvalidOperationException("not a JSON array");
        public IReadOnlyList<KeyValuePair<string, JsonValue>> Properties
            => Kind == JsonKind.Object ? _object : throw new InvalidOperationException("not a JSON object");

        /// <summary>Member of an object, or null when absent (or when this is not an object).</summary>
        public JsonValue this[string key] => Kind == JsonKind.Object && _index.TryGetValue(key, out var v) ? v : null;

        public bool Has(string key) => this[key] != null;

        public JsonValue Add(JsonValue item)
        {
            if (Kind != JsonKind.Array) throw new InvalidOperationException("not a JSON array");
            _array.Add(item ?? Null);
            return this;
        }

        /// <summary>Sets a member, keeping insertion order (replaces an existing key in place).</summary>
        public JsonValue Set(string key, JsonValue value)
        {
            if (Kind != JsonKind.Object) throw new InvalidOperationException("not a JSON object");
            value ??= Null;
            if (_index.ContainsKey(key))
            {
                int i = _object.FindIndex(p => p.Key == key);
                _object[i] = new KeyValuePair<string, JsonValue>(key, value);
            }
            else _object.Add(new KeyValuePair<string, JsonValue>(key, value));
            _index[key] = value;
            return this;
        }
        public JsonValue Set(string key, string value) => Set(key, From(value));
        public JsonValue Set(string key, long value) => Set(key, From(value));
        public JsonValue Set(string key, double value) => Set(key, From(value));
        public JsonValue Set(string key, bool value) => Set(key, From(value));

        #region Parsing

        /// <summary>Parses a whole document. Depth is bounded so hostile input cannot overflow the stack.</summary>
        public static JsonValue Parse(string text, int maxDepth = 64)
        {
            if (text == null) throw new ArgumentNullException(nameof(text));
            var p = new Parser(text, maxDepth);
            p.SkipWs();
            var v = p.ParseValue(0);
            p.SkipWs();
            if (p.Pos != text.Length) throw new JsonException("unexpected text after the JSON value", p.Pos);
            return v;
        }

        public static JsonValue Parse(byte[] utf8, int maxDepth = 64) => Parse(DecodeUtf8(utf8, 0, utf8.Length), maxDepth);

        /// <summary>Strict UTF-8 decoding: invalid bytes are an error, not silently replaced.</summary>
        public static string DecodeUtf8(byte[] bytes, int offset, int count)
        {
            try { return new UTF8Encoding(false, true).GetString(bytes, offset, count); }
            catch (DecoderFallbackException e) { throw new JsonException("invalid UTF-8", e.Index); }
        }

        /// <summary>The parse methods skip tiered compilation (AggressiveOptimization): a short-lived tool parsing
        /// megabytes of safetensors headers would otherwise run them unoptimised.</summary>
        struct Parser
        {
            readonly string _s;
            readonly int _maxDepth;
            public int Pos;

            public Parser(string s, int maxDepth) { _s = s; _maxDepth = maxDepth; Pos = 0; }

            [System.Runtime.CompilerServices.MethodImpl(Sd3Tex.Json.JitHints.Optimize)]
            public void SkipWs()
            {
                while (Pos < _s.Length)
                {
                    char c = _s[Pos];
                    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') Pos++;
                    else break;
                }
            }

            JsonException Error(string what) => new JsonException(what, Pos);

            [System.Runtime.CompilerServices.MethodImpl(Sd3Tex.Json.JitHints.Optimize)]
            public JsonValue ParseValue(int depth)
            {
                if (depth > _maxDepth) throw Error($"nesting deeper than {_maxDepth}");
                if (Pos >= _s.Length) throw Error("unexpected end of JSON");
                char c = _s[Pos];
                switch (c)
                {
                    case '{': return ParseObject(depth);
                    case '[': return ParseArray(depth);
                    case '"': return From(ParseString());
                    case 't': Expect("true"); return True;
                    case 'f': Expect("false"); return False;
                    case 'n': Expect("null"); return Null;
                    default:
                        if (c == '-' || (c >= '0' && c <= '9')) return ParseNumber();
                        throw Error($"unexpected character '{Printable(c)}'");
                }
            }

            static string Printable(char c) => c < ' ' || c > '~' ? $"\\u{(int)c:x4}" : c.ToString();

            void Expect(string word)
            {
                if (string.CompareOrdinal(_s, Pos, word, 0, word.Length) != 0) throw Error($"expected '{word}'");
                Pos += word.Length;
            }

            [System.Runtime.CompilerServices.MethodImpl(Sd3Tex.Json.JitHints.Optimize)]
            JsonValue ParseObject(int depth)
            {
                var o = NewObject();
                Pos++; SkipWs();
                if (Pos < _s.Length && _s[Pos] == '}') { Pos++; return o; }
                while (true)
                {
                    SkipWs();
                    if (Pos >= _s.Length || _s[Pos] != '"') throw Error("expected a string key");
                    string key = ParseString();
                    SkipWs();
                    if (Pos >= _s.Length || _s[Pos] != ':') throw Error("expected ':'");
                    Pos++; SkipWs();
                    var v = ParseValue(depth + 1);
                    if (o._index.ContainsKey(key)) throw Error($"duplicate key \"{key}\"");
                    o._object.Add(new KeyValuePair<string, JsonValue>(key, v));
                    o._index[key] = v;
                    SkipWs();
                    if (Pos >= _s.Length) throw Error("unexpected end of JSON in an object");
                    if (_s[Pos] == ',') { Pos++; continue; }
                    if (_s[Pos] == '}') { Pos++; return o; }
                    throw Error("expected ',' or '}'");
                }
            }

            [System.Runtime.CompilerServices.MethodImpl(Sd3Tex.Json.JitHints.Optimize)]
            JsonValue ParseArray(int depth)
            {
                var a = NewArray();
                Pos++; SkipWs();
                if (Pos < _s.Length && _s[Pos] == ']') { Pos++; return a; }
                while (true)
                {
                    SkipWs();
                    a._array.Add(ParseValue(depth + 1));
                    SkipWs();
                    if (Pos >= _s.Length) throw Error("unexpected end of JSON in an array");
                    if (_s[Pos] == ',') { Pos++; continue; }
                    if (_s[Pos] == ']') { Pos++; return a; }
                    throw Error("expected ',' or ']'");
                }
            }

            [System.Runtime.CompilerServices.MethodImpl(Sd3Tex.Json.JitHints.Optimize)]
            string ParseString()
            {
                Pos++; // opening quote
                StringBuilder sb = null;
                int start = Pos;
                while (true)
                {
                    if (Pos >= _s.Length) throw Error("unterminated string");
                    char c = _s[Pos];
                    if (c == '"')
                    {
                        string r = sb == null ? _s.Substring(start, Pos - start) : sb.Append(_s, start, Pos - start).ToString();
                        Pos++;
                        return r;
                    }
                    if (c < ' ') throw Error("control character in a string");
                    if (c != '\\') { Pos++; continue; }
                    sb ??= new StringBuilder();
                    sb.Append(_s, start, Pos - start);
                    Pos++;
                    if (Pos >= _s.Length) throw Error("unterminated escape");
                    char e = _s[Pos++];
                    switch (e)
                    {
                        case '"': sb.Append('"'); break;
                        case '\\': sb.Append('\\'); break;
                        case '/': sb.Append('/'); break;
                        case 'b': sb.Append('\b'); break;
                        case 'f': sb.Append('\f'); break;
                        case 'n': sb.Append('\n'); break;
                        case 'r': sb.Append('\r'); break;
                        case 't': sb.Append('\t'); break;
                        case 'u':
                            if (Pos + 4 > _s.Length) throw Error("short \\u escape");
                            int code = 0;
                            for (int i = 0; i < 4; i++)
                            {
                                int d = HexValue(_s[Pos + i]);
                                if (d < 0) throw Error("bad hex digit in \\u escape");
                                code = code * 16 + d;
                            }
                            Pos += 4;
                            sb.Append((char)code);
                            break;
                        default: throw Error($"bad escape '\\{Printable(e)}'");
                    }
                    start = Pos;
                }
            }

            static int HexValue(char c) =>
                c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;

            [System.Runtime.CompilerServices.MethodImpl(Sd3Tex.Json.JitHints.Optimize)]
            JsonValue ParseNumber()
            {
                int start = Pos;
                if (_s[Pos] == '-') Pos++;
                if (Pos >= _s.Length || !char.IsDigit(_s[Pos])) throw Error("bad number");
                if (_s[Pos] == '0') Pos++;
                else while (Pos < _s.Length && _s[Pos] >= '0' && _s[Pos] <= '9') Pos++;
                bool isInt = true;
                if (Pos < _s.Length && _s[Pos] == '.')
                {
                    isInt = false; Pos++;
                    if (Pos >= _s.Length || !(_s[Pos] >= '0' && _s[Pos] <= '9')) throw Error("bad number");
                    while (Pos < _s.Length && _s[Pos] >= '0' && _s[Pos] <= '9') Pos++;
                }
                if (Pos < _s.Length && (_s[Pos] == 'e' || _s[Pos] == 'E'))
                {
                    isInt = false; Pos++;
                    if (Pos < _s.Length && (_s[Pos] == '+' || _s[Pos] == '-')) Pos++;
                    if (Pos >= _s.Length || !(_s[Pos] >= '0' && _s[Pos] <= '9')) throw Error("bad number");
                    while (Pos < _s.Length && _s[Pos] >= '0' && _s[Pos] <= '9') Pos++;
                }
                if (isInt && Pos - start <= 18)
                {
                    // the common case (shapes, offsets): digits straight to a long, no substring
                    long v = 0;
                    for (int i = _s[start] == '-' ? start + 1 : start; i < Pos; i++) v = v * 10 + (_s[i] - '0');
                    return From(_s[start] == '-' ? -v : v);
                }
                string text = _s.Substring(start, Pos - start);
                if (isInt && long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long l))
                    return From(l);
                return From(double.Parse(text, NumberStyles.Float, CultureInfo.InvariantCulture));
            }
        }

        #endregion

        #region Writing

        public override string ToString() => ToJson(false);

        public string ToJson(bool indented)
        {
            var sb = new StringBuilder();
            Write(sb, indented, 0);
            return sb.ToString();
        }

        void Write(StringBuilder sb, bool indented, int level)
        {
            switch (Kind)
            {
                case JsonKind.Null: sb.Append("null"); break;
                case JsonKind.Bool: sb.Append(_bool ? "true" : "false"); break;
                case JsonKind.Number:
                    if (_isInteger) sb.Append(_integer.ToString(CultureInfo.InvariantCulture));
                    else if (double.IsNaN(_number) || double.IsInfinity(_number)) sb.Append("null");
                    else sb.Append(_number.ToString("R", CultureInfo.InvariantCulture));
                    break;
                case JsonKind.String: WriteString(sb, _string); break;
                case JsonKind.Array:
                    if (_array.Count == 0) { sb.Append("[]"); break; }
                    bool scalars = _array.TrueForAll(v => v.Kind != JsonKind.Array && v.Kind != JsonKind.Object);
                    sb.Append('[');
                    for (int i = 0; i < _array.Count; i++)
                    {
                        if (i > 0) sb.Append(indented && scalars ? ", " : ",");
                        if (indented && !scalars) NewLine(sb, level + 1);
                        _array[i].Write(sb, indented, level + 1);
                    }
                    if (indented && !scalars) NewLine(sb, level);
                    sb.Append(']');
                    break;
                case JsonKind.Object:
                    if (_object.Count == 0) { sb.Append("{}"); break; }
                    sb.Append('{');
                    for (int i = 0; i < _object.Count; i++)
                    {
                        if (i > 0) sb.Append(',');
                        if (indented) NewLine(sb, level + 1);
                        WriteString(sb, _object[i].Key);
                        sb.Append(indented ? ": " : ":");
                        _object[i].Value.Write(sb, indented, level + 1);
                    }
                    if (indented) NewLine(sb, level);
                    sb.Append('}');
                    break;
            }
        }

        static void NewLine(StringBuilder sb, int level) { sb.Append('\n'); sb.Append(' ', level * 2); }

        public static void WriteString(StringBuilder sb, string s)
        {
            sb.Append('"');
            foreach (char c in s)
            {
                switch (c)
                {
                    case '"': sb.Append("\\\""); break;
                    case '\\': sb.Append("\\\\"); break;
                    case '\n': sb.Append("\\n"); break;
                    case '\r': sb.Append("\\r"); break;
                    case '\t': sb.Append("\\t"); break;
                    default:
                        if (c < ' ') sb.Append("\\u").Append(((int)c).ToString("x4"));
                        else sb.Append(c);
                        break;
                }
            }
            sb.Append('"');
        }

        #endregion
    }
}
