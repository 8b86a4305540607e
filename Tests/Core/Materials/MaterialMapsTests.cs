using System.Collections.Generic;
using System.IO;
using System.Linq;
using NUnit.Framework;
using Sd3Tex.Authoring;
using Sd3Tex.Baking;
using Sd3Tex.Imaging;
using Sd3Tex.Json;
using Sd3Tex.Materials;
using Sd3Tex.Tests.Kernels;

namespace Sd3Tex.Tests.Materials
{
    /// <summary>The engine-free side of material maps: options and names, files written beside an albedo, import
    /// settings, the Unity material setup per pipeline, and the bake manifest's <c>pbr</c>.</summary>
    public sealed class MaterialMapsTests
    {
        string _dir;

        [SetUp] public void SetUp() => _dir = TestPaths.NewScratch("materials");
        [TearDown] public void TearDown() => TestPaths.DeleteScratch(_dir);

        static GenerationParameters Albedo(string seamless) => new GenerationParameters
        {
            Prompt = "mossy stone", Steps = 4, Sampler = "Euler", CfgScale = 4, Seed = 9, Width = 40, Height = 24,
            Extra = { new KeyValuePair<string, string>("Seamless", seamless) },
        };

        [Test]
        public void MapListsParseAndOptionsAreChecked()
        {
            Assert.That(PbrMapNames.TryParse("height, normal,ao", out var m, out _), Is.True);
            Assert.That(m, Is.EqualTo(PbrMapKinds.Height | PbrMapKinds.Normal | PbrMapKinds.Occlusion));
            Assert.That(PbrMapNames.TryParse("all", out m, out _) && m == PbrMapKinds.All, Is.True);
            Assert.That(PbrMapNames.TryParse("normal,gloss", out _, out string problem), Is.False);
            Assert.That(problem, Does.Contain("\"gloss\"").And.Contain("height, normal, roughness, ao, mask, metallic"));
            Assert.That(PbrMapNames.Format(PbrMapKinds.All), Is.EqualTo("height,normal,roughness,ao,mask,metallic"));
            Assert.That(PbrMapNames.Each(PbrMapKinds.All).Select(PbrMapNames.Suffix), Is.EqualTo(new[] { "_height", "_normal", "_roughness", "_ao", "_mask", "_metallic" }));
            Assert.That(new PbrOptions { Strength = 0, RoughnessBase = 2 }.Problems(), Has.Count.EqualTo(2));
            Assert.That(new PbrOptions().Problems(), Is.Empty);
            Assert.That(PbrOptions.TryParseConvention("DirectX", out var c) && c == NormalConvention.DirectX, Is.True);
            Assert.That(PbrOptions.TryParseConvention("vulkan", out _), Is.False);
        }

        [Test]
        public void MapsAreWrittenBesideTheAlbedoWithTheirDepthAndMetadata()
        {
            var albedo = PbrTests.TileableAlbedo(40, 24, 2);
            string path = Path.Combine(_dir, "stone.png");
            var maps = PbrMaps.Derive(albedo, new PbrOptions(), null);
            var written = maps.SaveBeside(path, Albedo("xy"));
            Assert.That(written.Select(Path.GetFileName), Is.EqualTo(new[] { "stone_height.png", "stone_normal.png", "stone_roughness.png", "stone_ao.png", "stone_mask.png", "stone_metallic.png" }));
            Assert.That(Directory.GetFiles(_dir).Length, Is.EqualTo(6), "atomic writes leave no temporary file");
            var expected = new Dictionary<string, (int depth, int colour)>
            {
                ["height"] = (16, 0), ["normal"] = (8, 2), ["roughness"] = (8, 0), ["ao"] = (8, 0), ["mask"] = (8, 6), ["metallic"] = (8, 6),
            };
            foreach (var f in written)
            {
                var png = PngReader.Read(f);
                string key = Path.GetFileNameWithoutExtension(f).Substring("stone_".Length);
                Assert.That((png.BitDepth, png.ColorType), Is.EqualTo(expected[key]), f);
                var p = GenerationParameters.FromPng(png);
                Assert.That(p.Prompt, Is.EqualTo("mossy stone"), "the albedo's parameters are kept");
                Assert.That(PbrMaps.MapOf(p), Is.EqualTo(PbrMapNames.Each(PbrMapKinds.All).First(k => PbrMapNames.Key(k) == key)));
                Assert.That(p.Extra.Single(kv => kv.Key == PbrMaps.OptionsKey).Value, Is.EqualTo(new PbrOptions().Identity()));
                var spec = TextureImportSpec.ForPng(f);
                Assert.That((spec.SRgb, spec.NormalMap, spec.RepeatU, spec.RepeatV), Is.EqualTo((false, key == "normal", true, true)), f);
            }
            // the 16-bit height keeps more than 8 bits
            var h = ImageFiles.LoadFloat(written[0]);
            Assert.That(h.Data.Where((v, i) => i % 4 == 0).Select(v => (int)System.Math.Round(v * 65535)).Distinct().Count(), Is.GreaterThan(256));
            Assert.That(PbrMaps.MapOf(Albedo("x")), Is.EqualTo(PbrMapKinds.None));
            Assert.That(TextureImportSpec.For(Albedo("x")).SRgb, Is.True, "the albedo stays sRGB");
        }

