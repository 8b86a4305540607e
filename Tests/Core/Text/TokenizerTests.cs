using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using NUnit.Framework;
using Sd3Tex.Json;
using Sd3Tex.Text;

namespace Sd3Tex.Tests.Text
{
    /// <summary>The SD3 tokenizers against the reference's token ids (<c>fixtures/tokenizer/cases.json</c>), both file
    /// layouts, both T5 file formats, the weight syntax, CLIP's window rule and the error messages.</summary>
    public sealed class TokenizerTests
    {
        static Sd3Tokenizer _shared;
        string _scratch;

        sealed class Case
        {
            public string Prompt;
            public long[] ClipL, ClipG, T5, ClipBpeOnly, T5UnigramOnly;
        }

        static string Tokenizers => Path.Combine(TestPaths.Shared, "tokenizers");

        static Sd3Tokenizer Shared => _shared ?? (_shared = Sd3Tokenizer.Load(Tokenizers));

        static List<Case> Cases()
        {
            var root = JsonValue.Parse(File.ReadAllText(TestPaths.Fixture("tokenizer", "cases.json")));
            long[] Ids(JsonValue c, string key) => c[key].Items.Select(v => v.AsLong).ToArray();
            return root["cases"].Items.Select(c => new Case
            {
                Prompt = c["prompt"].AsString,
                ClipL = Ids(c, "clip_l"),
                ClipG = Ids(c, "clip_g"),
                T5 = Ids(c, "t5xxl"),
                ClipBpeOnly = Ids(c, "clip_bpe_only"),
                T5UnigramOnly = Ids(c, "t5_unigram_only"),
            }).ToList();
        }

        [SetUp] public void SetUp() => _scratch = TestPaths.NewScratch("tokenizers");
        [TearDown] public void TearDown() => TestPaths.DeleteScratch(_scratch);

        static string Show(IEnumerable<long> ids) => "[" + string.Join(",", ids) + "]";

        static void AssertAll(IEnumerable<Case> cases, Func<Case, long[]> expected, Func<Case, long[]> actual, string what)
        {
            var failures = new List<string>();
            foreach (var c in cases)
            {
                long[] e = expected(c), a = actual(c);
                if (!e.SequenceEqual(a))
                    failures.Add($"{what} of \"{c.Prompt}\":\n  expected {Show(e)}\n  actual   {Show(a)}");
            }
            Assert.That(failures, Is.Empty, string.Join("\n", failures));
        }

        #region The reference's ids

        [Test]
        public void FixtureHasTheDocumentedCases()
        {
            var config = JsonValue.Parse(File.ReadAllText(TestPaths.Fixture("tokenizer", "config.json")));
            Assert.That(Cases().Count, Is.EqualTo(config["count"].AsLong));
            Assert.That(config["tolerance"].AsString, Is.EqualTo("exact"));
        }

        [Test]
        public void ClipLMatchesTheReference() => AssertAll(Cases(), c => c.ClipL, c => Shared.Tokenize(c.Prompt).ClipL, "clip_l");

        [Test]
        public void ClipGMatchesTheReference() => AssertAll(Cases(), c => c.ClipG, c => Shared.Tokenize(c.Prompt).ClipG, "clip_g");

        [Test]
        public void T5xxlMatchesTheReference() => AssertAll(Cases(), c => c.T5, c => Shared.Tokenize(c.Prompt).T5, "t5xxl");

        [Test]
        public void ClipBpeAloneMatchesTheReference() =>
            AssertAll(Cases(), c => c.ClipBpeOnly, c => Shared.ClipL.Encode(c.Prompt).Select(i => (long)i).ToArray(), "clip_bpe_only");

        [Test]
        public void T5UnigramAloneMatchesTheReference() =>
            AssertAll(Cases(), c => c.T5UnigramOnly, c => Shared.T5.Encode(c.Prompt).Select(i => (long)i).ToArray(), "t5_unigram_only");

