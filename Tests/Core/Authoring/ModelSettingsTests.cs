using System;
using System.IO;
using System.Linq;
using NUnit.Framework;
using Sd3Tex.Authoring;
using Sd3Tex.Generation;

namespace Sd3Tex.Tests.Authoring
{
    public sealed class ModelSettingsTests
    {
        string _project;

        [SetUp]
        public void SetUp()
        {
            _project = TestPaths.NewScratch("settings");
            Directory.CreateDirectory(Path.Combine(_project, "Assets"));
            Directory.CreateDirectory(Path.Combine(_project, "Models", "tokenizers"));
            File.WriteAllText(Path.Combine(_project, "Models", "sd3.5_medium.safetensors"), "x");
            File.WriteAllText(Path.Combine(_project, "Models", "clip_g.safetensors"), "x");
        }

        [TearDown]
        public void TearDown() => TestPaths.DeleteScratch(_project);

        static ModelSettings Sample() => new ModelSettings
        {
            Weights = { "Models/sd3.5_medium.safetensors", "clip_g=Models/clip_g.safetensors" }, Tokenizers = "Models/tokenizers", Device = "cuda:1",
            MemoryBudgetMiB = 12000, Residency = Residency.Sequential, VaeTileSize = 32, AllowLargeGrid = true, ClipLHeads = 12, ClipGHeads = 20,
            ModelFolders = { "Models/ComfyUI", "/data/models" },
        };

        [Test]
        public void RoundTripsThroughJson()
        {
            var s = Sample();
            var back = ModelSettings.FromJson(s.ToJson());
            Assert.That(back.Weights, Is.EqualTo(s.Weights));
            Assert.That(back.ModelFolders, Is.EqualTo(s.ModelFolders));
            Assert.That((back.Tokenizers, back.Device, back.MemoryBudgetMiB, back.Residency, back.VaeTileSize, back.AllowLargeGrid, back.ClipLHeads, back.ClipGHeads),
                        Is.EqualTo((s.Tokenizers, s.Device, s.MemoryBudgetMiB, s.Residency, s.VaeTileSize, s.AllowLargeGrid, s.ClipLHeads, s.ClipGHeads)));
            Assert.That(s.ToJson(), Does.Contain("\"weights\"").And.Contain("\"residency\": \"Sequential\""));
        }

        [Test]
        public void MissingKeysKeepDefaultsAndWrongTypesSayWhichKey()
        {
            var s = ModelSettings.FromJson("{\"device\": \"cpu\", \"some_future_key\": 1}");
            Assert.That((s.Device, s.Weights.Count, s.Residency), Is.EqualTo(("cpu", 0, Residency.Auto)));
            Assert.That(() => ModelSettings.FromJson("{\"weights\": \"a.safetensors\"}"), Throws.InstanceOf<FormatException>().With.Message.Contains("\"weights\""));
            Assert.That(() => ModelSettings.FromJson("{\"vae_tile_size\": 1.5}"), Throws.InstanceOf<FormatException>().With.Message.Contains("vae_tile_size"));
            Assert.That(() => ModelSettings.FromJson("{\"residency\": \"Sometimes\"}"), Throws.InstanceOf<FormatException>().With.Message.Contains("KeepResident"));
            Assert.That(() => ModelSettings.FromJson("[1]"), Throws.InstanceOf<FormatException>());
        }

        [Test]
        public void SavesAndLoadsTheProjectFile()
        {
            string path = Path.Combine(_project, ModelSettings.ProjectRelativePath);
            var fresh = ModelSettings.Load(path, out string problem);
            Assert.That(problem, Is.Null);
            Assert.That(fresh.Weights, Is.Empty);
            Sample().Save(path);
            var back = ModelSettings.Load(path, out problem);
            Assert.That(problem, Is.Null);
            Assert.That(back.Weights, Is.EqualTo(Sample().Weights));
        }

        [Test]
        public void AnUnreadableFileGivesDefaultsAProblemAndIsLeftAlone()
        {
            string path = Path.Combine(_project, ModelSettings.ProjectRelativePath);
            Directory.CreateDirectory(Path.GetDirectoryName(path));
            File.WriteAllText(path, "{\"weights\": [");
            var s = ModelSettings.Load(path, out string problem);
            Assert.That(s.Weights, Is.Empty);
            Assert.That(problem, Does.Contain(path).And.Contain("save the settings to overwrite it"));
            Assert.That(File.ReadAllText(path), Is.EqualTo("{\"weights\": ["));
        }

