using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using Sd3Tex.Checkpoints;

namespace Sd3Tex.Cli;

/// <summary><c>sd3tex mmdit --weights &lt;paths...&gt; --inputs in.safetensors --output out.safetensors [--device D]</c>.</summary>
public static class MmditCommand
{
    static readonly string Help = $"""
        usage: sd3tex mmdit --weights <paths...> --inputs <in.safetensors> --output <out.safetensors> [--device D]

        Evaluates the transformer once on the tensors x [B, 16, H, W], timestep [B] (sigma*1000),
        y [B, pooled] and context [B, T, ctx] of --inputs and writes the velocity prediction `out`
        [B, 16, H, W]. Use it to check this implementation against another one.

          --weights    checkpoint paths in any layout (see `sd3tex inspect --help`)
          {ModelOptions.DeviceHelp}
        """;

    public static int Run(string[] argv, TextWriter stdout, TextWriter stderr)
    {
        var args = new Args(argv, new HashSet<string> { "help" });
        if (args.Flag("help")) { stdout.WriteLine(Help); return 0; }
        var weights = args.Many("weights");
        string inputs = args.Required("inputs"), output = args.Required("output"), device = args.One("device", "auto");
        args.RejectUnknown();
        if (weights.Count == 0) throw new UsageException("--weights needs at least one path");
        if (args.Positional.Count > 0) throw new UsageException($"unexpected argument \"{args.Positional[0]}\"");

        using var ck = Checkpoint.Open(weights);
        using var model = ModelOptions.OpenMmdit(ck, device, stderr);
        var cfg = model.Config;
        using var inp = new TensorInputs(inputs);
        var x = inp.Floats("x", 4);
        var xs = inp.Shape("x");
        int b = (int)xs[0], h = (int)xs[2], w = (int)xs[3];
        inp.Expect("x", b, cfg.InChannels, h, w);
        inp.Expect("timestep", b);
        inp.Expect("y", b, cfg.PooledDim);
        var cs = inp.Shape("context");
        if (cs.Length != 3 || cs[0] != b || cs[2] != cfg.ContextDim)
            throw new CheckpointException(inp.Path, $"\"context\" has shape [{string.Join(", ", cs)}]; [{b}, T, {cfg.ContextDim}] is expected.");
        var sw = Stopwatch.StartNew();
        var outp = model.Forward(x, b, h, w, inp.Floats("timestep", 1), inp.Floats("y", 2), inp.Floats("context", 3), (int)cs[1]);
        stderr.WriteLine($"forward: {sw.Elapsed.TotalMilliseconds:0} ms");
        TensorInputs.WriteOutputs(output, new[] { ("out", new long[] { b, cfg.OutChannels, h, w }, outp) });
        stdout.WriteLine(output);
        return 0;
    }
}
