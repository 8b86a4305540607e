using System;
using System.IO;
using System.Linq;
using NUnit.Framework;
using Sd3Tex.Authoring;
using Sd3Tex.Generation;
using Sd3Tex.Models;
using Sd3Tex.Sampling;
using Sd3Tex.Vae;

namespace Sd3Tex.Tests.Authoring
{
    public sealed class GenerationHistoryTests
    {
        string _dir;
        string _file;

        [SetUp]
        public void SetUp()
        {
            _dir = TestPaths.NewScratch("history");
            _file = Path.Combine(_dir, GenerationHistory.DefaultRelativePath);
        }

        [TearDown]
        public void TearDown() => TestPaths.DeleteScratch(_dir);

        static HistoryEntry Entry(string prompt, long seed, int minutesAgo = 0)
        {
            var request = new GenerationRequest
            {
                Prompt = prompt, NegativePrompt = "blurry", Seed = seed, Count = 2, Width = 768, Height = 512, UseT5 = false, Seamless = SeamlessAxes.Both,
            };
            var e = HistoryEntry.From(request.Resolve(GenerationPresets.For(ModelFamily.Sd35Medium)), "sd3.5_medium", ModelFamily.Sd35Medium, "Cuda H100", TimeSpan.FromSeconds(12.5));
            e.Time = new DateTime(2025, 1, 2, 3, 4, 5, DateTimeKind.Utc).AddMinutes(-minutesAgo);
            return e;
        }

        [Test]
        public void AnEntryHoldsTheResolvedRequestAndRunsItAgain()
        {
            var e = Entry("moss", 42);
            Assert.That((e.Steps, e.Cfg, e.Shift, e.Sampler), Is.EqualTo((50, 5f, 3f, SamplerKind.DpmPp2M)), "the preset's values are recorded, not left open");
            var r = e.ToRequest();
            Assert.That((r.Prompt, r.NegativePrompt, r.Seed, r.Count, r.Width, r.Height, r.UseT5, r.Seamless),
                        Is.EqualTo(("moss", "blurry", 42L, 2, 768, 512, false, SeamlessAxes.Both)));
            Assert.That((r.Steps, r.Cfg, r.Shift, r.Sampler), Is.EqualTo(((int?)50, (float?)5f, (float?)3f, (SamplerKind?)SamplerKind.DpmPp2M)));
            Assert.That(e.Summary(), Is.EqualTo("moss · 768×512 · seed 42 ×2 · 50 steps · seamless xy"));
        }

        [Test]
        public void NewestFirstAndKeptAcrossRestarts()
        {
            var h = GenerationHistory.Load(_file);
            Assert.That(h.Entries, Is.Empty);
            Assert.That(h.LoadProblem, Is.Null);
            h.Add(Entry("first", 1, 10));
            h.Add(Entry("second", 2, 5));
            h.RecordOutput(h.Entries[1].Id, "Assets/Generated/first_1.png");
            Assert.That(h.Entries.Select(e => e.Prompt), Is.EqualTo(new[] { "second", "first" }));

            var again = GenerationHistory.Load(_file);
            Assert.That(again.LoadProblem, Is.Null);
            Assert.That(again.Entries.Select(e => e.Prompt), Is.EqualTo(new[] { "second", "first" }));
            var first = again.Entries[1];
            var original = h.Entries[1];
            Assert.That(first.ToJson().ToJson(false), Is.EqualTo(original.ToJson().ToJson(false)));
            Assert.That(first.Outputs, Is.EqualTo(new[] { "Assets/Generated/first_1.png" }));
            Assert.That(first.Time, Is.EqualTo(original.Time));
            Assert.That(first.Family, Is.EqualTo(ModelFamily.Sd35Medium));
        }

        [Test]
        public void KeepsOnlyTheNewestUpToTheLimit()
        {
            var h = GenerationHistory.Load(_file, limit: 3);
            for (int i = 0; i < 5; i++) h.Add(Entry("p" + i, i, 10 - i));
            Assert.That(h.Entries.Select(e => e.Prompt), Is.EqualTo(new[] { "p4", "p3", "p2" }));
            Assert.That(GenerationHistory.Load(_file, limit: 2).Entries.Select(e => e.Prompt), Is.EqualTo(new[] { "p4", "p3" }));
            h.Limit = 1;
            Assert.That(h.Entries.Count, Is.EqualTo(1));
            Assert.That(() => h.Limit = 0, Throws.InstanceOf<ArgumentOutOfRangeException>());
        }

        [Test]
        public void RemoveAndClear()
        {
            var h = GenerationHistory.Load(_file);
            var a = h.Add(Entry("a", 1));
            h.Add(Entry("b", 2));
            Assert.That(h.Remove(a.Id), Is.True);
            Assert.That(h.Remove(a.Id), Is.False);
            Assert.That(h.RecordOutput(a.Id, "Assets/x.png"), Is.False);
            Assert.That(GenerationHistory.Load(_file).Entries.Select(e => e.Prompt), Is.EqualTo(new[] { "b" }));
            h.Clear();
            Assert.That(GenerationHistory.Load(_file).Entries, Is.Empty);
        }

        [TestCase("{\"entries\": [")]
        [TestCase("not json at all")]
        [TestCase("{\"version\": 1}")]
        [TestCase("[]")]
        public void ACorruptFileIsSetAsideAndANewHistoryStarts(string content)
        {
            Directory.CreateDirectory(Path.GetDirectoryName(_file));
            File.WriteAllText(_file, content);
            var h = GenerationHistory.Load(_file);
            Assert.That(h.Entries, Is.Empty);
            Assert.That(h.LoadProblem, Does.Contain("could not be read").And.Contain(".corrupt"));
            Assert.That(File.ReadAllText(_file + ".corrupt"), Is.EqualTo(content));
            h.Add(Entry("after", 3));
            Assert.That(GenerationHistory.Load(_file).Entries.Single().Prompt, Is.EqualTo("after"));
        }

        [Test]
        public void DamagedEntriesAreLeftOutAndTheRestIsKept()
        {
            var h = GenerationHistory.Load(_file);
            h.Add(Entry("good", 1));
            string json = File.ReadAllText(_file);
            string bad = json.Replace("\"entries\": [", "\"entries\": [{\"id\": \"x\", \"prompt\": 5}, 17, ");
            Assert.That(bad, Is.Not.EqualTo(json));
            File.WriteAllText(_file, bad);
            var back = GenerationHistory.Load(_file);
            Assert.That(back.Entries.Select(e => e.Prompt), Is.EqualTo(new[] { "good" }));
            Assert.That(back.LoadProblem, Does.StartWith("2 entries"));
        }

        [Test]
        public void AHistoryWithoutAFileStaysInMemory()
        {
            var h = new GenerationHistory();
            h.Add(Entry("x", 1));
            Assert.That(h.Entries.Count, Is.EqualTo(1));
            Assert.That(Directory.Exists(Path.Combine(_dir, "UserSettings")), Is.False);
        }
    }
}
