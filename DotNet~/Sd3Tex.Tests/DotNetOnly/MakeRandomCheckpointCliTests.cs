using System.Collections.Generic;
using System.IO;
using System.Linq;
using NUnit.Framework;
using Sd3Tex.Checkpoints;
using Sd3Tex.Cli;
using Sd3Tex.Json;
using Sd3Tex.Models;

namespace Sd3Tex.Tests.DotNetOnly;

/// <summary>`sd3tex make-random-checkpoint`: tiny checkpoints in every layout and dtype open, inspect as the tiny
/// fixtures' structure and pass every schema check; the full-size families are checked on their plan only (names,
/// shapes, bytes), never written; a tiny random checkpoint runs through encode, sample and decode.</summary>
public sealed class MakeRandomCheckpointCliTests
{
    string _dir;

    [SetUp] public void SetUp() => _dir = TestPaths.NewScratch("cli-random-checkpoint");
    [TearDown] public void TearDown() => TestPaths.DeleteScratch(_dir);

    static (int code, string stdout, string stderr) Run(params string[] args) => Cli.Run(args);

    static string Output(string dir, string layout) => layout == "single" ? Path.Combine(dir, "tiny.safetensors") : Path.Combine(dir, layout);

    [Test]
    public void TinyInEveryLayoutAndDType([Values("single", "separate", "diffusers")] string layout, [Values("f16", "bf16", "f32")] string dtype)
    {
        string output = Output(_dir, layout);
        var (code, stdout, stderr) = Run("make-random-checkpoint", "--family", "tiny", "--layout", layout, "--dtype", dtype, "--output", output);
        Assert.That(code, Is.EqualTo(0), stderr);
        Assert.That(stdout, Does.Contain("total ").And.Not.Contain("--clip-heads"), "nothing to pass: the files declare the CLIP heads");
        var files = Directory.Exists(output) ? Directory.GetFiles(output, "*", SearchOption.AllDirectories) : new[] { output };
        foreach (var f in files) Assert.That(stdout, Does.Contain(f), "every written path is printed");
        Assert.That(files.Where(f => f.Contains(".tmp-")), Is.Empty, "no temporary file is left");

        using (var ck = Checkpoint.Open(output))
        {
            Assert.That(ck.Unrecognized, Is.Empty);
            var report = CheckpointReport.Build(ck);
            var expectedDType = dtype == "f16" ? DType.F16 : dtype == "bf16" ? DType.BF16 : DType.F32;
            foreach (var c in RandomCheckpoint.AllComponents)
            {
                var part = report[c];
                Assert.That(part, Is.Not.Null, Checkpoint.KeyOf(c));
                Assert.That(part.Error, Is.Null, Checkpoint.KeyOf(c));
                Assert.That(part.Check.IsComplete, Is.True, $"{Checkpoint.KeyOf(c)}: missing {string.Join(", ", part.Check.Missing)}; {string.Join(", ", part.Check.WrongShape)}");
                Assert.That(part.Check.Unexpected, Is.Empty, Checkpoint.KeyOf(c));
                Assert.That(part.DTypes.Keys.Where(k => k != "I64"), Is.EqualTo(new[] { DTypes.Name(expectedDType) }), Checkpoint.KeyOf(c));
                // every planned tensor is there with its shape (the diffusers layout assembles them back)
                foreach (var t in RandomCheckpoint.ForFamily("tiny").Plan(new[] { c }, expectedDType))
                    Assert.That(ck[t.Name]?.Shape, Is.EqualTo(t.Shape), t.Name);
            }
        }

        var (icode, json, ierr) = Run("inspect", "--json", output);
        Assert.That(icode, Is.EqualTo(0), ierr);
        var j = JsonValue.Parse(json);
        Assert.That(j["family"].AsString, Is.EqualTo("unknown"), "tiny is not a released size");
        Assert.That(j["architecture"].AsString, Is.EqualTo("sd3-medium"));
        // the tiny fixtures' structure
        Assert.That(j["mmdit"]["depth"].AsLong, Is.EqualTo(2));
        Assert.That(j["mmdit"]["hidden_size"].AsLong, Is.EqualTo(128));
        Assert.That(j["mmdit"]["pos_embed_max_size"].AsLong, Is.EqualTo(16));
        Assert.That(j["mmdit"]["pooled_dim"].AsLong, Is.EqualTo(64));
        Assert.That(j["mmdit"]["context_dim"].AsLong, Is.EqualTo(96));
        Assert.That(j["clip_l"]["hidden_size"].AsLong, Is.EqualTo(24));
        Assert.That(j["clip_l"]["layers"].AsLong, Is.EqualTo(3));
        Assert.That(j["clip_l"]["vocab_size"].AsLong, Is.EqualTo(49408));
        Assert.That(j["clip_l"]["max_positions"].AsLong, Is.EqualTo(77));
        Assert.That(j["clip_g"]["hidden_size"].AsLong, Is.EqualTo(40));
        Assert.That(j["clip_g"]["projection_dim"].AsLong, Is.EqualTo(40));
        // the heads the weights cannot tell (widths 24 and 40 are not multiples of 64) are declared by the files
        Assert.That((j["clip_l"]["heads"].AsLong, j["clip_g"]["heads"].AsLong), Is.EqualTo((2L, 2L)));
        // one layout, the one written
        Assert.That(j["layouts"].Items.Select(i => i.AsString),
                    Is.EqualTo(new[] { layout == "single" ? "single-file" : layout == "separate" ? "separate-files" : "diffusers" }));
        Assert.That(j["t5xxl"]["hidden_size"].AsLong, Is.EqualTo(96));
        Assert.That(j["t5xxl"]["heads"].AsLong, Is.EqualTo(4));
        Assert.That(j["t5xxl"]["d_kv"].AsLong, Is.EqualTo(24));
        Assert.That(j["t5xxl"]["vocab_size"].AsLong, Is.EqualTo(32128));
        Assert.That(j["vae"]["base_channels"].AsLong, Is.EqualTo(32));
        Assert.That(j["vae"]["channel_mult"].ToJson(false), Is.EqualTo("[1,1,2,2]"));
        Assert.That(j["vae"]["has_encoder"].AsBool, Is.True);
        foreach (var key in new[] { "mmdit", "clip_l", "clip_g", "t5xxl", "vae" })
        {
            Assert.That(j[key]["missing"].Items, Is.Empty, key);
            Assert.That(j[key]["wrong_shape"].Items, Is.Empty, key);
        }
    }

