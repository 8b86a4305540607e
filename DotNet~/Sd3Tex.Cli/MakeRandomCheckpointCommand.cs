using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using Sd3Tex.Checkpoints;

namespace Sd3Tex.Cli;

/// <summary><c>sd3tex make-random-checkpoint</c>: random weights with the exact names and shapes of a family.</summary>
public static class MakeRandomCheckpointCommand
{
    const string Help = """
        usage: sd3tex make-random-checkpoint --family tiny|sd3-medium|sd3.5-medium|sd3.5-large
                                             --layout single|separate|diffusers --dtype f16|bf16|f32 --output <path>
                                             [--seed N] [--components mmdit,clip_l,clip_g,t5xxl,vae] [--no-t5] [--dry-run]

        Writes a checkpoint of deterministic random weights with the exact key names and shapes of a family, for
        end-to-end tests and benchmarks that must run without real weights. Random weights draw noise, not
        pictures; they are scaled like a freshly initialised network (uniform ±1/√fan_in, norm weights near 1),
        so activations stay finite through the whole model. Tensors are generated one at a time while they are
        written, so memory stays small whatever the size; files are written atomically.

          --family      tiny: the structure of the tiny test fixtures (MMDiT depth 2, width 128; CLIPs 24 and 40
                        wide with the real vocabulary; T5 2 layers, 96 wide; VAE base 32): runs the whole pipeline
                        in seconds with the tokenizers bundled with the package. The CLIP attention heads, which
                        weights do not hold, are written with them (safetensors __metadata__ num_attention_heads;
                        the text encoders' config.json in the diffusers layout), so nothing needs passing.
                        sd3-medium, sd3.5-medium, sd3.5-large: the released shapes, with CLIP-L, CLIP-G, T5-XXL
                        and the SD3 VAE. Sizes in f16: MMDiT 4.2 GB (SD3 Medium), 4.9 GB (SD3.5 Medium),
                        16.3 GB (SD3.5 Large); CLIP-L 0.25 GB, CLIP-G 1.4 GB, T5-XXL 9.5 GB, VAE 0.17 GB.
          --layout      single: one .safetensors file (default); separate: a folder of sd3_model, clip_l,
                        clip_g, t5xxl and vae .safetensors files; diffusers: a diffusers folder
          --dtype       f16 (default), bf16 or f32
          --output      the .safetensors file (single), or a new or empty folder (separate, diffusers)
          --seed N      seed of the values (default 0); each component's values depend only on the seed, so a
                        checkpoint of some components matches the full one
          --components  which components, comma-separated (default all): mmdit, clip_l, clip_g, t5xxl, vae
          --no-t5       leave T5-XXL out (it is 4.7 B parameters in the released families)
          --dry-run     print what would be written (tensors, parameters, bytes per component) and write nothing
        """;

