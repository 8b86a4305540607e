using System;
using System.Collections.Generic;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using Sd3Tex.Json;

namespace Sd3Tex.Imaging
{
    /// <summary>
    /// What produced an image, stored in its PNG twice: as the AUTOMATIC1111 "parameters" text that
    /// stable-diffusion-webui, ComfyUI importers, stable-diffusion.cpp and civitai read, and as JSON (keyword
    /// <see cref="JsonKeyword"/>, snake_case keys) for exact round trips.
    /// <para>The A1111 layout (modules/processing.py <c>create_infotext</c>): the prompt, then
    /// <c>"\nNegative prompt: " + negative</c> when there is one, then a newline and the parameters as
    /// <c>"Key: value"</c> joined by <c>", "</c>, values quoted as JSON strings when they contain a comma, a colon or a
    /// newline; the whole text stripped of outer whitespace. For example:
    /// <c>a cat\nNegative prompt: blurry\nSteps: 28, Sampler: Euler, CFG scale: 4.5, Seed: 42, Size: 1024x1024, Model: sd3.5-medium, Shift: 3.0</c>.</para>
    /// Missing (null) values are left out.
    /// </summary>
    public sealed class GenerationParameters
    {
        /// <summary>The keyword of the A1111 text chunk.</summary>
        public const string A1111Keyword = "parameters";
        /// <summary>The keyword of the JSON text chunk.</summary>
        public const string JsonKeyword = "sd3tex";

        public string Prompt { get; set; } = "";
        public string NegativePrompt { get; set; } = "";
        public int? Steps { get; set; }
        /// <summary>The A1111 sampler name ("Euler", "DPM++ 2M"); see <see cref="SamplerDisplayName"/>.</summary>
        public string Sampler { get; set; }
        public double? CfgScale { get; set; }
        public long? Seed { get; set; }
        public int? Width { get; set; }
        public int? Height { get; set; }
        /// <summary>The model family or name (A1111's "Model").</summary>
        public string Model { get; set; }
        /// <summary>The flow schedule's shift.</summary>
        public double? Shift { get; set; }
        /// <summary>Further "Key: value" pairs, appended in order (e.g. "Seamless": "xy").</summary>
        public List<KeyValuePair<string, string>> Extra { get; } = new List<KeyValuePair<string, string>>();

        /// <summary>The A1111 name of one of our sampler names (euler → Euler, dpmpp_2m → DPM++ 2M); others unchanged.</summary>
        public static string SamplerDisplayName(string name)
        {
            switch ((name ?? "").ToLowerInvariant())
            {
                case "euler": return "Euler";
                case "dpmpp_2m": return "DPM++ 2M";
                default: return name;
            }
        }

        /// <summary>A float as Python's <c>str(float)</c> prints the usual values: 4.0, 4.5, 0.25.</summary>
        public static string FormatNumber(double v)
        {
            if (Math.Abs(v) < 1e15 && v == Math.Floor(v)) return v.ToString("0.0", CultureInfo.InvariantCulture);
            return v.ToString("R", CultureInfo.InvariantCulture);
        }

        /// <summary>A1111's <c>quote</c>: values with a comma, a colon or a newline become JSON strings.</summary>
        public static string Quote(string value)
        {
            if (value.IndexOf(',') < 0 && value.IndexOf('\n') < 0 && value.IndexOf(':') < 0) return value;
            var sb = new StringBuilder();
            JsonValue.WriteString(sb, value);
            return sb.ToString();
        }

        /// <summary>The ordered "Key: value" pairs of the parameter line.</summary>
        public List<KeyValuePair<string, string>> ParameterPairs()
        {
            var r = new List<KeyValuePair<string, string>>();
            void Add(string k, string v) { if (v != null) r.Add(new KeyValuePair<string, string>(k, v)); }
            Add("Steps", Steps?.ToString(CultureInfo.InvariantCulture));
            Add("Sampler", Sampler);
            Add("CFG scale", CfgScale.HasValue ? FormatNumber(CfgScale.Value) : null);
            Add("Seed", Seed?.ToString(CultureInfo.InvariantCulture));
            Add("Size", Width.HasValue && Height.HasValue ? $"{Width.Value.ToString(CultureInfo.InvariantCulture)}x{Height.Value.ToString(CultureInfo.InvariantCulture)}" : null);
            Add("Model", Model);
            Add("Shift", Shift.HasValue ? FormatNumber(Shift.Value) : null);
            foreach (var kv in Extra) Add(kv.Key, kv.Value);
            return r;
        }

        /// <summary>The A1111 "parameters" text.</summary>
        public string ToA1111()
        {
            var parts = new List<string>();
            foreach (var kv in ParameterPairs()) parts.Add(kv.Key == kv.Value ? kv.Key : kv.Key + ": " + Quote(kv.Value));
            string neg = string.IsNullOrEmpty(NegativePrompt) ? "" : "\nNegative prompt: " + NegativePrompt;
            return ((Prompt ?? "") + neg + "\n" + string.Join(", ", parts)).Trim();
        }

        // A1111's re_param: key, then a JSON-quoted or plain value up to the next comma
        static readonly Regex Param = new Regex(@"\s*(\w[\w \-/]+):\s*(""(?:\\.|[^\\""])+""|[^,]*)(?:,|$)", RegexOptions.CultureInvariant);

