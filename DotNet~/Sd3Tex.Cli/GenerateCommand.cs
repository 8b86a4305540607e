using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text;
using System.Threading;
using Sd3Tex.Baking;
using Sd3Tex.Checkpoints;
using Sd3Tex.Generation;
using Sd3Tex.Imaging;
using Sd3Tex.Sampling;
using Sd3Tex.Vae;

namespace Sd3Tex.Cli;

/// <summary><c>sd3tex generate</c>: prompt to PNG textures through <see cref="TextureGenerator"/>.</summary>
public static class GenerateCommand
{
    static readonly string Help = $"""
        usage: sd3tex generate (--weights <paths...> | --model NAME [--comfyui DIR]) --prompt "..." [--negative "..."] [--seed N] [--count N]
                               [--steps N] [--cfg S] [--shift S] [--sampler euler|dpmpp_2m] [--width W --height H]
                               [--no-t5] [--seamless x|y|xy] [--noise <file.safetensors>] [--tokenizers <dir>]
                               [--init-image <file> [--strength S] [--mask <file> [--mask-blur N]] [--variations N]]
                               [--slg-layers 7,8,9 [--slg-scale 2.5] [--slg-start 0.01] [--slg-end 0.20]]
                               [--clip-heads L,G] [--device D] [--memory-budget B] [--vae-tile N]
                               [--pbr [--pbr-maps M] [--pbr-strength S] [--normal-convention opengl|directx]]
                               --output <file.png | folder>

        Generates --count images (seed, seed + 1, ...) and writes them as PNGs with their parameters in the metadata
        (the A1111 "parameters" text and JSON). Sampling options left out take the model family's preset (the
        reference's defaults: SD3 Medium 50 steps, CFG 5, shift 1; SD3.5 Medium 50, 5, 3; SD3.5 Large 40, 4.5, 3;
        DPM++ 2M). Progress goes to stderr, the written paths to stdout.

          --weights     a single-file checkpoint, separate files (MMDiT, clip_l, clip_g, t5xxl, VAE; role=PATH names a
                        role), or a diffusers folder
          --model NAME  a model `sd3tex models` lists (a name or a unique prefix, e.g. sd3.5_medium): its transformer,
                        the encoders and VAE found in it or beside it, T5-XXL when found; --comfyui DIR names the
                        ComfyUI folder in place of $COMFYUI_PATH
          --tokenizers  folder with clip/vocab.json, clip/merges.txt, t5/tokenizer.json (default: a diffusers folder
                        among the weights that has them, else the tokenizers bundled with the package)
          --seed N      first seed (default: random; printed and stored in the PNG)
          --width/--height  pixels, multiples of 16 (default 1024 × 1024; with --init-image the image's size rounded
                        to multiples of 16)
          --no-t5       leave T5-XXL out (less memory; its context rows are zeros)
          --seamless    make the texture tile along x, y or both
          --noise F     initial noise from the tensor "noise" [count, 16, H/8, W/8] of F, in place of the seed
                        (to match another implementation's run exactly); --width, --height and --count left out
                        are taken from its shape
          --init-image F  image-to-image from the picture F (stretched to the size with Lanczos-3 when it differs)
          --strength S  how much of it is repainted, 0 < S ≤ 1 (default 0.8): the first int(steps × (1 − S)) steps
                        of the schedule are skipped
          --mask F      inpainting: white repaints, black keeps (pixels outside the mask stay the input's exactly);
                        the init image's size
          --mask-blur N the repaint fades in over N pixels inside the mask's edge (default 0: a hard edge)
          --variations N  N image-to-image variations of --init-image (seeds seed ... seed + N - 1)
          --slg-layers  skip-layer guidance: the joint blocks skipped by a third pass in the guided steps (SD3.5
                        Medium's reference uses 7,8,9; off by default); --slg-scale (2.5), --slg-start (0.01) and
                        --slg-end (0.20) set its scale and the fractions of the steps it acts in
          --clip-heads  CLIP-L,CLIP-G attention heads, only for small test models (e.g. 2,2)
          --memory-budget  device bytes to use (e.g. 6G); components load one at a time when they do not fit
          --vae-tile N  decode (and encode) in tiles of N latent cells (default: decided from the memory budget)
          --output      a .png file (name_0.png, name_1.png ... when --count > 1) or a folder
          --pbr         also write material maps beside each texture: name_height.png, _normal, _roughness, _ao,
                        _mask (HDRP) and _metallic (URP / Built-in); --pbr-maps picks some ({PbrCommand.MapsHelp}),
                        --pbr-strength is the normal map's strength (default 2), --normal-convention opengl (Unity,
                        default) or directx; see `sd3tex pbr --help`
          {ModelOptions.DeviceHelp}
        """;