    [Test]
    public void TheSameSeedGivesTheSameValuesAndComponentsMatchTheFullCheckpoint()
    {
        string full = Path.Combine(_dir, "full.safetensors"), again = Path.Combine(_dir, "again.safetensors");
        string other = Path.Combine(_dir, "other.safetensors"), some = Path.Combine(_dir, "some.safetensors");
        Assert.That(Run("make-random-checkpoint", "--family", "tiny", "--dtype", "f32", "--seed", "7", "--output", full).code, Is.EqualTo(0));
        Assert.That(Run("make-random-checkpoint", "--family", "tiny", "--dtype", "f32", "--seed", "7", "--output", again).code, Is.EqualTo(0));
        Assert.That(Run("make-random-checkpoint", "--family", "tiny", "--dtype", "f32", "--seed", "8", "--output", other).code, Is.EqualTo(0));
        var (code, _, stderr) = Run("make-random-checkpoint", "--family", "tiny", "--dtype", "f32", "--seed", "7", "--components", "vae,mmdit", "--output", some);
        Assert.That(code, Is.EqualTo(0), stderr);
        Assert.That(File.ReadAllBytes(again).SequenceEqual(File.ReadAllBytes(full)), Is.True, "deterministic from the seed");

        using var f = SafetensorsFile.Open(full);
        using var o = SafetensorsFile.Open(other);
        using var s = SafetensorsFile.Open(some);
        Assert.That(s.Tensors.All(t => t.Name.StartsWith(Checkpoint.MmditPrefix) || t.Name.StartsWith(Checkpoint.VaePrefix)), Is.True);
        Assert.That(s.Tensors.Count, Is.EqualTo(f.Tensors.Count(t => t.Name.StartsWith(Checkpoint.MmditPrefix) || t.Name.StartsWith(Checkpoint.VaePrefix))));
        foreach (var t in s.Tensors)
            Assert.That(System.MemoryExtensions.SequenceEqual(s.GetBytes(t), f.GetBytes(f[t.Name])), Is.True, t.Name);
        const string qkv = Checkpoint.MmditPrefix + "joint_blocks.0.x_block.attn.qkv.weight";
        Assert.That(System.MemoryExtensions.SequenceEqual(o.GetBytes(o[qkv]), f.GetBytes(f[qkv])), Is.False, "another seed, other values");

        // scaled like a fresh network: ±1/√fan_in for weights, norm weights near 1, finite everywhere
        var w = f.ReadFloats(f[qkv]);
        Assert.That(w.Max(System.Math.Abs), Is.LessThanOrEqualTo(1 / System.Math.Sqrt(128) + 1e-6));
        Assert.That(w.Select(x => (double)x * x).Average(), Is.GreaterThan(1.0 / 128 / 3 * 0.8), "uniform ±a has variance a²/3");
        var norm = f.ReadFloats(f[Checkpoint.T5Prefix + "encoder.final_layer_norm.weight"]);
        Assert.That(norm.All(x => x >= 0.9f && x <= 1.1f), Is.True);
        var ids = f.ReadInt64(f[Checkpoint.ClipLPrefix + "text_model.embeddings.position_ids"]);
        Assert.That(ids, Is.EqualTo(Enumerable.Range(0, 77).Select(i => (long)i).ToArray()));
    }

