using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Threading;
using NUnit.Framework;
using Sd3Tex.Baking;
using Sd3Tex.Imaging;
using Sd3Tex.Json;

namespace Sd3Tex.Tests.DotNetOnly;

/// <summary><c>sd3tex bake</c> on the tiny fixture model: failures, skipping, a real kill and resume, shards.</summary>
public sealed class BakeCliTests
{
    string _dir;

    [SetUp] public void SetUp() => _dir = TestPaths.NewScratch("bake");
    [TearDown] public void TearDown() => TestPaths.DeleteScratch(_dir);

    /// <summary>A manifest in its own folder; weights and tokenizers by absolute path, the output relative to it.</summary>
    string Manifest(string folder, IEnumerable<JsonValue> textures)
    {
        string dir = Path.Combine(_dir, folder);
        Directory.CreateDirectory(dir);
        var j = Cli.TinyBakeManifest();
        j.Set("textures", JsonValue.NewArray(textures));
        string path = Path.Combine(dir, "manifest.json");
        File.WriteAllText(path, j.ToJson(true));
        return path;
    }

    static JsonValue Texture(string name, string prompt, long seed, Action<JsonValue> more = null)
    {
        var t = JsonValue.NewObject();
        t.Set("name", name); t.Set("prompt", prompt); t.Set("seed", seed);
        more?.Invoke(t);
        return t;
    }

    static IEnumerable<JsonValue> Textures(int n) => Enumerable.Range(0, n).Select(i => Texture($"tex{i}", $"texture number {i}", 100 + i));

    static string Out(string manifest) => Path.Combine(Path.GetDirectoryName(manifest)!, "textures");

    /// <summary>Every PNG in the folder decodes and carries a bake hash.</summary>
    static string[] CheckedPngs(string folder)
    {
        var pngs = Directory.GetFiles(folder, "*.png").OrderBy(p => p, StringComparer.Ordinal).ToArray();
        foreach (var p in pngs)
        {
            var png = PngReader.Read(p);
            Assert.That((png.Width, png.Height), Is.EqualTo((32, 32)), p);
            Assert.That(GenerationParameters.FromPng(png).Extra.Any(kv => kv.Key == Baker.HashKey), Is.True, p);
        }
        return pngs;
    }

    [Test]
    public void AFailingTextureDoesNotStopTheBakeAndARerunSkipsEverything()
    {
        var m = Manifest("fail", new[]
        {
            Texture("brick", "mossy brick", 1),
            Texture("broken", "lava", 2, t => t.Set("width", 100)),
            Texture("grass", "grass", 3, t => t.Set("count", 2)),
        });
        var (code, stdout, stderr) = Cli.Run("bake", m);
        Assert.That(code, Is.EqualTo(1), stderr);
        Assert.That(stderr, Does.Contain("broken: the generation request cannot run: width 100 is not a multiple of 16"));
        Assert.That(stderr, Does.Contain("2 generated, 0 up to date, 1 failed"));
        var files = CheckedPngs(Out(m)).Select(Path.GetFileName);
        Assert.That(files, Is.EqualTo(new[] { "brick.png", "grass_0.png", "grass_1.png" }));
        Assert.That(stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length, Is.EqualTo(3));
        var p = GenerationParameters.FromPng(PngReader.Read(Path.Combine(Out(m), "grass_1.png")));
        Assert.That(p.Seed, Is.EqualTo(4));

        var stamps = Directory.GetFiles(Out(m)).ToDictionary(f => f, File.GetLastWriteTimeUtc);
        var bytes = Directory.GetFiles(Out(m)).ToDictionary(f => f, File.ReadAllBytes);
        var sw = Stopwatch.StartNew();
        (code, _, stderr) = Cli.Run("bake", m);
        Assert.That(code, Is.EqualTo(1), "the broken texture still fails");
        Assert.That(stderr, Does.Contain("0 generated, 2 up to date, 1 failed"));
        Assert.That(stderr, Does.Not.Contain("kernels"), "nothing to generate: the model is not even loaded");
        foreach (var f in stamps.Keys)
        {
            Assert.That(File.GetLastWriteTimeUtc(f), Is.EqualTo(stamps[f]), f);
            Assert.That(File.ReadAllBytes(f), Is.EqualTo(bytes[f]));
        }
        TestContext.Progress.WriteLine($"  re-run that skips everything: {sw.Elapsed.TotalSeconds:0.00} s");

        // a changed parameter re-bakes only that texture; --force re-bakes all
        File.WriteAllText(m, File.ReadAllText(m).Replace("mossy brick", "mossy bricks"));
        (code, _, stderr) = Cli.Run("bake", m);
        Assert.That(stderr, Does.Contain("1 generated, 1 up to date, 1 failed"));
        (code, _, stderr) = Cli.Run("bake", m, "--force");
        Assert.That(stderr, Does.Contain("2 generated, 0 up to date, 1 failed"));
    }

