using System;
using System.Collections.Generic;
using System.IO;
using Sd3Tex.Checkpoints;

namespace Sd3Tex.Cli;

/// <summary><c>sd3tex</c>: the headless command-line tool. Exit codes: 0 success, 1 failure (bad input, I/O), 2 usage error.</summary>
public static class Program
{
    static readonly Dictionary<string, (string summary, Func<string[], TextWriter, TextWriter, int> run)> Verbs = new()
    {
        ["generate"] = ("generate textures from a prompt (or from an image: --init-image, --mask) and write PNGs with their parameters", GenerateCommand.Run),
        ["seamless"] = ("make an image tile: roll it by half, inpaint a band over the seam with seamless generation, roll back; prints the seam metric", SeamlessCommand.Run),
        ["bake"] = ("bake every texture of a JSON manifest: skips what is up to date, resumes, continues past failures, --shard i/n", BakeCommand.Run),
        ["models"] = ("list the SD3 / SD3.5 checkpoints found in the Hugging Face cache, a ComfyUI install and $SD3TEX_MODELS folders (--json)", ModelsCommand.Run),
        ["inspect"] = ("print the family, components, configs and missing tensors of a checkpoint", InspectCommand.Run),
        ["encode"] = ("run the text encoders (CLIP-L, CLIP-G, T5-XXL) on token ids and write their outputs and SD3's conditioning", EncodeCommand.Run),
        ["mmdit"] = ("evaluate the transformer once on given inputs (for checking against other implementations)", MmditCommand.Run),
        ["sample"] = ("run CFG sampling (euler, dpmpp_2m) through the transformer from given noise and conditioning", SampleCommand.Run),
        ["tokenize"] = ("print the CLIP-L, CLIP-G and T5-XXL token ids of a prompt, as SD3 tokenizes it", TokenizeCommand.Run),
        ["compile-kernels"] = ("compile every kernel for CUDA (PTX) and OpenCL without a GPU, and report registers and sizes", CompileKernelsCommand.Run),
        ["make-random-checkpoint"] = ("write random weights with the exact names and shapes of a family (tests, benchmarks)", MakeRandomCheckpointCommand.Run),
        ["pbr"] = ("derive tileable material maps (height, normal, roughness, AO, HDRP mask, URP metallic-smoothness) from albedo images", PbrCommand.Run),
        ["decode"] = ("decode a latent with the VAE into PNG images (seamless, tiled, with generation metadata)", DecodeCommand.Run),
    };

    public static int Main(string[] args) => Run(args, Console.Out, Console.Error);

    public static int Run(string[] args, TextWriter stdout, TextWriter stderr)
    {
        if (args.Length == 0 || args[0] is "-h" or "--help" or "help")
        {
            PrintHelp(stdout);
            return args.Length == 0 ? 2 : 0;
        }
        if (args[0] == "--version")
        {
            stdout.WriteLine(typeof(Program).Assembly.GetName().Version);
            return 0;
        }
        if (!Verbs.TryGetValue(args[0], out var verb))
        {
            stderr.WriteLine($"sd3tex: unknown verb \"{args[0]}\"");
            PrintHelp(stderr);
            return 2;
        }
        try
        {
            return verb.run(args[1..], stdout, stderr);
        }
        catch (UsageException e)
        {
            stderr.WriteLine($"sd3tex {args[0]}: {e.Message}. Run `sd3tex {args[0]} --help`.");
            return 2;
        }
        catch (Exception e) when (ExitCode(e) is int code)
        {
            stderr.WriteLine($"sd3tex {args[0]}: {e.Message}");
            return code;
        }
    }

    /// <summary>The exit code of an error the user can act on (its message says how): 2 for a request that cannot
    /// run, 1 for bad input, memory, devices and I/O; null for a bug, which is left to crash with its stack trace.</summary>
    static int? ExitCode(Exception e) => e switch
    {
        Sd3Tex.Generation.GenerationRequestException => 2,
        CheckpointException or Sd3Tex.Generation.GenerationMemoryException or Sd3Tex.Generation.GenerationNumericsException
            or Sd3Tex.Kernels.NonFiniteValuesException or Sd3Tex.Baking.BakeManifestException
            or Sd3Tex.Vae.VaeMemoryException or Sd3Tex.Imaging.ImageFileException or Sd3Tex.Kernels.DeviceException
            or IOException or UnauthorizedAccessException => 1,
        _ => null,
    };

    static void PrintHelp(TextWriter w)
    {
        w.WriteLine("sd3tex: Stable Diffusion 3 / 3.5 texture generation (ILGPU, no Python)");
        w.WriteLine();
        w.WriteLine("usage: sd3tex <verb> [options]   (sd3tex <verb> --help for a verb's options)");
        w.WriteLine();
        foreach (var kv in Verbs) w.WriteLine($"  {kv.Key,-12} {kv.Value.summary}");
    }
}
