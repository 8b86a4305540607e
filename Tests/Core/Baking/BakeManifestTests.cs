using System;
using System.IO;
using System.Linq;
using NUnit.Framework;
using Sd3Tex.Baking;
using Sd3Tex.Sampling;
using Sd3Tex.Vae;

namespace Sd3Tex.Tests.Baking
{
    public sealed class BakeManifestTests
    {
        const string Example = @"{""weights"": [""models/sd3.5_medium.safetensors"", ""clip_g=models/clip_g.safetensors""], ""tokenizers"": ""tok"", ""output"": ""textures"",
 ""defaults"": {""steps"": 28, ""cfg"": 5.0, ""width"": 1024, ""height"": 1024, ""seamless"": ""xy"", ""clip_heads"": ""12,20""},
 ""textures"": [{""name"": ""mossy_brick"", ""prompt"": ""mossy brick"", ""seed"": 7}, {""name"": ""lava"", ""prompt"": ""lava"", ""negative"": ""blurry"", ""count"": 3, ""sampler"": ""dpmpp_2m""}]}";

        static readonly string Base = Path.GetFullPath(Path.Combine(Path.GetTempPath(), "bake-base"));

        [Test]
        public void TheIssuesManifestShapeParses()
        {
            var m = BakeManifest.Parse(Example, Base);
            Assert.That(m.Weights, Is.EqualTo(new[] { "models/sd3.5_medium.safetensors", "clip_g=models/clip_g.safetensors" }));
            Assert.That(m.ResolvedWeights()[0], Is.EqualTo(Path.Combine(Base, "models", "sd3.5_medium.safetensors")));
            Assert.That(m.ResolvedWeights()[1], Is.EqualTo("clip_g=" + Path.Combine(Base, "models", "clip_g.safetensors")));
            Assert.That(m.ResolvedTokenizers(), Is.EqualTo(Path.Combine(Base, "tok")));
            Assert.That(m.OutputDirectory, Is.EqualTo(Path.Combine(Base, "textures")));
            Assert.That(m.Textures.Select(t => t.Name), Is.EqualTo(new[] { "mossy_brick", "lava" }));

            var brick = m.Textures[0].Over(m.Defaults).ToRequest(m.BaseDirectory);
            Assert.That(brick.Prompt, Is.EqualTo("mossy brick"));
            Assert.That(brick.Seed, Is.EqualTo(7));
            Assert.That(brick.Steps, Is.EqualTo(28));
            Assert.That(brick.Cfg, Is.EqualTo(5f));
            Assert.That(brick.Width, Is.EqualTo(1024));
            Assert.That(brick.Seamless, Is.EqualTo(SeamlessAxes.Both));
            Assert.That(brick.Sampler, Is.Null, "left to the family's preset");
            var lava = m.Textures[1].Over(m.Defaults).ToRequest(m.BaseDirectory);
            Assert.That(lava.NegativePrompt, Is.EqualTo("blurry"));
            Assert.That(lava.Sampler, Is.EqualTo(SamplerKind.DpmPp2M));
            Assert.That(lava.Count, Is.EqualTo(3));

            Assert.That(m.OutputsOf(m.Textures[0]), Is.EqualTo(new[] { Path.Combine(Base, "textures", "mossy_brick.png") }));
            Assert.That(m.OutputsOf(m.Textures[1]).Select(Path.GetFileName), Is.EqualTo(new[] { "lava_0.png", "lava_1.png", "lava_2.png" }));
        }

        [Test]
        public void ItRoundTripsThroughJson()
        {
            var m = BakeManifest.Parse(Example, Base);
            var again = BakeManifest.Parse(m.ToJson(), Base);
            Assert.That(again.ToJson(), Is.EqualTo(m.ToJson()));
            Assert.That(again.Defaults.Cfg, Is.EqualTo(5f));
            Assert.That(again.Textures[1].Count, Is.EqualTo(3));
        }

        static string Error(string json)
        {
            var e = Assert.Throws<BakeManifestException>(() => BakeManifest.Parse(json, Base));
            return e.Message;
        }

