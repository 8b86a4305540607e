using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using Sd3Tex.Generation;
using Sd3Tex.Imaging;
using Sd3Tex.Vae;

namespace Sd3Tex.Cli;

/// <summary><c>sd3tex seamless</c>: makes an image tile (<see cref="TextureGenerator.MakeSeamless"/>).</summary>
public static class SeamlessCommand
{
    static readonly string Help = $"""
        usage: sd3tex seamless <image> (--weights <paths...> | --model NAME [--comfyui DIR]) [--prompt "..."] [--axes x|y|xy] [--band N]
                               [--negative "..."] [--seed N] [--count N] [--steps N] [--cfg S] [--shift S]
                               [--sampler euler|dpmpp_2m] [--strength S] [--no-t5] [--slg-layers 7,8,9 ...]
                               [--tokenizers <dir>] [--clip-heads L,G] [--device D] [--memory-budget B] [--vae-tile N]
                               --output <file.png | folder>

        Makes <image> tile along x, y or both (default xy): the image is rolled by half its size so that its edges meet
        in the middle, a band over that seam (a cross for xy) is inpainted with seamless generation on, and the result
        is rolled back, so the new wrap-around edges lie inside the repainted band and the rest is the input's pixels.
        The output has the image's size rounded to multiples of 16. The seam metric (about 1 for an image that tiles,
        larger when its edges do not match) is printed for the input and each output, and stored in the PNG.

          --prompt      what the band should show (default: empty; describe the texture for a better repair)
          --axes        x (left and right edges meet), y (top and bottom) or xy (default)
          --band N      width in pixels of the repainted band across each seam (default: a quarter of the shorter
                        side, a multiple of 8, at least 16); its middle half is repainted fully, the rest fades
          --strength S  denoising strength of the band, 0 < S ≤ 1 (default 1: the band is generated anew)
          --count N     N results (seeds seed ... seed + N - 1)
          other options as for `sd3tex generate` (sampling presets per model family, --slg-* guidance, the model)
          --output      a .png file (name_0.png ... when --count > 1) or a folder (<image>_seamless_<seed>.png)
          {ModelOptions.DeviceHelp}
        """;

    public static int Run(string[] argv, TextWriter stdout, TextWriter stderr)
    {
        var args = new Args(argv, new HashSet<string> { "help", "no-t5" });
        if (args.Flag("help")) { stdout.WriteLine(Help); return 0; }
        var weights = args.Many("weights");
        string model = args.One("model");
        var search = ModelsCommand.Search(args);
        string output = args.Required("output");
        var settings = new GenerationRequest { Prompt = args.One("prompt", ""), NegativePrompt = args.One("negative", ""), Count = args.Int("count", 1) };
        GenerateCommand.ParseSampling(args, settings);
        string axesText = args.One("axes", "xy");
        if (!SeamlessAxesNames.TryParse(axesText, out var axes) || axes == SeamlessAxes.None)
            throw new UsageException($"--axes must be x, y or xy, not \"{axesText}\"");
        var request = new MakeSeamlessRequest
        {
            Axes = axes, BandWidth = args.Int("band", 0), Prompt = settings.Prompt, NegativePrompt = settings.NegativePrompt, Seed = settings.Seed,
            Count = settings.Count, Steps = settings.Steps, Cfg = settings.Cfg, Shift = settings.Shift, Sampler = settings.Sampler,
            UseT5 = settings.UseT5, SkipLayerGuidance = settings.SkipLayerGuidance,
            Strength = (float)args.Double("strength", 1.0),
        };
        var options = GenerateCommand.ParseGeneratorOptions(args, weights);
        args.RejectUnknown();
        GenerateCommand.ResolveModel(model, search, options, stderr);
        if (args.Positional.Count != 1) throw new UsageException(args.Positional.Count == 0 ? "name the image to make seamless" : $"unexpected argument \"{args.Positional[1]}\"");
        string input = args.Positional[0];

        var problems = new List<string>();
        request.Image = ImageFiles.TryLoad(input, "image", problems);
        if (request.Image != null) problems.AddRange(request.Problems());
        // the settings' own problems too (steps, strength, guidance ...), at the image's size when it could be read
        var gen0 = request.ToGenerationRequest(request.Image == null ? 1024 : MakeSeamlessRequest.SideFor(request.Image.Width),
                                               request.Image == null ? 1024 : MakeSeamlessRequest.SideFor(request.Image.Height));
        foreach (var p in gen0.Problems()) if (!problems.Contains(p)) problems.Add(p);
        if (problems.Count > 0) throw new GenerationRequestException(problems);
        int w = MakeSeamlessRequest.SideFor(request.Image.Width), h = MakeSeamlessRequest.SideFor(request.Image.Height);
        stderr.WriteLine(GenerateCommand.SizeNote("image", request.Image, w, h));
        var paths = OutputPaths(output, input, request);

        using var bar = new ProgressBar(stderr);
        using var gen = GenerateCommand.OpenGenerator(options, bar, stderr);
        var resolved = request.ToGenerationRequest(w, h).Resolve(gen.Preset);
        var inv = CultureInfo.InvariantCulture;
        stderr.WriteLine($"seamless {SeamlessAxesNames.Name(axes)}, band {request.EffectiveBand(w, h)} px, seed {request.Seed}, {resolved.Steps} steps, " +
                         $"CFG {resolved.Cfg.ToString(inv)}, shift {resolved.Shift.ToString(inv)}, strength {request.Strength.ToString(inv)}");
        return GenerateCommand.RunCancellable(bar, stderr, "seamless", token =>
        {
            var result = gen.MakeSeamlessAsync(request, bar, token).GetAwaiter().GetResult();
            bar.Clear();
            foreach (var warning in result.Generation.Warnings) stderr.WriteLine("warning: " + warning);
            stderr.WriteLine($"seam metric ({SeamlessAxesNames.Name(axes)}; about 1 tiles, larger shows a seam): input {result.SeamBefore.ToString("0.00", inv)}");
            for (int i = 0; i < result.Generation.Images.Count; i++)
            {
                result.Generation.Images[i].SavePng(paths[i]);
                stdout.WriteLine(paths[i]);
                stderr.WriteLine($"seam metric of {Path.GetFileName(paths[i])}: {result.SeamAfter[i].ToString("0.00", inv)}");
            }
            stderr.WriteLine("time: " + result.Generation.Timings);
        });
    }

    /// <summary>One path per result: the .png itself (name_i.png for several), or in a folder <c>&lt;image&gt;_seamless_&lt;seed&gt;.png</c>.</summary>
    static List<string> OutputPaths(string output, string input, MakeSeamlessRequest request)
    {
        if (output.EndsWith(".png", StringComparison.OrdinalIgnoreCase))
            return request.Count == 1 ? new List<string> { output } : Enumerable.Range(0, request.Count).Select(i => $"{output[..^4]}_{i}.png").ToList();
        string stem = Path.GetFileNameWithoutExtension(input);
        return Enumerable.Range(0, request.Count).Select(i => Path.Combine(output, $"{stem}_seamless_{request.Seed + i}.png")).ToList();
    }
}
