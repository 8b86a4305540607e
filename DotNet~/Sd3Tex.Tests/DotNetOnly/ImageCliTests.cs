using System;
using System.IO;
using System.Linq;
using NUnit.Framework;
using Sd3Tex.Imaging;
using Sd3Tex.Tests.Generation;

namespace Sd3Tex.Tests.DotNetOnly;

/// <summary><c>sd3tex generate --init-image / --mask / --variations / --slg-*</c> and <c>sd3tex seamless</c> on the tiny
/// models with the VAE encoder (managed CPU backend).</summary>
public sealed class ImageCliTests
{
    string _dir;

    [SetUp] public void SetUp() => _dir = TestPaths.NewScratch("image-cli");
    [TearDown] public void TearDown() => TestPaths.DeleteScratch(_dir);

    static string[] Weights => Cli.TinyWeights.Select(w => w.Contains("vae-tiny") ? TestPaths.Fixture("vae-encoder-tiny", "model.safetensors") : w).ToArray();

    /// <summary>The verb, its image argument for seamless (first, as users write it), the tiny model's options, then <paramref name="more"/>.</summary>
    static string[] Seamless(string image, params string[] more) => new[] { "seamless", image }.Concat(Verb("seamless", more).Skip(1)).ToArray();

    static string[] Verb(string verb, params string[] more) =>
        new[] { verb, "--weights" }.Concat(Weights).Concat(new[] { "--tokenizers", Cli.Tokenizers, "--clip-heads", "2,2", "--device", "cpu" }).Concat(more).ToArray();

    string Png(string name, ImageRgba8 image)
    {
        string path = Path.Combine(_dir, name);
        PngWriter.Write(path, image);
        return path;
    }

    [Test]
    public void InitImageTakesItsSizeAndReproducesTheImg2ImgFixture()
    {
        string init = Png("init.png", Img2ImgFixture.InitImage());
        string output = Path.Combine(_dir, "out.png");
        var (code, stdout, stderr) = Cli.Run(Verb("generate", "--prompt", "red bricks", "--negative", "", "--steps", "5", "--cfg", "4", "--shift", "3",
            "--sampler", "euler", "--init-image", init, "--strength", "0.6", "--noise", TestPaths.Fixture(Img2ImgFixture.Fx, "inputs.safetensors"), "--output", output));
        Assert.That(code, Is.EqualTo(0), stderr);
        Assert.That(stdout.Trim(), Is.EqualTo(output));
        Assert.That(stderr, Does.Contain("size 96x64 (the init image's)").And.Contain("strength 0.6 (3 of 5 steps run)"));
        var png = PngReader.Read(output);
        var planar = png.Image.ToPlanar(3);
        var expected = Sd3Tex.Tests.Encoders.EncoderFixtures.Int64(Img2ImgFixture.Fx, "golden.safetensors", "image_uint8");
        int worst = 0;
        for (int i = 0; i < expected.Length; i++) worst = Math.Max(worst, (int)Math.Abs(expected[i] - planar[i]));
        Assert.That(worst, Is.LessThanOrEqualTo(1));
        Assert.That(GenerationParameters.FromPng(png).Extra.Any(kv => kv.Key == "Denoising strength" && kv.Value == "0.6"), Is.True);
    }

    [Test]
    public void OddSizesRoundToSixteenAndMasksKeepTheRest()
    {
        // a 50 × 30 picture: generated at 48 × 32 (the picture stretched to it), the mask's black half unchanged
        string init = Png("odd.png", Img2ImgFixture.Ramp(50, 30));
        string mask = Png("mask.png", Img2ImgFixture.LeftMask(50, 30, 20));
        string output = Path.Combine(_dir, "inpainted.png");
        var (code, _, stderr) = Cli.Run(Verb("generate", "--prompt", "moss", "--seed", "2", "--steps", "3", "--init-image", init, "--mask", mask,
            "--mask-blur", "4", "--strength", "1", "--output", output));
        Assert.That(code, Is.EqualTo(0), stderr);
        Assert.That(stderr, Does.Contain("size 48x32: the init image is 50x30, rounded to multiples of 16; it is stretched to 48x32 with a Lanczos-3 filter"));
        var png = PngReader.Read(output);
        Assert.That((png.Width, png.Height), Is.EqualTo((48, 32)));
        var resized = ImageResize.Lanczos3(Img2ImgFixture.Ramp(50, 30), 48, 32);
        var resizedMask = InpaintMask.FromImage(ImageResize.Lanczos3(Img2ImgFixture.LeftMask(50, 30, 20), 48, 32));
        int kept = 0;
        for (int y = 0; y < 32; y++)
            for (int x = 0; x < 48; x++)
            {
                if (resizedMask[y * 48 + x] > 0) continue;
                kept++;
                for (int c = 0; c < 3; c++) Assert.That(png.Image[x, y, c], Is.EqualTo(resized[x, y, c]), $"({x}, {y})");
            }
        Assert.That(kept, Is.GreaterThan(25 * 32));
        var p = GenerationParameters.FromPng(png);
        Assert.That(p.Extra.Any(kv => kv.Key == "Mask blur" && kv.Value == "4"), Is.True);
    }

