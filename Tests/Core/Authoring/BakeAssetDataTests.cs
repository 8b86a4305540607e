using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using NUnit.Framework;
using Sd3Tex.Authoring;
using Sd3Tex.Baking;
using Sd3Tex.Generation;
using Sd3Tex.Imaging;
using Sd3Tex.Tests.Generation;

namespace Sd3Tex.Tests.Authoring
{
    public sealed class BakeAssetDataTests
    {
        string _project;

        [SetUp]
        public void SetUp() => _project = TestPaths.NewScratch("bake-asset");

        [TearDown]
        public void TearDown() => TestPaths.DeleteScratch(_project);

        [Test]
        public void EmptyFieldsInheritAndSetOnesOverride()
        {
            var blank = new BakeTextureData { Name = "a" }.ToEntry(false);
            Assert.That(blank.Name, Is.EqualTo("a"));
            Assert.That(new object[] { blank.Prompt, blank.Negative, blank.Seed, blank.Count, blank.Steps, blank.Cfg, blank.Shift, blank.Sampler, blank.Width, blank.Height, blank.NoT5, blank.Seamless },
                        Has.All.Null);
            var set = new BakeTextureData
            {
                Name = " b ", Prompt = "p", Negative = "n", OverrideSeed = true, Seed = 0, Count = 2, Steps = 9, Cfg = 4.5f, Shift = 3f,
                Sampler = SamplerChoice.Euler, Width = 512, Height = 256, T5 = T5Choice.Off, Seamless = SeamlessChoice.XY,
            }.ToEntry(false);
            Assert.That((set.Name, set.Prompt, set.Negative, set.Seed, set.Count, set.Steps, set.Cfg, set.Shift),
                        Is.EqualTo(("b", "p", "n", (long?)0, (int?)2, (int?)9, (float?)4.5f, (float?)3f)));
            Assert.That((set.Sampler, set.Width, set.Height, set.NoT5, set.Seamless), Is.EqualTo(("euler", (int?)512, (int?)256, (bool?)true, "xy")));
            Assert.That(new BakeTextureData { Name = "x", T5 = T5Choice.On, Seamless = SeamlessChoice.None, Sampler = SamplerChoice.DpmPp2M }.ToEntry(true),
                        Has.Property("Name").Null.And.Property("NoT5").EqualTo(false).And.Property("Seamless").EqualTo("none").And.Property("Sampler").EqualTo("dpmpp_2m"));
        }

        [Test]
        public void EntriesRoundTrip()
        {
            var entries = new[]
            {
                new BakeEntry { Name = "a", Prompt = "p", Seed = 3, Count = 2, Steps = 10, Cfg = 5f, Shift = 1f, Sampler = "dpmpp_2m", Width = 512, Height = 768, NoT5 = false, Seamless = "y" },
                new BakeEntry { Name = "b" },
                new BakeEntry { Name = "c", Seamless = "x", Sampler = "euler", NoT5 = true },
            };
            foreach (var e in entries)
            {
                var back = BakeTextureData.FromEntry(e).ToEntry(false);
                Assert.That(Fields(back), Is.EqualTo(Fields(e)), e.Name);
            }
            Assert.That(() => BakeTextureData.FromEntry(new BakeEntry { Name = "n", Noise = "noise.safetensors" }), Throws.InstanceOf<BakeManifestException>().With.Message.Contains("as JSON"));
            Assert.That(() => BakeTextureData.FromEntry(new BakeEntry { Name = "s", Sampler = "heun" }), Throws.InstanceOf<BakeManifestException>().With.Message.Contains("heun"));
        }

        static object[] Fields(BakeEntry e) => new object[] { e.Name, e.Prompt, e.Negative, e.Seed, e.Count, e.Steps, e.Cfg, e.Shift, e.Sampler, e.Width, e.Height, e.NoT5, e.Seamless };

