using System;
using System.IO;
using System.Linq;
using NUnit.Framework;
using Sd3Tex.Checkpoints;
using Sd3Tex.Imaging;

namespace Sd3Tex.Tests.DotNetOnly;

/// <summary><c>sd3tex generate</c> on the tiny fixture model.</summary>
public sealed class GenerateCliTests
{
    string _dir;

    [SetUp] public void SetUp() => _dir = TestPaths.NewScratch("generate");
    [TearDown] public void TearDown() => TestPaths.DeleteScratch(_dir);

    [Test]
    public void WritesPngsWithTheirParameters()
    {
        string output = Path.Combine(_dir, "brick.png");
        var (code, stdout, stderr) = Cli.Run(Cli.Generate("--prompt", "mossy brick wall", "--negative", "blurry", "--seed", "5", "--count", "2",
            "--width", "48", "--height", "32", "--steps", "3", "--cfg", "4.5", "--sampler", "euler", "--seamless", "x", "--output", output));
        Assert.That(code, Is.EqualTo(0), stderr);
        var paths = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(s => s.Trim()).ToArray();
        Assert.That(paths, Is.EqualTo(new[] { Path.Combine(_dir, "brick_0.png"), Path.Combine(_dir, "brick_1.png") }));
        Assert.That(stderr, Does.Contain("100%").And.Contain("step 3/3").And.Contain("time: "));
        for (int i = 0; i < 2; i++)
        {
            var png = PngReader.Read(paths[i]);
            Assert.That((png.Width, png.Height), Is.EqualTo((48, 32)));
            var p = GenerationParameters.FromPng(png);
            Assert.That(p.Prompt, Is.EqualTo("mossy brick wall"));
            Assert.That(p.NegativePrompt, Is.EqualTo("blurry"));
            Assert.That(p.Seed, Is.EqualTo(5 + i));
            Assert.That(p.Steps, Is.EqualTo(3));
            Assert.That(p.CfgScale, Is.EqualTo(4.5));
            Assert.That(p.Extra.Any(kv => kv.Key == "Seamless" && kv.Value == "x"), Is.True);
        }
        Assert.That(Directory.GetFiles(_dir).Where(f => f.Contains(".tmp-")), Is.Empty);

        // a folder output names files after the prompt and seed
        var (code2, stdout2, stderr2) = Cli.Run(Cli.Generate("--prompt", "Lava, glowing!", "--seed", "9", "--width", "32", "--height", "32", "--steps", "1", "--output", _dir));
        Assert.That(code2, Is.EqualTo(0), stderr2);
        Assert.That(stdout2.Trim(), Is.EqualTo(Path.Combine(_dir, "lava_glowing_9.png")));
    }

    [Test]
    public void GivenNoiseReproducesThePipelineFixturesImage()
    {
        // pipeline-tiny: "a photo of a cat", 4 Euler steps, CFG 4, shift 3, latent 8 × 12 (96 × 64 pixels); the size
        // is not given: the noise tensor [1, 16, 8, 12] says it
        string output = Path.Combine(_dir, "cat.png");
        var (code, _, stderr) = Cli.Run(Cli.Generate("--prompt", "a photo of a cat", "--steps", "4", "--cfg", "4", "--shift", "3", "--sampler", "euler",
            "--noise", TestPaths.Fixture("pipeline-tiny", "inputs.safetensors"), "--output", output));
        Assert.That(code, Is.EqualTo(0), stderr);
        var png = PngReader.Read(output);
        var planar = png.Image.ToPlanar(3);
        var expected = Sd3Tex.Tests.Encoders.EncoderFixtures.Int64("pipeline-tiny", "golden.safetensors", "image_uint8");
        int worst = 0;
        for (int i = 0; i < expected.Length; i++) worst = Math.Max(worst, (int)Math.Abs(expected[i] - planar[i]));
        Assert.That(worst, Is.LessThanOrEqualTo(1));
        Assert.That(GenerationParameters.FromPng(png).Extra.Any(kv => kv.Key == "Noise"), Is.True);
    }

