using System.Collections.Generic;
using System.IO;
using Sd3Tex.Checkpoints;

namespace Sd3Tex.Cli;

/// <summary><c>sd3tex inspect &lt;paths...&gt; [--json]</c>.</summary>
public static class InspectCommand
{
    const string Help = """
        usage: sd3tex inspect <paths...> [--json]

        Opens a checkpoint in any layout and prints the detected family, each component (MMDiT, CLIP-L,
        CLIP-G, T5-XXL, VAE) with its inferred config, parameter count and dtypes, and any missing,
        unexpected or wrongly shaped tensors.

          <paths...>   a single-file checkpoint (sd3_medium_incl_clips.safetensors ...), separate files
                       (diffusion model + clip_l / clip_g / t5xxl files; write clip_g=PATH to name a role),
                       or a diffusers folder (the one holding model_index.json)
          --json       print JSON (snake_case keys) instead of text
        """;

    public static int Run(string[] argv, TextWriter stdout, TextWriter stderr)
    {
        var args = new Args(argv, new HashSet<string> { "json", "help" });
        if (args.Flag("help")) { stdout.WriteLine(Help); return 0; }
        bool json = args.Flag("json");
        args.RejectUnknown();
        if (args.Positional.Count == 0) throw new UsageException("give at least one checkpoint path");
        using var ck = Checkpoint.Open(args.Positional);
        var report = CheckpointReport.Build(ck);
        stdout.Write(json ? report.ToJson().ToJson(true) + "\n" : report.ToText());
        return 0;
    }
}
