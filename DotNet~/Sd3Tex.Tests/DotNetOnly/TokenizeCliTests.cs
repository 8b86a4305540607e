using System.IO;
using System.Linq;
using NUnit.Framework;
using Sd3Tex.Cli;
using Sd3Tex.Json;

namespace Sd3Tex.Tests.DotNetOnly;

/// <summary><c>sd3tex tokenize</c>, run in-process.</summary>
public sealed class TokenizeCliTests
{
    static (int code, string stdout, string stderr) Run(params string[] args) => Cli.Run(args);

    static string Tokenizers => Path.Combine(TestPaths.Shared, "tokenizers");

    [Test]
    public void JsonMatchesTheFixture()
    {
        var cases = JsonValue.Parse(File.ReadAllText(TestPaths.Fixture("tokenizer", "cases.json")))["cases"].Items;
        foreach (var c in cases.Where(c => !c["prompt"].AsString.StartsWith("-")))
        {
            var (code, stdout, stderr) = Run("tokenize", "--prompt", c["prompt"].AsString, "--tokenizers", Tokenizers, "--json");
            Assert.That(code, Is.EqualTo(0), stderr);
            var j = JsonValue.Parse(stdout);
            foreach (var key in new[] { "clip_l", "clip_g", "t5xxl" })
                Assert.That(j[key].ToJson(false), Is.EqualTo(c[key].ToJson(false)), $"{key} of \"{c["prompt"].AsString}\"");
            Assert.That(j["warnings"].Kind, Is.EqualTo(JsonKind.Array));
        }
    }

    [Test]
    public void LongPromptsReportWhatWasDropped()
    {
        string prompt = string.Join(" ", Enumerable.Range(0, 40).Select(i => "word" + i));
        var (code, stdout, stderr) = Run("tokenize", "--tokenizers", Tokenizers, "--json", "--prompt=" + prompt);
        Assert.That(code, Is.EqualTo(0), stderr);
        var j = JsonValue.Parse(stdout);
        Assert.That(j["dropped_clip_tokens"].AsLong, Is.EqualTo(36));
        Assert.That(j["dropped_t5_characters"].AsLong, Is.EqualTo(prompt.Length - 226));
        Assert.That(j["warnings"].Items.Count, Is.EqualTo(2));
        Assert.That(stderr, Does.Contain("warning: ").And.Contain("36 tokens were dropped"));

        var (code2, text, _) = Run("tokenize", "--tokenizers", Tokenizers, "--prompt", "a photo of a cat");
        Assert.That(code2, Is.EqualTo(0));
        Assert.That(text, Does.StartWith("clip_l (77): 49406 320 1125 539 320 2368 49407 49407"));
        Assert.That(text, Does.Contain("t5xxl (77): 3 9 1202 13 3 9 1712 1 0"));
    }

    [Test]
    public void ErrorsAreClear()
    {
        // without --tokenizers: the ones bundled with the package, which are the shared files
        var (code, stdout, stderr) = Run("tokenize", "--prompt", "a photo of a cat");
        Assert.That(code, Is.EqualTo(0), stderr);
        Assert.That(stdout, Is.EqualTo(Run("tokenize", "--prompt", "a photo of a cat", "--tokenizers", Tokenizers).stdout));

        Assert.That(Run("tokenize", "--tokenizers", Tokenizers).stderr, Does.Contain("--prompt is required"));
        Assert.That(Run("tokenize", "--help").stdout, Does.Contain("usage: sd3tex tokenize"));

        string dir = TestPaths.NewScratch("tokenize-cli");
        try
        {
            Directory.CreateDirectory(Path.Combine(dir, "tokenizer"));
            var (code3, _, stderr3) = Run("tokenize", "--prompt", "a cat", "--tokenizers", dir);
            Assert.That(code3, Is.EqualTo(1));
            Assert.That(stderr3, Does.Contain(Path.Combine(dir, "tokenizer", "vocab.json")).And.Contain("stabilityai/stable-diffusion-3-medium-diffusers"));
        }
        finally { TestPaths.DeleteScratch(dir); }
    }
}
