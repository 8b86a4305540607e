using System.IO;
using System.Linq;
using NUnit.Framework;
using Sd3Tex.Checkpoints;
using Sd3Tex.Cli;

namespace Sd3Tex.Tests.DotNetOnly;

/// <summary>`sd3tex mmdit` and `sd3tex sample` reproduce the fixtures, on every device the tests cover.</summary>
[TestFixture("reference")]
[TestFixture("cpu")]
public sealed class CliModelTests(string device)
{
    string _dir;

    [SetUp] public void SetUp() => _dir = TestPaths.NewScratch("cli-model");
    [TearDown] public void TearDown() => TestPaths.DeleteScratch(_dir);

    static int Run(params string[] args)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        int code = Program.Run(args, o, e);
        Assert.That(code, Is.EqualTo(0), e.ToString());
        return code;
    }

    static float[] Read(string path, string name)
    {
        using var f = SafetensorsFile.Open(path);
        return f.ReadFloats(f[name]);
    }

    [Test]
    public void MmditMatchesTheFixture()
    {
        string outPath = Path.Combine(_dir, "out.safetensors");
        Run("mmdit", "--weights", TestPaths.Fixture("mmdit-tiny-sd3m", "model.safetensors"),
            "--inputs", TestPaths.Fixture("mmdit-tiny-sd3m", "inputs.safetensors"), "--output", outPath, "--device", device);
        Golden.AssertClose(Golden.Floats("mmdit-tiny-sd3m", "golden.safetensors", "out"), Read(outPath, "out"), 5e-5, $"out ({device})");
    }

    [TestCase("sampler-tiny", "euler", "4", "5.0", 2e-4)]
    [TestCase("sampler-tiny-dpmpp2m", "dpmpp_2m", "5", "4.5", 6e-4)]
    public void SampleMatchesTheFixture(string fixture, string sampler, string steps, string cfg, double tol)
    {
        string outPath = Path.Combine(_dir, "out.safetensors");
        Run("sample", "--weights", TestPaths.Fixture("mmdit-tiny-sd3m", "model.safetensors"), "--inputs", TestPaths.Fixture(fixture, "inputs.safetensors"),
            "--output", outPath, "--steps", steps, "--cfg", cfg, "--shift", "3.0", "--sampler", sampler, "--device", device);
        foreach (var name in new[] { "sigmas", "latents_per_step", "final_latent", "vae_input" })
            Golden.AssertClose(Golden.Floats(fixture, "golden.safetensors", name), Read(outPath, name), name == "sigmas" ? 1e-6 : tol, $"{name} ({device})");
    }

    [Test]
    public void BadInputsAreClearErrors()
    {
        var e = new StringWriter();
        int code = Program.Run(new[] { "mmdit", "--weights", TestPaths.Fixture("mmdit-tiny-sd3m", "model.safetensors"),
            "--inputs", TestPaths.Fixture("sampler-tiny", "inputs.safetensors"), "--output", Path.Combine(_dir, "o.safetensors"), "--device", device }, new StringWriter(), e);
        Assert.That(code, Is.EqualTo(1));
        Assert.That(e.ToString(), Does.Contain("has no tensor \"x\""));
        code = Program.Run(new[] { "sample", "--weights", TestPaths.Fixture("vae-tiny", "model.safetensors"),
            "--inputs", TestPaths.Fixture("sampler-tiny", "inputs.safetensors"), "--output", Path.Combine(_dir, "o.safetensors"), "--device", device }, new StringWriter(), e = new StringWriter());
        Assert.That(code, Is.EqualTo(1));
        Assert.That(e.ToString(), Does.Contain("no MMDiT"));
        Assert.That(File.Exists(Path.Combine(_dir, "o.safetensors")), Is.False, "nothing is written on failure");
    }
}