        [Test]
        public void SpecialIdsAndShapes()
        {
            var t = Shared;
            Assert.That(t.ClipL.StartId, Is.EqualTo(49406));
            Assert.That(t.ClipL.EndId, Is.EqualTo(49407));
            Assert.That(t.ClipL.VocabSize, Is.EqualTo(49408));
            Assert.That(t.ClipL.MergeCount, Is.EqualTo(48894));
            Assert.That(t.ClipG, Is.SameAs(t.ClipL));
            Assert.That(t.T5.VocabSize, Is.EqualTo(32100));
            Assert.That(t.T5.EosId, Is.EqualTo(1));
            Assert.That(t.T5.PadId, Is.EqualTo(0));
            Assert.That(t.T5.UnkId, Is.EqualTo(2));
            foreach (var c in Cases())
            {
                var r = t.Tokenize(c.Prompt);
                Assert.That(r.ClipL.Length, Is.EqualTo(77));
                Assert.That(r.ClipG.Length, Is.EqualTo(77));
                Assert.That(r.T5.Length, Is.GreaterThanOrEqualTo(77));
            }
        }

        #endregion

        #region The tokenizers bundled with the package

        [Test]
        public void ThePackageBundlesTheSharedTokenizerFiles()
        {
            string bundled = PackageTokenizers.Find();
            Assert.That(bundled, Is.Not.Null, "the package's Tokenizers~ folder was not found");
            Assert.That(Path.GetFileName(bundled), Is.EqualTo(PackageTokenizers.FolderName));
            foreach (var f in new[] { "clip/vocab.json", "clip/merges.txt", "t5/spiece.model" })
                Assert.That(File.ReadAllBytes(Path.Combine(bundled, f)), Is.EqualTo(File.ReadAllBytes(Path.Combine(Tokenizers, f))), f);
            var t = PackageTokenizers.Load();
            Assert.That(PackageTokenizers.Load(), Is.SameAs(t), "loaded once");
            AssertAll(Cases(), c => c.ClipL, c => t.Tokenize(c.Prompt).ClipL, "clip_l (bundled)");
            AssertAll(Cases(), c => c.ClipG, c => t.Tokenize(c.Prompt).ClipG, "clip_g (bundled)");
            AssertAll(Cases(), c => c.T5, c => t.Tokenize(c.Prompt).T5, "t5xxl (bundled)");
        }

        [Test]
        public void WithoutAFolderTheBundledTokenizersAreUsedUnlessADiffusersFolderHasItsOwn()
        {
            string bundled = PackageTokenizers.Find();
            Assert.That(Sd3Tex.Generation.TextureGenerator.TokenizerFolder(null, new[] { "model.safetensors" }), Is.EqualTo(bundled));
            // a diffusers folder without tokenizer files (as written by save_pretrained without tokenizers)
            string bare = Path.Combine(_scratch, "bare");
            Directory.CreateDirectory(bare);
            File.WriteAllText(Path.Combine(bare, "model_index.json"), "{}");
            Assert.That(Sd3Tex.Generation.TextureGenerator.TokenizerFolder(null, new[] { bare }), Is.EqualTo(bundled));
            // one with them: its own take precedence
            string own = Path.Combine(_scratch, "own");
            Directory.CreateDirectory(Path.Combine(own, "tokenizer"));
            File.WriteAllText(Path.Combine(own, "model_index.json"), "{}");
            File.Copy(Path.Combine(Tokenizers, "clip", "vocab.json"), Path.Combine(own, "tokenizer", "vocab.json"));
            Assert.That(Sd3Tex.Generation.TextureGenerator.TokenizerFolder(null, new[] { bare, own }), Is.EqualTo(own));
            Assert.That(Sd3Tex.Generation.TextureGenerator.TokenizerFolder(Tokenizers, new[] { own }), Is.EqualTo(Tokenizers), "a folder given wins");
        }

        #endregion

        #region T5 from spiece.model

        [Test]
        public void SentencePieceModelGivesTheSameTokenizerAsTokenizerJson()
        {
            var fromJson = Shared.T5;
            var fromModel = T5Tokenizer.LoadSentencePieceModel(Path.Combine(Tokenizers, "t5", "spiece.model"));
            Assert.That(fromModel.VocabSize, Is.EqualTo(fromJson.VocabSize));
            for (int id = 0; id < fromJson.VocabSize; id++)
            {
                if (fromModel.IdToPiece(id) != fromJson.IdToPiece(id) || fromModel.Score(id) != fromJson.Score(id))
                    Assert.Fail($"piece {id}: \"{fromModel.IdToPiece(id)}\" {fromModel.Score(id)} vs \"{fromJson.IdToPiece(id)}\" {fromJson.Score(id)}");
            }
            Assert.That(fromModel.CharsMap.Bytes, Is.EqualTo(fromJson.CharsMap.Bytes));
            Assert.That(fromModel.EosId, Is.EqualTo(1));
            Assert.That(fromModel.UnkId, Is.EqualTo(2));
            var sd3 = new Sd3Tokenizer(Shared.ClipL, fromModel);
            AssertAll(Cases(), c => c.T5UnigramOnly, c => fromModel.Encode(c.Prompt).Select(i => (long)i).ToArray(), "t5_unigram_only (spiece.model)");
            AssertAll(Cases(), c => c.T5, c => sd3.Tokenize(c.Prompt).T5, "t5xxl (spiece.model)");
            foreach (var s in new[] { "<extra_id_0> x", "a</s>b", "ﬁne\tthing  " })
                Assert.That(fromModel.Encode(s), Is.EqualTo(fromJson.Encode(s)), s);
        }