    public static int Run(string[] argv, TextWriter stdout, TextWriter stderr)
    {
        var args = new Args(argv, new HashSet<string> { "help", "no-t5", "pbr" });
        if (args.Flag("help")) { stdout.WriteLine(Help); return 0; }
        var weights = args.Many("weights");
        string model = args.One("model");
        var search = ModelsCommand.Search(args);
        string prompt = args.Required("prompt"), output = args.Required("output");
        var request = new GenerationRequest
        {
            Prompt = prompt,
            NegativePrompt = args.One("negative", ""),
            Count = args.Int("count", 1),
        };
        bool hasWidth = args.One("width") != null, hasHeight = args.One("height") != null;
        request.Width = args.Int("width", 1024);
        request.Height = args.Int("height", 1024);
        ParseSampling(args, request);
        string seamless = args.One("seamless");
        if (seamless != null)
        {
            if (!SeamlessAxesNames.TryParse(seamless, out var axes)) throw new UsageException($"--seamless must be x, y or xy, not \"{seamless}\"");
            request.Seamless = axes;
        }
        string noise = args.One("noise");
        if (noise != null)
        {
            // the noise tensor [count, 16, H/8, W/8] gives the size and the count left out
            var (n, nw, nh) = NoiseFile.Size(noise);
            if (!hasWidth) request.Width = nw;
            if (!hasHeight) request.Height = nh;
            if (args.One("count") == null) request.Count = n;
        }
        string initImage = args.One("init-image"), mask = args.One("mask");
        if (args.One("strength") != null) request.Strength = (float)args.Double("strength", GenerationRequest.DefaultStrength);
        request.MaskBlur = args.Int("mask-blur", 0);
        int variations = args.Int("variations", 0);
        var options = ParseGeneratorOptions(args, weights);
        var pbr = PbrCommand.ParseGenerateOptions(args);
        args.RejectUnknown();
        ResolveModel(model, search, options, stderr);
        if (initImage == null && (args.One("strength") != null || mask != null || variations != 0))
            throw new UsageException("--strength, --mask and --variations need --init-image");
        if (mask == null && args.One("mask-blur") != null) throw new UsageException("--mask-blur needs --mask");
        if (variations != 0)
        {
            if (args.One("count") != null && request.Count != variations) throw new UsageException("give either --variations or --count (they both set how many images)");
            if (variations < 1) throw new UsageException($"--variations {variations} must be at least 1");
            request.Count = variations;
        }

        // the files first, so that every problem is reported at once, before the model loads
        var fileProblems = new List<string>();
        if (initImage != null)
        {
            request.InitImage = ImageFiles.TryLoad(initImage, "init image", fileProblems);
            if (request.InitImage != null && !(hasWidth && hasHeight))
            {
                // a side not given is the image's, rounded to a multiple of 16
                if (!hasWidth) request.Width = GenerationRequest.RoundSize(request.InitImage.Width);
                if (!hasHeight) request.Height = GenerationRequest.RoundSize(request.InitImage.Height);
                stderr.WriteLine(SizeNote("init image", request.InitImage, request.Width, request.Height));
            }
        }
        if (mask != null) request.Mask = ImageFiles.TryLoad(mask, "mask", fileProblems);
        var problems = request.Problems();
        if (initImage != null && request.InitImage == null && GenerationRequest.StrengthProblem(request.Strength) is string sp) problems.Insert(0, sp);
        if (fileProblems.Count > 0) throw new GenerationRequestException(fileProblems.Concat(problems).ToList());
        if (problems.Count > 0) throw new UsageException(string.Join(" ", problems).TrimEnd('.'));
        if (noise != null) request.InitialNoise = NoiseFile.Read(noise, request.Count, request.Height, request.Width);
        var paths = OutputPaths(output, request);

        using var bar = new ProgressBar(stderr);
        using var gen = OpenGenerator(options, bar, stderr);
        var resolved = request.Resolve(gen.Preset);
        stderr.WriteLine(Describe(request, resolved, gen));
        return RunCancellable(bar, stderr, "generate", token =>
        {
            var result = gen.GenerateAsync(request, bar, token).GetAwaiter().GetResult();
            bar.Clear();
            foreach (var w in result.Warnings) stderr.WriteLine("warning: " + w);
            for (int i = 0; i < result.Images.Count; i++)
            {
                result.Images[i].SavePng(paths[i]);
                stdout.WriteLine(paths[i]);
            }
            if (pbr != null) WritePbrMaps(result, paths, pbr, options.Device, stdout, stderr);
            stderr.WriteLine("time: " + result.Timings);
        });
    }