    public static int Run(string[] argv, TextWriter stdout, TextWriter stderr)
    {
        var args = new Args(argv, new HashSet<string> { "help", "no-t5", "dry-run" });
        if (args.Flag("help")) { stdout.WriteLine(Help); return 0; }
        string familyText = args.Required("family"), layoutText = args.One("layout", "single"), dtypeText = args.One("dtype", "f16");
        string output = args.One("output");
        int seed = args.Int("seed", 0);
        var componentTexts = args.Many("components");
        bool hasComponents = componentTexts.Count > 0 || argv.Any(a => a == "--components" || a.StartsWith("--components=", StringComparison.Ordinal));
        bool noT5 = args.Flag("no-t5"), dryRun = args.Flag("dry-run");
        args.RejectUnknown();
        if (args.Positional.Count > 0) throw new UsageException($"unexpected argument \"{args.Positional[0]}\"");
        if (output == null && !dryRun) throw new UsageException("--output is required");

        if (!RandomCheckpoint.Families.Contains(familyText))
            throw new UsageException($"--family must be {string.Join(", ", RandomCheckpoint.Families)}, not \"{familyText}\"");
        var layout = layoutText switch
        {
            "single" => CheckpointLayout.Single,
            "separate" => CheckpointLayout.Separate,
            "diffusers" => CheckpointLayout.Diffusers,
            _ => throw new UsageException($"--layout must be single, separate or diffusers, not \"{layoutText}\""),
        };
        var dtype = dtypeText switch
        {
            "f16" => DType.F16,
            "bf16" => DType.BF16,
            "f32" => DType.F32,
            _ => throw new UsageException($"--dtype must be f16, bf16 or f32, not \"{dtypeText}\""),
        };
        var components = ParseComponents(componentTexts, hasComponents);
        if (noT5)
        {
            if (hasComponents && components.Contains(Component.T5xxl)) throw new UsageException("--no-t5 contradicts --components t5xxl; give one of them");
            components.Remove(Component.T5xxl);
        }

        var model = RandomCheckpoint.ForFamily(familyText);
        var plan = model.Plan(components, dtype);
        long planned = plan.Sum(t => t.Bytes);
        string what = $"{familyText}, {dtypeText}, {string.Join(", ", components.Select(Checkpoint.KeyOf))}";
        if (dryRun)
        {
            stdout.WriteLine($"would write {plan.Count} tensors, {Size(planned)} of tensor data ({what}), layout {layoutText}:");
            foreach (var g in plan.GroupBy(t => t.Component))
                stdout.WriteLine($"  {Checkpoint.KeyOf(g.Key),-7} {g.Count(),6} tensors {Params(g.Where(t => DTypes.IsFloat(t.DType)).Sum(t => t.ElementCount)),10} parameters {Size(g.Sum(t => t.Bytes)),10}");
            return 0;
        }

        output = Path.GetFullPath(output);
        if (layout == CheckpointLayout.Single)
        {
            if (Directory.Exists(output)) throw new UsageException($"--output {output} is a folder; the single layout writes one .safetensors file");
            if (!output.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase)) throw new UsageException("--output must name a .safetensors file for the single layout");
        }
        else
        {
            if (File.Exists(output)) throw new UsageException($"--output {output} is a file; the {layoutText} layout writes a folder");
            if (Directory.Exists(output) && Directory.EnumerateFileSystemEntries(output).Any())
                throw new UsageException($"--output folder {output} is not empty; choose a new folder or empty it (files left from another checkpoint would be read with this one)");
        }

        stderr.WriteLine($"writing {plan.Count} random tensors, {Size(planned)} ({what}, seed {seed}) ...");
        var sw = System.Diagnostics.Stopwatch.StartNew();
        var written = CheckpointWriter.Write(model.Tensors(components, dtype, seed), layout, output, model.ClipHeads);
        long total = 0;
        foreach (var path in written)
        {
            long bytes = new FileInfo(path).Length;
            total += bytes;
            stdout.WriteLine($"{path}  {Size(bytes)}");
        }
        stdout.WriteLine($"total {Size(total)} in {written.Count} file(s), {sw.Elapsed.TotalSeconds.ToString("0.0", CultureInfo.InvariantCulture)} s");
        return 0;
    }

    static List<Component> ParseComponents(List<string> texts, bool given)
    {
        if (!given) return RandomCheckpoint.AllComponents.ToList();
        var r = new List<Component>();
        foreach (var item in texts.SelectMany(t => t.Split(',')).Select(s => s.Trim()).Where(s => s.Length > 0))
        {
            if (!Checkpoint.TryParseComponent(item, out var c))
                throw new UsageException($"--components: unknown component \"{item}\"; use mmdit, clip_l, clip_g, t5xxl, vae");
            if (!r.Contains(c)) r.Add(c);
        }
        if (r.Count == 0) throw new UsageException("--components needs at least one of mmdit, clip_l, clip_g, t5xxl, vae");
        return r;
    }

    static string Size(long bytes) =>
        bytes >= 1_000_000_000 ? (bytes / 1e9).ToString("0.00", CultureInfo.InvariantCulture) + " GB" :
        bytes >= 1_000_000 ? (bytes / 1e6).ToString("0.0", CultureInfo.InvariantCulture) + " MB" :
        bytes.ToString(CultureInfo.InvariantCulture) + " B";

    static string Params(long n) =>
        n >= 1_000_000_000 ? (n / 1e9).ToString("0.00", CultureInfo.InvariantCulture) + " B" :
        n >= 1_000_000 ? (n / 1e6).ToString("0.0", CultureInfo.InvariantCulture) + " M" :
        n.ToString(CultureInfo.InvariantCulture);
}
