using System.Collections.Generic;
using System.IO;
using NUnit.Framework;
using Sd3Tex.Authoring;
using Sd3Tex.Generation;
using Sd3Tex.Imaging;
using UnityEditor;
using UnityEngine;

namespace Sd3Tex.Editor.Tests
{
    /// <summary>What only a Unity editor can check: a saved PNG becomes a texture asset with the package's import
    /// settings, and the BakeManifest asset carries its fields. (Run in Unity's Test Runner, EditMode.)</summary>
    public sealed class SavingAndBakingTests
    {
        const string Folder = "Assets/Sd3TexEditorTests";

        [TearDown]
        public void TearDown() => AssetDatabase.DeleteAsset(Folder);

        static GeneratedImage Image(string seamless)
        {
            var pixels = new ImageRgba8(16, 8);
            for (int i = 0; i < pixels.Pixels.Length; i++) pixels.Pixels[i] = (byte)(i * 7);
            for (int i = 3; i < pixels.Pixels.Length; i += 4) pixels.Pixels[i] = 255;
            var p = new GenerationParameters { Prompt = "test tile", Seed = 5, Steps = 2, Width = 16, Height = 8 };
            if (seamless != null) p.Extra.Add(new KeyValuePair<string, string>("Seamless", seamless));
            return new GeneratedImage(0, 5, pixels, null, p, null);
        }

        [Test]
        public void SaveToAssetsImportsWithThePackagesSettings()
        {
            string path = TextureAssets.Save(Image("x"), Folder + "/Sub");
            Assert.That(path, Is.EqualTo(Folder + "/Sub/test_tile_5.png"));
            var importer = (TextureImporter)AssetImporter.GetAtPath(path);
            Assert.That(importer.sRGBTexture, Is.True);
            Assert.That(importer.mipmapEnabled, Is.True);
            Assert.That(importer.wrapModeU, Is.EqualTo(TextureWrapMode.Repeat));
            Assert.That(importer.wrapModeV, Is.EqualTo(TextureWrapMode.Clamp));
            Assert.That(ImporterUserData.Decode(importer.userData).Prompt, Is.EqualTo("test tile"));
            Assert.That(AssetDatabase.LoadAssetAtPath<Texture2D>(path), Is.Not.Null);
            Assert.That(TextureAssets.Save(Image("x"), Folder + "/Sub"), Is.EqualTo(Folder + "/Sub/test_tile_5_2.png"), "a taken name gets a number");
        }

        [Test]
        public void APngOfThePackageArrivingByItselfGetsTheSettingsOnFirstImport()
        {
            TextureAssets.EnsureFolder(Folder);
            string path = Folder + "/copied.png";
            Image("xy").SavePng(Path.Combine(ProjectPaths.Root, path));
            AssetDatabase.ImportAsset(path, ImportAssetOptions.ForceUpdate);
            var importer = (TextureImporter)AssetImporter.GetAtPath(path);
            Assert.That(importer.wrapModeU, Is.EqualTo(TextureWrapMode.Repeat));
            Assert.That(importer.wrapModeV, Is.EqualTo(TextureWrapMode.Repeat));
        }

        [Test]
        public void MaterialMapsImportAsNormalAndLinearMapsAndMakeAMaterial()
        {
            var image = Image("xy");
            string path = TextureAssets.Save(image, Folder);
            var pipeline = TextureAssets.CurrentPipeline();
            var maps = Sd3Tex.Materials.PbrMaps.Derive(image.Image, MaterialMapsSaving.OptionsFor(pipeline), null);
            var saved = TextureAssets.SaveMaps(path, image, maps);
            Assert.That(saved, Does.Contain(Folder + "/test_tile_5_normal.png"));
            foreach (var map in saved)
            {
                var importer = (TextureImporter)AssetImporter.GetAtPath(map);
                bool normal = map.EndsWith("_normal.png");
                Assert.That(importer.textureType, Is.EqualTo(normal ? TextureImporterType.NormalMap : TextureImporterType.Default), map);
                Assert.That(importer.sRGBTexture, Is.False, map + ": linear");
                Assert.That(importer.wrapModeU, Is.EqualTo(TextureWrapMode.Repeat), map);
                Assert.That(importer.wrapModeV, Is.EqualTo(TextureWrapMode.Repeat), map);
            }
            if (MaterialSetup.For(pipeline) == null) return;
            string material = TextureAssets.CreateMaterial(path, pipeline);
            var m = AssetDatabase.LoadAssetAtPath<Material>(material);
            Assert.That(m, Is.Not.Null);
            foreach (var slot in MaterialSetup.For(pipeline).Slots) Assert.That(m.HasProperty(slot.Property), Is.True, slot.Property);
        }

        [Test]
        public void TheManifestAssetHoldsWhatItIsGiven()
        {
            var asset = ScriptableObject.CreateInstance<BakeManifest>();
            try
            {
                var data = new BakeAssetData { OutputFolder = "Assets/Out", UseProjectModel = false, Textures = { new BakeTextureData { Name = "a", Prompt = "p" } } };
                data.Model.Weights.Add("Models/m.safetensors");
                asset.Load(data);
                var back = asset.ToData();
                Assert.That(back.OutputFolder, Is.EqualTo("Assets/Out"));
                Assert.That(back.Textures[0].Name, Is.EqualTo("a"));
                Assert.That(back.ToManifest(ProjectPaths.Root, null).Textures.Count, Is.EqualTo(1));
            }
            finally { Object.DestroyImmediate(asset); }
        }
    }
}