    [Test]
    public void ABakeKilledPartWayResumesWithNothingLostOrCorrupt()
    {
        const int n = 8;
        var m = Manifest("kill", Textures(n));
        string outDir = Out(m);
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(Cli.ToolDll);
        psi.ArgumentList.Add("bake");
        psi.ArgumentList.Add(m);
        using (var p = Process.Start(psi)!)
        {
            p.OutputDataReceived += (_, _) => { };
            p.ErrorDataReceived += (_, _) => { };
            p.BeginOutputReadLine();
            p.BeginErrorReadLine();
            var sw = Stopwatch.StartNew();
            while (sw.Elapsed < TimeSpan.FromMinutes(3) && !p.HasExited
                   && (!Directory.Exists(outDir) || Directory.GetFiles(outDir, "*.png").Length < 2))
                Thread.Sleep(20);
            Assert.That(p.HasExited, Is.False, "the bake finished before it could be killed; make it longer");
            p.Kill(entireProcessTree: true);
            p.WaitForExit();
        }
        var before = CheckedPngs(outDir);
        TestContext.Progress.WriteLine($"  killed after {before.Length} of {n} textures; left behind: {string.Join(", ", Directory.GetFiles(outDir).Select(Path.GetFileName))}");
        Assert.That(before.Length, Is.InRange(2, n - 1));

        var (code, _, stderr) = Cli.Run("bake", m);
        Assert.That(code, Is.EqualTo(0), stderr);
        Assert.That(stderr, Does.Contain($"{n - before.Length} generated, {before.Length} up to date, 0 failed"));
        var after = CheckedPngs(outDir);
        Assert.That(after.Select(Path.GetFileName), Is.EqualTo(Enumerable.Range(0, n).Select(i => $"tex{i}.png").OrderBy(s => s, StringComparer.Ordinal)));
        Assert.That(Directory.GetFiles(outDir).Where(f => !f.EndsWith(".png")), Is.Empty, "no temporary file is left behind");
    }

    [Test]
    public void TwoShardsTogetherBakeExactlyTheFullSet()
    {
        var textures = Textures(5).ToList();
        var full = Manifest("full", textures);
        var a = Manifest("a", textures);
        var b = Manifest("b", textures);
        Assert.That(Cli.Run("bake", full).code, Is.EqualTo(0));
        var (ca, _, ea) = Cli.Run("bake", a, "--shard", "1/2");
        var (cb, _, eb) = Cli.Run("bake", b, "--shard", "2/2");
        Assert.That((ca, cb), Is.EqualTo((0, 0)), ea + eb);
        Assert.That(ea, Does.Contain("shard 1/2").And.Contain("3 generated"));
        Assert.That(eb, Does.Contain("shard 2/2").And.Contain("2 generated"));
        var filesA = Directory.GetFiles(Out(a)).Select(Path.GetFileName).ToList();
        var filesB = Directory.GetFiles(Out(b)).Select(Path.GetFileName).ToList();
        Assert.That(filesA.Intersect(filesB), Is.Empty);
        var union = filesA.Concat(filesB).OrderBy(s => s, StringComparer.Ordinal);
        Assert.That(union, Is.EqualTo(Directory.GetFiles(Out(full)).Select(Path.GetFileName).OrderBy(s => s, StringComparer.Ordinal)));
        foreach (var f in filesA) Assert.That(File.ReadAllBytes(Path.Combine(Out(a), f)), Is.EqualTo(File.ReadAllBytes(Path.Combine(Out(full), f))));
        foreach (var f in filesB) Assert.That(File.ReadAllBytes(Path.Combine(Out(b), f)), Is.EqualTo(File.ReadAllBytes(Path.Combine(Out(full), f))));
        Assert.That(Cli.Run("bake", a, "--shard", "3/2").code, Is.EqualTo(2));
    }