    /// <summary>--model NAME: the weights of the set <c>sd3tex models</c> lists under that name (or unique prefix),
    /// printed; else the --weights given, which must not be empty.</summary>
    public static void ResolveModel(string model, ModelSearch search, GeneratorOptions options, TextWriter stderr)
    {
        if (model != null && options.Weights.Count > 0) throw new UsageException("give --weights or --model, not both");
        if (model != null)
        {
            var found = ModelCatalog.Scan(search).Resolve(model);
            options.Weights = found.Weights();
            stderr.WriteLine($"model {found.Name} ({ModelSearch.Key(found.Source)}): " +
                             string.Join(", ", found.Components.Values.Select(c => $"{ModelCatalog.Title(c.Component)} {c.Path}")));
        }
        if (options.Weights.Count == 0) throw new UsageException("--weights needs at least one path (or --model NAME: see `sd3tex models`)");
    }

    /// <summary>The message when the size follows an image: its size, the size used, and how the image is fitted.</summary>
    public static string SizeNote(string what, Imaging.ImageRgba8 image, int width, int height) =>
        image.Width == width && image.Height == height
            ? $"size {width}x{height} (the {what}'s)"
            : $"size {width}x{height}: the {what} is {image.Width}x{image.Height}, rounded to multiples of 16; it is stretched to " +
              $"{width}x{height} with a Lanczos-3 filter (give --width and --height for another size)";

    /// <summary>--seed, --steps, --cfg, --shift, --sampler, --no-t5 and skip-layer guidance into <paramref name="request"/>.</summary>
    public static void ParseSampling(Args args, GenerationRequest request)
    {
        string seedText = args.One("seed");
        if (seedText == null) request.Seed = RandomSeed();
        else if (!long.TryParse(seedText, NumberStyles.Integer, CultureInfo.InvariantCulture, out long seed)) throw new UsageException($"--seed: \"{seedText}\" is not an integer");
        else request.Seed = seed;
        if (args.One("steps") != null) request.Steps = args.Int("steps", 0);
        if (args.One("cfg") != null) request.Cfg = (float)args.Double("cfg", 0);
        if (args.One("shift") != null) request.Shift = (float)args.Double("shift", 0);
        string sampler = args.One("sampler");
        if (sampler != null)
        {
            if (!SamplerNames.TryParse(sampler, out var kind)) throw new UsageException($"--sampler must be euler or dpmpp_2m, not \"{sampler}\"");
            request.Sampler = kind;
        }
        request.UseT5 = !args.Flag("no-t5");
        request.SkipLayerGuidance = ParseSkipLayerGuidance(args);
    }

    /// <summary>--slg-layers 7,8,9 [--slg-scale 2.5] [--slg-start 0.01] [--slg-end 0.20]; null without --slg-layers.</summary>
    public static SkipLayerGuidance ParseSkipLayerGuidance(Args args)
    {
        string layers = args.One("slg-layers");
        bool tuned = args.One("slg-scale") != null || args.One("slg-start") != null || args.One("slg-end") != null;
        if (layers == null)
        {
            if (tuned) throw new UsageException("--slg-scale, --slg-start and --slg-end need --slg-layers (e.g. --slg-layers 7,8,9)");
            return null;
        }
        if (!SkipLayerGuidance.TryParseLayers(layers, out var list)) throw new UsageException($"--slg-layers: \"{layers}\" is not a list of block indices such as 7,8,9");
        var d = new SkipLayerGuidance();
        d.Layers = list;
        d.Scale = (float)args.Double("slg-scale", d.Scale);
        d.Start = (float)args.Double("slg-start", d.Start);
        d.End = (float)args.Double("slg-end", d.End);
        return d;
    }