    [Test]
    public void NoiseGivesTheCountAndSizeLeftOut()
    {
        // [2, 16, 2, 4]: two images of 32 × 16 pixels
        string noise = Path.Combine(_dir, "noise2.safetensors"), output = Path.Combine(_dir, "n.png");
        var rng = new Random(3);
        new SafetensorsWriter().AddFloats("noise", Sd3Tex.DType.F32, new long[] { 2, 16, 2, 4 },
                                          Enumerable.Range(0, 256).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray()).Write(noise);
        var (code, stdout, stderr) = Cli.Run(Cli.Generate("--prompt", "x", "--steps", "1", "--noise", noise, "--output", output));
        Assert.That(code, Is.EqualTo(0), stderr);
        Assert.That(stdout.Trim().Split('\n').Select(l => l.Trim()), Is.EqualTo(new[] { Path.Combine(_dir, "n_0.png"), Path.Combine(_dir, "n_1.png") }));
        var png = PngReader.Read(Path.Combine(_dir, "n_1.png"));
        Assert.That((png.Width, png.Height), Is.EqualTo((32, 16)));
        // what is given wins, and must then agree with the tensor
        (code, _, stderr) = Cli.Run(Cli.Generate("--prompt", "x", "--steps", "1", "--count", "1", "--noise", noise, "--output", output));
        Assert.That((code, stderr.Contains("[1, 16, 2, 4] is needed")), Is.EqualTo((1, true)), stderr);
    }

    [Test]
    public void BadRequestsAreUsageErrorsThatSayWhatToChange()
    {
        string output = Path.Combine(_dir, "x.png");
        var (code, _, stderr) = Cli.Run(Cli.Generate("--prompt", "x", "--width", "100", "--height", "64", "--output", output));
        Assert.That(code, Is.EqualTo(2));
        Assert.That(stderr, Does.Contain("width 100 is not a multiple of 16; use 96"));
        (code, _, stderr) = Cli.Run(Cli.Generate("--prompt", "x", "--steps", "0", "--output", output));
        Assert.That((code, stderr.Contains("steps is 0")), Is.EqualTo((2, true)));
        (code, _, stderr) = Cli.Run(Cli.Generate("--prompt", "x", "--sampler", "ddim", "--output", output));
        Assert.That((code, stderr.Contains("euler or dpmpp_2m")), Is.EqualTo((2, true)));
        (code, _, stderr) = Cli.Run(Cli.Generate("--output", output));
        Assert.That((code, stderr.Contains("--prompt is required")), Is.EqualTo((2, true)));
        (code, _, stderr) = Cli.Run(Cli.Generate("--prompt", "x", "--width", "512", "--height", "512", "--output", output));
        Assert.That((code, stderr.Contains("position table")), Is.EqualTo((2, true)), stderr);
        (code, _, stderr) = Cli.Run("generate", "--weights", TestPaths.Fixture("vae-tiny", "model.safetensors"), "--tokenizers", Cli.Tokenizers, "--prompt", "x", "--output", output);
        Assert.That((code, stderr.Contains("the transformer (MMDiT)")), Is.EqualTo((1, true)), stderr);
        string noise = Path.Combine(_dir, "noise.safetensors");
        new SafetensorsWriter().AddFloats("noise", Sd3Tex.DType.F32, new long[] { 1, 16, 2, 2 }, new float[64]).Write(noise);
        (code, _, stderr) = Cli.Run(Cli.Generate("--prompt", "x", "--width", "32", "--height", "32", "--noise", noise, "--output", output));
        Assert.That((code, stderr.Contains("[1, 16, 4, 4] is needed")), Is.EqualTo((1, true)), stderr);
        Assert.That(File.Exists(output), Is.False);
    }
}