        [Test]
        public void BecomesTheManifestTheCommandLineBakes()
        {
            var project = new ModelSettings { Weights = { "Models/sd3.5_medium.safetensors", "clip_g=Models/clip_g.safetensors" }, Tokenizers = "Models/tok", Device = "cuda", ClipLHeads = 12, ClipGHeads = 20 };
            var data = new BakeAssetData
            {
                OutputFolder = "Assets/Textures/Baked/",
                Defaults = new BakeTextureData { Steps = 28, Width = 512, Height = 512, Seamless = SeamlessChoice.XY },
                Textures = { new BakeTextureData { Name = "moss", Prompt = "moss", OverrideSeed = true, Seed = 7 }, new BakeTextureData { Name = "lava", Prompt = "lava", Count = 3 } },
            };
            var m = data.ToManifest(_project, project);
            Assert.That(m.OutputDirectory, Is.EqualTo(Path.GetFullPath(Path.Combine(_project, "Assets", "Textures", "Baked"))));
            Assert.That(m.ResolvedWeights(), Is.EqualTo(new[]
            {
                Path.GetFullPath(Path.Combine(_project, "Models", "sd3.5_medium.safetensors")), "clip_g=" + Path.GetFullPath(Path.Combine(_project, "Models", "clip_g.safetensors")),
            }));
            Assert.That(m.ResolvedTokenizers(), Is.EqualTo(Path.GetFullPath(Path.Combine(_project, "Models", "tok"))));
            Assert.That((m.Device, m.Defaults.ClipHeads, m.Defaults.Steps, m.Defaults.Seamless), Is.EqualTo(("cuda", "12,20", (int?)28, "xy")));
            Assert.That(m.OutputsOf(m.Textures[1]).Select(Path.GetFileName), Is.EqualTo(new[] { "lava_0.png", "lava_1.png", "lava_2.png" }));
            var moss = m.Textures[0].Over(m.Defaults).ToRequest(m.BaseDirectory);
            Assert.That((moss.Prompt, moss.Seed, moss.Width, moss.Steps), Is.EqualTo(("moss", 7L, 512, (int?)28)));

            var reparsed = BakeManifest.Parse(m.ToJson(), m.BaseDirectory);
            Assert.That(reparsed.ToJson(), Is.EqualTo(m.ToJson()), "what the asset bakes can be written out for sd3tex bake");

            data.UseProjectModel = false;
            data.Model = new ModelSettings { Weights = { "Elsewhere/model.safetensors" } };
            Assert.That(data.ToManifest(_project, project).ResolvedWeights().Single(), Does.EndWith(Path.Combine("Elsewhere", "model.safetensors")));
        }

        [TestCase("Packages/x", "output folder")]
        [TestCase("Assets/Out", "name no model files")]
        public void WhatCannotBeBakedSaysWhatToFix(string output, string expected)
        {
            var data = new BakeAssetData { OutputFolder = output, Textures = { new BakeTextureData { Name = "a", Prompt = "a" } } };
            Assert.That(() => data.ToManifest(_project, new ModelSettings()), Throws.InstanceOf<BakeManifestException>().With.Message.Contains(expected));
        }

        [Test]
        public void TexturesNeedUniqueFileNames()
        {
            var data = new BakeAssetData { Textures = { new BakeTextureData { Name = "a" }, new BakeTextureData { Name = "A" }, } };
            var model = new ModelSettings { Weights = { "m.safetensors" } };
            Assert.That(() => data.ToManifest(_project, model), Throws.InstanceOf<BakeManifestException>().With.Message.Contains("unique"));
            data.Textures[1].Name = "";
            Assert.That(() => data.ToManifest(_project, model), Throws.InstanceOf<BakeManifestException>().With.Message.Contains("no \"name\""));
        }