    /// <summary>--tokenizers, --device, --memory-budget, --vae-tile and --clip-heads.</summary>
    public static GeneratorOptions ParseGeneratorOptions(Args args, List<string> weights)
    {
        var options = new GeneratorOptions
        {
            Weights = weights,
            Tokenizers = args.One("tokenizers"),
            Device = args.One("device", "auto"),
            MemoryBudget = ParseBytes(args.One("memory-budget")),
            VaeTileSize = args.Int("vae-tile", 0),
        };
        (options.ClipLHeads, options.ClipGHeads) = EncodeCommand.ParseHeads(args.One("clip-heads"));
        return options;
    }

    /// <summary>Opens the model with the progress bar, then prints what was opened.</summary>
    public static TextureGenerator OpenGenerator(GeneratorOptions options, ProgressBar bar, TextWriter stderr)
    {
        var gen = TextureGenerator.Open(options, bar);
        bar.Clear();
        string family = gen.Family != Models.ModelFamily.Unknown ? Models.ModelFamilies.DisplayName(gen.Family)
            : $"unknown family, {Models.ModelFamilies.DisplayName(gen.Architecture)} structure";
        stderr.WriteLine($"model: {gen.ModelName} ({family}); device: {gen.DeviceDescription}; " +
                         $"kernels compiled in {gen.OpenTimings.CompilingKernels.TotalSeconds:0.0} s, weights loaded in {gen.OpenTimings.Loading.TotalSeconds:0.0} s");
        foreach (var note in gen.Notes) stderr.WriteLine("note: " + note);
        if (options.Tokenizers == null && TextureGenerator.TokenizerFolder(null, options.Weights) == Sd3Tex.Text.PackageTokenizers.Find())
            stderr.WriteLine("tokenizers: those bundled with the package");
        return gen;
    }

    /// <summary>The settings line: seed, steps, CFG, shift, sampler, size, and the image-to-image and guidance options.</summary>
    public static string Describe(GenerationRequest request, ResolvedRequest resolved, TextureGenerator gen)
    {
        var inv = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        sb.Append($"seed {request.Seed}, {resolved.Steps} steps, CFG {resolved.Cfg.ToString(inv)}, shift {resolved.Shift.ToString(inv)}, ");
        sb.Append($"{SamplerNames.Key(resolved.Sampler)}, {request.Width}x{request.Height}{(request.UseT5 && gen.HasT5 ? "" : ", no T5")}");
        if (request.InitImage != null)
        {
            int kept = new FlowSchedule(resolved.Shift).Sigmas(resolved.Steps, request.Denoise).Length - 1;
            sb.Append($", strength {request.Strength.ToString(inv)} ({kept} of {resolved.Steps} steps run)");
            if (request.Mask != null) sb.Append($", masked (blur {request.MaskBlur})");
        }
        if (request.SkipLayerGuidance != null && request.SkipLayerGuidance.IsActive) sb.Append(", skip-layer guidance " + request.SkipLayerGuidance);
        return sb.ToString();
    }

    /// <summary>Runs <paramref name="work"/> with Ctrl+C cancelling it within one step (exit code 130).</summary>
    public static int RunCancellable(ProgressBar bar, TextWriter stderr, string verb, Action<CancellationToken> work)
    {
        using var cancel = new CancellationTokenSource();
        ConsoleCancelEventHandler onCancel = (_, e) => { e.Cancel = true; cancel.Cancel(); };
        Console.CancelKeyPress += onCancel;
        try
        {
            work(cancel.Token);
            if (Sd3Tex.Kernels.Cpu.CpuProfile.Enabled) stderr.Write(Sd3Tex.Kernels.Cpu.CpuProfile.Report());
            return 0;
        }
        catch (OperationCanceledException)
        {
            bar.Clear();
            stderr.WriteLine($"sd3tex {verb}: cancelled");
            return 130;
        }
        finally { Console.CancelKeyPress -= onCancel; }
    }

