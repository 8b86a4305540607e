using System;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using NUnit.Framework;
using Sd3Tex.Authoring;
using Sd3Tex.Generation;
using Sd3Tex.Models;
using Sd3Tex.Sampling;
using Sd3Tex.Tests.Generation;

namespace Sd3Tex.Tests.Authoring
{
    /// <summary>The shared generator on the tiny end-to-end fixture (plain C# reference, so it is quick and exact).</summary>
    public sealed class GeneratorCacheTests
    {
        static GeneratorOptions Tiny() => PipelineTinyTests.TinyOptions("reference");

        static GenerationRequest Request(int steps = 1) => new GenerationRequest
        {
            Prompt = "a photo of a cat", Seed = 3, Width = 32, Height = 32, Steps = steps, Cfg = 4f, Shift = 3f, Sampler = SamplerKind.Euler,
        };

        [Test]
        public void EqualOptionsShareOneGenerator()
        {
            var cache = new GeneratorCache();
            try
            {
                var a = cache.OpenAsync(Tiny()).GetAwaiter().GetResult();
                var b = cache.OpenAsync(Tiny()).GetAwaiter().GetResult();
                Assert.That(b, Is.SameAs(a));
                Assert.That(cache.TryGetOpen(Tiny()), Is.SameAs(a));
                Assert.That(GeneratorCache.KeyOf(Tiny()), Is.EqualTo(GeneratorCache.KeyOf(Tiny())));
                var other = Tiny();
                other.VaeTileSize = 4;
                Assert.That(GeneratorCache.KeyOf(other), Is.Not.EqualTo(GeneratorCache.KeyOf(Tiny())));
                Assert.That(cache.TryGetOpen(other), Is.Null);
            }
            finally { cache.Release(); }
        }

        [Test]
        public void GeneratesWhatTheGeneratorItselfGenerates()
        {
            var cache = new GeneratorCache();
            try
            {
                var viaCache = cache.GenerateAsync(Tiny(), Request()).GetAwaiter().GetResult();
                using (var direct = TextureGenerator.Open(Tiny()))
                {
                    var expected = direct.Generate(Request());
                    Assert.That(viaCache.Images[0].Image.Pixels, Is.EqualTo(expected.Images[0].Image.Pixels));
                    Assert.That(viaCache.Images[0].Parameters.ToA1111(), Is.EqualTo(expected.Images[0].Parameters.ToA1111()));
                }
            }
            finally { cache.Release(); }
        }

        [Test]
        public void AnotherModelFreesTheFirst()
        {
            var cache = new GeneratorCache();
            try
            {
                var first = cache.OpenAsync(Tiny()).GetAwaiter().GetResult();
                var other = Tiny();
                other.VaeTileSize = 4;
                var second = cache.OpenAsync(other).GetAwaiter().GetResult();
                Assert.That(second, Is.Not.SameAs(first));
                Assert.That(() => first.Generate(Request()), Throws.InstanceOf<ObjectDisposedException>(), "the first model was freed before the second opened");
                Assert.That(cache.TryGetOpen(Tiny()), Is.Null);
                Assert.That(cache.TryGetOpen(other), Is.SameAs(second));
            }
            finally { cache.Release(); }
        }

        [Test]
        public void ARunningRequestKeepsItsModelUntilItIsDone()
        {
            var cache = new GeneratorCache();
            try
            {
                var sampling = new ManualResetEventSlim();
                var progress = new PipelineTinyTests.SyncProgress(p => { if (p.Stage == GenerationStage.Sampling && p.Step > 0) sampling.Set(); });
                var running = cache.GenerateAsync(Tiny(), Request(steps: 4), progress);
                Assert.That(sampling.Wait(TimeSpan.FromSeconds(60)), Is.True, "sampling started");
                var other = Tiny();
                other.VaeTileSize = 4;
                var opening = cache.OpenAsync(other);
                var result = running.GetAwaiter().GetResult();
                Assert.That(result.Images.Count, Is.EqualTo(1), "the request on the old model finished");
                Assert.That(opening.GetAwaiter().GetResult(), Is.SameAs(cache.TryGetOpen(other)));
            }
            finally { cache.Release(); }
        }

