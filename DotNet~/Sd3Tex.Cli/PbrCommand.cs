using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using Sd3Tex.Imaging;
using Sd3Tex.Kernels;
using Sd3Tex.Materials;

namespace Sd3Tex.Cli;

/// <summary><c>sd3tex pbr</c>: material maps from albedo images; also the <c>--pbr</c> options of <c>generate</c>.</summary>
public static class PbrCommand
{
    public const string MapsHelp = "height, normal, roughness, ao, mask (HDRP: metallic 0, AO, detail 0, smoothness), metallic " +
                                   "(URP / Built-in: metallic 0, smoothness in alpha) or all (the default)";

    static readonly string Help = $"""
        usage: sd3tex pbr <albedo image...> [--maps height,normal,roughness,ao,mask,metallic] [--strength S]
                          [--normal-convention opengl|directx] [--filter scharr|sobel] [--ao-strength A]
                          [--roughness R] [--device D] --output <dir>

        Derives material maps from each albedo (PNG, JPEG, BMP, TGA or WebP) with circular sampling, so a tileable
        albedo gives tileable maps, and writes <dir>/<name>_<map>.png for each map asked for:
          _height     16-bit grey: luminance through a multi-scale high-pass (large-scale lighting removed), in [0, 1]
          _normal     8-bit RGB tangent-space normal from the height (Scharr filter)
          _roughness  8-bit grey, from local contrast and luminance (Unity's smoothness = 1 - roughness)
          _ao         8-bit grey ambient occlusion, a cavity estimate from the height
          _mask       HDRP mask map: R metallic 0, G AO, B detail mask 0, A smoothness
          _metallic   URP / Built-in metallic-smoothness map: RGB metallic 0, A smoothness
        A PNG written by this tool keeps its generation parameters in the maps' metadata, plus the map's name.

          --maps               {MapsHelp}
          --strength S         normal map slope multiplier (default 2)
          --normal-convention  opengl (Unity, green up; default) or directx (green down)
          --filter             scharr (default) or sobel
          --ao-strength A      how dark cavities get (default 1.5)
          --roughness R        roughness of an average pixel (default 0.6)
          --device D           auto, cuda[:N], opencl[:N], cpu, ilgpu-cpu, or reference (plain C#)
        """;

    public static int Run(string[] argv, TextWriter stdout, TextWriter stderr)
    {
        var args = new Args(argv, new HashSet<string> { "help" });
        if (args.Flag("help")) { stdout.WriteLine(Help); return 0; }
        string output = args.Required("output");
        var options = ParseOptions(args, "maps", "strength");
        string deviceSpec = args.One("device", "auto");
        args.RejectUnknown();
        if (args.Positional.Count == 0) throw new UsageException("name at least one albedo image");
        var problems = options.Problems();
        if (problems.Count > 0) throw new UsageException(string.Join(" ", problems).TrimEnd('.'));
        // read every input first: a bad file is reported before any work
        var albedos = new List<(string path, ImageRgba8 image, GenerationParameters parameters)>();
        foreach (var path in args.Positional) albedos.Add((path, ImageFiles.Load(path), ParametersOf(path)));
        Directory.CreateDirectory(output);
        using var device = OpenDevice(deviceSpec);
        stderr.WriteLine($"device: {(device == null ? "plain C# reference" : device.Describe())}");
        foreach (var (path, image, parameters) in albedos)
        {
            var clock = Stopwatch.StartNew();
            var maps = PbrMaps.Derive(image, options, device);
            string stem = Path.Combine(output, Path.GetFileNameWithoutExtension(path) + ".png");
            foreach (var written in maps.SaveBeside(stem, parameters)) stdout.WriteLine(written);
            stderr.WriteLine($"{path}: {image.Width}x{image.Height}, {PbrMapNames.Format(options.Maps)} in {clock.Elapsed.TotalSeconds:0.00} s");
        }
        return 0;
    }

    /// <summary>The PBR options of a command line: the map list and strength under the given option names, and
    /// <c>--normal-convention</c>, <c>--filter</c>, <c>--ao-strength</c>, <c>--roughness</c>.</summary>
    public static PbrOptions ParseOptions(Args args, string mapsOption, string strengthOption)
    {
        var o = new PbrOptions();
        string maps = args.One(mapsOption);
        if (maps != null)
        {
            if (!PbrMapNames.TryParse(maps, out var kinds, out string problem)) throw new UsageException($"--{mapsOption}: {problem}");
            o.Maps = kinds;
        }
        if (args.One(strengthOption) != null) o.Strength = (float)args.Double(strengthOption, 2);
        string convention = args.One("normal-convention");
        if (convention != null)
        {
            if (!PbrOptions.TryParseConvention(convention, out var c)) throw new UsageException($"--normal-convention must be opengl or directx, not \"{convention}\"");
            o.NormalConvention = c;
        }
        string filter = args.One("filter");
        if (filter != null)
        {
            switch (filter.Trim().ToLowerInvariant())
            {
                case "scharr": o.Filter = NormalFilter.Scharr; break;
                case "sobel": o.Filter = NormalFilter.Sobel; break;
                default: throw new UsageException($"--filter must be scharr or sobel, not \"{filter}\"");
            }
        }
        if (args.One("ao-strength") != null) o.AoStrength = (float)args.Double("ao-strength", 1.5);
        if (args.One("roughness") != null) o.RoughnessBase = (float)args.Double("roughness", 0.6);
        return o;
    }

    /// <summary><c>generate</c>'s options: <c>--pbr</c> (or any of <c>--pbr-maps</c>, <c>--pbr-strength</c>,
    /// <c>--normal-convention</c>) turns it on; null when off.</summary>
    public static PbrOptions ParseGenerateOptions(Args args)
    {
        bool on = args.Flag("pbr");
        bool named = args.One("pbr-maps") != null || args.One("pbr-strength") != null || args.One("normal-convention") != null;
        var o = ParseOptions(args, "pbr-maps", "pbr-strength");
        if (!on && !named) return null;
        var problems = o.Problems();
        if (problems.Count > 0) throw new UsageException(string.Join(" ", problems).TrimEnd('.'));
        return o;
    }

    /// <summary>The device a spec names; null for <c>reference</c> (the plain C# reference).</summary>
    public static ComputeDevice OpenDevice(string spec) => PbrMaps.OpenDevice(spec);

    /// <summary>The generation parameters of a PNG written by this package, or null (any other image, or unreadable metadata).</summary>
    static GenerationParameters ParametersOf(string path)
    {
        if (!path.EndsWith(".png", StringComparison.OrdinalIgnoreCase)) return null;
        try { return GenerationParameters.FromPng(PngReader.Read(path, pixels: false)); }
        catch (Exception e) when (e is ImageFileException || e is FormatException || e is InvalidOperationException) { return null; }
    }
}
