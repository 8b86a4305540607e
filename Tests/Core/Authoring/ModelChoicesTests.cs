using System.Collections.Generic;
using System.IO;
using System.Linq;
using NUnit.Framework;
using Sd3Tex.Authoring;
using Sd3Tex.Checkpoints;
using Sd3Tex.Generation;

namespace Sd3Tex.Tests.Authoring
{
    /// <summary>The window's model dropdown: what it lists from a ComfyUI folder in the settings, which entry the
    /// settings stand for, and what choosing one (or an incomplete one) does.</summary>
    public sealed class ModelChoicesTests
    {
        string _project;

        [SetUp]
        public void SetUp()
        {
            _project = TestPaths.NewScratch("model-choices");
            var tiny = RandomCheckpoint.ForFamily("tiny");
            string models = Path.Combine(_project, "Models", "ComfyUI", "models");
            CheckpointWriter.Write(tiny.Tensors(RandomCheckpoint.AllComponents, DType.F16, 0), CheckpointLayout.Single,
                                   Path.Combine(models, "checkpoints", "sd3_tiny.safetensors"), tiny.ClipHeads);
            CheckpointWriter.Write(tiny.Tensors(new[] { Component.Mmdit }, DType.F16, 0), CheckpointLayout.Single,
                                   Path.Combine(models, "diffusion_models", "dit_only.safetensors"), tiny.ClipHeads);
        }

        [TearDown] public void TearDown() => TestPaths.DeleteScratch(_project);

        // no Hugging Face cache, no environment: only the settings' folders
        string Env(string name) => name == "HOME" ? _project : null;

        [Test]
        public void ChoosingAFoundModelWritesItsFilesIntoTheSettings()
        {
            var settings = new ModelSettings { ModelFolders = { "Models/ComfyUI" }, Device = "reference" };
            var choices = ModelChoices.Scan(settings, _project, Env);
            Assert.That(choices.Labels[0], Is.EqualTo(ModelChoices.Custom));
            Assert.That(choices.Labels.Skip(1).Select(l => l.Split(' ')[0]), Is.EquivalentTo(new[] { "sd3_tiny", "dit_only" }));
            Assert.That(choices.Labels.Where(l => l.StartsWith("dit_only")).Single(), Does.EndWith("· incomplete"));
            Assert.That(choices.Labels.All(l => !l.Contains("/")), Is.True, "a '/' would make a submenu");
            Assert.That(choices.Summary, Does.Contain("2 model(s) found (1 ready)"));
            Assert.That(choices.IndexOf(settings, _project), Is.EqualTo(0), "no weights yet: custom");

            int tiny = choices.Labels.FindIndex(l => l.StartsWith("sd3_tiny "));
            Assert.That(choices.Apply(tiny, settings, _project), Is.Null);
            Assert.That(settings.Weights, Is.EqualTo(new[] { "Models/ComfyUI/models/checkpoints/sd3_tiny.safetensors" }), "relative to the project");
            Assert.That(choices.IndexOf(settings, _project), Is.EqualTo(tiny));
            Assert.That(settings.Check(_project).Where(m => m.Severity == MessageSeverity.Error), Is.Empty);
            // the settings open the model (the tokenizers bundled with the package, the heads the file declares)
            using (var gen = TextureGenerator.Open(settings.ToGeneratorOptions(_project)))
                Assert.That(gen.Generate(new GenerationRequest { Prompt = "x", Width = 32, Height = 32, Steps = 1, Seed = 1 }).Images.Count, Is.EqualTo(1));

            // an incomplete one says what is missing and leaves the weights alone
            int dit = choices.Labels.FindIndex(l => l.StartsWith("dit_only "));
            var error = choices.Apply(dit, settings, _project);
            Assert.That(error.Severity, Is.EqualTo(MessageSeverity.Error));
            Assert.That(error.Text, Does.Contain("dit_only cannot be used").And.Contain("no CLIP-L"));
            Assert.That(settings.Weights, Is.EqualTo(new[] { "Models/ComfyUI/models/checkpoints/sd3_tiny.safetensors" }));
            Assert.That(choices.Apply(0, settings, _project), Is.Null, "custom changes nothing");
            settings.Weights = new List<string> { "Models/ComfyUI/models/checkpoints/sd3_tiny.safetensors", "Models/other.safetensors" };
            Assert.That(choices.IndexOf(settings, _project), Is.EqualTo(0), "other weights: custom");
        }
    }
}
