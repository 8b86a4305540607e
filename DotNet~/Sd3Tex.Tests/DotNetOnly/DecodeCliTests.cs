using System.IO;
using System.Linq;
using NUnit.Framework;
using Sd3Tex.Checkpoints;
using Sd3Tex.Cli;
using Sd3Tex.Imaging;

namespace Sd3Tex.Tests.DotNetOnly;

/// <summary>`sd3tex decode` reproduces the vae-tiny fixture as PNG pixels, on the reference and the CPU accelerator.</summary>
[TestFixture("reference")]
[TestFixture("cpu")]
public sealed class DecodeCliTests(string device)
{
    const string Fx = "vae-tiny";
    string _dir;

    [SetUp] public void SetUp() => _dir = TestPaths.NewScratch("cli-decode");
    [TearDown] public void TearDown() => TestPaths.DeleteScratch(_dir);

    static (int code, string stdout, string stderr) Run(params string[] args) => Cli.Run(args);

    static byte[] Uint8()
    {
        using var f = SafetensorsFile.Open(TestPaths.Fixture(Fx, "golden.safetensors"));
        return f.GetBytes(f["image_uint8"]).ToArray();
    }

    [Test]
    public void DecodeWritesTheFixtureAsPng()
    {
        string png = Path.Combine(_dir, "out.png"), raw = Path.Combine(_dir, "image.safetensors");
        var (code, stdout, stderr) = Run("decode", "--weights", TestPaths.Fixture(Fx, "model.safetensors"),
            "--latent", TestPaths.Fixture(Fx, "inputs.safetensors"), "--output", png, "--raw", raw, "--device", device);
        Assert.That(code, Is.EqualTo(0), stderr);
        Assert.That(stdout, Does.Contain(png));
        var file = PngReader.Read(png);
        Assert.That((file.Width, file.Height, file.ColorType), Is.EqualTo((56, 40, 2)));
        var expected = Uint8();
        var actual = file.Image.ToPlanar(3);
        int worst = expected.Zip(actual, (a, b) => System.Math.Abs(a - b)).Max();
        Assert.That(worst, Is.LessThanOrEqualTo(1), "PNG pixels vs image_uint8");
        var p = GenerationParameters.FromPng(file);
        Assert.That((p.Width, p.Height), Is.EqualTo((56, 40)));
        Assert.That(file.Text("parameters"), Is.EqualTo("Size: 56x40"));
        using var f = SafetensorsFile.Open(raw);
        Golden.AssertClose(Golden.Floats(Fx, "golden.safetensors", "image"), f.ReadFloats(f["image"]), 1e-4, $"raw image ({device})");
    }
}

/// <summary>`sd3tex decode` with a batch, seamless tiles and bad inputs (the CPU accelerator only: the reference would
/// take long over the tiles).</summary>
public sealed class DecodeCliBatchTests
{
    const string Fx = "vae-tiny";

    static (int code, string stdout, string stderr) Run(params string[] args) => Cli.Run(args);

    [Test]
    public void BatchesSeamlessAndTilesAndErrors()
    {
        // a batch of two (the fixture latent twice) decoded seamless in tiles: two numbered PNGs, "Seamless: xy" in the text
        string dir = TestPaths.NewScratch("cli-decode-batch");
        try { BatchesIn(dir); }
        finally { TestPaths.DeleteScratch(dir); }
    }

    static void BatchesIn(string dir)
    {
        const string device = "cpu";
        string latent = Path.Combine(dir, "latent.safetensors");
        var z = Golden.Floats(Fx, "inputs.safetensors", "latent");
        TensorInputs.WriteOutputs(latent, new[] { ("latent", new long[] { 2, 16, 5, 7 }, z.Concat(z).ToArray()) });
        string png = Path.Combine(dir, "batch.png");
        var (code, stdout, stderr) = Run("decode", "--weights", TestPaths.Fixture(Fx, "model.safetensors"), "--latent", latent,
            "--output", png, "--seamless", "xy", "--tile", "5", "--tile-overlap", "2", "--device", device);
        Assert.That(code, Is.EqualTo(0), stderr);
        Assert.That(stderr, Does.Contain("tiles of 5×5"));
        var a = PngReader.Read(Path.Combine(dir, "batch_0.png"));
        var b = PngReader.Read(Path.Combine(dir, "batch_1.png"));
        Assert.That(a.Image.Pixels, Is.EqualTo(b.Image.Pixels));
        Assert.That(a.Text("parameters"), Is.EqualTo("Size: 56x40, Seamless: xy"));
        Assert.That(File.Exists(png), Is.False);

        Assert.That(Run("decode", "--weights", TestPaths.Fixture(Fx, "model.safetensors"), "--latent", latent, "--output", png, "--seamless", "z").code, Is.EqualTo(2));
        var (c2, _, e2) = Run("decode", "--weights", TestPaths.Fixture("mmdit-tiny-sd3m", "model.safetensors"), "--latent", latent, "--output", png, "--device", device);
        Assert.That(c2, Is.EqualTo(1));
        Assert.That(e2, Does.Contain("no VAE"));
        var (c3, _, e3) = Run("decode", "--weights", TestPaths.Fixture(Fx, "model.safetensors"), "--latent", TestPaths.Fixture(Fx, "golden.safetensors"), "--output", png, "--device", device);
        Assert.That(c3, Is.EqualTo(1));
        Assert.That(e3, Does.Contain("has no tensor \"latent\""));
    }
}
