using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Threading;
using NUnit.Framework;
using Sd3Tex.Checkpoints;
using Sd3Tex.Encoders;
using Sd3Tex.Generation;
using Sd3Tex.Imaging;
using Sd3Tex.Models;
using Sd3Tex.Sampling;
using Sd3Tex.Vae;

namespace Sd3Tex.Tests.Generation
{
    /// <summary>The runtime API's contract on the tiny fixture model (plain C# reference: fast and exact).</summary>
    public sealed class TextureGeneratorTests
    {
        static TextureGenerator _gen;

        [OneTimeSetUp]
        public void Open() => _gen = TextureGenerator.Open(PipelineTinyTests.TinyOptions("reference"));

        [OneTimeTearDown]
        public void Close() => _gen?.Dispose();

        static GenerationRequest Small(long seed = 3) => new GenerationRequest
        {
            Prompt = "mossy brick wall", Seed = seed, Width = 32, Height = 32, Steps = 3, Cfg = 4f, Shift = 3f, Sampler = SamplerKind.Euler,
        };

        [Test]
        public void BadRequestsFailBeforeAnyWorkWithWhatToChange()
        {
            var stages = new List<GenerationStage>();
            var progress = new PipelineTinyTests.SyncProgress(p => stages.Add(p.Stage));
            GenerationRequestException Fails(Action<GenerationRequest> change)
            {
                var r = Small();
                change(r);
                var e = Assert.Throws<GenerationRequestException>(() => _gen.Generate(r, progress));
                Assert.That(stages, Is.Empty, "no work may start");
                return e;
            }
            Assert.That(Fails(r => r.Width = 100).Message, Does.Contain("width 100 is not a multiple of 16; use 96"));
            Assert.That(Fails(r => r.Height = 8).Message, Does.Contain("height is 8"));
            Assert.That(Fails(r => r.Steps = 0).Message, Does.Contain("steps is 0"));
            Assert.That(Fails(r => r.Count = 0).Message, Does.Contain("count is 0"));
            Assert.That(Fails(r => r.Shift = 0).Message, Does.Contain("shift"));
            Assert.That(Fails(r => r.InitialNoise = new float[5]).Message, Does.Contain("initial noise"));
            // the tiny model's position table is 16 × 16 patches = 256 pixels a side
            var grid = Fails(r => { r.Width = 512; r.Height = 256; });
            Assert.That(grid.Message, Does.Contain("larger than the model's 16×16 position table").And.Contain("at most 256 pixels"));
            Assert.That(grid.Problems.Count, Is.EqualTo(1));
            var twoProblems = Fails(r => { r.Width = 100; r.Steps = 0; });
            Assert.That(twoProblems.Problems.Count, Is.EqualTo(2));
            // the async form reports the same error without running
            var task = _gen.GenerateAsync(new GenerationRequest { Prompt = "x", Width = 30, Height = 32 });
            Assert.That(() => task.GetAwaiter().GetResult(), Throws.TypeOf<GenerationRequestException>());
        }

        [Test]
        public void AMissingComponentIsNamedWhenOpening()
        {
            var o = PipelineTinyTests.TinyOptions("reference");
            o.Weights = o.Weights.Where(w => !w.Contains("clip-tiny")).ToList();
            var e = Assert.Throws<CheckpointException>(() => TextureGenerator.Open(o));
            Assert.That(e.Message, Does.Contain("CLIP-L").And.Contain("CLIP-G").And.Contain("add the clip_l, clip_g"));
            o = PipelineTinyTests.TinyOptions("reference");
            o.Weights = o.Weights.Where(w => !w.Contains("vae-tiny")).ToList();
            Assert.That(() => TextureGenerator.Open(o), Throws.TypeOf<CheckpointException>().With.Message.Contains("the VAE"));
            o = PipelineTinyTests.TinyOptions("reference");
            o.Tokenizers = Path.Combine(Path.GetTempPath(), "sd3tex-no-such-tokenizers");
            Assert.That(() => TextureGenerator.Open(o), Throws.InstanceOf<Sd3Tex.Text.TokenizerFileNotFoundException>().With.Message.Contains("tokenizer folder not found"));
        }