        [Test]
        public void OptionsResolveAgainstTheProjectAndKeepRoles()
        {
            var o = Sample().ToGeneratorOptions(_project);
            Assert.That(o.Weights, Is.EqualTo(new[]
            {
                Path.GetFullPath(Path.Combine(_project, "Models", "sd3.5_medium.safetensors")),
                "clip_g=" + Path.GetFullPath(Path.Combine(_project, "Models", "clip_g.safetensors")),
            }));
            Assert.That(o.Tokenizers, Is.EqualTo(Path.GetFullPath(Path.Combine(_project, "Models", "tokenizers"))));
            Assert.That((o.Device, o.ClipLHeads, o.ClipGHeads, o.MemoryBudget, o.Residency, o.VaeTileSize, o.AllowLargeGrid),
                        Is.EqualTo(("cuda:1", (int?)12, (int?)20, 12000L << 20, Residency.Sequential, 32, true)));
            var defaults = new ModelSettings { Weights = { "  ", Path.Combine(_project, "Models", "sd3.5_medium.safetensors") } }.ToGeneratorOptions(_project);
            Assert.That(defaults.Weights.Count, Is.EqualTo(1), "blank lines are skipped");
            Assert.That((defaults.Tokenizers, defaults.ClipLHeads, defaults.MemoryBudget, defaults.Device), Is.EqualTo(((string)null, (int?)null, 0L, "auto")));
        }

        [Test]
        public void ASoundSetupHasNoMessages() => Assert.That(Sample().Check(_project), Is.Empty);

        [Test]
        public void NoWeightsSaysWhatToAddAndWhere()
        {
            var m = new ModelSettings().Check(_project);
            Assert.That(m.Single().Field, Is.EqualTo("Weights"));
            Assert.That(m.Single().Text, Does.Contain("outside Assets/"));
        }

        [Test]
        public void MissingFilesTokenizersAndBadValuesAreErrors()
        {
            var s = Sample();
            s.Weights.Add("Models/missing.safetensors");
            s.Tokenizers = "Models/nothing";
            s.Device = "gpu";
            s.MemoryBudgetMiB = -1;
            var m = s.Check(_project);
            Assert.That(m.All(x => x.Severity == MessageSeverity.Error), Is.True);
            Assert.That(m.Select(x => x.Field), Is.EquivalentTo(new[] { "Weights", "Tokenizers", "Device", "MemoryBudgetMiB" }));
            Assert.That(m[0].Text, Does.Contain("missing.safetensors was not found"));
            s = Sample();
            s.Tokenizers = ""; // the tokenizers bundled with the package
            Assert.That(s.Check(_project), Is.Empty);
        }

        [Test]
        public void ADiffusersFolderBringsItsTokenizers()
        {
            string folder = Path.Combine(_project, "Models", "sd3-diffusers");
            Directory.CreateDirectory(folder);
            File.WriteAllText(Path.Combine(folder, "model_index.json"), "{}");
            Assert.That(new ModelSettings { Weights = { "Models/sd3-diffusers" } }.Check(_project), Is.Empty);
            Assert.That(new ModelSettings { Weights = { "Models" } }.Check(_project).Select(x => x.Field), Is.EquivalentTo(new[] { "Weights" }));
        }

        [Test]
        public void WeightsInsideAssetsAreAWarning()
        {
            File.WriteAllText(Path.Combine(_project, "Assets", "model.safetensors"), "x");
            var s = Sample();
            s.Weights.Clear();
            s.Weights.Add("Assets/model.safetensors");
            var m = s.Check(_project);
            Assert.That(m.Single().Severity, Is.EqualTo(MessageSeverity.Warning));
            Assert.That(m.Single().Text, Does.Contain("Models/"));
        }

        [Test]
        public void PathsInsideTheProjectBecomeRelative()
        {
            string inside = Path.Combine(_project, "Models", "a.safetensors");
            Assert.That(ModelSettings.MakeRelative(_project, inside), Is.EqualTo("Models/a.safetensors"));
            string outside = Path.Combine(Path.GetTempPath(), "elsewhere", "a.safetensors");
            Assert.That(ModelSettings.MakeRelative(_project, outside), Is.EqualTo(outside));
            Assert.That(ModelSettings.MakeRelative(_project, _project + "-other/a"), Is.EqualTo(_project + "-other/a"), "a sibling with a common prefix is outside");
            Assert.That(ModelSettings.IsUnderAssets(_project, Path.Combine(_project, "Assets", "x")), Is.True);
            Assert.That(ModelSettings.IsUnderAssets(_project, Path.Combine(_project, "AssetsBackup", "x")), Is.False);
        }
    }
}
