using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using NUnit.Framework;
using Sd3Tex.Authoring;
using Sd3Tex.Baking;
using Sd3Tex.Generation;
using Sd3Tex.Imaging;
using Sd3Tex.Models;
using Sd3Tex.Vae;

namespace Sd3Tex.Tests.Authoring
{
    /// <summary>The window's and the manifest asset's image-to-image, inpainting, guidance and make-seamless fields
    /// (engine-free logic behind Sd3TexWindow and the BakeManifest asset).</summary>
    public sealed class ImageFormTests
    {
        string _dir;

        [SetUp]
        public void SetUp()
        {
            _dir = TestPaths.NewScratch("image-form");
            Directory.CreateDirectory(Path.Combine(_dir, "Assets", "Sources"));
            PngWriter.Write(Path.Combine(_dir, "Assets", "Sources", "wall.png"), Generation.Img2ImgFixture.Ramp(100, 60));
            PngWriter.Write(Path.Combine(_dir, "Assets", "Sources", "mask.png"), Generation.Img2ImgFixture.LeftMask(100, 60, 30));
        }

        [TearDown] public void TearDown() => TestPaths.DeleteScratch(_dir);

        static List<string> Errors(List<FormMessage> m) => m.Where(x => x.Severity == MessageSeverity.Error).Select(x => x.Field).ToList();

        [Test]
        public void TheFormBuildsImageRequestsWithTheImagesSize()
        {
            var form = new GenerationForm { Prompt = "wall", InitImage = "Assets/Sources/wall.png", Strength = 0.55f, Mask = "Assets/Sources/mask.png", MaskBlur = 3, BatchCount = 2 };
            Assert.That(Errors(form.Validate(null, _dir)), Is.Empty);
            var r = form.ToImageRequest(9, _dir);
            Assert.That((r.InitImage.Width, r.Mask.Width, r.Width, r.Height), Is.EqualTo((100, 100, 96, 64)), "the image's size rounded to 16");
            Assert.That((r.Strength, r.MaskBlur, r.Count, r.Seed), Is.EqualTo((0.55f, 3, 2, 9L)), "the batch count makes variations");
            form.UseInitImageSize = false;
            form.Size = SizePreset.Square512;
            Assert.That(form.ToImageRequest(9, _dir).Width, Is.EqualTo(512), "or the form's size: the image is stretched to it");
            Assert.That(form.ToRequest(9).InitImage, Is.Null, "a plain request never reads files");
        }

        [Test]
        public void TheFormSaysWhatIsWrongWithTheImageFields()
        {
            var form = new GenerationForm { Prompt = "x", InitImage = "Assets/none.png", Strength = 1.2f, Mask = "Assets/Sources/mask.png", MaskBlur = -1,
                                            UseSkipLayerGuidance = true, SlgLayers = "7,x", SeamBand = -2 };
            Assert.That(Errors(form.Validate(null, _dir)), Is.EquivalentTo(new[] { "InitImage", "Strength", "MaskBlur", "SlgLayers", "SeamBand" }));
            form = new GenerationForm { Prompt = "x", Mask = "Assets/Sources/mask.png" };
            Assert.That(Errors(form.Validate(null, _dir)), Is.EqualTo(new[] { "Mask" }), "a mask alone");
            form = new GenerationForm { Prompt = "x", InitImage = "Assets/Sources/wall.png" };
            Assert.That(Errors(form.Validate(new ModelFacts { HasVaeEncoder = false }, _dir)), Is.EqualTo(new[] { "InitImage" }), "a VAE without encoder");
            form = new GenerationForm { Prompt = "x", UseSkipLayerGuidance = true, SlgLayers = "1,9", SlgStart = 0.5f, SlgEnd = 0.2f };
            var m = form.Validate(null, _dir);
            Assert.That(m.Any(x => x.Field == "SlgLayers" && x.Text.Contains("0 ≤ start < end")), Is.True, string.Join(" | ", m));
            // the loaded model's depth: layer 9 of a 2-block model
            form.SlgStart = 0.01f;
            var facts = new ModelFacts { Check = r => r.SkipLayerGuidance.Problems(2) };
            Assert.That(form.Validate(facts, _dir).Single(x => x.Severity == MessageSeverity.Error).Text, Does.Contain("beyond the model's 2 joint blocks"));
            // a file that cannot be read is an error of the request, with the others
            File.WriteAllText(Path.Combine(_dir, "Assets", "bad.png"), "not a png");
            form = new GenerationForm { Prompt = "x", InitImage = "Assets/bad.png", Strength = 0f };
            var e = Assert.Throws<GenerationRequestException>(() => form.ToImageRequest(1, _dir));
            Assert.That(e.Message, Does.Contain("bad.png").And.Contain("strength 0 is outside"));
        }