    [Test]
    public void VariationsAndSkipLayerGuidance()
    {
        string init = Png("v.png", Img2ImgFixture.Ramp(32, 32));
        var (code, stdout, stderr) = Cli.Run(Verb("generate", "--prompt", "lava", "--seed", "7", "--steps", "3", "--init-image", init, "--variations", "2",
            "--strength", "0.7", "--slg-layers", "1", "--slg-end", "0.9", "--output", _dir));
        Assert.That(code, Is.EqualTo(0), stderr);
        var paths = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(s => s.Trim()).ToArray();
        Assert.That(paths, Is.EqualTo(new[] { Path.Combine(_dir, "lava_7.png"), Path.Combine(_dir, "lava_8.png") }));
        Assert.That(stderr, Does.Contain("skip-layer guidance layers 1, scale 2.5, steps 0.01-0.9"));
        var p = GenerationParameters.FromPng(PngReader.Read(paths[1]));
        Assert.That(p.Seed, Is.EqualTo(8));
        Assert.That(p.Extra.Any(kv => kv.Key == "Skip layer guidance"), Is.True);
    }

    [Test]
    public void BadImageInputIsOneErrorListingEveryProblem()
    {
        string output = Path.Combine(_dir, "x.png");
        string missing = Path.Combine(_dir, "missing.png");
        var (code, _, stderr) = Cli.Run(Verb("generate", "--prompt", "x", "--width", "32", "--height", "32", "--init-image", missing, "--strength", "1.5", "--output", output));
        Assert.That(code, Is.EqualTo(2), stderr);
        Assert.That(stderr, Does.Contain("the init image cannot be used").And.Contain(missing).And.Contain("strength 1.5 is outside (0, 1]"));
        string init = Png("i.png", Img2ImgFixture.Ramp(32, 32));
        string small = Png("m.png", Img2ImgFixture.LeftMask(16, 16, 8));
        (code, _, stderr) = Cli.Run(Verb("generate", "--prompt", "x", "--init-image", init, "--mask", small, "--output", output));
        Assert.That((code, stderr.Contains("the mask is 16x16 but the init image is 32x32")), Is.EqualTo((2, true)), stderr);
        (code, _, stderr) = Cli.Run(Verb("generate", "--prompt", "x", "--mask", small, "--output", output));
        Assert.That((code, stderr.Contains("need --init-image")), Is.EqualTo((2, true)), stderr);
        (code, _, stderr) = Cli.Run(Verb("generate", "--prompt", "x", "--width", "32", "--height", "32", "--slg-layers", "1,5", "--output", output));
        Assert.That((code, stderr.Contains("layer 5 is beyond the model's 2 joint blocks")), Is.EqualTo((2, true)), stderr);
        (code, _, stderr) = Cli.Run(Verb("generate", "--prompt", "x", "--slg-scale", "3", "--output", output));
        Assert.That((code, stderr.Contains("need --slg-layers")), Is.EqualTo((2, true)), stderr);
        Assert.That(File.Exists(output), Is.False);
    }

    [Test]
    public void SeamlessMakesAnImageTileAndPrintsTheSeamMetric()
    {
        string input = Png("ramp.png", Img2ImgFixture.Ramp(64, 48, 5));
        var (code, stdout, stderr) = Cli.Run(Seamless(input, "--prompt", "stone", "--axes", "x", "--seed", "3", "--steps", "3", "--output", _dir));
        Assert.That(code, Is.EqualTo(0), stderr);
        string path = Path.Combine(_dir, "ramp_seamless_3.png");
        Assert.That(stdout.Trim(), Is.EqualTo(path));
        Assert.That(stderr, Does.Contain("seam metric (x; about 1 tiles, larger shows a seam): input ").And.Contain("seam metric of ramp_seamless_3.png: "));
        var png = PngReader.Read(path);
        double before = SeamMetric.Measure(Img2ImgFixture.Ramp(64, 48, 5), Sd3Tex.Vae.SeamlessAxes.X), after = SeamMetric.Measure(png.Image, Sd3Tex.Vae.SeamlessAxes.X);
        Assert.That(after, Is.LessThan(before / 3));
        Assert.That(GenerationParameters.FromPng(png).Extra.Any(kv => kv.Key == "Seam metric"), Is.True);
        (code, _, stderr) = Cli.Run(Seamless(input, "--axes", "none", "--output", _dir));
        Assert.That((code, stderr.Contains("--axes must be x, y or xy")), Is.EqualTo((2, true)), stderr);
        (code, _, stderr) = Cli.Run(Seamless(Path.Combine(_dir, "nope.png"), "--steps", "0", "--output", _dir));
        Assert.That((code, stderr.Contains("the image cannot be used") && stderr.Contains("nope.png") && stderr.Contains("steps is 0")), Is.EqualTo((2, true)), stderr);
    }
}
