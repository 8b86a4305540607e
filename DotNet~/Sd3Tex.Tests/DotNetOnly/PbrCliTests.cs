using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using NUnit.Framework;
using Sd3Tex.Baking;
using Sd3Tex.Imaging;
using Sd3Tex.Json;
using Sd3Tex.Materials;
using Sd3Tex.Tests.Kernels;

namespace Sd3Tex.Tests.DotNetOnly;

/// <summary><c>sd3tex pbr</c>, <c>generate --pbr</c> and a bake with <c>pbr</c> on the tiny model.</summary>
public sealed class PbrCliTests
{
    string _dir;

    [SetUp] public void SetUp() => _dir = TestPaths.NewScratch("pbrcli");
    [TearDown] public void TearDown() => TestPaths.DeleteScratch(_dir);

    static string[] Lines(string s) => s.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    [Test]
    public void PbrWritesTheMapsOfEachAlbedo()
    {
        string albedo = Path.Combine(_dir, "stone.png");
        var p = new GenerationParameters { Prompt = "stone", Seed = 3, Extra = { new KeyValuePair<string, string>("Seamless", "xy") } };
        PngWriter.Write(albedo, PbrTests.TileableAlbedo(48, 32, 4), p.ToPngTexts());
        string jpeg = Path.Combine(_dir, "photo.jpg");
        using (var img = SixLabors.ImageSharp.Image.Load(File.ReadAllBytes(albedo))) SixLabors.ImageSharp.ImageExtensions.SaveAsJpeg(img, jpeg);
        string outDir = Path.Combine(_dir, "maps");
        var (code, stdout, stderr) = Cli.Run("pbr", albedo, jpeg, "--device", "cpu", "--output", outDir);
        Assert.That(code, Is.EqualTo(0), stderr);
        var written = Lines(stdout);
        Assert.That(written.Select(Path.GetFileName), Is.EqualTo(new[] { "stone", "photo" }.SelectMany(s =>
            new[] { "height", "normal", "roughness", "ao", "mask", "metallic" }.Select(k => $"{s}_{k}.png"))));
        var normal = GenerationParameters.FromPng(PngReader.Read(Path.Combine(outDir, "stone_normal.png")));
        Assert.That((normal.Prompt, PbrMaps.MapOf(normal)), Is.EqualTo(("stone", PbrMapKinds.Normal)), "the albedo's parameters carry over");
        Assert.That(stderr, Does.Contain("48x32"));

        // a subset, DirectX normals, the plain C# reference: the same normals with green flipped (to a level)
        (code, stdout, stderr) = Cli.Run("pbr", albedo, "--maps", "normal,mask", "--normal-convention", "directx", "--device", "reference", "--output", Path.Combine(_dir, "dx"));
        Assert.That(code, Is.EqualTo(0), stderr);
        Assert.That(Lines(stdout).Select(Path.GetFileName), Is.EqualTo(new[] { "stone_normal.png", "stone_mask.png" }));
        var gl = ImageFiles.Load(Path.Combine(outDir, "stone_normal.png"));
        var dx = ImageFiles.Load(Path.Combine(_dir, "dx", "stone_normal.png"));
        int worst = 0;
        for (int y = 0; y < 32; y++)
            for (int x = 0; x < 48; x++)
            {
                worst = Math.Max(worst, Math.Abs(gl[x, y, 0] - dx[x, y, 0]));
                worst = Math.Max(worst, Math.Abs(gl[x, y, 1] + dx[x, y, 1] - 255));
            }
        Assert.That(worst, Is.LessThanOrEqualTo(1));
    }

    [Test]
    public void BadInputIsAClearError()
    {
        File.WriteAllText(Path.Combine(_dir, "notes.png"), "not a picture");
        var (code, _, stderr) = Cli.Run("pbr", Path.Combine(_dir, "missing.png"), "--output", _dir);
        Assert.That((code, stderr), Is.EqualTo((1, $"sd3tex pbr: {Path.Combine(_dir, "missing.png")}: not found.\n")));
        (code, _, stderr) = Cli.Run("pbr", Path.Combine(_dir, "notes.png"), "--output", _dir);
        Assert.That(code, Is.EqualTo(1));
        Assert.That(stderr, Does.Contain("notes.png: is not an image in a supported format (PNG, JPEG, BMP, TGA or WebP)"));
        (code, _, stderr) = Cli.Run("pbr", "a.png", "--maps", "normal,gloss", "--output", _dir);
        Assert.That((code, stderr), Is.EqualTo((2, "sd3tex pbr: --maps: \"gloss\" is not a map; use height, normal, roughness, ao, mask, metallic or all. Run `sd3tex pbr --help`.\n")));
        (code, _, stderr) = Cli.Run("pbr", "a.png", "--strength", "0", "--output", _dir);
        Assert.That(code, Is.EqualTo(2));
        Assert.That(stderr, Does.Contain("strength 0 must be above 0"));
        Assert.That(Cli.Run("pbr", "a.png", "--normal-convention", "vulkan", "--output", _dir).code, Is.EqualTo(2));
        Assert.That(Directory.GetFiles(_dir).Length, Is.EqualTo(1), "nothing written");
    }