        [Test]
        public void SkipLayerGuidanceIsOfferedBySd35MediumAndOffByDefault()
        {
            var form = new GenerationForm { SlgLayers = "1" };
            form.ApplyPreset(ModelFamily.Sd35Medium);
            Assert.That((form.UseSkipLayerGuidance, form.SlgLayers, form.SlgScale, form.SlgStart, form.SlgEnd), Is.EqualTo((false, "7,8,9", 2.5f, 0.01f, 0.2f)));
            Assert.That(form.ToRequest(1).SkipLayerGuidance, Is.Null);
            form.UseSkipLayerGuidance = true;
            Assert.That(form.ToRequest(1).SkipLayerGuidance.Layers, Is.EqualTo(new[] { 7, 8, 9 }));
            Assert.That(GenerationPresets.For(ModelFamily.Sd3Medium).OfferedSkipLayerGuidance, Is.Null);
            Assert.That(GenerationPresets.For(ModelFamily.Sd35Medium).OfferedSkipLayerGuidance.ToString(), Is.EqualTo("layers 7,8,9, scale 2.5, steps 0.01-0.2"));
        }

        [Test]
        public void MakeSeamlessTakesTheAxesAndAnImage()
        {
            var form = new GenerationForm { Prompt = "tiles", InitImage = "Assets/Sources/wall.png", SeamBand = 24 };
            var r = form.ToMakeSeamlessRequest(4, _dir);
            Assert.That((r.Axes, r.BandWidth, r.Strength, r.Seed, r.Image.Width), Is.EqualTo((SeamlessAxes.Both, 24, 1f, 4L, 100)), "both axes when neither is ticked");
            form.SeamlessY = true;
            var result = new ImageRgba8(32, 16);
            r = form.ToMakeSeamlessRequest(4, _dir, result);
            Assert.That((r.Axes, r.Image), Is.EqualTo((SeamlessAxes.Y, result)), "a result's image");
            form.InitImage = "";
            Assert.That(() => form.ToMakeSeamlessRequest(4, _dir), Throws.TypeOf<GenerationRequestException>().With.Message.Contains("needs an image"));
        }

