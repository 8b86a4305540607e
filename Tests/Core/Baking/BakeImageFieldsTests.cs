using System;
using System.IO;
using System.Linq;
using NUnit.Framework;
using Sd3Tex.Baking;
using Sd3Tex.Generation;
using Sd3Tex.Imaging;
using Sd3Tex.Vae;

namespace Sd3Tex.Tests.Baking
{
    /// <summary>The manifest's image-to-image, inpainting, guidance and make-seamless fields: parsing, inheritance,
    /// paths relative to the manifest, every problem at once, and the bake hash.</summary>
    public sealed class BakeImageFieldsTests
    {
        string _dir;

        [SetUp] public void SetUp() => _dir = TestPaths.NewScratch("bake-fields");
        [TearDown] public void TearDown() => TestPaths.DeleteScratch(_dir);

        const string Json = @"{""weights"": ""m.safetensors"", ""output"": ""out"",
 ""defaults"": {""strength"": 0.6, ""slg_layers"": [7, 8, 9], ""slg_scale"": 2.5, ""mask_blur"": 4},
 ""textures"": [
  {""name"": ""a"", ""prompt"": ""moss"", ""init_image"": ""pics/a.png"", ""mask"": ""pics/mask.png"", ""variations"": 2, ""slg_start"": 0.05, ""slg_end"": 0.3},
  {""name"": ""b"", ""prompt"": ""stone"", ""init_image"": ""pics/a.png"", ""make_seamless"": ""x"", ""band"": 16, ""strength"": 1},
  {""name"": ""c"", ""prompt"": ""plain"", ""slg_layers"": ""1""}]}";

        void Pictures()
        {
            Directory.CreateDirectory(Path.Combine(_dir, "pics"));
            PngWriter.Write(Path.Combine(_dir, "pics", "a.png"), Generation.Img2ImgFixture.Ramp(50, 30));
            PngWriter.Write(Path.Combine(_dir, "pics", "mask.png"), Generation.Img2ImgFixture.LeftMask(50, 30, 10));
        }

        [Test]
        public void TheFieldsParseInheritAndRoundTrip()
        {
            Pictures();
            var m = BakeManifest.Parse(Json, _dir);
            var a = m.Textures[0].Over(m.Defaults);
            Assert.That((a.InitImage, a.Mask, a.Strength, a.MaskBlur, a.Variations, a.SlgLayers, a.SlgStart, a.SlgEnd),
                        Is.EqualTo(("pics/a.png", "pics/mask.png", (float?)0.6f, (int?)4, (int?)2, "7,8,9", (float?)0.05f, (float?)0.3f)));
            Assert.That(m.OutputsOf(m.Textures[0]).Select(Path.GetFileName), Is.EqualTo(new[] { "a_0.png", "a_1.png" }), "variations are the image count");
            var r = a.ToRequest(m.BaseDirectory);
            Assert.That((r.InitImage.Width, r.Mask.Width, r.Width, r.Height, r.Count), Is.EqualTo((50, 50, 48, 32, 2)), "the size is the image's, rounded");
            Assert.That(r.Strength, Is.EqualTo(0.6f));
            Assert.That(r.SkipLayerGuidance.Layers, Is.EqualTo(new[] { 7, 8, 9 }));
            Assert.That((r.SkipLayerGuidance.Scale, r.SkipLayerGuidance.Start, r.SkipLayerGuidance.End), Is.EqualTo((2.5f, 0.05f, 0.3f)));
            var b = m.Textures[1].Over(m.Defaults);
            var ms = b.ToMakeSeamlessRequest(b.ToRequest(m.BaseDirectory), 9);
            Assert.That((ms.Axes, ms.BandWidth, ms.Strength, ms.Seed, ms.Image.Width), Is.EqualTo((SeamlessAxes.X, 16, 1f, 9L, 50)));
            Assert.That(m.Textures[2].Over(m.Defaults).ToRequest(m.BaseDirectory).SkipLayerGuidance.Layers, Is.EqualTo(new[] { 1 }));
            var again = BakeManifest.Parse(m.ToJson(), _dir);
            Assert.That(again.ToJson(), Is.EqualTo(m.ToJson()));
            Assert.That(again.Defaults.SlgLayers, Is.EqualTo("7,8,9"));
        }