        [Test]
        public void AModelOverTheMemoryBudgetNamesTheComponentAndTheWayOut()
        {
            var o = PipelineTinyTests.TinyOptions("reference");
            o.MemoryBudget = 100_000; // the tiny transformer alone is ~2 MB
            var e = Assert.Throws<GenerationMemoryException>(() => TextureGenerator.Open(o));
            Assert.That(e.Component, Is.EqualTo("transformer"));
            Assert.That(e.Message, Does.Contain("do not fit the memory budget").And.Contain("Raise the budget"));
        }

        [Test]
        public void ADecoderOverTheBudgetIsNamedWithTheWayOut()
        {
            var o = PipelineTinyTests.TinyOptions("reference");
            o.MemoryBudget = _gen.TransformerWeightBytes + 1000; // the transformer's weights fit, the rest loads one at a time
            using (var gen = TextureGenerator.Open(o))
            {
                Assert.That(gen.Resident, Is.False);
                Assert.That(gen.Notes, Has.Some.Contains("one at a time"));
                var e = Assert.Throws<GenerationMemoryException>(() => gen.Generate(Small()));
                Assert.That(e.Component, Is.EqualTo("decoder"));
                Assert.That(e.Message, Does.Contain("does not fit the memory budget"));
            }
        }

        [Test]
        public void SeedsReproducePyTorchsCpuGenerator()
        {
            // noise-torch-cpu's seed_42 case is [1, 16, 8, 12]: the latent of a 96 × 64 image
            var r = Small(42);
            r.Width = 96; r.Height = 64; r.Steps = 1; r.CaptureIntermediates = true;
            var noise = _gen.Generate(r).Images[0].Intermediates.Noise;
            Golden.AssertClose(Golden.Floats("noise-torch-cpu", "golden.safetensors", "seed_42"), noise, 1e-6, "seed 42 noise");
        }

        [Test]
        public void ABatchUsesSeedPlusIndexSoAnyImageCanBeRemadeAlone()
        {
            var r = Small(10);
            r.Count = 2;
            var batch = _gen.Generate(r);
            Assert.That(batch.Images.Select(i => i.Seed), Is.EqualTo(new long[] { 10, 11 }));
            Assert.That(batch.Images[1].Parameters.Seed, Is.EqualTo(11));
            var alone = _gen.Generate(Small(11));
            Assert.That(alone.Images[0].Image.Pixels, Is.EqualTo(batch.Images[1].Image.Pixels));
            Assert.That(batch.Images[0].Image.Pixels, Is.Not.EqualTo(batch.Images[1].Image.Pixels));
        }

        [Test]
        public void CancellationStopsWithinOneStepAndLeavesTheGeneratorUsable()
        {
            using (var cts = new CancellationTokenSource())
            {
                int stepsAfterCancel = 0;
                bool cancelled = false;
                var progress = new PipelineTinyTests.SyncProgress(p =>
                {
                    if (p.Stage != GenerationStage.Sampling || p.Step == 0) return;
                    if (cancelled) stepsAfterCancel++;
                    if (p.Step == 1) { cts.Cancel(); cancelled = true; }
                });
                var r = Small();
                r.Steps = 10;
                Assert.That(() => _gen.GenerateAsync(r, progress, cts.Token).GetAwaiter().GetResult(), Throws.InstanceOf<OperationCanceledException>());
                Assert.That(stepsAfterCancel, Is.EqualTo(0), "no step may complete after the cancellation");
            }
            var again = _gen.Generate(Small());
            var fresh = TextureGenerator.Open(PipelineTinyTests.TinyOptions("reference"));
            try { Assert.That(again.Images[0].Image.Pixels, Is.EqualTo(fresh.Generate(Small()).Images[0].Image.Pixels)); }
            finally { fresh.Dispose(); }
        }