        [Test]
        public void EachPipelineGetsItsShaderSlotsAndPackedMap()
        {
            Assert.That(RenderPipelines.FromAssetType(null), Is.EqualTo(RenderPipelineKind.BuiltIn));
            Assert.That(RenderPipelines.FromAssetType("UnityEngine.Rendering.Universal.UniversalRenderPipelineAsset"), Is.EqualTo(RenderPipelineKind.Universal));
            Assert.That(RenderPipelines.FromAssetType("UnityEngine.Rendering.HighDefinition.HDRenderPipelineAsset"), Is.EqualTo(RenderPipelineKind.HighDefinition));
            Assert.That(RenderPipelines.FromAssetType("My.CustomPipelineAsset"), Is.EqualTo(RenderPipelineKind.Other));
            var urp = MaterialSetup.For(RenderPipelineKind.Universal);
            Assert.That(urp.ShaderName, Is.EqualTo("Universal Render Pipeline/Lit"));
            Assert.That(urp.Slots.Select(s => (s.Property, s.Map, s.Keyword)), Does.Contain(("_BumpMap", PbrMapKinds.Normal, "_NORMALMAP"))
                .And.Contain(("_MetallicGlossMap", PbrMapKinds.Metallic, "_METALLICSPECGLOSSMAP")).And.Contain(("_OcclusionMap", PbrMapKinds.Occlusion, "_OCCLUSIONMAP")));
            Assert.That(urp.Maps, Is.EqualTo(PbrMapKinds.Normal | PbrMapKinds.Metallic | PbrMapKinds.Occlusion | PbrMapKinds.Height));
            var hdrp = MaterialSetup.For(RenderPipelineKind.HighDefinition);
            Assert.That(hdrp.ShaderName, Is.EqualTo("HDRP/Lit"));
            Assert.That(hdrp.Slots.Select(s => (s.Property, s.Map)), Does.Contain(("_MaskMap", PbrMapKinds.Mask)).And.Contain(("_NormalMap", PbrMapKinds.Normal)).And.Contain(("_BaseColorMap", PbrMapKinds.None)));
            Assert.That(hdrp.Maps & PbrMapKinds.Metallic, Is.EqualTo(PbrMapKinds.None), "HDRP packs into the mask map");
            var std = MaterialSetup.For(RenderPipelineKind.BuiltIn);
            Assert.That((std.ShaderName, std.Slots[0].Property), Is.EqualTo(("Standard", "_MainTex")));
            Assert.That(std.Slots.Select(s => s.Keyword), Does.Contain("_METALLICGLOSSMAP"));
            Assert.That(MaterialSetup.For(RenderPipelineKind.Other), Is.Null);
            Assert.That(MaterialSetup.MaterialPath("Assets/Tex/stone_7.png"), Is.EqualTo("Assets/Tex/stone_7.mat"));
            Assert.That(MaterialSetup.MapAssetPath("Assets/a.b/stone.png", PbrMapKinds.Normal), Is.EqualTo("Assets/a.b/stone_normal.png"));
            // what Save to Assets writes for HDRP: the maps HDRP Lit reads, each with its import settings
            var maps = PbrMaps.Derive(PbrTests.TileableAlbedo(16, 16, 1), MaterialMapsSaving.OptionsFor(RenderPipelineKind.HighDefinition), null);
            var plan = MaterialMapsSaving.Plan("Assets/T/stone.png", Albedo("x"), maps);
            Assert.That(plan.Select(p => p.AssetPath), Is.EqualTo(new[] { "Assets/T/stone_height.png", "Assets/T/stone_normal.png", "Assets/T/stone_mask.png" }));
            Assert.That(plan.Select(p => (p.Spec.NormalMap, p.Spec.SRgb, p.Spec.RepeatU, p.Spec.RepeatV)),
                        Is.EqualTo(new[] { (false, false, true, false), (true, false, true, false), (false, false, true, false) }));
        }