        [Test]
        public void ReleaseCancelsWorkInFlightAndTheCacheStaysUsable()
        {
            var cache = new GeneratorCache();
            var sampling = new ManualResetEventSlim();
            var progress = new PipelineTinyTests.SyncProgress(p => { if (p.Stage == GenerationStage.Sampling && p.Step > 0) sampling.Set(); });
            var running = cache.GenerateAsync(Tiny(), Request(steps: 5000), progress);
            Assert.That(sampling.Wait(TimeSpan.FromSeconds(60)), Is.True, "sampling started");
            var generator = cache.TryGetOpen(Tiny());
            Assert.That(generator, Is.Not.Null);
            Assert.That(cache.Release(TimeSpan.FromSeconds(60)), Is.True);
            Assert.That(() => running.GetAwaiter().GetResult(), Throws.InstanceOf<OperationCanceledException>());
            Assert.That(() => generator.Generate(Request()), Throws.InstanceOf<ObjectDisposedException>(), "the device and weights were freed");
            Assert.That(cache.TryGetOpen(Tiny()), Is.Null);
            try { Assert.That(cache.GenerateAsync(Tiny(), Request()).GetAwaiter().GetResult().Images.Count, Is.EqualTo(1)); }
            finally { cache.Release(); }
        }

        [Test]
        public void ACallerCanStopWaitingForItsRequest()
        {
            var cache = new GeneratorCache();
            try
            {
                using (var cts = new CancellationTokenSource())
                {
                    var sampling = new ManualResetEventSlim();
                    var progress = new PipelineTinyTests.SyncProgress(p => { if (p.Stage == GenerationStage.Sampling && p.Step > 0) sampling.Set(); });
                    var running = cache.GenerateAsync(Tiny(), Request(steps: 5000), progress, cts.Token);
                    Assert.That(sampling.Wait(TimeSpan.FromSeconds(60)), Is.True);
                    cts.Cancel();
                    Assert.That(() => running.GetAwaiter().GetResult(), Throws.InstanceOf<OperationCanceledException>());
                }
                Assert.That(cache.GenerateAsync(Tiny(), Request()).GetAwaiter().GetResult().Images.Count, Is.EqualTo(1), "the shared model is still there");
            }
            finally { cache.Release(); }
        }

        [Test]
        public void TheModelsFactsCheckTheFormAgainstIt()
        {
            var cache = new GeneratorCache();
            try
            {
                var g = cache.OpenAsync(Tiny()).GetAwaiter().GetResult();
                var facts = ModelFacts.Of(g);
                Assert.That(facts.Family, Is.EqualTo(g.Family));
                var form = new GenerationForm { Prompt = "cat", Size = SizePreset.Square512 };
                var m = form.Validate(facts);
                Assert.That(m.Single().Field, Is.EqualTo("Size"));
                Assert.That(m.Single().Text, Does.Contain("position table").And.Contain("256 pixels"));
                form.Size = SizePreset.Custom; form.Width = 96; form.Height = 64;
                Assert.That(form.Validate(facts), Is.Empty);
                string status = ModelStatus.Describe(g);
                Assert.That(status, Does.Contain("plain C# reference").And.Contain("budget"));
                Assert.That(ModelStatus.Describe(null), Is.EqualTo(ModelStatus.NotLoaded));
            }
            finally { cache.Release(); }
        }

        [Test]
        public void TheStatusLineNamesFamilyDeviceAndMemory()
        {
            string s = ModelStatus.Format(ModelFamily.Sd35Medium, false, "Cuda H100", 5L << 30, 70L << 30, true);
            Assert.That(s, Is.EqualTo("SD3.5 Medium (no T5-XXL) · Cuda H100 · model " + Sd3Tex.Vae.VaeMemoryPlanner.Format(5L << 30) + " of a " +
                                      Sd3Tex.Vae.VaeMemoryPlanner.Format(70L << 30) + " budget, kept loaded between runs"));
            Assert.That(ModelStatus.Format(ModelFamily.Unknown, true, "cpu", 1, 2, false), Does.StartWith("Unknown SD3-like model · cpu").And.EndWith("one part at a time"));
        }
    }
}