        [Test]
        public void ProgressCoversEveryStageInOrderWithAnEta()
        {
            var reports = new List<GenerationProgress>();
            var r = Small();
            r.Count = 2;
            _gen.Generate(r, new PipelineTinyTests.SyncProgress(reports.Add));
            var stages = reports.Select(p => p.Stage).Distinct().ToList();
            Assert.That(stages, Is.EqualTo(new[] { GenerationStage.Encoding, GenerationStage.Sampling, GenerationStage.Decoding, GenerationStage.Done }));
            for (int i = 1; i < reports.Count; i++) Assert.That(reports[i].Fraction, Is.GreaterThanOrEqualTo(reports[i - 1].Fraction - 1e-9));
            Assert.That(reports.Last().Fraction, Is.EqualTo(1.0));
            Assert.That(reports.Where(p => p.Stage == GenerationStage.Sampling && p.Step > 0).All(p => p.Eta.HasValue), Is.True);
            Assert.That(reports.Where(p => p.Stage == GenerationStage.Sampling).Select(p => p.Image).Distinct(), Is.EqualTo(new[] { 0, 1 }));
            Assert.That(reports.Count(p => p.Stage == GenerationStage.Sampling && p.Step > 0), Is.EqualTo(6));
        }

        [Test]
        public void ComponentsOneAtATimeGiveTheSameImage()
        {
            var o = PipelineTinyTests.TinyOptions("reference");
            o.Residency = Residency.Sequential;
            using (var seq = TextureGenerator.Open(o))
            {
                Assert.That(seq.Resident, Is.False);
                var stages = new List<GenerationStage>();
                var a = seq.Generate(Small(), new PipelineTinyTests.SyncProgress(p => stages.Add(p.Stage)));
                Assert.That(stages.Count(s => s == GenerationStage.Loading), Is.EqualTo(3), "encoders, transformer and decoder each load");
                Assert.That(a.Images[0].Image.Pixels, Is.EqualTo(_gen.Generate(Small()).Images[0].Image.Pixels));
            }
        }

        [Test]
        public void ThePngCarriesTheParameters()
        {
            var r = Small(77);
            r.NegativePrompt = "blurry";
            r.Seamless = SeamlessAxes.Both;
            r.UseT5 = false;
            var img = _gen.Generate(r).Images[0];
            var png = PngReader.Read(img.EncodePng());
            Assert.That(png.Width, Is.EqualTo(32));
            Assert.That(png.Image.Pixels, Is.EqualTo(img.Image.Pixels));
            var p = GenerationParameters.FromPng(png);
            Assert.That(p.Prompt, Is.EqualTo("mossy brick wall"));
            Assert.That(p.NegativePrompt, Is.EqualTo("blurry"));
            Assert.That(p.Seed, Is.EqualTo(77));
            Assert.That(p.Steps, Is.EqualTo(3));
            Assert.That(p.Sampler, Is.EqualTo("euler"));
            Assert.That(p.Extra, Does.Contain(new KeyValuePair<string, string>("Seamless", "xy")).And.Contain(new KeyValuePair<string, string>("T5", "off")));
            Assert.That(png.Text(GenerationParameters.A1111Keyword), Does.StartWith("mossy brick wall\nNegative prompt: blurry\nSteps: 3"));
        }

        [Test]
        public void PresetsFillWhatTheRequestLeavesOut()
        {
            var r = new GenerationRequest { Prompt = "x", Width = 32, Height = 32, Steps = 1 };
            var resolved = r.Resolve(_gen.Preset);
            Assert.That(resolved.Steps, Is.EqualTo(1));
            Assert.That(resolved.Cfg, Is.EqualTo(_gen.Preset.Cfg));
            Assert.That(resolved.Sampler, Is.EqualTo(_gen.Preset.Sampler));
            // the tiny fixture has SD3 Medium's structure, so it takes SD3 Medium's preset
            Assert.That(_gen.Preset.Family, Is.EqualTo(ModelFamily.Sd3Medium));
        }