        /// <summary>Parses an A1111 "parameters" text (as A1111's <c>parse_generation_parameters</c>: the last line is
        /// the parameter line when it holds at least three "Key: value" pairs).</summary>
        public static GenerationParameters ParseA1111(string text)
        {
            var r = new GenerationParameters();
            var lines = new List<string>((text ?? "").Trim().Split('\n'));
            string last = lines.Count > 0 ? lines[lines.Count - 1] : "";
            var matches = Param.Matches(last);
            if (matches.Count >= 3) lines.RemoveAt(lines.Count - 1);
            else matches = Param.Matches("");
            var prompt = new List<string>();
            List<string> neg = null;
            foreach (var line in lines)
            {
                if (neg == null && line.StartsWith("Negative prompt:", StringComparison.Ordinal))
                {
                    neg = new List<string> { line.Substring("Negative prompt:".Length).Trim() };
                    continue;
                }
                (neg ?? prompt).Add(line);
            }
            r.Prompt = string.Join("\n", prompt);
            r.NegativePrompt = neg == null ? "" : string.Join("\n", neg);
            foreach (Match m in matches)
            {
                string k = m.Groups[1].Value.Trim(), v = m.Groups[2].Value.Trim();
                if (v.Length >= 2 && v[0] == '"' && v[v.Length - 1] == '"')
                {
                    try { v = JsonValue.Parse(v).AsString; } catch (FormatException) { }
                }
                r.SetPair(k, v);
            }
            return r;
        }

        void SetPair(string k, string v)
        {
            var inv = CultureInfo.InvariantCulture;
            switch (k)
            {
                case "Steps": if (int.TryParse(v, NumberStyles.Integer, inv, out int steps)) { Steps = steps; return; } break;
                case "Sampler": Sampler = v; return;
                case "CFG scale": if (double.TryParse(v, NumberStyles.Float, inv, out double cfg)) { CfgScale = cfg; return; } break;
                case "Seed": if (long.TryParse(v, NumberStyles.Integer, inv, out long seed)) { Seed = seed; return; } break;
                case "Size":
                    int x = v.IndexOf('x');
                    if (x > 0 && int.TryParse(v.Substring(0, x), NumberStyles.Integer, inv, out int w) &&
                        int.TryParse(v.Substring(x + 1), NumberStyles.Integer, inv, out int h)) { Width = w; Height = h; return; }
                    break;
                case "Model": Model = v; return;
                case "Shift": if (double.TryParse(v, NumberStyles.Float, inv, out double shift)) { Shift = shift; return; } break;
            }
            Extra.Add(new KeyValuePair<string, string>(k, v));
        }

        /// <summary>The JSON form (snake_case keys; null values left out; extras under "extra").</summary>
        public JsonValue ToJson()
        {
            var j = JsonValue.NewObject();
            j.Set("prompt", Prompt ?? "");
            j.Set("negative_prompt", NegativePrompt ?? "");
            if (Steps.HasValue) j.Set("steps", Steps.Value);
            if (Sampler != null) j.Set("sampler", Sampler);
            if (CfgScale.HasValue) j.Set("cfg_scale", CfgScale.Value);
            if (Seed.HasValue) j.Set("seed", Seed.Value);
            if (Width.HasValue) j.Set("width", Width.Value);
            if (Height.HasValue) j.Set("height", Height.Value);
            if (Model != null) j.Set("model", Model);
            if (Shift.HasValue) j.Set("shift", Shift.Value);
            if (Extra.Count > 0)
            {
                var e = JsonValue.NewObject();
                foreach (var kv in Extra) e.Set(kv.Key, kv.Value);
                j.Set("extra", e);
            }
            return j;
        }

        public static GenerationParameters FromJson(JsonValue j)
        {
            if (j == null || j.Kind != JsonKind.Object) throw new FormatException("generation parameters must be a JSON object.");
            var r = new GenerationParameters
            {
                Prompt = j["prompt"]?.AsString ?? "",
                NegativePrompt = j["negative_prompt"]?.AsString ?? "",
                Sampler = j["sampler"]?.AsString,
                Model = j["model"]?.AsString,
            };
            if (j.Has("steps")) r.Steps = (int)j["steps"].AsLong;
            if (j.Has("cfg_scale")) r.CfgScale = j["cfg_scale"].AsDouble;
            if (j.Has("seed")) r.Seed = j["seed"].AsLong;
            if (j.Has("width")) r.Width = (int)j["width"].AsLong;
            if (j.Has("height")) r.Height = (int)j["height"].AsLong;
            if (j.Has("shift")) r.Shift = j["shift"].AsDouble;
            if (j["extra"] != null)
                foreach (var kv in j["extra"].Properties) r.Extra.Add(new KeyValuePair<string, string>(kv.Key, kv.Value.AsString));
            return r;
        }

        /// <summary>The two PNG text chunks, "parameters" and the JSON, each tEXt when its text is Latin-1 and iTXt
        /// (UTF-8) otherwise, as Pillow writes them.</summary>
        public IReadOnlyList<PngText> ToPngTexts() => new[]
        {
            PngText.Auto(A1111Keyword, ToA1111()),
            PngText.Auto(JsonKeyword, ToJson().ToJson(false)),
        };

        /// <summary>The parameters of a PNG: from the JSON chunk when present, else parsed from "parameters"; null
        /// when it has neither.</summary>
        public static GenerationParameters FromPng(PngFile png)
        {
            string json = png.Text(JsonKeyword);
            if (json != null) return FromJson(JsonValue.Parse(json));
            string a1111 = png.Text(A1111Keyword);
            return a1111 != null ? ParseA1111(a1111) : null;
        }
    }
}