        [Test]
        public void TheManifestsPbrFieldParsesInheritsAndRoundTrips()
        {
            string json = "{\"weights\": [\"m.safetensors\"], \"defaults\": {\"pbr\": true}, \"textures\": [" +
                          "{\"name\": \"a\", \"prompt\": \"x\"}, {\"name\": \"b\", \"prompt\": \"y\", \"pbr\": false}," +
                          "{\"name\": \"c\", \"prompt\": \"z\", \"pbr\": \"normal,mask\"}," +
                          "{\"name\": \"d\", \"prompt\": \"w\", \"pbr\": {\"maps\": \"normal\", \"strength\": 3.5, \"normal_convention\": \"directx\"}}]}";
            var m = BakeManifest.Parse(json, _dir);
            PbrOptions Of(int i) => m.Textures[i].Over(m.Defaults).Pbr;
            Assert.That(Of(0).Maps, Is.EqualTo(PbrMapKinds.All));
            Assert.That(BakePbr.IsOn(Of(1)), Is.False, "false turns the defaults' maps off");
            Assert.That(Of(2).Maps, Is.EqualTo(PbrMapKinds.Normal | PbrMapKinds.Mask));
            Assert.That((Of(3).Maps, Of(3).Strength, Of(3).NormalConvention), Is.EqualTo((PbrMapKinds.Normal, 3.5f, NormalConvention.DirectX)));
            var again = BakeManifest.Parse(m.ToJson(), _dir);
            Assert.That(again.ToJson(), Is.EqualTo(m.ToJson()));
            Assert.That(again.Textures[3].Pbr.Identity(), Is.EqualTo(m.Textures[3].Pbr.Identity()));
            // errors name the field
            Assert.That(() => BakeManifest.Parse(json.Replace("\"normal,mask\"", "\"normal,gloss\""), _dir), Throws.TypeOf<BakeManifestException>().With.Message.Contains("textures[2].pbr").And.Message.Contains("gloss"));
            Assert.That(() => BakeManifest.Parse(json.Replace("\"strength\": 3.5", "\"shine\": 3.5"), _dir), Throws.TypeOf<BakeManifestException>().With.Message.Contains("unknown field \"shine\" in textures[3].pbr"));
            Assert.That(() => BakeManifest.Parse(json.Replace("\"strength\": 3.5", "\"strength\": -1"), _dir), Throws.TypeOf<BakeManifestException>().With.Message.Contains("strength"));
            Assert.That(() => BakeManifest.Parse(json.Replace("\"pbr\": true", "\"pbr\": 7"), _dir), Throws.TypeOf<BakeManifestException>().With.Message.Contains("defaults.pbr"));
            // the maps' hash follows the albedo and every pbr setting
            var o = new PbrOptions();
            string h = BakePbr.MapHash("abc", o);
            Assert.That(BakePbr.MapHash("abd", o), Is.Not.EqualTo(h));
            Assert.That(BakePbr.MapHash("abc", new PbrOptions { Strength = 2.5f }), Is.Not.EqualTo(h));
            Assert.That(BakePbr.MapHash("abc", new PbrOptions { NormalConvention = NormalConvention.DirectX }), Is.Not.EqualTo(h));
            Assert.That(BakePbr.MapHash("abc", new PbrOptions()), Is.EqualTo(h));
        }

        [Test]
        public void TheManifestAssetCarriesPbr()
        {
            var on = new BakeTextureData { Name = "a", Prompt = "x", Pbr = PbrChoice.On, PbrMaps = "normal,ao", PbrStrength = 4, PbrNormalConvention = NormalConvention.DirectX };
            var e = on.ToEntry(false);
            Assert.That((e.Pbr.Maps, e.Pbr.Strength, e.Pbr.NormalConvention), Is.EqualTo((PbrMapKinds.Normal | PbrMapKinds.Occlusion, 4f, NormalConvention.DirectX)));
            var back = BakeTextureData.FromEntry(e);
            Assert.That((back.Pbr, back.PbrMaps, back.PbrStrength, back.PbrNormalConvention), Is.EqualTo((PbrChoice.On, "normal,ao", 4f, NormalConvention.DirectX)));
            Assert.That(new BakeTextureData { Name = "b", Pbr = PbrChoice.Off }.ToEntry(false).Pbr.Maps, Is.EqualTo(PbrMapKinds.None));
            Assert.That(new BakeTextureData { Name = "c" }.ToEntry(false).Pbr, Is.Null, "Inherit");
            Assert.That(new BakeTextureData { Pbr = PbrChoice.On }.ToEntry(true).Pbr.Maps, Is.EqualTo(PbrMapKinds.All), "empty maps: all");
            Assert.That(() => new BakeTextureData { Name = "d", Pbr = PbrChoice.On, PbrMaps = "shiny" }.ToEntry(false), Throws.TypeOf<BakeManifestException>().With.Message.Contains("\"d\""));
        }
    }
}
