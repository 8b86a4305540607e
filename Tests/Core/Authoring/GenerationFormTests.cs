using System;
using System.Collections.Generic;
using System.Linq;
using NUnit.Framework;
using Sd3Tex.Authoring;
using Sd3Tex.Generation;
using Sd3Tex.Models;
using Sd3Tex.Sampling;
using Sd3Tex.Vae;

namespace Sd3Tex.Tests.Authoring
{
    public sealed class SizePresetsTests
    {
        [TestCase(SizePreset.Square512, 512)]
        [TestCase(SizePreset.Square768, 768)]
        [TestCase(SizePreset.Square1024, 1024)]
        public void SquaresHaveTheirSize(SizePreset preset, int side)
        {
            Assert.That(SizePresets.TryGetSize(preset, out int w, out int h), Is.True);
            Assert.That((w, h), Is.EqualTo((side, side)));
            Assert.That(w % GenerationRequest.SizeMultiple, Is.EqualTo(0));
            Assert.That(SizePresets.Match(side, side), Is.EqualTo(preset));
            Assert.That(SizePresets.Label(preset), Is.EqualTo(side + " × " + side));
        }

        [Test]
        public void CustomHasNoSizeAndMatchesEverythingElse()
        {
            Assert.That(SizePresets.TryGetSize(SizePreset.Custom, out _, out _), Is.False);
            Assert.That(SizePresets.Match(512, 768), Is.EqualTo(SizePreset.Custom));
            Assert.That(SizePresets.Label(SizePreset.Custom), Is.EqualTo("Custom"));
            Assert.That(SizePresets.All, Has.Length.EqualTo(4));
        }

        [TestCase("768", SizePreset.Square768)]
        [TestCase("1024x1024", SizePreset.Square1024)]
        [TestCase("512 × 512", SizePreset.Square512)]
        [TestCase("Custom", SizePreset.Custom)]
        public void ParsesLabelsAndNames(string text, SizePreset expected)
        {
            Assert.That(SizePresets.TryParse(text, out var p), Is.True);
            Assert.That(p, Is.EqualTo(expected));
        }

        [Test]
        public void RejectsOtherSizes() => Assert.That(SizePresets.TryParse("640", out _), Is.False);
    }

    public sealed class GenerationFormTests
    {
        static GenerationForm Valid() => new GenerationForm { Prompt = "mossy stone wall", Size = SizePreset.Square512 };

        static string[] Errors(List<FormMessage> m) => m.Where(x => x.Severity == MessageSeverity.Error).Select(x => x.Field).ToArray();
        static string[] Warnings(List<FormMessage> m) => m.Where(x => x.Severity == MessageSeverity.Warning).Select(x => x.Field).ToArray();

        [Test]
        public void StartsFromTheFallbackPreset()
        {
            var f = new GenerationForm();
            var p = GenerationPresets.For(ModelFamily.Unknown);
            Assert.That((f.Steps, f.Cfg, f.Shift, f.Sampler), Is.EqualTo((p.Steps, p.Cfg, p.Shift, p.Sampler)));
            Assert.That(f.FollowsPreset, Is.True);
            Assert.That(f.SeedMode, Is.EqualTo(SeedMode.Random));
            Assert.That(f.BatchCount, Is.EqualTo(1));
        }

        [Test]
        public void TheRequestCarriesEveryField()
        {
            var f = new GenerationForm
            {
                Prompt = "lava", NegativePrompt = "blurry", Size = SizePreset.Custom, Width = 768, Height = 512, Steps = 28, Cfg = 4.5f, Shift = 3f,
                Sampler = SamplerKind.Euler, BatchCount = 3, SeamlessX = true, UseT5 = false,
            };
            var r = f.ToRequest(99);
            Assert.That((r.Prompt, r.NegativePrompt, r.Seed, r.Count, r.Width, r.Height), Is.EqualTo(("lava", "blurry", 99L, 3, 768, 512)));
            Assert.That((r.Steps, r.Cfg, r.Shift, r.Sampler), Is.EqualTo(((int?)28, (float?)4.5f, (float?)3f, (SamplerKind?)SamplerKind.Euler)));
            Assert.That(r.UseT5, Is.False);
            Assert.That(r.Seamless, Is.EqualTo(SeamlessAxes.X));
            Assert.That(r.Problems(), Is.Empty);
            f.SeamlessY = true;
            Assert.That(f.ToRequest(0).Seamless, Is.EqualTo(SeamlessAxes.Both));
        }