        #endregion

        #region Folder layouts and errors

        string DiffusersFolder(bool withSpieceOnly = false)
        {
            string root = Path.Combine(_scratch, "sd3-diffusers");
            foreach (var sub in new[] { "tokenizer", "tokenizer_2" })
            {
                Directory.CreateDirectory(Path.Combine(root, sub));
                File.Copy(Path.Combine(Tokenizers, "clip", "vocab.json"), Path.Combine(root, sub, "vocab.json"));
                File.Copy(Path.Combine(Tokenizers, "clip", "merges.txt"), Path.Combine(root, sub, "merges.txt"));
            }
            Directory.CreateDirectory(Path.Combine(root, "tokenizer_3"));
            if (withSpieceOnly) File.Copy(Path.Combine(Tokenizers, "t5", "spiece.model"), Path.Combine(root, "tokenizer_3", "spiece.model"));
            else File.Copy(Path.Combine(Tokenizers, "t5", "tokenizer.json"), Path.Combine(root, "tokenizer_3", "tokenizer.json"));
            File.WriteAllText(Path.Combine(root, "model_index.json"), "{\"_class_name\": \"StableDiffusion3Pipeline\"}");
            return root;
        }

        [Test]
        public void LoadsADiffusersFolder()
        {
            var t = Sd3Tokenizer.Load(DiffusersFolder());
            Assert.That(t.ClipG, Is.SameAs(t.ClipL), "identical tokenizer_2 files are shared");
            AssertAll(Cases(), c => c.ClipL, c => t.Tokenize(c.Prompt).ClipL, "clip_l (diffusers)");
            AssertAll(Cases(), c => c.ClipG, c => t.Tokenize(c.Prompt).ClipG, "clip_g (diffusers)");
            AssertAll(Cases(), c => c.T5, c => t.Tokenize(c.Prompt).T5, "t5xxl (diffusers)");
        }

        [Test]
        public void LoadsADiffusersFolderWithSpieceModel()
        {
            var t = Sd3Tokenizer.Load(DiffusersFolder(withSpieceOnly: true));
            AssertAll(Cases(), c => c.T5, c => t.Tokenize(c.Prompt).T5, "t5xxl (diffusers, spiece.model)");
        }

        [Test]
        public void ADifferentTokenizer2IsLoadedForClipG()
        {
            string root = DiffusersFolder();
            File.AppendAllText(Path.Combine(root, "tokenizer_2", "merges.txt"), "\n");
            var t = Sd3Tokenizer.Load(root);
            Assert.That(t.ClipG, Is.Not.SameAs(t.ClipL));
            AssertAll(Cases(), c => c.ClipG, c => t.Tokenize(c.Prompt).ClipG, "clip_g (own tokenizer_2)");
        }

