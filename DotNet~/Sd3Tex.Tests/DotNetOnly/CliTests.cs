using System.IO;
using System.Linq;
using NUnit.Framework;
using Sd3Tex.Cli;
using Sd3Tex.Json;

namespace Sd3Tex.Tests.DotNetOnly;

/// <summary>The command-line tool, run in-process exactly as `DotNet~/sd3tex` runs it.</summary>
public sealed class CliTests
{
    static (int code, string stdout, string stderr) Run(params string[] args) => Cli.Run(args);

    [Test]
    public void InspectJsonOnTheFixtures()
    {
        var (code, stdout, stderr) = Run("inspect", "--json", TestPaths.Fixture("mmdit-tiny-sd3m", "model.safetensors"),
            TestPaths.Fixture("clip-tiny", "model.safetensors"), TestPaths.Fixture("t5-tiny", "model.safetensors"), TestPaths.Fixture("vae-tiny", "model.safetensors"));
        Assert.That(code, Is.EqualTo(0), stderr);
        var j = JsonValue.Parse(stdout);
        Assert.That(j["family"].AsString, Is.EqualTo("unknown"));
        Assert.That(j["mmdit"]["depth"].AsLong, Is.EqualTo(2));
        Assert.That(j["mmdit"]["dual_attention_blocks"].Items, Is.Empty);
        Assert.That(j["clip_l"]["hidden_size"].AsLong, Is.EqualTo(24));
        Assert.That(j["clip_g"]["hidden_size"].AsLong, Is.EqualTo(40));
        Assert.That(j["t5xxl"]["heads"].AsLong, Is.EqualTo(4));
        Assert.That(j["vae"]["base_channels"].AsLong, Is.EqualTo(32));
        // snake_case keys only
        foreach (var key in j.Properties.Select(p => p.Key).Concat(j["mmdit"].Properties.Select(p => p.Key)))
            Assert.That(key, Does.Match("^[a-z0-9_]+$"));
    }

    [Test]
    public void InspectTextAndAbsentComponents()
    {
        var (code, stdout, _) = Run("inspect", TestPaths.Fixture("vae-tiny", "model.safetensors"));
        Assert.That(code, Is.EqualTo(0));
        Assert.That(stdout, Does.Contain("VAE:").And.Contain("MMDiT: absent"));
        var (_, json, _) = Run("inspect", TestPaths.Fixture("vae-tiny", "model.safetensors"), "--json");
        var j = JsonValue.Parse(json);
        Assert.That(j["mmdit"].IsNull && j["clip_l"].IsNull && j["t5xxl"].IsNull, Is.True);
    }

    [Test]
    public void CompileKernelsListsTheFlashVariantPerTarget()
    {
        var (code, stdout, stderr) = Run("compile-kernels", "--target", "opencl");
        Assert.That(code, Is.EqualTo(0), stderr);
        Assert.That(stdout, Does.Contain("| opencl minimal C3.0 |"));
        Assert.That(stdout, Does.Contain("variant Attention.FlashStaticKernel: opencl minimal C3.0 (OpenCL C 3.0 without program-scope variables)"));
        Assert.That(stdout, Does.Contain("variant Attention.FlashKernel: every target but opencl minimal C3.0"));
        var staticRow = stdout.Split('\n').Single(l => l.StartsWith("| Attention.FlashStaticKernel |"));
        Assert.That(staticRow.Split('|').Count(c => c.Trim() == "–"), Is.EqualTo(5), "only the minimal C3.0 target compiles it");
        Assert.That(Run("compile-kernels", "--target", "vulkan").stderr, Does.Contain("--target must be ptx, opencl or all"));
    }

    [Test]
    public void ErrorsExitNonZeroWithAMessage()
    {
        string dir = TestPaths.NewScratch("cli");
        try
        {
            string bad = Path.Combine(dir, "broken.safetensors");
            File.WriteAllBytes(bad, new byte[] { 200, 0, 0, 0, 0, 0, 0, 0, (byte)'{' });
            var (code, _, stderr) = Run("inspect", bad);
            Assert.That(code, Is.EqualTo(1));
            Assert.That(stderr, Does.Contain("broken.safetensors").And.Contain("truncated"));
            Assert.That(Run("inspect").code, Is.EqualTo(2));
            Assert.That(Run("inspect", "--jsn", bad).stderr, Does.Contain("unknown option --jsn"));
            Assert.That(Run("frobnicate").code, Is.EqualTo(2));
            Assert.That(Run("inspect", "--help").stdout, Does.Contain("usage: sd3tex inspect"));
        }
        finally { TestPaths.DeleteScratch(dir); }
    }
}