        [Test]
        public void APresetSizeWinsOverTheCustomFields()
        {
            var f = new GenerationForm { Size = SizePreset.Square768, Width = 100, Height = 200 };
            Assert.That((f.EffectiveWidth, f.EffectiveHeight), Is.EqualTo((768, 768)));
            f.Size = SizePreset.Custom;
            Assert.That((f.EffectiveWidth, f.EffectiveHeight), Is.EqualTo((100, 200)));
        }

        [Test]
        public void AValidFormHasNoMessages() => Assert.That(Valid().Validate(), Is.Empty);

        [Test]
        public void SizesMustBeMultiplesOf16AndTheMessageSaysWhichToUse()
        {
            var f = Valid();
            f.Size = SizePreset.Custom; f.Width = 1000; f.Height = 8;
            var m = f.Validate();
            Assert.That(Errors(m), Is.EquivalentTo(new[] { "Width", "Height" }));
            Assert.That(m.First(x => x.Field == "Width").Text, Does.Contain("use 1008"));
            Assert.That(m.First(x => x.Field == "Height").Text, Does.Contain("at least 16"));
            f.Width = 8208; f.Height = 16;
            Assert.That(Errors(f.Validate()), Is.EqualTo(new[] { "Width" }));
        }

        [Test]
        public void SamplingValuesOutOfRangeAreErrors()
        {
            var f = Valid();
            f.Steps = 0; f.Cfg = float.NaN; f.Shift = 0; f.BatchCount = GenerationForm.MaxBatch + 1;
            Assert.That(Errors(f.Validate()), Is.EquivalentTo(new[] { "Steps", "Cfg", "Shift", "BatchCount" }));
            f.Steps = 1; f.Cfg = -1; f.Shift = float.PositiveInfinity; f.BatchCount = 0;
            Assert.That(Errors(f.Validate()), Is.EquivalentTo(new[] { "Cfg", "Shift", "BatchCount" }));
            f.Sampler = (SamplerKind)7; f.Cfg = 0; f.Shift = 1; f.BatchCount = 1;
            Assert.That(Errors(f.Validate()), Is.EqualTo(new[] { "Sampler" }));
        }

        [Test]
        public void UnusualButRunnableValuesAreWarnings()
        {
            var f = Valid();
            f.Prompt = "  "; f.Steps = GenerationForm.ManySteps + 1; f.Cfg = GenerationForm.HighCfg + 1;
            var m = f.Validate();
            Assert.That(FormMessage.AnyErrors(m), Is.False);
            Assert.That(Warnings(m), Is.EquivalentTo(new[] { "Prompt", "Steps", "Cfg" }));
        }

        [Test]
        public void TheModelAddsItsOwnChecks()
        {
            var f = Valid();
            var seen = new List<GenerationRequest>();
            var facts = new ModelFacts
            {
                Family = ModelFamily.Sd3Medium, HasT5 = false,
                Check = r => { seen.Add(r); return new List<string> { "512x512 needs a 32×32 patch grid, larger than the model's 24×24 position table." }; },
            };
            var m = f.Validate(facts);
            Assert.That(Warnings(m), Is.EqualTo(new[] { "UseT5" }));
            Assert.That(Errors(m), Is.EqualTo(new[] { "Size" }));
            Assert.That(m.First(x => x.Field == "Size").Text, Does.StartWith("512x512 needs"));
            Assert.That(seen.Single().Width, Is.EqualTo(512));
            f.UseT5 = false;
            Assert.That(Warnings(f.Validate(facts)), Is.Empty);
        }

        [Test]
        public void TheModelCheckDoesNotRepeatTheFormsOwnErrors()
        {
            var f = Valid();
            f.Size = SizePreset.Custom; f.Width = 1000; f.Height = 512;
            bool called = false;
            var m = f.Validate(new ModelFacts { Check = r => { called = true; return r.Problems(); } });
            Assert.That(called, Is.False, "the model is only asked once the form itself is valid");
            Assert.That(m.Count(x => x.Field == "Width"), Is.EqualTo(1));
            f.Width = 1008;
            Assert.That(f.Validate(new ModelFacts { Check = r => r.Problems() }), Is.Empty);
        }