        [Test]
        public void MissingFilesNameTheFileAndWhereToGetIt()
        {
            string root = DiffusersFolder();
            File.Delete(Path.Combine(root, "tokenizer", "merges.txt"));
            var e = Assert.Throws<TokenizerFileNotFoundException>(() => Sd3Tokenizer.Load(root));
            Assert.That(e.FileName, Is.EqualTo(Path.Combine(root, "tokenizer", "merges.txt")));
            Assert.That(e.Message, Does.Contain(Path.Combine("tokenizer", "merges.txt")).And.Contain("stabilityai/stable-diffusion-3-medium-diffusers"));
            Assert.That(e, Is.InstanceOf<FileNotFoundException>());

            string root2 = Path.Combine(_scratch, "second");
            Directory.CreateDirectory(Path.Combine(root2, "tokenizer"));
            File.Copy(Path.Combine(Tokenizers, "clip", "vocab.json"), Path.Combine(root2, "tokenizer", "vocab.json"));
            File.Copy(Path.Combine(Tokenizers, "clip", "merges.txt"), Path.Combine(root2, "tokenizer", "merges.txt"));
            e = Assert.Throws<TokenizerFileNotFoundException>(() => Sd3Tokenizer.Load(root2));
            Assert.That(e.Message, Does.Contain(Path.Combine("tokenizer_3", "tokenizer.json")).And.Contain("spiece.model").And.Contain("tokenizer_3/"));

            string shared = Path.Combine(_scratch, "shared-layout");
            Directory.CreateDirectory(Path.Combine(shared, "clip"));
            e = Assert.Throws<TokenizerFileNotFoundException>(() => Sd3Tokenizer.Load(shared));
            Assert.That(e.Message, Does.Contain(Path.Combine("clip", "vocab.json")));

            string empty = Path.Combine(_scratch, "empty");
            Directory.CreateDirectory(empty);
            e = Assert.Throws<TokenizerFileNotFoundException>(() => Sd3Tokenizer.Load(empty));
            Assert.That(e.Message, Does.Contain("holds no tokenizer files").And.Contain("tokenizer_3/tokenizer.json"));

            e = Assert.Throws<TokenizerFileNotFoundException>(() => Sd3Tokenizer.Load(Path.Combine(_scratch, "nowhere")));
            Assert.That(e.Message, Does.Contain("tokenizer folder not found"));
        }

        [Test]
        public void MalformedFilesAreFormatErrors()
        {
            string bad = Path.Combine(_scratch, "bad.json");
            File.WriteAllText(bad, "{\"model\": {\"type\": \"BPE\"}}");
            var e = Assert.Throws<TokenizerFormatException>(() => T5Tokenizer.LoadTokenizerJson(bad));
            Assert.That(e.Message, Does.Contain("bad.json").And.Contain("Unigram"));
            File.WriteAllText(bad, "{not json");
            Assert.Throws<TokenizerFormatException>(() => T5Tokenizer.LoadTokenizerJson(bad));
            string model = Path.Combine(_scratch, "bad.model");
            File.WriteAllBytes(model, new byte[] { 0x0A, 0x50, 0x01 });
            Assert.Throws<TokenizerFormatException>(() => T5Tokenizer.LoadSentencePieceModel(model));
            Assert.Throws<TokenizerFormatException>(() => ClipTokenizer.FromText("[1,2]", "#version: 0.2\na b\n"));
            Assert.Throws<TokenizerFormatException>(() => ClipTokenizer.FromText("{\"<|startoftext|>\": 0, \"<|endoftext|>\": 1}", "#version: 0.2\na b c\n"));
        }

        #endregion

        #region SD3 rules

        [Test]
        public void LongPromptsKeepTheFirstClipWindowAndCountWhatWasDropped()
        {
            // word0..word9 are 2 tokens, word10..word39 3 tokens: 110 in all; words move whole, so 74 fit
            string prompt = string.Join(" ", Enumerable.Range(0, 40).Select(i => "word" + i));
            var r = Shared.Tokenize(prompt);
            Assert.That(r.ClipTokenCount, Is.EqualTo(110));
            Assert.That(r.DroppedClipTokens, Is.EqualTo(36));
            Assert.That(r.ClipL[75], Is.EqualTo(49407L));
            Assert.That(r.ClipL[76], Is.EqualTo(49407L), "the moved word leaves padding behind");
            Assert.That(r.ClipG[76], Is.EqualTo(0L));
            Assert.That(r.Warnings.Count, Is.EqualTo(2));
            Assert.That(r.Warnings[0], Does.Contain("36 tokens were dropped"));
            Assert.That(r.DroppedT5Characters, Is.EqualTo(prompt.Length - 226));
            Assert.That(r.Warnings[1], Does.Contain((prompt.Length - 226) + " characters were dropped"));
            // T5 is never cut to 77: 100 words "a" are 200 tokens (within 226 characters)
            var t5 = Shared.Tokenize(string.Join(" ", Enumerable.Repeat("a", 100))).T5;
            Assert.That(t5.Length, Is.EqualTo(201));
            Assert.That(t5[200], Is.EqualTo(1L));
        }