        [Test]
        public void HistoryKeepsTheImageSettingsAndGivesThemBack()
        {
            var form = new GenerationForm { Prompt = "wall", InitImage = "Assets/Sources/wall.png", Strength = 0.4f, Mask = "Assets/Sources/mask.png", MaskBlur = 2,
                                            UseSkipLayerGuidance = true, SlgLayers = "1", SlgEnd = 0.5f };
            var resolved = form.ToImageRequest(3, _dir).Resolve(GenerationPresets.For(ModelFamily.Sd3Medium));
            var entry = HistoryEntry.From(resolved, form, "tiny", ModelFamily.Sd3Medium, "cpu", TimeSpan.FromSeconds(1));
            var again = HistoryEntry.FromJson(Json.JsonValue.Parse(entry.ToJson().ToJson(false)));
            Assert.That((again.InitImage, again.Mask, again.Strength, again.MaskBlur, again.SlgLayers, again.SlgEnd),
                        Is.EqualTo(("Assets/Sources/wall.png", "Assets/Sources/mask.png", 0.4f, 2, "1", 0.5f)));
            Assert.That(again.Summary(), Does.Contain("from wall.png at 0.4 (masked)").And.Contain("SLG 1"));
            var loaded = new GenerationForm();
            loaded.Load(again);
            Assert.That((loaded.InitImage, loaded.Mask, loaded.Strength, loaded.MaskBlur, loaded.UseSkipLayerGuidance, loaded.SlgLayers, loaded.UseInitImageSize),
                        Is.EqualTo(("Assets/Sources/wall.png", "Assets/Sources/mask.png", 0.4f, 2, true, "1", false)));
            Assert.That((loaded.EffectiveWidth, loaded.EffectiveHeight), Is.EqualTo((96, 64)), "the size it ran at");
            // an entry of an older history (no image keys) is text-to-image
            var old = HistoryEntry.FromJson(Json.JsonValue.Parse(@"{""id"": ""a"", ""time"": ""2026-01-01T00:00:00Z"", ""prompt"": ""p"", ""seed"": 1, ""count"": 1,
                ""width"": 32, ""height"": 32, ""steps"": 2, ""cfg"": 4, ""shift"": 3, ""sampler"": ""euler""}"));
            Assert.That((old.InitImage, old.SlgLayers, old.ToRequest().SkipLayerGuidance), Is.EqualTo(("", "", (SkipLayerGuidance)null)));
        }

        [Test]
        public void TheManifestAssetCarriesTheImageFields()
        {
            var data = new BakeAssetData { UseProjectModel = false };
            data.Model.Weights.Add("Models/tiny.safetensors");
            data.Defaults.Strength = 0.6f;
            data.Defaults.SlgLayers = "7,8,9";
            data.Textures.Add(new BakeTextureData { Name = "wall", Prompt = "wall", InitImage = "Assets/Sources/wall.png", Mask = "Assets/Sources/mask.png", MaskBlur = 4, Variations = 3 });
            data.Textures.Add(new BakeTextureData { Name = "tile", Prompt = "tile", InitImage = "Assets/Sources/wall.png", MakeSeamless = SeamlessChoice.X, Band = 16, SlgEnd = 0.3f });
            var m = data.ToManifest(_dir, null);
            var wall = m.Textures[0].Over(m.Defaults);
            Assert.That((wall.InitImage, wall.Mask, wall.MaskBlur, wall.Variations, wall.Strength, wall.SlgLayers), Is.EqualTo(("Assets/Sources/wall.png", "Assets/Sources/mask.png", (int?)4, (int?)3, (float?)0.6f, "7,8,9")));
            var r = wall.ToRequest(m.BaseDirectory);
            Assert.That((r.InitImage.Width, r.Count), Is.EqualTo((100, 3)), "paths resolve against the project");
            Assert.That(m.OutputsOf(m.Textures[0]).Count, Is.EqualTo(3));
            var tile = m.Textures[1].Over(m.Defaults);
            Assert.That((tile.MakeSeamless, tile.Band, tile.SlgEnd), Is.EqualTo(("x", (int?)16, (float?)0.3f)));
            // JSON and back into an asset: the same fields, the paths project-relative
            var json = BakeManifest.Parse(m.ToJson(), _dir);
            var back = BakeAssetData.FromManifest(json, _dir);
            Assert.That((back.Textures[0].InitImage, back.Textures[0].Mask, back.Textures[0].Variations, back.Textures[1].MakeSeamless, back.Textures[1].Band, back.Defaults.SlgLayers),
                        Is.EqualTo(("Assets/Sources/wall.png", "Assets/Sources/mask.png", 3, SeamlessChoice.X, 16, "7,8,9")));
            // a JSON manifest elsewhere: its relative picture paths become project-relative
            string sub = Path.Combine(_dir, "Bakes");
            Directory.CreateDirectory(sub);
            var elsewhere = BakeManifest.Parse(@"{""weights"": ""m"", ""textures"": [{""name"": ""a"", ""init_image"": ""../Assets/Sources/wall.png""}]}", sub);
            Assert.That(BakeAssetData.FromManifest(elsewhere, _dir).Textures[0].InitImage, Is.EqualTo("Assets/Sources/wall.png"));
        }
    }
}
