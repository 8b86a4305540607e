using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using NUnit.Framework;
using Sd3Tex.Authoring;
using Sd3Tex.Imaging;
using Sd3Tex.Vae;

namespace Sd3Tex.Tests.Authoring
{
    public sealed class SaveNamingTests
    {
        [TestCase("Mossy stone wall, top-down!", "mossy_stone_wall_top_down")]
        [TestCase("  ", "texture")]
        [TestCase("日本語", "texture")]
        [TestCase("lava_rock--2", "lava_rock_2")]
        [TestCase("a very long prompt about a weathered oak plank floor with nails", "a_very_long_prompt_about_a_weathered_oak")]
        public void SlugsAreSafeAndShort(string prompt, string expected)
        {
            string s = SaveNaming.Slug(prompt);
            Assert.That(s, Is.EqualTo(expected));
            Assert.That(s.Length, Is.LessThanOrEqualTo(SaveNaming.MaxSlugLength));
        }

        [Test]
        public void AWordLongerThanTheLimitIsCut() => Assert.That(SaveNaming.Slug(new string('a', 50), 10), Is.EqualTo("aaaaaaaaaa"));

        [Test]
        public void BaseNameHasTheSeed() => Assert.That(SaveNaming.BaseName("Moss", 42), Is.EqualTo("moss_42"));

        [Test]
        public void TakenNamesGetANumber()
        {
            var taken = new HashSet<string> { "Assets/Gen/moss_42.png", "Assets/Gen/moss_42_2.png" };
            Assert.That(SaveNaming.UniquePath("Assets/Gen/", "moss_42", "png", taken.Contains), Is.EqualTo("Assets/Gen/moss_42_3.png"));
            Assert.That(SaveNaming.UniquePath("Assets\\Other", "moss_42", ".png", taken.Contains), Is.EqualTo("Assets/Other/moss_42.png"));
            Assert.That(() => SaveNaming.UniquePath("Assets", "x", "png", _ => true), Throws.InstanceOf<IOException>().With.Message.Contains("another folder"));
        }

        [TestCase("Assets", "Assets")]
        [TestCase("Assets/Textures/Generated/", "Assets/Textures/Generated")]
        [TestCase("Assets\\Textures", "Assets/Textures")]
        public void AssetFoldersAreNormalized(string folder, string expected)
        {
            Assert.That(SaveNaming.NormalizeAssetFolder(folder, null, out string problem), Is.EqualTo(expected));
            Assert.That(problem, Is.Null);
        }

        [TestCase("", "No folder chosen")]
        [TestCase("Packages/com.x", "not inside the project's Assets folder")]
        [TestCase("AssetsOther/x", "not inside the project's Assets folder")]
        [TestCase("Assets/../Library", "cannot be a folder name")]
        [TestCase("Assets/a:b", "cannot be a folder name")]
        [TestCase("Assets/Backup~", "Unity ignores")]
        [TestCase("Assets/.hidden", "Unity ignores")]
        public void OtherFoldersAreRefused(string folder, string expected)
        {
            Assert.That(SaveNaming.NormalizeAssetFolder(folder, null, out string problem), Is.Null);
            Assert.That(problem, Does.Contain(expected));
        }

        [Test]
        public void AnAbsoluteFolderInsideTheProjectBecomesAnAssetPath()
        {
            string project = Path.Combine(Path.GetTempPath(), "proj");
            Assert.That(SaveNaming.NormalizeAssetFolder(Path.Combine(project, "Assets", "Gen"), project, out _), Is.EqualTo("Assets/Gen"));
            Assert.That(SaveNaming.NormalizeAssetFolder(Path.Combine(Path.GetTempPath(), "else", "Assets"), project, out string problem), Is.Null);
            Assert.That(problem, Does.Contain("not inside"));
        }
    }

    public sealed class TextureImportSpecTests
    {
        static GenerationParameters Params(string seamless)
        {
            var p = new GenerationParameters { Prompt = "moss, wet", NegativePrompt = "text", Steps = 28, Sampler = "Euler", CfgScale = 4.5, Seed = 7, Width = 64, Height = 32, Model = "sd3.5_medium", Shift = 3 };
            if (seamless != null) p.Extra.Add(new KeyValuePair<string, string>("Seamless", seamless));
            return p;
        }

        [TestCase(null, false, false)]
        [TestCase("x", true, false)]
        [TestCase("y", false, true)]
        [TestCase("xy", true, true)]
        public void RepeatsAlongTheSeamlessAxes(string seamless, bool u, bool v)
        {
            var spec = TextureImportSpec.For(Params(seamless));
            Assert.That((spec.RepeatU, spec.RepeatV, spec.SRgb, spec.Mipmaps), Is.EqualTo((u, v, true, true)));
        }

        [Test]
        public void UserDataRoundTripsTheParameters()
        {
            var p = Params("xy");
            string data = TextureImportSpec.For(p).UserData;
            Assert.That(data, Does.StartWith(ImporterUserData.Prefix));
            var back = ImporterUserData.Decode(data);
            Assert.That(back.ToA1111(), Is.EqualTo(p.ToA1111()));
            Assert.That(ImporterUserData.Decode(""), Is.Null);
            Assert.That(ImporterUserData.Decode("someone else's data"), Is.Null);
            Assert.That(ImporterUserData.Decode(ImporterUserData.Prefix + "{broken"), Is.Null);
            Assert.That(ImporterUserData.Decode(ImporterUserData.Prefix + "[1]"), Is.Null);
        }

