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
          --width/--height  pixels, multiples of 16 (default 1024 × 1024)
          --no-t5       leave T5-XXL out (less memory; its context rows are zeros)
          --seamless    make the texture tile along x, y or both
          --noise F     initial noise from the tensor "noise" [count, 16, H/8, W/8] of F, in place of the seed
                        (to match another implementation's run exactly); --width, --height and --count left out
                        are taken from its shape
          --clip-heads  CLIP-L,CLIP-G attention heads, only for small test models (e.g. 2,2)
          --memory-budget  device bytes to use (e.g. 6G); components load one at a time when they do not fit
          --vae-tile N  decode in tiles of N latent cells (default: decided from the memory budget)
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
            Width = args.Int("width", 1024),
            Height = args.Int("height", 1024),
            UseT5 = !args.Flag("no-t5"),
        };
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
            if (args.One("width") == null) request.Width = nw;
            if (args.One("height") == null) request.Height = nh;
            if (args.One("count") == null) request.Count = n;
        }
        var options = new GeneratorOptions
        {
            Weights = weights,
            Tokenizers = args.One("tokenizers"),
            Device = args.One("device", "auto"),
            MemoryBudget = ParseBytes(args.One("memory-budget")),
            VaeTileSize = args.Int("vae-tile", 0),
        };
        (options.ClipLHeads, options.ClipGHeads) = EncodeCommand.ParseHeads(args.One("clip-heads"));
        var pbr = PbrCommand.ParseGenerateOptions(args);
        args.RejectUnknown();
        if (model != null && weights.Count > 0) throw new UsageException("give --weights or --model, not both");
        if (model != null)
        {
            var found = ModelCatalog.Scan(search).Resolve(model);
            weights = found.Weights();
            options.Weights = weights;
            stderr.WriteLine($"model {found.Name} ({ModelSearch.Key(found.Source)}): " +
                             string.Join(", ", found.Components.Values.Select(c => $"{ModelCatalog.Title(c.Component)} {c.Path}")));
        }
        if (weights.Count == 0) throw new UsageException("--weights needs at least one path (or --model NAME: see `sd3tex models`)");
        var problems = request.Problems();
        if (problems.Count > 0) throw new UsageException(string.Join(" ", problems).TrimEnd('.'));
        if (noise != null) request.InitialNoise = NoiseFile.Read(noise, request.Count, request.Height, request.Width);
        var paths = OutputPaths(output, request);

        using var bar = new ProgressBar(stderr);
        using var gen = TextureGenerator.Open(options, bar);
        bar.Clear();
        string family = gen.Family != Models.ModelFamily.Unknown ? Models.ModelFamilies.DisplayName(gen.Family)
            : $"unknown family, {Models.ModelFamilies.DisplayName(gen.Architecture)} structure";
        stderr.WriteLine($"model: {gen.ModelName} ({family}); device: {gen.DeviceDescription}; " +
                         $"kernels compiled in {gen.OpenTimings.CompilingKernels.TotalSeconds:0.0} s, weights loaded in {gen.OpenTimings.Loading.TotalSeconds:0.0} s");
        foreach (var note in gen.Notes) stderr.WriteLine("note: " + note);
        if (options.Tokenizers == null && TextureGenerator.TokenizerFolder(null, options.Weights) == Sd3Tex.Text.PackageTokenizers.Find())
            stderr.WriteLine("tokenizers: those bundled with the package");
        var resolved = request.Resolve(gen.Preset);
        stderr.WriteLine($"seed {request.Seed}, {resolved.Steps} steps, CFG {resolved.Cfg.ToString(CultureInfo.InvariantCulture)}, shift {resolved.Shift.ToString(CultureInfo.InvariantCulture)}, " +
                         $"{SamplerNames.Key(resolved.Sampler)}, {request.Width}x{request.Height}{(request.UseT5 && gen.HasT5 ? "" : ", no T5")}");
        using var cancel = new CancellationTokenSource();
        ConsoleCancelEventHandler onCancel = (_, e) => { e.Cancel = true; cancel.Cancel(); };
        Console.CancelKeyPress += onCancel;
        try
        {
            var result = gen.GenerateAsync(request, bar, cancel.Token).GetAwaiter().GetResult();
            bar.Clear();
            foreach (var w in result.Warnings) stderr.WriteLine("warning: " + w);
            for (int i = 0; i < result.Images.Count; i++)
            {
                result.Images[i].SavePng(paths[i]);
                stdout.WriteLine(paths[i]);
            }
            if (pbr != null) WritePbrMaps(result, paths, pbr, options.Device, stdout, stderr);
            stderr.WriteLine("time: " + result.Timings);
            return 0;
        }
        catch (OperationCanceledException)
        {
            bar.Clear();
            stderr.WriteLine("sd3tex generate: cancelled");
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

    static long RandomSeed()
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