        [Test]
        public void ALoadedModelsPresetReplacesAnUntouchedPreset()
        {
            var f = new GenerationForm();
            Assert.That(f.OnModelFamily(ModelFamily.Sd35Large), Is.True);
            Assert.That((f.Steps, f.Cfg, f.Shift), Is.EqualTo((40, 4.5f, 3f)));
            Assert.That(f.PresetFamily, Is.EqualTo(ModelFamily.Sd35Large));
            Assert.That(f.OnModelFamily(ModelFamily.Sd3Medium), Is.True);
            Assert.That((f.Steps, f.Cfg, f.Shift), Is.EqualTo((50, 5f, 1f)));
            Assert.That(f.OnModelFamily(ModelFamily.Sd3Medium), Is.False, "same family: nothing to do");
        }

        [Test]
        public void EditedSamplingValuesSurviveAModelChange()
        {
            var f = new GenerationForm();
            f.OnModelFamily(ModelFamily.Sd35Medium);
            f.Steps = 20;
            Assert.That(f.FollowsPreset, Is.False);
            Assert.That(f.OnModelFamily(ModelFamily.Sd35Large), Is.False);
            Assert.That(f.Steps, Is.EqualTo(20));
            f.ApplyPreset(ModelFamily.Sd35Large);
            Assert.That((f.Steps, f.Cfg, f.PresetFamily), Is.EqualTo((40, 4.5f, ModelFamily.Sd35Large)));
        }

        [Test]
        public void ALockedSeedStaysAndARandomOneIsDrawnAndKept()
        {
            var f = new GenerationForm { SeedMode = SeedMode.Locked, Seed = 1234 };
            Assert.That(f.NextSeed(new Random(1)), Is.EqualTo(1234));
            Assert.That(f.NextSeed(null), Is.EqualTo(1234));
            f.SeedMode = SeedMode.Random;
            var random = new Random(5);
            var seeds = Enumerable.Range(0, 50).Select(_ => f.NextSeed(random)).ToList();
            Assert.That(seeds, Has.All.InRange(0L, GenerationForm.SeedRange - 1));
            Assert.That(seeds.Distinct().Count(), Is.GreaterThan(45));
            Assert.That(f.Seed, Is.EqualTo(seeds.Last()), "the form shows the last seed drawn");
            Assert.That(new GenerationForm().NextSeed(new Random(5)), Is.EqualTo(seeds[0]), "draws follow the Random given");
            Assert.That(() => f.NextSeed(null), Throws.TypeOf<ArgumentNullException>());
        }

        [Test]
        public void LoadingARequestFillsTheFormAndLocksItsSeed()
        {
            var r = new GenerationRequest
            {
                Prompt = "bark", NegativePrompt = "text", Seed = 77, Count = 2, Width = 768, Height = 768, Steps = 30, Cfg = 6f, Shift = 2f,
                Sampler = SamplerKind.Euler, UseT5 = false, Seamless = SeamlessAxes.Y,
            };
            var f = new GenerationForm();
            f.Load(r, ModelFamily.Sd35Medium);
            Assert.That(f.Size, Is.EqualTo(SizePreset.Square768));
            Assert.That((f.SeedMode, f.Seed), Is.EqualTo((SeedMode.Locked, 77L)));
            Assert.That((f.SeamlessX, f.SeamlessY), Is.EqualTo((false, true)));
            var back = f.ToRequest(f.NextSeed(new Random()));
            Assert.That((back.Prompt, back.NegativePrompt, back.Seed, back.Count, back.Width, back.Height), Is.EqualTo((r.Prompt, r.NegativePrompt, r.Seed, r.Count, r.Width, r.Height)));
            Assert.That((back.Steps, back.Cfg, back.Shift, back.Sampler, back.UseT5, back.Seamless), Is.EqualTo((r.Steps, r.Cfg, r.Shift, r.Sampler, r.UseT5, r.Seamless)));

            var partial = new GenerationRequest { Prompt = "x", Width = 640, Height = 512 };
            f.Load(partial, ModelFamily.Sd35Large);
            Assert.That((f.Size, f.Width, f.Height), Is.EqualTo((SizePreset.Custom, 640, 512)));
            Assert.That((f.Steps, f.Cfg), Is.EqualTo((40, 4.5f)), "what the request leaves to the preset comes from the family's");
            Assert.That(f.FollowsPreset, Is.True);
        }
    }
}
