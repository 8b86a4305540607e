using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using Sd3Tex.Checkpoints;
using Sd3Tex.Imaging;
using Sd3Tex.Kernels;
using Sd3Tex.Models;
using Sd3Tex.Reference;
using Sd3Tex.Vae;

namespace Sd3Tex.Cli;

/// <summary><c>sd3tex decode</c>: the VAE decoder from a sampler-space latent to PNG images.</summary>
public static class DecodeCommand
{
    static readonly string Help = $"""
        usage: sd3tex decode --weights <paths...> --latent <in.safetensors> --output <image.png>
                             [--raw <out.safetensors>] [--seamless x|y|xy] [--tile N] [--tile-overlap N]
                             [--memory-budget MiB] [--device D]

        Decodes the tensor `latent` [B, 16, h, w] of --latent (sampler space, as `sd3tex sample` writes
        final_latent; un-scaled here by latent / 1.5305 + 0.0609) with the VAE of --weights into 8-bit PNGs of
        8w × 8h pixels. With B > 1, image i is written to <name>_<i>.png. The PNGs carry the generation
        parameters as an AUTOMATIC1111 "parameters" text chunk and as JSON ("sd3tex" chunk).

          --weights        checkpoint paths in any layout holding the VAE (see `sd3tex inspect --help`)
          --raw PATH       also write the float image [B, 3, 8h, 8w] (tensor `image`, nominally in [-1, 1])
          --seamless AXES  x, y or xy: every convolution pads circularly, so the image tiles along those axes
          --tile N         decode in tiles of N × N latent cells (default: only when the whole image does not fit
                           the memory budget); tiles overlap and are blended linearly
          --tile-overlap N latent cells shared by neighbouring tiles (default: a quarter of the tile, 1 to 16)
          --memory-budget MiB  device memory the decoder may use, weights included (default: the free memory of
                           a GPU; 16 GiB for the CPU accelerator and the reference)
          {ModelOptions.DeviceHelp}
        """;

    public static int Run(string[] argv, TextWriter stdout, TextWriter stderr)
    {
        var args = new Args(argv, new HashSet<string> { "help" });
        if (args.Flag("help")) { stdout.WriteLine(Help); return 0; }
        var weights = args.Many("weights");
        string latentPath = args.Required("latent"), output = args.Required("output"), raw = args.One("raw");
        string device = args.One("device", "auto"), seamlessText = args.One("seamless", "none");
        int tile = args.Int("tile", 0), overlap = args.Int("tile-overlap", 0);
        double budgetMiB = args.Double("memory-budget", 0);
        args.RejectUnknown();
        if (weights.Count == 0) throw new UsageException("--weights needs at least one path");
        if (args.Positional.Count > 0) throw new UsageException($"unexpected argument \"{args.Positional[0]}\"");
        if (!SeamlessAxesNames.TryParse(seamlessText, out var seamless)) throw new UsageException($"--seamless must be x, y or xy, not \"{seamlessText}\"");
        if (tile < 0 || overlap < 0) throw new UsageException("--tile and --tile-overlap must not be negative");
        if (budgetMiB < 0) throw new UsageException("--memory-budget must not be negative");
        if (!output.EndsWith(".png", System.StringComparison.OrdinalIgnoreCase)) throw new UsageException("--output must name a .png file");

        using var ck = Checkpoint.Open(weights);
        var vaeWeights = ck.ComponentWeights(Component.Vae);
        if (vaeWeights.Count == 0)
            throw new CheckpointException(null, "the --weights hold no VAE (no first_stage_model.* / vae tensors). Add the VAE or a single-file checkpoint that includes it.");
        var report = CheckpointReport.Build(ck);
        var vaeReport = report[Component.Vae];
        if (vaeReport.Error != null) throw new CheckpointException(null, vaeReport.Error);
        if (!vaeReport.Check.IsComplete)
            throw new CheckpointException(null, $"the VAE decoder is incomplete: {vaeReport.Check.Missing.Count} missing and {vaeReport.Check.WrongShape.Count} wrongly shaped tensors " +
                                                $"(first: {string.Join(", ", vaeReport.Check.Missing)}{string.Join(", ", vaeReport.Check.WrongShape)}). Run `sd3tex inspect` for details.");

        using var inp = new TensorInputs(latentPath);
        var latent = inp.Floats("latent", 4);
        var shape = inp.Shape("latent");
        int b = (int)shape[0], h = (int)shape[2], w = (int)shape[3];

        using IVaeDecoder vae = Open(vaeWeights, device, stderr);
        var cfg = vae.Config;
        inp.Expect("latent", b, cfg.LatentChannels, h, w);
        var options = new VaeDecodeOptions
        {
            Seamless = seamless, TileSize = tile, TileOverlap = overlap, MemoryBudget = (long)(budgetMiB * (1 << 20)),
        };
        var sw = Stopwatch.StartNew();
        var image = VaeTiling.Decode(vae, latent, b, h, w, options, out var plan);
        stderr.WriteLine($"decode: {plan}; {sw.Elapsed.TotalMilliseconds:0} ms");

        var parameters = new GenerationParameters { Width = image.Width, Height = image.Height };
        if (report.Family != ModelFamily.Unknown) parameters.Model = ModelFamilies.Key(report.Family);
        if (seamless != SeamlessAxes.None) parameters.Extra.Add(new KeyValuePair<string, string>("Seamless", SeamlessAxesNames.Name(seamless)));
        var texts = parameters.ToPngTexts();
        string stem = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(output)), Path.GetFileNameWithoutExtension(output));
        for (int i = 0; i < b; i++)
        {
            string path = b == 1 ? output : $"{stem}_{i}.png";
            PngWriter.Write(path, ImageRgba8.FromVaeImage(image, i), texts, alpha: false);
            stdout.WriteLine(path);
        }
        if (raw != null)
        {
            TensorInputs.WriteOutputs(raw, new[] { ("image", image.Shape, image.Data) });
            stdout.WriteLine(raw);
        }
        return 0;
    }

    static IVaeDecoder Open(IReadOnlyDictionary<string, Weight> weights, string device, TextWriter log)
    {
        if (string.Equals(device, "reference", System.StringComparison.OrdinalIgnoreCase))
        {
            log.WriteLine("device: plain C# reference");
            return new ReferenceVae(weights);
        }
        var dev = ComputeDevice.Open(device);
        log.WriteLine("device: " + dev.Describe());
        try { return new VaeDecoder(weights, dev, ownsDevice: true); }
        catch { dev.Dispose(); throw; }
    }
}