        [Test]
        public void LongWordsAreSplitAcrossTheWindow()
        {
            // 70 one-token words, then a 9-token word (>= 8 tokens): its first 5 tokens fill the window
            var big = Shared.ClipL.Encode("supercalifragilisticexpialidocious");
            Assert.That(big.Length, Is.EqualTo(9));
            string prompt = string.Join(" ", Enumerable.Repeat("a", 70)) + " supercalifragilisticexpialidocious";
            var r = Shared.Tokenize(prompt);
            Assert.That(r.ClipL.Skip(71).Take(5).ToArray(), Is.EqualTo(big.Take(5).Select(i => (long)i).ToArray()));
            Assert.That(r.ClipL[76], Is.EqualTo(49407L));
            Assert.That(r.ClipG[76], Is.EqualTo(49407L), "a split word ends the window with the end token, no padding");
            Assert.That(r.DroppedClipTokens, Is.EqualTo(4));
            // a 7-token word moves whole instead
            var seven = Shared.ClipL.Encode("antidisestablishmentarianism");
            Assume.That(seven.Length, Is.LessThan(8));
            var r2 = Shared.Tokenize(string.Join(" ", Enumerable.Repeat("a", 70)) + " antidisestablishmentarianism");
            Assert.That(r2.ClipL[71], Is.EqualTo(49407L));
            Assert.That(r2.DroppedClipTokens, Is.EqualTo(seven.Length));
            // exactly 75 tokens fit without loss
            var r3 = Shared.Tokenize(string.Join(" ", Enumerable.Repeat("a", 75)));
            Assert.That(r3.DroppedClipTokens, Is.EqualTo(0));
            Assert.That(r3.Warnings, Is.Empty);
            Assert.That(r3.ClipL[76], Is.EqualTo(49407L));
            Assert.That(Shared.Tokenize(string.Join(" ", Enumerable.Repeat("a", 76))).DroppedClipTokens, Is.EqualTo(1));
        }

        [Test]
        public void T5ReadsTheFirst226Characters()
        {
            string prompt = new string('x', 200) + " " + string.Join(" ", Enumerable.Repeat("cat", 20));
            var r = Shared.Tokenize(prompt);
            Assert.That(r.DroppedT5Characters, Is.EqualTo(prompt.Length - 226));
            Assert.That(r.Warnings.Any(w => w.Contains("226")), Is.True);
            var expected = Shared.T5.Encode(new string('x', 200)).Concat(Enumerable.Repeat(0, 6).SelectMany(_ => Shared.T5.Encode("cat")))
                .Concat(Shared.T5.Encode("c")).Select(i => (long)i).Concat(new[] { 1L }).ToList();
            while (expected.Count < 77) expected.Add(0);
            Assert.That(r.T5, Is.EqualTo(expected.ToArray()));
            // code points, not UTF-16 units: an emoji counts once
            string emoji = string.Concat(Enumerable.Repeat("\U0001F600", 230));
            Assert.That(Shared.Tokenize(emoji).DroppedT5Characters, Is.EqualTo(4));
        }

        [Test]
        public void WeightSyntaxIsParsedAndRemoved()
        {
            var p = PromptWeights.Parse("a (red:1.3) apple and ((green)) pear, \\(literally\\) (x:abc) (:2) (y:1_5) (open");
            var texts = p.Select(w => w.Text).ToArray();
            Assert.That(texts, Is.EqualTo(new[] { "a ", "red", " apple and ", "green", " pear, (literally) ", "x:abc", " ", ":2", " ", "y", " ", "(open" }));
            Assert.That(p[1].Weight, Is.EqualTo(1.3));
            Assert.That(p[3].Weight, Is.EqualTo(1.1 * 1.1).Within(1e-12));
            Assert.That(p[5].Weight, Is.EqualTo(1.1).Within(1e-12));
            Assert.That(p[7].Weight, Is.EqualTo(1.1).Within(1e-12), "':' at position 0 is not a weight");
            Assert.That(p[9].Weight, Is.EqualTo(15.0), "Python floats accept underscores");
            Assert.That(p[11].Weight, Is.EqualTo(1.0), "an unclosed '(' stays literal");
            Assert.That(PromptWeights.StripWeights("((a:0.5) b)"), Is.EqualTo("a b"));
            Assert.That(PromptWeights.Parse("(a:0.5) (b:inf) (c: -2e1 )").Select(w => w.Weight).Where(w => w != 1.0).ToArray(),
                Is.EqualTo(new[] { 0.5, double.PositiveInfinity, -20.0 }));
            Assert.That(PromptWeights.StripWeights("(a:1e) (b:.) (c:1__0)"), Is.EqualTo("a:1e b:. c:1__0"));
            Assert.That(PromptWeights.StripWeights("a)b(c)"), Is.EqualTo("a)b(c)"), "a stray ')' keeps the rest literal");
            Assert.That(PromptWeights.StripWeights(new string('(', 2000) + "deep" + new string(')', 2000)), Is.EqualTo("deep"));

            // the encoders see only the text
            var weighted = Shared.Tokenize("a (red:1.3) apple, ((shiny))");
            var plain = Shared.Tokenize("a red apple, shiny");
            Assert.That(weighted.ClipL, Is.EqualTo(plain.ClipL));
            Assert.That(weighted.T5, Is.EqualTo(plain.T5));
            // words are split at the weight brackets as well as at spaces
            Assert.That(Sd3Tokenizer.Words("a(b)c  d\ne"), Is.EqualTo(new[] { "a", "b", "c", "d", "e" }));
        }