        sealed class FakeModel : IMmditModel
        {
            public readonly List<(int batch, int tokens)> Calls = new List<(int, int)>();
            public MmditConfig Config => null;
            public float[] Forward(float[] x, int batch, int height, int width, float[] timestep, float[] y, float[] context, int contextTokens,
                                   ICollection<int> skipBlocks = null)
            {
                Calls.Add((batch, contextTokens));
                // velocity = x + the mean of each item's context, so cond and uncond differ
                int n = x.Length / batch, c = context.Length / batch;
                var r = new float[x.Length];
                for (int b = 0; b < batch; b++)
                {
                    float m = context.Skip(b * c).Take(c).Average();
                    for (int i = 0; i < n; i++) r[b * n + i] = x[b * n + i] + m;
                }
                return r;
            }
            public void Dispose() { }
        }

        static Sd3Conditioning Cond(int tokens, float value) =>
            new Sd3Conditioning(1, tokens, 2, Enumerable.Repeat(value, tokens * 2).ToArray(), 3, new float[3]);

        [Test]
        public void GuidanceBatchesEqualContextsAndSplitsUnequalOnes()
        {
            var x = new float[] { 1, 2, 3, 4 };
            var same = new FakeModel();
            var a = TextureGenerator.Guided(same, Cond(5, 1f), Cond(5, -1f), 3f, 2, 2)(x, 0.5f);
            Assert.That(same.Calls, Is.EqualTo(new[] { (2, 5) }));
            var split = new FakeModel();
            var b = TextureGenerator.Guided(split, Cond(5, 1f), Cond(7, -1f), 3f, 2, 2)(x, 0.5f);
            Assert.That(split.Calls, Is.EqualTo(new[] { (1, 5), (1, 7) }));
            // den = x − v·σ per half; guided = neg + (pos − neg)·cfg: v = x + m, pos m = 1, neg m = −1
            for (int i = 0; i < 4; i++)
            {
                float pos = x[i] - (x[i] + 1) * 0.5f, neg = x[i] - (x[i] - 1) * 0.5f, want = neg + (pos - neg) * 3f;
                Assert.That(a[i], Is.EqualTo(want).Within(1e-6));
                Assert.That(b[i], Is.EqualTo(want).Within(1e-6));
            }
            var one = new FakeModel();
            TextureGenerator.Guided(one, Cond(5, 1f), Cond(7, -1f), 1f, 2, 2)(x, 0.5f);
            Assert.That(one.Calls, Is.EqualTo(new[] { (1, 5) }), "CFG 1 needs only the cond pass");
        }

        [Test]
        public void SeamlessRollsEverySecondModelCallAndRollsBack()
        {
            int c = 2, h = 4, w = 6;
            var x = Enumerable.Range(0, c * h * w).Select(i => (float)i).ToArray();
            var rolled = TextureGenerator.Roll(x, c, h, w, 2, 3);
            Assert.That(rolled[0 * w + 3], Is.EqualTo(x[2 * w + 0]), "out[y + 2, x + 3] = in[y, x]");
            Assert.That(TextureGenerator.Roll(rolled, c, h, w, h - 2, w - 3), Is.EqualTo(x));
            var seen = new List<float[]>();
            Denoiser inner = (v, s) => { seen.Add(v); return v.Select(t => t * 2).ToArray(); };
            var d = TextureGenerator.Rolled(inner, SeamlessAxes.Both, c, h, w);
            var first = d(x, 1f);
            var second = d(x, 1f);
            Assert.That(seen[0], Is.EqualTo(x));
            Assert.That(seen[1], Is.EqualTo(TextureGenerator.Roll(x, c, h, w, 2, 3)));
            Assert.That(first, Is.EqualTo(x.Select(t => t * 2).ToArray()));
            Assert.That(second, Is.EqualTo(x.Select(t => t * 2).ToArray()), "an element-wise model gives the same result rolled or not");
        }
    }
}