        [Test]
        public void ANoiseFileGivesTheSizeAndCountWhenTheEntryHasNone()
        {
            Pictures();
            // noise [2, 16, 4, 6]: two images of 48 × 32, as `generate --noise` infers them
            new Sd3Tex.Checkpoints.SafetensorsWriter().AddFloats("noise", DType.F32, new long[] { 2, 16, 4, 6 }, new float[2 * 16 * 4 * 6]).Write(Path.Combine(_dir, "n.safetensors"));
            var m = BakeManifest.Parse(@"{""weights"": ""m.safetensors"", ""output"": ""out"", ""textures"": [
  {""name"": ""a"", ""prompt"": ""moss"", ""noise"": ""n.safetensors""},
  {""name"": ""b"", ""prompt"": ""moss"", ""noise"": ""n.safetensors"", ""width"": 64, ""height"": 32, ""count"": 2},
  {""name"": ""c"", ""prompt"": ""moss"", ""noise"": ""n.safetensors"", ""init_image"": ""pics/a.png""}]}", _dir);
            var r = m.Textures[0].Over(m.Defaults).ToRequest(m.BaseDirectory);
            Assert.That((r.Width, r.Height, r.Count, r.InitialNoise.Length), Is.EqualTo((48, 32, 2, 2 * 16 * 4 * 6)));
            Assert.That(m.OutputsOf(m.Textures[0]).Select(Path.GetFileName), Is.EqualTo(new[] { "a_0.png", "a_1.png" }));
            Assert.That(() => m.Textures[1].Over(m.Defaults).ToRequest(m.BaseDirectory),
                        Throws.InstanceOf<Sd3Tex.Checkpoints.CheckpointException>().With.Message.Contains("is needed for 2 image(s) of 64x32"), "a size given that the noise does not fit");
            // with an init image (50 × 30, rounded to 48 × 32) the count still comes from the noise, for the request and the outputs alike
            var c = m.Textures[2].Over(m.Defaults).ToRequest(m.BaseDirectory);
            Assert.That((c.Width, c.Height, c.Count), Is.EqualTo((48, 32, 2)));
            Assert.That(m.OutputsOf(m.Textures[2]).Select(Path.GetFileName), Is.EqualTo(new[] { "c_0.png", "c_1.png" }));
        }

        [Test]
        public void BadFieldsAreNamedAndImageProblemsComeTogether()
        {
            var e = Assert.Throws<BakeManifestException>(() => BakeManifest.Parse(@"{""weights"": ""m"", ""textures"": [{""name"": ""x"", ""strenght"": 1}]}", _dir));
            Assert.That(e.Message, Does.Contain("unknown field \"strenght\"").And.Contain("strength").And.Contain("init_image").And.Contain("slg_layers"));
            e = Assert.Throws<BakeManifestException>(() => BakeManifest.Parse(@"{""weights"": ""m"", ""textures"": [{""name"": ""x"", ""slg_layers"": true}]}", _dir));
            Assert.That(e.Message, Does.Contain("textures[0].slg_layers"));
            var m = BakeManifest.Parse(@"{""weights"": ""m"", ""textures"": [{""name"": ""x"", ""init_image"": ""none.png"", ""mask"": ""nomask.png"", ""strength"": 2,
                ""count"": 3, ""variations"": 2}, {""name"": ""y"", ""mask"": ""m.png""}]}", _dir);
            var g = Assert.Throws<GenerationRequestException>(() => m.Textures[0].ToRequest(m.BaseDirectory));
            Assert.That(g.Problems.Count, Is.EqualTo(4), string.Join(" | ", g.Problems));
            Assert.That(g.Message, Does.Contain(Path.Combine(_dir, "none.png")).And.Contain(Path.Combine(_dir, "nomask.png"))
                                       .And.Contain("count 3 and variations 2 disagree").And.Contain("strength 2 is outside (0, 1]"));
            g = Assert.Throws<GenerationRequestException>(() => m.Textures[1].ToRequest(m.BaseDirectory));
            Assert.That(g.Message, Does.Contain("need an init_image"));
        }

        [Test]
        public void TheHashFollowsThePicturesAndLeavesPlainTexturesAlone()
        {
            Pictures();
            var m = BakeManifest.Parse(Json, _dir);
            string H(int texture, int index = 0)
            {
                var e = m.Textures[texture].Over(m.Defaults);
                return Baker.Hash("model", e, e.ToRequest(m.BaseDirectory), index);
            }
            string a0 = H(0), a1 = H(0, 1), b = H(1);
            Assert.That(a1, Is.Not.EqualTo(a0), "each variation has its own seed");
            // a changed picture re-bakes; the same picture elsewhere does not
            PngWriter.Write(Path.Combine(_dir, "pics", "a.png"), Generation.Img2ImgFixture.Ramp(50, 30, 2));
            Assert.That(H(0), Is.Not.EqualTo(a0));
            Assert.That(H(1), Is.Not.EqualTo(b));
            // a plain texture's hash has no image keys: the same as a manifest without the new fields gives
            var plain = BakeManifest.Parse(@"{""weights"": ""m"", ""textures"": [{""name"": ""p"", ""prompt"": ""plain""}]}", _dir).Textures[0];
            var withStrength = plain.Clone();
            withStrength.Strength = 0.3f; // unused without an init image
            Assert.That(Baker.Hash("model", withStrength, withStrength.ToRequest(_dir), 0), Is.EqualTo(Baker.Hash("model", plain, plain.ToRequest(_dir), 0)));
        }
    }
}
