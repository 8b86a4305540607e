using System.IO;
using System.Linq;
using NUnit.Framework;
using Sd3Tex.Json;
using Sd3Tex.Tests.Generation;

namespace Sd3Tex.Tests.DotNetOnly;

/// <summary>A checkpoint whose weights hold a NaN: generate exits 1 and writes no PNG, a bake reports the texture as
/// failed and goes on, inspect --values names the tensor.</summary>
public sealed class NumericsCliTests
{
    string _dir;

    [SetUp] public void SetUp() => _dir = TestPaths.NewScratch("cli-numerics");
    [TearDown] public void TearDown() => TestPaths.DeleteScratch(_dir);

    [Test]
    public void GenerateExitsWithOneAndWritesNoPng()
    {
        string weights = PoisonedCheckpoint.Write(Path.Combine(_dir, "nan.safetensors"), PoisonedCheckpoint.Transformer);
        string output = Path.Combine(_dir, "out.png");
        var (code, stdout, stderr) = Cli.Run("generate", "--weights", weights, "--prompt", "mossy stone", "--width", "32", "--height", "32",
                                             "--steps", "3", "--count", "2", "--device", "cpu", "--output", output);
        Assert.That(code, Is.EqualTo(1), stderr);
        Assert.That(stderr, Does.Contain("numerical failure at step 1 of 3: the transformer (MMDiT), image 1 of 2").And.Contain("sd3tex inspect --values"));
        Assert.That(stdout, Is.Empty);
        Assert.That(Directory.GetFiles(_dir, "*.png"), Is.Empty);
        Assert.That(Directory.GetFiles(_dir).Where(f => f.Contains(".tmp-")), Is.Empty);

        // inspect --values finds the damaged tensor and exits with 1
        var (icode, json, ierr) = Cli.Run("inspect", "--values", "--json", weights);
        Assert.That(icode, Is.EqualTo(1), ierr);
        var bad = JsonValue.Parse(json)["non_finite"].Items;
        Assert.That(bad.Select(b => (b["tensor"].AsString, b["count"].AsLong)), Is.EqualTo(new[] { (PoisonedCheckpoint.Transformer, 1L) }));
        var (tcode, text, _) = Cli.Run("inspect", "--values", weights);
        Assert.That((tcode, text.Contains("1 weight(s) hold NaN or Inf")), Is.EqualTo((1, true)), text);
        string clean = PoisonedCheckpoint.Write(Path.Combine(_dir, "clean.safetensors"), null);
        Assert.That(Cli.Run("inspect", "--values", clean).stdout, Does.Contain("every weight is finite"));
    }

    [Test]
    public void ABakeReportsTheTextureAsFailed()
    {
        string weights = PoisonedCheckpoint.Write(Path.Combine(_dir, "nan.safetensors"), PoisonedCheckpoint.Decoder);
        string manifest = Path.Combine(_dir, "m.json");
        File.WriteAllText(manifest, "{\"weights\": [\"nan.safetensors\"], \"output\": \"textures\", \"device\": \"cpu\"," +
                                    " \"defaults\": {\"steps\": 1, \"width\": 32, \"height\": 32}," +
                                    " \"textures\": [{\"name\": \"a\", \"prompt\": \"x\"}, {\"name\": \"b\", \"prompt\": \"y\"}]}");
        var (code, stdout, stderr) = Cli.Run("bake", manifest);
        Assert.That(code, Is.EqualTo(1), stderr);
        Assert.That(stderr.Split('\n').Count(l => l.Contains("FAILED: numerical failure at decoding: the decoder (VAE)")), Is.EqualTo(2), stderr);
        Assert.That(Directory.GetFiles(Path.Combine(_dir, "textures"), "*.png"), Is.Empty);
    }
}