        [Test]
        public void AJsonManifestBecomesAnAsset()
        {
            string json = @"{""weights"": [""Models/sd3.5_medium.safetensors"", ""clip_g=Models/clip_g.safetensors""], ""tokenizers"": ""Models/tok"", ""output"": ""Assets/Baked"",
                ""device"": ""cpu"", ""defaults"": {""steps"": 28, ""seamless"": ""xy"", ""clip_heads"": ""12,20""},
                ""textures"": [{""name"": ""moss"", ""prompt"": ""moss"", ""seed"": 7}, {""name"": ""lava"", ""prompt"": ""lava"", ""no_t5"": true}]}";
            var manifest = BakeManifest.Parse(json, _project);
            var data = BakeAssetData.FromManifest(manifest, _project);
            Assert.That((data.OutputFolder, data.UseProjectModel), Is.EqualTo(("Assets/Baked", false)));
            Assert.That(data.Model.Weights, Is.EqualTo(new[] { "Models/sd3.5_medium.safetensors", "clip_g=Models/clip_g.safetensors" }));
            Assert.That((data.Model.Tokenizers, data.Model.Device, data.Model.ClipLHeads, data.Model.ClipGHeads), Is.EqualTo(("Models/tok", "cpu", 12, 20)));
            Assert.That(data.Textures.Select(t => t.Name), Is.EqualTo(new[] { "moss", "lava" }));
            Assert.That(data.Textures[1].T5, Is.EqualTo(T5Choice.Off));
            var back = data.ToManifest(_project, null);
            Assert.That(back.ResolvedWeights(), Is.EqualTo(manifest.ResolvedWeights()));
            Assert.That((back.ResolvedTokenizers(), back.OutputDirectory, back.Device), Is.EqualTo((manifest.ResolvedTokenizers(), manifest.OutputDirectory, manifest.Device)));
            for (int i = 0; i < manifest.Textures.Count; i++)
            {
                Assert.That(Fields(back.Textures[i].Over(back.Defaults)), Is.EqualTo(Fields(manifest.Textures[i].Over(manifest.Defaults))), manifest.Textures[i].Name);
                Assert.That(back.Textures[i].Over(back.Defaults).ClipHeads, Is.EqualTo("12,20"));
            }
        }

        /// <summary>The asset's bake on the tiny model: generated, skipped when up to date, a failure does not stop the
        /// rest, and every output carries what the editor's importer needs (parameters, seamless axes).</summary>
        [Test]
        public void BakesSkipsAndContinuesOnTheTinyModel()
        {
            var tiny = PipelineTinyTests.TinyOptions("reference");
            var model = new ModelSettings { Tokenizers = tiny.Tokenizers, Device = "reference", ClipLHeads = 2, ClipGHeads = 2 };
            model.Weights.AddRange(tiny.Weights);
            var data = new BakeAssetData
            {
                OutputFolder = "Assets/Baked",
                Defaults = new BakeTextureData { Steps = 1, Width = 32, Height = 32, Cfg = 4f, Shift = 3f, Sampler = SamplerChoice.Euler },
                Textures =
                {
                    new BakeTextureData { Name = "tile", Prompt = "a photo of a cat", OverrideSeed = true, Seed = 5, Seamless = SeamlessChoice.XY },
                    new BakeTextureData { Name = "too_big", Prompt = "x", Width = 1000 },
                    new BakeTextureData { Name = "plain", Prompt = "a cat" },
                },
            };
            var done = new List<string>();
            var report = Baker.Run(data.ToManifest(_project, model), new BakeOptions { Generator = data.ToGeneratorOptions(_project, model), OnItemDone = i => done.Add(i.Name) });
            Assert.That(report.Items.Select(i => i.Status), Is.EqualTo(new[] { BakeItemStatus.Generated, BakeItemStatus.Failed, BakeItemStatus.Generated }));
            Assert.That(report.Items[1].Error, Does.Contain("1008"));
            Assert.That(done, Is.EqualTo(new[] { "tile", "too_big", "plain" }));
            string tile = Path.Combine(_project, "Assets", "Baked", "tile.png");
            Assert.That(report.Items[0].Outputs, Is.EqualTo(new[] { Path.GetFullPath(tile) }));
            var spec = TextureImportSpec.ForPng(tile);
            Assert.That((spec.RepeatU, spec.RepeatV, spec.SRgb, spec.Mipmaps), Is.EqualTo((true, true, true, true)));
            Assert.That(ImporterUserData.Decode(spec.UserData).Seed, Is.EqualTo(5));
            var plain = TextureImportSpec.ForPng(Path.Combine(_project, "Assets", "Baked", "plain.png"));
            Assert.That((plain.RepeatU, plain.RepeatV), Is.EqualTo((false, false)));
            Assert.That(PngReader.Read(tile).Image.Width, Is.EqualTo(32));

            data.Textures[2].Prompt = "a dog";
            var again = Baker.Run(data.ToManifest(_project, model), new BakeOptions { Generator = data.ToGeneratorOptions(_project, model) });
            Assert.That(again.Items.Select(i => i.Status), Is.EqualTo(new[] { BakeItemStatus.Skipped, BakeItemStatus.Failed, BakeItemStatus.Generated }));
            Assert.That(again.Success, Is.False);
        }
    }
}
