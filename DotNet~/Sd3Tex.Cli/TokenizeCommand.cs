using System.Collections.Generic;
using System.IO;
using System.Linq;
using Sd3Tex.Json;
using Sd3Tex.Text;

namespace Sd3Tex.Cli;

/// <summary><c>sd3tex tokenize --prompt "..." [--tokenizers &lt;dir&gt;] [--json]</c>.</summary>
public static class TokenizeCommand
{
    const string Help = """
        usage: sd3tex tokenize --prompt "<text>" [--tokenizers <dir>] [--json]

        Prints the token ids SD3 / SD3.5 feed their text encoders for a prompt, exactly as the reference
        does: CLIP-L and CLIP-G (77 ids each: start, tokens, end, padded with 49407 / 0) and T5-XXL (the
        first 226 characters, then </s>, padded with 0 to at least 77). The weight syntax (text:1.3), (text)
        is parsed and removed; \( and \) are literal parentheses. CLIP sees only its first 77-token window:
        what falls beyond it is reported as dropped, on stderr and in the JSON.

          --prompt      the prompt
          --tokenizers  a diffusers model folder (tokenizer/, tokenizer_2/, tokenizer_3/ as in the Hugging Face
                        repository stabilityai/stable-diffusion-3-medium-diffusers), or a folder holding
                        clip/vocab.json, clip/merges.txt and t5/tokenizer.json (or t5/spiece.model);
                        default: the tokenizers bundled with the package
          --json        print {"clip_l": [...], "clip_g": [...], "t5xxl": [...], "clip_tokens": N,
                        "dropped_clip_tokens": N, "dropped_t5_characters": N, "warnings": [...]}
        """;

    public static int Run(string[] argv, TextWriter stdout, TextWriter stderr)
    {
        var args = new Args(argv, new HashSet<string> { "json", "help" });
        if (args.Flag("help")) { stdout.WriteLine(Help); return 0; }
        bool json = args.Flag("json");
        string prompt = args.Required("prompt");
        string folder = args.One("tokenizers");
        args.RejectUnknown();
        if (args.Positional.Count > 0) throw new UsageException($"unexpected argument \"{args.Positional[0]}\" (quote the prompt: --prompt \"...\")");
        var tokenizer = folder == null ? PackageTokenizers.Load() : Sd3Tokenizer.Load(folder);
        var r = tokenizer.Tokenize(prompt);
        foreach (var w in r.Warnings) stderr.WriteLine("warning: " + w);
        if (json)
        {
            static JsonValue Ids(long[] ids) => JsonValue.NewArray(ids.Select(JsonValue.From));
            var o = JsonValue.NewObject()
                .Set("clip_l", Ids(r.ClipL))
                .Set("clip_g", Ids(r.ClipG))
                .Set("t5xxl", Ids(r.T5))
                .Set("clip_tokens", r.ClipTokenCount)
                .Set("dropped_clip_tokens", r.DroppedClipTokens)
                .Set("dropped_t5_characters", r.DroppedT5Characters)
                .Set("warnings", JsonValue.NewArray(r.Warnings.Select(JsonValue.From)));
            stdout.Write(o.ToJson(true) + "\n");
        }
        else
        {
            stdout.WriteLine($"clip_l ({r.ClipL.Length}): {string.Join(" ", r.ClipL)}");
            stdout.WriteLine($"clip_g ({r.ClipG.Length}): {string.Join(" ", r.ClipG)}");
            stdout.WriteLine($"t5xxl ({r.T5.Length}): {string.Join(" ", r.T5)}");
            stdout.WriteLine($"clip tokens: {r.ClipTokenCount}, dropped: {r.DroppedClipTokens}; t5 characters dropped: {r.DroppedT5Characters}");
        }
        return 0;
    }
}
