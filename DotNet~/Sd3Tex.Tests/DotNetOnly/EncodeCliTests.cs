using System.IO;
using System.Linq;
using NUnit.Framework;
using Sd3Tex.Checkpoints;
using Sd3Tex.Cli;

namespace Sd3Tex.Tests.DotNetOnly;

/// <summary>`sd3tex encode --ids` on the clip-tiny and t5-tiny fixtures, on the reference and the CPU device.</summary>
[TestFixture("reference")]
[TestFixture("cpu")]
public sealed class EncodeCliTests(string device)
{
    string _dir;

    [SetUp] public void SetUp() => _dir = TestPaths.NewScratch("cli-encode");
    [TearDown] public void TearDown() => TestPaths.DeleteScratch(_dir);

    static (int code, string stdout, string stderr) Run(params string[] args) => Cli.Run(args);

    static float[] Read(string path, string name)
    {
        using var f = SafetensorsFile.Open(path);
        Assert.That(f[name], Is.Not.Null, $"{name} in the output");
        return f.ReadFloats(f[name]);
    }

    internal static long[] Ints(string fixture, string name)
    {
        using var f = SafetensorsFile.Open(TestPaths.Fixture(fixture, "inputs.safetensors"));
        return f.ReadInt64(f[name]);
    }

    /// <summary>clip-tiny's clip_l_ids and clip_g_ids [2, 77] with t5-tiny's ids_0 and ids_1 stacked as t5_ids [2, 77];
    /// with <paramref name="batch"/> 1 only the first prompt of each.</summary>
    internal static string WriteIds(string dir, int batch = 2)
    {
        string path = Path.Combine(dir, "ids.safetensors");
        new SafetensorsWriter()
            .AddInt64("clip_l_ids", new long[] { batch, 77 }, Ints("clip-tiny", "clip_l_ids").Take(batch * 77).ToArray())
            .AddInt64("clip_g_ids", new long[] { batch, 77 }, Ints("clip-tiny", "clip_g_ids").Take(batch * 77).ToArray())
            .AddInt64("t5_ids", new long[] { batch, 77 }, Ints("t5-tiny", "ids_0").Concat(Ints("t5-tiny", "ids_1")).Take(batch * 77).ToArray())
            .Write(path);
        return path;
    }

    /// <summary>The first <paramref name="batch"/> sequences of a golden [2, ...] tensor.</summary>
    static float[] Expected(string fixture, string name, int batch)
    {
        var all = Golden.Floats(fixture, "golden.safetensors", name);
        return all.Take(all.Length / 2 * batch).ToArray();
    }

    [Test]
    public void EncodeMatchesTheFixtures()
    {
        // the ILGPU CPU accelerator is slow: one prompt there (the device encoders' own tests cover batches), both on the reference
        int b = device == "reference" ? 2 : 1;
        string outPath = Path.Combine(_dir, "out.safetensors");
        var (code, stdout, stderr) = Run("encode", "--weights", TestPaths.Fixture("clip-tiny", "model.safetensors"), TestPaths.Fixture("t5-tiny", "model.safetensors"),
                                         "--ids", WriteIds(_dir, b), "--output", outPath, "--clip-heads", "2,2", "--device", device);
        Assert.That(code, Is.EqualTo(0), stderr);
        Assert.That(stdout.Trim(), Is.EqualTo(outPath));
        TestContext.Progress.WriteLine(stderr.TrimEnd());
        const double tol = 5e-5;
        foreach (var name in new[] { "clip_l_penultimate", "clip_l_pooled", "clip_g_penultimate", "clip_g_pooled_projected" })
            Golden.AssertClose(Expected("clip-tiny", name, b), Read(outPath, name), tol, $"{name} ({device})");
        var t5 = Golden.Floats("t5-tiny", "golden.safetensors", "hidden_0").Concat(Golden.Floats("t5-tiny", "golden.safetensors", "hidden_1")).ToArray();
        Golden.AssertClose(t5.Take(t5.Length / 2 * b).ToArray(), Read(outPath, "t5_hidden"), tol, $"t5_hidden ({device})");
        using var f = SafetensorsFile.Open(outPath);
        Assert.That(f["context"].Shape, Is.EqualTo(new long[] { b, 154, 96 }));
        Assert.That(f["pooled"].Shape, Is.EqualTo(new long[] { b, 64 }));
        Assert.That(f["t5_hidden"].DType, Is.EqualTo(DType.F32));
        // context = [CLIP-L ‖ CLIP-G ‖ zeros] rows, then the T5 rows
        var context = Read(outPath, "context");
        var l = Read(outPath, "clip_l_penultimate");
        Assert.That(context.Take(24), Is.EqualTo(l.Take(24)));
        Assert.That(context.Skip(64).Take(32).All(v => v == 0f), Is.True);
        Assert.That(context.Skip(77 * 96).Take(77 * 96), Is.EqualTo(Read(outPath, "t5_hidden").Take(77 * 96)));
    }
}