        [Test]
        public void UnknownFieldsAndBadValuesAreNamed()
        {
            Assert.That(Error(@"{""weights"": ""m"", ""textures"": [{""name"": ""a"", ""promt"": ""x""}]}"),
                        Does.Contain("unknown field \"promt\" in textures[0]").And.Contain("prompt"));
            Assert.That(Error(@"{""weights"": ""m"", ""defaults"": {""stepz"": 3}, ""textures"": []}"), Does.Contain("unknown field \"stepz\" in defaults"));
            Assert.That(Error(@"{""weights"": ""m"", ""outptu"": ""x"", ""textures"": []}"), Does.Contain("unknown field \"outptu\" at the top level"));
            Assert.That(Error(@"{""weights"": ""m"", ""textures"": [{""name"": ""a"", ""steps"": ""many""}]}"), Does.Contain("textures[0].steps must be an integer"));
            Assert.That(Error(@"{""weights"": ""m"", ""textures"": [{""name"": ""a"", ""seed"": 1.5}]}"), Does.Contain("textures[0].seed must be an integer"));
            Assert.That(Error(@"{""weights"": ""m"", ""textures"": [{""name"": ""a""}, {""name"": ""a""}]}"), Does.Contain("repeats textures[0]"));
            Assert.That(Error(@"{""weights"": ""m"", ""textures"": [{""prompt"": ""x""}]}"), Does.Contain("textures[0] has no \"name\""));
            Assert.That(Error(@"{""weights"": ""m"", ""textures"": [{""name"": ""../up""}]}"), Does.Contain("cannot be a file name"));
            Assert.That(Error(@"{""textures"": []}"), Does.Contain("\"weights\" is missing"));
            Assert.That(Error(@"{""weights"": ""m"", ""defaults"": {""name"": ""x""}, ""textures"": []}"), Does.Contain("cannot be a default"));
            Assert.That(Error("{not json"), Does.Contain("not valid JSON"));
            var m = BakeManifest.Parse(@"{""weights"": ""m"", ""textures"": [{""name"": ""a"", ""sampler"": ""ddim""}]}", Base);
            Assert.That(() => m.Textures[0].ToRequest(Base), Throws.TypeOf<BakeManifestException>().With.Message.Contains("ddim"));
        }

        [Test]
        public void ShardsSplitTheTexturesExactlyOnce()
        {
            BakeShard.Parse("2/3", out int index, out int count);
            Assert.That((index, count), Is.EqualTo((1, 3)));
            foreach (var bad in new[] { "0/2", "3/2", "1/0", "x", "1/2/3", "-1/2", "" })
                Assert.That(() => BakeShard.Parse(bad, out _, out _), Throws.TypeOf<FormatException>(), bad);
            for (int n = 1; n <= 4; n++)
                for (int k = 0; k < 11; k++)
                    Assert.That(Enumerable.Range(0, n).Count(s => BakeShard.Contains(k, s, n)), Is.EqualTo(1));
        }

        [Test]
        public void TheHashFollowsEveryParameterThatChangesTheImage()
        {
            var m = BakeManifest.Parse(Example, Base);
            var merged = m.Textures[1].Over(m.Defaults);
            string H(Action<Sd3Tex.Generation.GenerationRequest> change, int index = 0)
            {
                var r = merged.ToRequest(Base);
                change?.Invoke(r);
                return Baker.Hash("model:1", merged, r, index);
            }
            string baseline = H(null);
            Assert.That(H(null), Is.EqualTo(baseline));
            Assert.That(H(null, 1), Is.Not.EqualTo(baseline), "each image of a count has its own seed");
            Assert.That(H(r => r.Prompt = "lava!"), Is.Not.EqualTo(baseline));
            Assert.That(H(r => r.Seed = 1), Is.Not.EqualTo(baseline));
            Assert.That(H(r => r.Steps = 29), Is.Not.EqualTo(baseline));
            Assert.That(H(r => r.Cfg = 5.5f), Is.Not.EqualTo(baseline));
            Assert.That(H(r => r.Width = 512), Is.Not.EqualTo(baseline));
            Assert.That(H(r => r.UseT5 = false), Is.Not.EqualTo(baseline));
            Assert.That(H(r => r.Seamless = SeamlessAxes.X), Is.Not.EqualTo(baseline));
            Assert.That(Baker.Hash("model:2", merged, merged.ToRequest(Base), 0), Is.Not.EqualTo(baseline), "another model re-bakes");
        }
    }
}