        [Test]
        public void SpecialTokensWrittenInThePrompt()
        {
            Assert.That(Shared.ClipL.Encode("a <|endoftext|>b"), Is.EqualTo(new[] { 320, 49407 }.Concat(Shared.ClipL.Encode("b")).ToArray()));
            Assert.That(Shared.ClipL.Encode("<|STARTOFTEXT|>"), Is.EqualTo(new[] { 49406 }), "lower-cased, then matched by the pattern");
            Assert.That(Shared.T5.Encode("</s>"), Is.EqualTo(new[] { 1 }));
            Assert.That(Shared.T5.Encode("<extra_id_0>"), Is.EqualTo(new[] { 32099 }));
            var r = Shared.Tokenize("a </s>");
            Assert.That(r.T5.Take(4).ToArray(), Is.EqualTo(new long[] { 3, 9, 1, 1 }));
        }

        [Test]
        public void T5NormalisesLikeSentencePiece()
        {
            var t5 = Shared.T5;
            Assert.That(t5.Normalize("ﬁne"), Is.EqualTo("fine"));
            Assert.That(t5.Normalize("Ｆｕｌｌ"), Is.EqualTo("Full"));
            Assert.That(t5.Normalize("cafe\u0301"), Is.EqualTo("caf\u00e9"));
            Assert.That(t5.Normalize("a  b   "), Is.EqualTo("a\u2581b"));
            Assert.That(t5.Encode("cafe\u0301"), Is.EqualTo(t5.Encode("caf\u00e9")));
            Assert.That(t5.Encode("   "), Is.Empty);
            Assert.That(t5.Encode("\U0001F600\U0001F600"), Is.EqualTo(new[] { 3, 2 }), "unknown characters fuse into one <unk>");
        }

        [Test]
        public void ClipCleansAndLowerCases()
        {
            var clip = Shared.ClipL;
            Assert.That(clip.Encode("A  Photo\tOF\u00a0a\u200bcat"), Is.EqualTo(clip.Encode("a photo of acat")));
            Assert.That(clip.Encode("cafe\u0301"), Is.EqualTo(clip.Encode("caf\u00e9")));
            Assert.That(clip.Encode("123"), Is.EqualTo(clip.Encode("1 2 3")), "digits are single tokens");
            Assert.That(clip.Encode("  "), Is.Empty);
            Assert.That(clip.Encode("猫猫"), Is.EqualTo(clip.Encode("猫 猫")), "spaces around CJK ideographs");
        }

        [Test]
        public void LoadingAndTokenizingAreFast()
        {
            var sw = Stopwatch.StartNew();
            var t = Sd3Tokenizer.Load(Tokenizers);
            double loadMs = sw.Elapsed.TotalMilliseconds;
            sw.Restart();
            const int n = 50;
            for (int i = 0; i < n; i++) t.Tokenize("an astronaut riding a horse on the moon, highly detailed, 8k, trending on artstation");
            double tokenizeMs = sw.Elapsed.TotalMilliseconds / n;
            TestContext.WriteLine($"load {loadMs:F0} ms, tokenize {tokenizeMs:F3} ms per prompt");
            Assert.That(loadMs, Is.LessThan(10000));
            Assert.That(tokenizeMs, Is.LessThan(50));
        }

        #endregion
    }
}
