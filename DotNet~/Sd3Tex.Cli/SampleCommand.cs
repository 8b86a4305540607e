using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using Sd3Tex.Checkpoints;
using Sd3Tex.Sampling;

namespace Sd3Tex.Cli;

/// <summary><c>sd3tex sample</c>: a full CFG sampling run from given noise and conditioning.</summary>
public static class SampleCommand
{
    static readonly string Help = $"""
        usage: sd3tex sample --weights <paths...> --inputs <in.safetensors> --output <out.safetensors>
                             [--steps N] [--cfg S] [--shift S] [--sampler euler|dpmpp_2m] [--denoise D] [--device D]

        Runs classifier-free-guidance sampling through the transformer from the tensors noise [B, 16, H, W],
        cond_context / uncond_context [B, T, ctx] and cond_pooled / uncond_pooled [B, pooled] of --inputs,
        and writes final_latent, latents_per_step [steps, B, 16, H, W], sigmas [steps + 1] and vae_input.

          --steps N     sampling steps (default 28)
          --cfg S       guidance scale (default 5.0)
          --shift S     schedule shift (default 3.0)
          --sampler     euler (default) or dpmpp_2m
          --denoise D   denoise strength in (0, 1] (default 1.0; below 1 skips the first steps, as for img2img)
          {ModelOptions.DeviceHelp}
        """;

    public static int Run(string[] argv, TextWriter stdout, TextWriter stderr)
    {
        var args = new Args(argv, new HashSet<string> { "help" });
        if (args.Flag("help")) { stdout.WriteLine(Help); return 0; }
        var weights = args.Many("weights");
        string inputs = args.Required("inputs"), output = args.Required("output"), device = args.One("device", "auto");
        int steps = args.Int("steps", 28);
        float cfgScale = (float)args.Double("cfg", 5.0), shift = (float)args.Double("shift", 3.0);
        double denoise = args.Double("denoise", 1.0);
        string samplerName = args.One("sampler", "euler");
        args.RejectUnknown();
        if (weights.Count == 0) throw new UsageException("--weights needs at least one path");
        if (steps < 1) throw new UsageException("--steps must be at least 1");
        if (!(shift > 0)) throw new UsageException("--shift must be positive");
        if (!(denoise > 0 && denoise <= 1)) throw new UsageException("--denoise must be in (0, 1]");
        if (!SamplerNames.TryParse(samplerName, out var sampler)) throw new UsageException($"--sampler must be euler or dpmpp_2m, not \"{samplerName}\"");

        using var ck = Checkpoint.Open(weights);
        using var model = ModelOptions.OpenMmdit(ck, device, stderr);
        var cfg = model.Config;
        using var inp = new TensorInputs(inputs);
        var noise = inp.Floats("noise", 4);
        var ns = inp.Shape("noise");
        int b = (int)ns[0], h = (int)ns[2], w = (int)ns[3];
        inp.Expect("noise", b, cfg.InChannels, h, w);
        var cs = inp.Shape("cond_context");
        if (cs.Length != 3 || cs[0] != b || cs[2] != cfg.ContextDim)
            throw new CheckpointException(inp.Path, $"\"cond_context\" has shape [{string.Join(", ", cs)}]; [{b}, T, {cfg.ContextDim}] is expected.");
        inp.Expect("uncond_context", cs);
        inp.Expect("cond_pooled", b, cfg.PooledDim);
        inp.Expect("uncond_pooled", b, cfg.PooledDim);
        int tokens = (int)cs[1];
        var context = inp.Floats("cond_context", 3).Concat(inp.Floats("uncond_context", 3)).ToArray();
        var pooled = inp.Floats("cond_pooled", 2).Concat(inp.Floats("uncond_pooled", 2)).ToArray();

        var sigmas = new FlowSchedule(shift).Sigmas(steps, denoise);
        int n = noise.Length, done = sigmas.Length - 1;
        var perStep = new float[(long)done * n];
        VelocityModel velocity = (x, batch, ts) => model.Forward(x, batch, h, w, ts, pooled, context, tokens);
        var sw = Stopwatch.StartNew();
        var final = Samplers.Sample(sampler, Cfg.Guided(velocity, b, cfgScale), Samplers.NoiseScaling(sigmas[0], noise), sigmas, (i, x) =>
        {
            x.CopyTo(perStep, (long)i * n);
            stderr.WriteLine($"step {i + 1}/{done}  sigma {sigmas[i]:0.0000}  {sw.Elapsed.TotalSeconds:0.0} s");
        });
        long[] latentShape = { b, cfg.InChannels, h, w };
        TensorInputs.WriteOutputs(output, new[]
        {
            ("final_latent", latentShape, final),
            ("latents_per_step", new long[] { done, b, cfg.InChannels, h, w }, perStep),
            ("sigmas", new long[] { sigmas.Length }, sigmas),
            ("vae_input", latentShape, Samplers.ToVaeInput(final)),
        });
        stdout.WriteLine(output);
        return 0;
    }
}
