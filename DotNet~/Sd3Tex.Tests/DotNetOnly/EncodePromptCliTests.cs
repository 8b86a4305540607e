using System.IO;
using NUnit.Framework;
using Sd3Tex.Checkpoints;
using Sd3Tex.Cli;

namespace Sd3Tex.Tests.DotNetOnly;

/// <summary>`sd3tex encode --prompt` reproduces pipeline-tiny's token ids and conditioning, with the reference encoders
/// and on ILGPU's CPU accelerator.</summary>
public sealed class EncodePromptCliTests
{
    string _dir;

    [SetUp] public void SetUp() => _dir = TestPaths.NewScratch("cli-encode-prompt");
    [TearDown] public void TearDown() => TestPaths.DeleteScratch(_dir);

    static string[] Weights => new[]
    {
        TestPaths.Fixture("mmdit-tiny-sd3m", "model.safetensors"), TestPaths.Fixture("clip-tiny", "model.safetensors"),
        TestPaths.Fixture("t5-tiny", "model.safetensors"),
    };

    static string Run(params string[] args)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        int code = Program.Run(args, o, e);
        Assert.That(code, Is.EqualTo(0), e.ToString());
        return e.ToString();
    }

    [TestCase(false, "reference", true, true)]
    [TestCase(true, "reference", true, true)]
    [TestCase(false, "cpu", true, true)]
    // without --tokenizers: the ones bundled with the package
    [TestCase(false, "cpu", false, true)]
    // the text encoders alone: --no-t5 makes the context as wide as T5's hidden size (96), as generate does through the
    // transformer's context_dim
    [TestCase(true, "cpu", true, false)]
    public void PromptMatchesThePipelineFixture(bool noT5, string device, bool tokenizers, bool withTransformer)
    {
        const string P = "pipeline-tiny";
        string outPath = Path.Combine(_dir, "cond.safetensors");
        var args = new System.Collections.Generic.List<string> { "encode", "--weights" };
        args.AddRange(withTransformer ? Weights : Weights[1..]);
        args.AddRange(new[] { "--prompt", "a photo of a cat", "--clip-heads", "2,2", "--device", device, "--output", outPath });
        if (tokenizers) args.AddRange(new[] { "--tokenizers", Path.Combine(TestPaths.Shared, "tokenizers") });
        if (noT5) args.Add("--no-t5");
        TestContext.Progress.WriteLine("  " + Run(args.ToArray()).Trim().Replace("\n", "\n  "));
        using var f = SafetensorsFile.Open(outPath);
        foreach (var name in new[] { "tokens_clip_l", "tokens_clip_g", "tokens_t5", "neg_tokens_clip_l", "neg_tokens_clip_g", "neg_tokens_t5" })
        {
            using var g = SafetensorsFile.Open(TestPaths.Fixture(P, "golden.safetensors"));
            Assert.That(f.ReadInt64(f[name]), Is.EqualTo(g.ReadInt64(g[name])), name);
        }
        Golden.AssertClose(Golden.Floats(P, "golden.safetensors", noT5 ? "cond_context_t5_zeroed" : "cond_context"), f.ReadFloats(f["cond_context"]), 5e-5, "cond_context");
        Golden.AssertClose(Golden.Floats(P, "golden.safetensors", "cond_pooled"), f.ReadFloats(f["cond_pooled"]), 5e-5, "cond_pooled");
        Golden.AssertClose(Golden.Floats(P, "golden.safetensors", "uncond_pooled"), f.ReadFloats(f["uncond_pooled"]), 5e-5, "uncond_pooled");
        if (!noT5) Golden.AssertClose(Golden.Floats(P, "golden.safetensors", "uncond_context"), f.ReadFloats(f["uncond_context"]), 5e-5, "uncond_context");
    }

    [Test]
    public void AMissingTokenizerFolderIsNamed()
    {
        var e = new StringWriter();
        var args = new System.Collections.Generic.List<string> { "encode", "--weights" };
        args.AddRange(Weights);
        args.AddRange(new[] { "--prompt", "x", "--tokenizers", Path.Combine(_dir, "nowhere"), "--output", Path.Combine(_dir, "c.safetensors") });
        Assert.That(Program.Run(args.ToArray(), new StringWriter(), e), Is.EqualTo(1));
        Assert.That(e.ToString(), Does.Contain("tokenizer folder not found").And.Contain("nowhere"));
    }
}