/// <summary>`sd3tex encode` input errors: clear messages, exit codes 1 (bad input) and 2 (usage), nothing written.</summary>
public sealed class EncodeCliErrorTests
{
    string _dir;

    [SetUp] public void SetUp() => _dir = TestPaths.NewScratch("cli-encode-errors");
    [TearDown] public void TearDown() => TestPaths.DeleteScratch(_dir);

    static (int code, string stdout, string stderr) Run(params string[] args) => Cli.Run(args);

    [Test]
    public void BadInputsAreClearErrors()
    {
        string clip = TestPaths.Fixture("clip-tiny", "model.safetensors"), outPath = Path.Combine(_dir, "o.safetensors");
        string ids = EncodeCliTests.WriteIds(_dir);
        // t5_ids without T5 weights
        var (code, _, stderr) = Run("encode", "--weights", clip, "--ids", ids, "--output", outPath, "--clip-heads", "2,2", "--device", "reference");
        Assert.That(code, Is.EqualTo(1));
        Assert.That(stderr, Does.Contain("t5_ids").And.Contain("no T5-XXL"));
        // no heads for the tiny CLIPs (their widths are not multiples of 64)
        string clipIds = Path.Combine(_dir, "clip-ids.safetensors");
        new SafetensorsWriter().AddInt64("clip_g_ids", new long[] { 2, 77 }, EncodeCliTests.Ints("clip-tiny", "clip_g_ids")).Write(clipIds);
        (code, _, stderr) = Run("encode", "--weights", clip, "--ids", clipIds, "--output", outPath, "--device", "reference");
        Assert.That(code, Is.EqualTo(1));
        Assert.That(stderr, Does.Contain("--clip-heads L,G").And.Contain("CLIP-G"));
        Assert.That(stderr, Does.Contain("CLIP-L: no clip_l_ids given, skipped"));
        (code, _, stderr) = Run("encode", "--weights", clip, "--ids", ids, "--output", outPath, "--clip-heads", "2");
        Assert.That(code, Is.EqualTo(2));
        Assert.That(stderr, Does.Contain("--clip-heads"));
        // ids outside the vocabulary
        string badIds = Path.Combine(_dir, "bad.safetensors");
        new SafetensorsWriter().AddInt64("clip_l_ids", new long[] { 1, 77 }, Enumerable.Repeat(60000L, 77).ToArray()).Write(badIds);
        (code, _, stderr) = Run("encode", "--weights", clip, "--ids", badIds, "--output", outPath, "--clip-heads", "2,2", "--device", "reference");
        Assert.That(code, Is.EqualTo(1));
        Assert.That(stderr, Does.Contain("outside the vocabulary"));
        Assert.That(File.Exists(outPath), Is.False, "nothing is written on failure");
        Assert.That(Run("encode", "--help").stdout, Does.Contain("usage: sd3tex encode"));
    }
}