    [Test]
    public void NoT5AndComponentsChooseWhatIsWritten()
    {
        string noT5 = Path.Combine(_dir, "not5");
        var (code, stdout, stderr) = Run("make-random-checkpoint", "--family", "tiny", "--layout", "separate", "--dtype", "bf16", "--no-t5", "--output", noT5);
        Assert.That(code, Is.EqualTo(0), stderr);
        Assert.That(Directory.GetFiles(noT5).Select(Path.GetFileName).OrderBy(n => n),
                    Is.EqualTo(new[] { "clip_g.safetensors", "clip_l.safetensors", "sd3_model.safetensors", "vae.safetensors" }));
        Assert.That(stdout, Does.Contain("total "));

        string mmditOnly = Path.Combine(_dir, "mmdit");
        (code, _, stderr) = Run("make-random-checkpoint", "--family", "tiny", "--layout", "diffusers", "--dtype", "f16", "--components", "mmdit", "--output", mmditOnly);
        Assert.That(code, Is.EqualTo(0), stderr);
        using var ck = Checkpoint.Open(mmditOnly);
        Assert.That(RandomCheckpoint.AllComponents.Where(ck.Has), Is.EqualTo(new[] { Component.Mmdit }));
        Assert.That(CheckpointReport.Build(ck)[Component.Mmdit].Check.IsComplete, Is.True);
    }

    /// <summary>The plain C# reference: the tiny models run through it in seconds (ILGPU's CPU accelerator takes
    /// minutes here; the device paths are tested against the reference elsewhere).</summary>
    const string Device = "reference";