    [Test]
    public void GenerateWritesMapsBesideEachTexture()
    {
        string output = Path.Combine(_dir, "gen", "moss.png");
        var (code, stdout, stderr) = Cli.Run(Cli.Generate("--prompt", "moss", "--steps", "2", "--width", "32", "--height", "32", "--seed", "5",
                                                          "--count", "2", "--seamless", "xy", "--pbr", "--pbr-maps", "normal,ao", "--output", output));
        Assert.That(code, Is.EqualTo(0), stderr);
        Assert.That(Lines(stdout).Select(Path.GetFileName), Is.EqualTo(new[] { "moss_0.png", "moss_1.png", "moss_0_normal.png", "moss_0_ao.png", "moss_1_normal.png", "moss_1_ao.png" }));
        var ao = PngReader.Read(Path.Combine(_dir, "gen", "moss_1_ao.png"));
        var p = GenerationParameters.FromPng(ao);
        Assert.That((p.Seed, p.Prompt, PbrMaps.MapOf(p)), Is.EqualTo((6L, "moss", PbrMapKinds.Occlusion)));
        Assert.That(stderr, Does.Contain("material maps (normal,ao)"));
    }

    [Test]
    public void ABakeWithPbrWritesResumesAndRederivesOnlyTheMaps()
    {
        string dir = Path.Combine(_dir, "bake");
        Directory.CreateDirectory(dir);
        var j = Cli.TinyBakeManifest();
        j["defaults"].Set("seamless", "xy");
        j["defaults"].Set("pbr", "normal,mask");
        var t = JsonValue.NewObject();
        t.Set("name", "brick"); t.Set("prompt", "brick"); t.Set("seed", 1);
        var plain = JsonValue.NewObject();
        plain.Set("name", "plain"); plain.Set("prompt", "sky"); plain.Set("seed", 2); plain.Set("pbr", false);
        j.Set("textures", JsonValue.NewArray(new[] { t, plain }));
        string m = Path.Combine(dir, "manifest.json");
        File.WriteAllText(m, j.ToJson(true));
        string outDir = Path.Combine(dir, "textures");

        var (code, stdout, stderr) = Cli.Run("bake", m);
        Assert.That(code, Is.EqualTo(0), stderr);
        Assert.That(Directory.GetFiles(outDir).Select(Path.GetFileName).OrderBy(s => s, StringComparer.Ordinal),
                    Is.EqualTo(new[] { "brick.png", "brick_mask.png", "brick_normal.png", "plain.png" }));
        Assert.That(stderr, Does.Contain("and 2 material map(s)"));
        Assert.That(Lines(stdout).Select(Path.GetFileName), Is.EqualTo(new[] { "brick.png", "brick_normal.png", "brick_mask.png", "plain.png" }));
        string Hash(string f) => GenerationParameters.FromPng(PngReader.Read(Path.Combine(outDir, f))).Extra.Single(kv => kv.Key == Baker.HashKey).Value;
        string albedoHash = Hash("brick.png");
        Assert.That(Hash("brick_normal.png"), Is.Not.EqualTo(albedoHash).And.EqualTo(Hash("brick_mask.png")));

        // a re-run skips everything; a lost map comes back without generating the texture again
        (code, _, stderr) = Cli.Run("bake", m);
        Assert.That(stderr, Does.Contain("0 generated, 2 up to date, 0 failed"));
        var albedoBytes = File.ReadAllBytes(Path.Combine(outDir, "brick.png"));
        File.Delete(Path.Combine(outDir, "brick_mask.png"));
        (code, _, stderr) = Cli.Run("bake", m);
        Assert.That(stderr, Does.Contain("1 generated, 1 up to date, 0 failed").And.Contain("generated 0 image(s) and 2 material map(s)"));
        Assert.That(stderr, Does.Not.Contain("kernels"), "the maps come from the PNG: the model is not loaded");
        Assert.That(File.ReadAllBytes(Path.Combine(outDir, "brick.png")), Is.EqualTo(albedoBytes));

        // changing pbr re-derives the maps (a new hash), the albedo stays
        File.WriteAllText(m, File.ReadAllText(m).Replace("\"normal,mask\"", "{\"maps\": \"normal,mask\", \"strength\": 5}"));
        var normalBefore = File.ReadAllBytes(Path.Combine(outDir, "brick_normal.png"));
        (code, _, stderr) = Cli.Run("bake", m);
        Assert.That(code, Is.EqualTo(0), stderr);
        Assert.That(stderr, Does.Contain("generated 0 image(s) and 2 material map(s)"));
        Assert.That(File.ReadAllBytes(Path.Combine(outDir, "brick.png")), Is.EqualTo(albedoBytes));
        Assert.That(File.ReadAllBytes(Path.Combine(outDir, "brick_normal.png")), Is.Not.EqualTo(normalBefore));
        Assert.That(Hash("brick.png"), Is.EqualTo(albedoHash), "the texture's own hash does not include pbr");
        Assert.That(Directory.GetFiles(outDir).Where(f => !f.EndsWith(".png")), Is.Empty, "no temporary file is left behind");
    }
}