    /// <summary><c>--pbr</c>: each image's material maps beside it, on the generation's device kind.</summary>
    static void WritePbrMaps(GenerationResult result, List<string> paths, Sd3Tex.Materials.PbrOptions pbr, string device, TextWriter stdout, TextWriter stderr)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        using var pbrDevice = PbrCommand.OpenDevice(device);
        for (int i = 0; i < result.Images.Count; i++)
        {
            var maps = Sd3Tex.Materials.PbrMaps.Derive(result.Images[i].Image, pbr, pbrDevice);
            foreach (var written in maps.SaveBeside(paths[i], result.Images[i].Parameters)) stdout.WriteLine(written);
        }
        stderr.WriteLine($"material maps ({Sd3Tex.Materials.PbrMapNames.Format(pbr.Maps)}) in {clock.Elapsed.TotalSeconds:0.0} s");
    }

    public static long RandomSeed()
    {
        var bytes = new byte[4];
        System.Security.Cryptography.RandomNumberGenerator.Fill(bytes);
        return BitConverter.ToUInt32(bytes, 0);
    }

    /// <summary>"6G", "512M", "1.5GiB" or a byte count; null or empty gives 0 (decide from the device).</summary>
    public static long ParseBytes(string s)
    {
        if (string.IsNullOrWhiteSpace(s)) return 0;
        string t = s.Trim().ToUpperInvariant().Replace("IB", "").TrimEnd('B');
        double scale = 1;
        if (t.EndsWith("K")) { scale = 1L << 10; t = t[..^1]; }
        else if (t.EndsWith("M")) { scale = 1L << 20; t = t[..^1]; }
        else if (t.EndsWith("G")) { scale = 1L << 30; t = t[..^1]; }
        else if (t.EndsWith("T")) { scale = 1L << 40; t = t[..^1]; }
        if (!double.TryParse(t, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) || v <= 0)
            throw new UsageException($"--memory-budget: \"{s}\" is not a size such as 6G or 512M");
        return (long)(v * scale);
    }

    /// <summary>One path per image: the .png itself (name_i.png for several), or in a folder
    /// <c>&lt;prompt words&gt;_&lt;seed&gt;.png</c>.</summary>
    public static List<string> OutputPaths(string output, GenerationRequest request)
    {
        var r = new List<string>();
        if (output.EndsWith(".png", StringComparison.OrdinalIgnoreCase))
        {
            if (request.Count == 1) r.Add(output);
            else
            {
                string stem = output[..^4];
                for (int i = 0; i < request.Count; i++) r.Add($"{stem}_{i}.png");
            }
            return r;
        }
        string slug = Slug(request.Prompt);
        for (int i = 0; i < request.Count; i++) r.Add(Path.Combine(output, $"{slug}_{request.Seed + i}.png"));
        return r;
    }

    static string Slug(string prompt)
    {
        var sb = new StringBuilder();
        foreach (char c in prompt ?? "")
        {
            if (char.IsLetterOrDigit(c) && c < 128) sb.Append(char.ToLowerInvariant(c));
            else if (sb.Length > 0 && sb[^1] != '_') sb.Append('_');
            if (sb.Length >= 40) break;
        }
        string s = sb.ToString().Trim('_');
        return s.Length == 0 ? "texture" : s;
    }
}

/// <summary>A progress bar on stderr: redrawn in place on a terminal, a line per stage (and every step) otherwise.</summary>
public sealed class ProgressBar : IProgress<GenerationProgress>, IDisposable
{
    readonly TextWriter _w;
    readonly bool _terminal;
    readonly object _lock = new();
    string _last = "";
    bool _drawn;
    public string Prefix { get; set; } = "";

    public ProgressBar(TextWriter w)
    {
        _w = w;
        _terminal = ReferenceEquals(w, Console.Error) && !Console.IsErrorRedirected;
    }

    public void Report(GenerationProgress p)
    {
        lock (_lock)
        {
            const int width = 30;
            int filled = (int)Math.Round(p.Fraction * width);
            string eta = p.Eta.HasValue && p.Stage != GenerationStage.Done ? "  ETA " + GenerationProgress.FormatSpan(p.Eta.Value) : "";
            string line = $"{Prefix}[{new string('#', filled)}{new string('.', width - filled)}] {p.Fraction * 100,3:0}%  {p.Describe()}{eta}";
            if (_terminal)
            {
                _w.Write("\r" + line.PadRight(Math.Max(_last.Length, line.Length)));
                _drawn = true;
            }
            else if (StripEta(line) != StripEta(_last)) _w.WriteLine(line);
            _last = line;
        }
    }

    static string StripEta(string line)
    {
        int i = line.IndexOf("  ETA", StringComparison.Ordinal);
        return i < 0 ? line : line[..i];
    }

    /// <summary>Ends the bar's line so that other output starts on a fresh one.</summary>
    public void Clear()
    {
        lock (_lock)
        {
            if (_terminal && _drawn) _w.WriteLine();
            _drawn = false;
            _last = "";
        }
    }

    public void Dispose() => Clear();
}