    [Test]
    public void ATinyRandomCheckpointRunsThroughThePipeline()
    {
        string ckpt = Path.Combine(_dir, "tiny.safetensors"), cond = Path.Combine(_dir, "cond.safetensors");
        string inputs = Path.Combine(_dir, "inputs.safetensors"), sampled = Path.Combine(_dir, "sampled.safetensors");
        string latent = Path.Combine(_dir, "latent.safetensors"), png = Path.Combine(_dir, "image.png");
        void Ok((int code, string stdout, string stderr) r) => Assert.That(r.code, Is.EqualTo(0), r.stderr);

        Ok(Run("make-random-checkpoint", "--family", "tiny", "--layout", "single", "--dtype", "bf16", "--seed", "3", "--output", ckpt));
        // nothing to pass: the bundled tokenizers, the CLIP heads the file declares
        Ok(Run("encode", "--weights", ckpt, "--prompt", "a mossy stone wall", "--device", Device, "--output", cond));
        using (var c = SafetensorsFile.Open(cond))
        {
            var w = new SafetensorsWriter();
            foreach (var name in new[] { "cond_context", "cond_pooled", "uncond_context", "uncond_pooled" })
            {
                var values = c.ReadFloats(c[name]);
                Assert.That(values.All(float.IsFinite), Is.True, name);
                Assert.That(values.Any(v => v != 0f), Is.True, name);
                w.AddFloats(name, DType.F32, c[name].Shape, values);
            }
            var rng = new System.Random(5);
            var noise = Enumerable.Range(0, 16 * 8 * 8).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
            w.AddFloats("noise", DType.F32, new long[] { 1, 16, 8, 8 }, noise);
            w.Write(inputs);
        }
        Ok(Run("sample", "--weights", ckpt, "--inputs", inputs, "--output", sampled, "--steps", "2", "--device", Device));
        using (var s = SafetensorsFile.Open(sampled))
        {
            var final = s.ReadFloats(s["final_latent"]);
            Assert.That(final.All(float.IsFinite), Is.True, "final latent");
            new SafetensorsWriter().AddFloats("latent", DType.F32, s["final_latent"].Shape, final).Write(latent);
        }
        Ok(Run("decode", "--weights", ckpt, "--latent", latent, "--output", png, "--device", Device));
        var image = Sd3Tex.Imaging.PngReader.Read(png);
        Assert.That((image.Width, image.Height), Is.EqualTo((64, 64)));
    }

    [TestCase("sd3-medium", 24, 1536, false, 0, 4.0e9, 4.3e9)]
    [TestCase("sd3.5-medium", 24, 1536, true, 13, 4.8e9, 5.1e9)]
    [TestCase("sd3.5-large", 38, 2432, true, 0, 16.0e9, 16.5e9)]
    public void FullSizeFamiliesArePlannedWithTheReleasedShapes(string family, int depth, int hidden, bool qkNorm, int dualBlocks, double minBytes, double maxBytes)
    {
        var model = RandomCheckpoint.ForFamily(family);
        var plan = model.Plan(RandomCheckpoint.AllComponents, DType.F16);
        Assert.That(plan.Select(t => t.Name), Is.Unique);
        IReadOnlyDictionary<string, long[]> Shapes(Component c) =>
            plan.Where(t => t.Component == c).ToDictionary(t => t.Name.Substring(Checkpoint.PrefixOf(c).Length), t => t.Shape);

        var mmdit = MmditConfig.Infer(Shapes(Component.Mmdit));
        Assert.That(ModelFamilies.Key(mmdit.Family), Is.EqualTo(family), "inspect would report the family");
        Assert.That((mmdit.Depth, mmdit.HiddenSize, mmdit.QkNorm, mmdit.DualAttentionBlocks.Length), Is.EqualTo((depth, hidden, qkNorm, dualBlocks)));
        Assert.That(SchemaCheck.Compare(Shapes(Component.Mmdit), mmdit.Tensors()).IsComplete, Is.True);
        long mmditBytes = plan.Where(t => t.Component == Component.Mmdit).Sum(t => t.Bytes);
        Assert.That(mmditBytes, Is.InRange((long)minBytes, (long)maxBytes), "MMDiT bytes in f16");

        var clipL = ClipConfig.Infer(Shapes(Component.ClipL), Component.ClipL);
        Assert.That((clipL.Layers, clipL.HiddenSize, clipL.Heads, clipL.ProjectionDim), Is.EqualTo((12, 768, (int?)12, (int?)768)));
        Assert.That(SchemaCheck.Compare(Shapes(Component.ClipL), clipL.Tensors()).IsComplete, Is.True);
        var clipG = ClipConfig.Infer(Shapes(Component.ClipG), Component.ClipG);
        Assert.That((clipG.Layers, clipG.HiddenSize, clipG.Heads, clipG.ProjectionDim), Is.EqualTo((32, 1280, (int?)20, (int?)1280)));
        Assert.That(SchemaCheck.Compare(Shapes(Component.ClipG), clipG.Tensors()).IsComplete, Is.True);
        var t5 = T5Config.Infer(Shapes(Component.T5xxl));
        Assert.That((t5.Layers, t5.DModel, t5.Heads, t5.DKv, t5.DFf, t5.VocabSize), Is.EqualTo((24, 4096, 64, 64, 10240, 32128)));
        Assert.That(SchemaCheck.Compare(Shapes(Component.T5xxl), t5.Tensors()).IsComplete, Is.True);
        long t5Bytes = plan.Where(t => t.Component == Component.T5xxl).Sum(t => t.Bytes);
        Assert.That(t5Bytes, Is.InRange(9.4e9, 9.6e9), "T5-XXL is 4.76 B parameters");
        var vae = VaeConfig.Infer(Shapes(Component.Vae));
        Assert.That((vae.BaseChannels, vae.ChannelMult, vae.LatentChannels, vae.HasEncoder), Is.EqualTo((128, new[] { 1, 2, 4, 4 }, 16, true)));
        Assert.That(SchemaCheck.Compare(Shapes(Component.Vae), vae.Tensors(), "encoder.").IsComplete, Is.True);
        // the LDM encoder as the released VAE has it (counted by hand: conv_in, 2 res blocks per level, 3 downsamples,
        // mid block with attention, norm_out, conv_out to 32 channels): 34.3 M of its 83.8 M parameters
        long encoder = plan.Where(t => t.Name.StartsWith(Checkpoint.VaePrefix + "encoder.")).Sum(t => t.ElementCount);
        Assert.That(encoder, Is.EqualTo(34_274_208));

        // the CLI's dry run says the same and writes nothing
        string output = Path.Combine(_dir, "never.safetensors");
        var (code, stdout, stderr) = Run("make-random-checkpoint", "--family", family, "--dtype", "f16", "--output", output, "--dry-run");
        Assert.That(code, Is.EqualTo(0), stderr);
        Assert.That(stdout, Does.Contain($"would write {plan.Count} tensors"));
        Assert.That(stdout, Does.Contain((mmditBytes / 1e9).ToString("0.00", System.Globalization.CultureInfo.InvariantCulture) + " GB"));
        Assert.That(File.Exists(output), Is.False);
    }

