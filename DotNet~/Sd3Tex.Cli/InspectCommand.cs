using System.Collections.Generic;
using System.IO;
using System.Linq;
using Sd3Tex.Checkpoints;

namespace Sd3Tex.Cli;

/// <summary><c>sd3tex inspect &lt;paths...&gt; [--json] [--values]</c>.</summary>
public static class InspectCommand
{
    const string Help = """
        usage: sd3tex inspect <paths...> [--json] [--values]

        Opens a checkpoint in any layout and prints the detected family, each component (MMDiT, CLIP-L,
        CLIP-G, T5-XXL, VAE) with its inferred config, parameter count and dtypes, and any missing,
        unexpected or wrongly shaped tensors.

          <paths...>   a single-file checkpoint (sd3_medium_incl_clips.safetensors ...), separate files
                       (diffusion model + clip_l / clip_g / t5xxl files; write clip_g=PATH to name a role),
                       or a diffusers folder (the one holding model_index.json)
          --json       print JSON (snake_case keys) instead of text
          --values     also read every weight and list those holding NaN or Inf (a damaged download; the
                       JSON gets "non_finite": [{"tensor", "count", "elements"}]); exit code 1 when any does.
                       Reads the whole checkpoint, so it takes as long as reading the files
        """;

    public static int Run(string[] argv, TextWriter stdout, TextWriter stderr)
    {
        var args = new Args(argv, new HashSet<string> { "json", "help", "values" });
        if (args.Flag("help")) { stdout.WriteLine(Help); return 0; }
        bool json = args.Flag("json"), values = args.Flag("values");
        args.RejectUnknown();
        if (args.Positional.Count == 0) throw new UsageException("give at least one checkpoint path");
        using var ck = Checkpoint.Open(args.Positional);
        var report = CheckpointReport.Build(ck);
        List<NonFiniteWeight> bad = values ? CheckpointValues.FindNonFinite(ck) : null;
        if (json)
        {
            var j = report.ToJson();
            if (bad != null)
                j.Set("non_finite", Sd3Tex.Json.JsonValue.NewArray(bad.Select(b => Sd3Tex.Json.JsonValue.NewObject()
                    .Set("tensor", b.Name).Set("count", b.Count).Set("elements", b.Elements))));
            stdout.Write(j.ToJson(true) + "\n");
        }
        else
        {
            stdout.Write(report.ToText());
            if (bad != null)
            {
                stdout.WriteLine();
                if (bad.Count == 0) stdout.WriteLine("values: every weight is finite");
                else
                {
                    stdout.WriteLine($"values: {bad.Count} weight(s) hold NaN or Inf (the file is damaged: download it again):");
                    foreach (var b in bad) stdout.WriteLine("    " + b);
                }
            }
        }
        return bad != null && bad.Count > 0 ? 1 : 0;
    }
}