    [Test]
    public void ImageToImageInpaintingAndMakeSeamlessBake()
    {
        // the model with the VAE encoder on the managed backend; pictures relative to the manifest
        string path = Manifest("img2img", new[]
        {
            Texture("varied", "moss", 3, t => { t.Set("init_image", "pics/ramp.png"); t.Set("variations", 2); t.Set("strength", 0.7); }),
            Texture("patched", "stone", 4, t => { t.Set("init_image", "pics/ramp.png"); t.Set("mask", "pics/mask.png"); t.Set("strength", 1.0); }),
            Texture("tiling", "bricks", 5, t => { t.Set("init_image", "pics/ramp.png"); t.Set("make_seamless", "x"); }),
        });
        var j = JsonValue.Parse(File.ReadAllText(path));
        j.Set("weights", JsonValue.NewArray(Cli.TinyWeights.Select(w => w.Contains("vae-tiny") ? TestPaths.Fixture("vae-encoder-tiny", "model.safetensors") : w).Select(JsonValue.From)));
        j.Set("device", "cpu");
        // no default size: each texture takes its picture's
        j["defaults"].Set("width", JsonValue.Null);
        j["defaults"].Set("height", JsonValue.Null);
        File.WriteAllText(path, j.ToJson(true));
        string dir = Path.GetDirectoryName(path);
        Directory.CreateDirectory(Path.Combine(dir, "pics"));
        var ramp = Sd3Tex.Tests.Generation.Img2ImgFixture.Ramp(64, 32);
        PngWriter.Write(Path.Combine(dir, "pics", "ramp.png"), ramp);
        PngWriter.Write(Path.Combine(dir, "pics", "mask.png"), Sd3Tex.Tests.Generation.Img2ImgFixture.LeftMask(64, 32, 16));
        var (code, _, stderr) = Cli.Run("bake", path);
        Assert.That(code, Is.EqualTo(0), stderr);
        string outDir = Path.Combine(dir, "textures");
        Assert.That(Directory.GetFiles(outDir, "*.png").Select(Path.GetFileName).OrderBy(x => x),
                    Is.EqualTo(new[] { "patched.png", "tiling.png", "varied_0.png", "varied_1.png" }));
        var patched = PngReader.Read(Path.Combine(outDir, "patched.png")).Image;
        Assert.That((patched.Width, patched.Height), Is.EqualTo((64, 32)), "the init image's size");
        for (int y = 0; y < 32; y++)
            for (int x = 16; x < 64; x++) Assert.That(patched[x, y, 1], Is.EqualTo(ramp[x, y, 1]), $"({x}, {y}) is outside the mask");
        var tiling = PngReader.Read(Path.Combine(outDir, "tiling.png"));
        Assert.That(SeamMetric.Measure(tiling.Image, Sd3Tex.Vae.SeamlessAxes.X), Is.LessThan(SeamMetric.Measure(ramp, Sd3Tex.Vae.SeamlessAxes.X) / 3));
        Assert.That(GenerationParameters.FromPng(tiling).Extra.Any(kv => kv.Key == "Make seamless"), Is.True);
        // a re-run skips all; a changed picture re-bakes the three that use it
        (code, _, stderr) = Cli.Run("bake", path);
        Assert.That((code, stderr.Contains("0 generated, 3 up to date")), Is.EqualTo((0, true)), stderr);
        PngWriter.Write(Path.Combine(dir, "pics", "ramp.png"), Sd3Tex.Tests.Generation.Img2ImgFixture.Ramp(64, 32, 9));
        (code, _, stderr) = Cli.Run("bake", path);
        Assert.That((code, stderr.Contains("3 generated, 0 up to date")), Is.EqualTo((0, true)), stderr);
    }

    [Test]
    public void ManifestErrorsNameTheField()
    {
        string path = Path.Combine(_dir, "bad.json");
        File.WriteAllText(path, "{\"weights\": \"m.safetensors\", \"textures\": [{\"name\": \"a\", \"prompt\": \"x\", \"sed\": 3}]}");
        var (code, _, stderr) = Cli.Run("bake", path);
        Assert.That(code, Is.EqualTo(1));
        Assert.That(stderr, Does.Contain("bad.json").And.Contain("unknown field \"sed\" in textures[0]"));
        (code, _, stderr) = Cli.Run("bake", Path.Combine(_dir, "missing.json"));
        Assert.That((code, stderr.Contains("not found")), Is.EqualTo((1, true)), stderr);
    }
}