    [Test]
    public void BadOptionsGiveUsageErrors()
    {
        string o = Path.Combine(_dir, "x.safetensors");
        void Usage(string expected, params string[] args)
        {
            var (code, _, stderr) = Run(new[] { "make-random-checkpoint" }.Concat(args).ToArray());
            Assert.That(code, Is.EqualTo(2), string.Join(" ", args));
            Assert.That(stderr, Does.Contain(expected).And.Contain("sd3tex make-random-checkpoint --help"), string.Join(" ", args));
        }
        Usage("--family is required", "--output", o);
        Usage("--family must be tiny, sd3-medium, sd3.5-medium, sd3.5-large, not \"sd4\"", "--family", "sd4", "--output", o);
        Usage("--layout must be single, separate or diffusers", "--family", "tiny", "--layout", "ckpt", "--output", o);
        Usage("--dtype must be f16, bf16 or f32, not \"f8\"", "--family", "tiny", "--dtype", "f8", "--output", o);
        Usage("--output is required", "--family", "tiny");
        Usage("--seed: \"x\" is not an integer", "--family", "tiny", "--seed", "x", "--output", o);
        Usage("unknown component \"unet\"", "--family", "tiny", "--components", "mmdit,unet", "--output", o);
        Usage("--components needs at least one", "--family", "tiny", "--components", "--output", o);
        Usage("--no-t5 contradicts --components t5xxl", "--family", "tiny", "--components", "t5xxl", "--no-t5", "--output", o);
        Usage("must name a .safetensors file", "--family", "tiny", "--output", Path.Combine(_dir, "x.bin"));
        Usage("unknown option --famliy", "--famliy", "tiny", "--family", "tiny", "--output", o);
        Directory.CreateDirectory(Path.Combine(_dir, "full"));
        File.WriteAllText(Path.Combine(_dir, "full", "old.safetensors"), "x");
        Usage("is not empty", "--family", "tiny", "--layout", "separate", "--output", Path.Combine(_dir, "full"));
        Usage("is a folder", "--family", "tiny", "--output", Path.Combine(_dir, "full"));
        Assert.That(Run("make-random-checkpoint", "--help").stdout, Does.Contain("usage: sd3tex make-random-checkpoint"));
        Assert.That(File.Exists(o), Is.False);
    }
}