        [Test]
        public void TheInspectorShowsPromptsThenParameters()
        {
            var rows = ImporterUserData.DisplayRows(Params("x"));
            Assert.That(rows.Select(r => r.Key), Is.EqualTo(new[] { "Prompt", "Negative prompt", "Steps", "Sampler", "CFG scale", "Seed", "Size", "Model", "Shift", "Seamless" }));
            Assert.That(rows[0].Value, Is.EqualTo("moss, wet"));
            Assert.That(rows.First(r => r.Key == "Size").Value, Is.EqualTo("64x32"));
        }

        [Test]
        public void ReadsTheSpecFromOurPngsOnly()
        {
            string dir = TestPaths.NewScratch("spec");
            try
            {
                var image = new ImageRgba8(4, 2);
                string ours = Path.Combine(dir, "ours.png"), plain = Path.Combine(dir, "plain.png"), junk = Path.Combine(dir, "junk.png");
                PngWriter.Write(ours, image, Params("y").ToPngTexts());
                PngWriter.Write(plain, image, new[] { PngText.Auto(GenerationParameters.A1111Keyword, Params("x").ToA1111()) });
                File.WriteAllBytes(junk, new byte[] { 1, 2, 3 });
                var spec = TextureImportSpec.ForPng(ours);
                Assert.That((spec.RepeatU, spec.RepeatV), Is.EqualTo((false, true)));
                Assert.That(ImporterUserData.Decode(spec.UserData).Seed, Is.EqualTo(7));
                Assert.That(TextureImportSpec.ForPng(plain), Is.Null, "another tool's PNG keeps Unity's defaults");
                Assert.That(TextureImportSpec.ForPng(junk), Is.Null);
                Assert.That(TextureImportSpec.ForPng(Path.Combine(dir, "missing.png")), Is.Null);
            }
            finally { TestPaths.DeleteScratch(dir); }
        }

        [Test]
        public void SeamlessOfIgnoresUnknownValues()
        {
            var p = Params(null);
            p.Extra.Add(new KeyValuePair<string, string>("Seamless", "diagonal"));
            Assert.That(TextureImportSpec.SeamlessOf(p), Is.EqualTo(SeamlessAxes.None));
        }

        [Test]
        public void UnityRowsStartAtTheBottom()
        {
            var image = new ImageRgba8(2, 3);
            for (int y = 0; y < 3; y++)
                for (int x = 0; x < 2; x++)
                    for (int c = 0; c < 4; c++) image[x, y, c] = (byte)(y * 10 + x * 2 + c);
            var bottomUp = TexturePixels.BottomUp(image);
            Assert.That(bottomUp.Take(8), Is.EqualTo(image.Pixels.Skip(16).Take(8)));
            Assert.That(bottomUp.Skip(8).Take(8), Is.EqualTo(image.Pixels.Skip(8).Take(8)));
            Assert.That(bottomUp.Skip(16), Is.EqualTo(image.Pixels.Take(8)));
        }
    }

    public sealed class BatchBakeArgsTests
    {
        [Test]
        public void ReadsItsOptionsAmongUnitys()
        {
            var a = BatchBakeArgs.Parse(new[] { "/opt/Unity", "-batchmode", "-projectPath", "/p", "-executeMethod", "Sd3Tex.Editor.BatchBake.Run",
                                               "-manifest", "Assets/Bake/Textures.asset", "-shard", "2/4", "-device", "cuda", "-quit" });
            Assert.That((a.Manifest, a.ShardIndex, a.ShardCount, a.Device, a.IsJson), Is.EqualTo(("Assets/Bake/Textures.asset", 1, 4, "cuda", false)));
            var b = BatchBakeArgs.Parse(new[] { "-manifest", "bake/textures.JSON" });
            Assert.That((b.ShardIndex, b.ShardCount, b.Device, b.IsJson), Is.EqualTo((0, 1, (string)null, true)));
        }

        [TestCase(new[] { "-batchmode" }, "no -manifest")]
        [TestCase(new[] { "-manifest" }, "-manifest needs a value")]
        [TestCase(new[] { "-manifest", "-quit" }, "-manifest needs a value")]
        [TestCase(new[] { "-manifest", "m.asset", "-shard", "5/4" }, "1 ≤ i ≤ n")]
        [TestCase(new[] { "-manifest", "m.asset", "-shard", "0/4" }, "1 ≤ i ≤ n")]
        [TestCase(new[] { "-manifest", "m.asset", "-shard", "a/b" }, "1 ≤ i ≤ n")]
        [TestCase(new[] { "-manifest", "m.asset", "-shard", "2" }, "1 ≤ i ≤ n")]
        public void BadCommandLinesSayWhatToWrite(string[] args, string expected)
        {
            Assert.That(() => BatchBakeArgs.Parse(args), Throws.InstanceOf<ArgumentException>().With.Message.Contains(expected).And.Message.Contains("Usage:"));
        }
    }
}
