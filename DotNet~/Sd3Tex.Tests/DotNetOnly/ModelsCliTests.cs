using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Security.Cryptography;
using System.Text;
using NUnit.Framework;
using Sd3Tex.Checkpoints;
using Sd3Tex.Imaging;
using Sd3Tex.Json;

namespace Sd3Tex.Tests.DotNetOnly;

/// <summary>
/// `sd3tex models` and `generate --model` on places built here with make-random-checkpoint's tiny weights, laid out as
/// users have them: a Hugging Face hub cache (refs/main, snapshots whose files are links into blobs/; a single-file repo
/// with text_encoders/ and a diffusers repo), a ComfyUI tree (models/checkpoints, diffusion_models, clip,
/// text_encoders, vae) and SD3TEX_MODELS folders (separate files, a diffusers folder, an incomplete and an ambiguous set).
/// </summary>
public sealed class ModelsCliTests
{
    string _root, _hub, _comfy, _folders;
    Dictionary<string, string> _env;
    static readonly RandomCheckpoint Tiny = RandomCheckpoint.ForFamily("tiny");

    static List<string> Write(string output, CheckpointLayout layout, DType dtype, params Component[] components)
        => CheckpointWriter.Write(Tiny.Tensors(components, dtype, 0), layout, output, Tiny.ClipHeads);

    /// <summary>One encoder or VAE file of the separate layout, under another name.</summary>
    static void WriteAs(string path, Component c, DType dtype = DType.F16)
    {
        string tmp = path + ".parts";
        var files = Write(tmp, CheckpointLayout.Separate, dtype, c);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.Move(files.Single(), path);
        Directory.Delete(tmp, true);
    }

    /// <summary>Moves every file of <paramref name="staging"/> into the repository's blobs/ (named by a hash, as the hub
    /// names them by their sha256) and links snapshots/<paramref name="rev"/>/… to it, as huggingface_hub does.</summary>
    static void Hubify(string repo, string rev, string staging)
    {
        string blobs = Path.Combine(repo, "blobs"), snapshot = Path.Combine(repo, "snapshots", rev);
        Directory.CreateDirectory(blobs);
        foreach (var f in Directory.GetFiles(staging, "*", SearchOption.AllDirectories))
        {
            string rel = Path.GetRelativePath(staging, f);
            string blob = Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(repo + rel))).ToLowerInvariant();
            File.Move(f, Path.Combine(blobs, blob));
            string link = Path.Combine(snapshot, rel);
            Directory.CreateDirectory(Path.GetDirectoryName(link)!);
            int depth = rel.Count(ch => ch == Path.DirectorySeparatorChar);
            File.CreateSymbolicLink(link, string.Concat(Enumerable.Repeat("../", depth + 2)) + "blobs/" + blob);
        }
        Directory.CreateDirectory(Path.Combine(repo, "refs"));
        File.WriteAllText(Path.Combine(repo, "refs", "main"), rev);
        Directory.Delete(staging, true);
    }

    [OneTimeSetUp]
    public void BuildThePlaces()
    {
        _root = TestPaths.NewScratch("cli-models");
        var all = RandomCheckpoint.AllComponents.ToArray();

        // Hugging Face hub cache: HF_HOME/hub
        _hub = Path.Combine(_root, "hf", "hub");
        string sd35 = Path.Combine(_hub, "models--stabilityai--stable-diffusion-3.5-medium");
        string staging = Path.Combine(_root, "staging");
        Write(Path.Combine(staging, "sd3.5_medium.safetensors"), CheckpointLayout.Single, DType.F16, Component.Mmdit, Component.Vae);
        WriteAs(Path.Combine(staging, "text_encoders", "clip_l.safetensors"), Component.ClipL);
        WriteAs(Path.Combine(staging, "text_encoders", "clip_g.safetensors"), Component.ClipG);
        WriteAs(Path.Combine(staging, "text_encoders", "t5xxl_fp16.safetensors"), Component.T5xxl);
        Hubify(sd35, "0123abcd", staging);
        // an older snapshot refs/main no longer points to
        Write(Path.Combine(staging, "stale_model.safetensors"), CheckpointLayout.Single, DType.F16, all);
        Hubify(sd35, "0000old", staging);
        File.WriteAllText(Path.Combine(sd35, "refs", "main"), "0123abcd");
        string sd3d = Path.Combine(_hub, "models--stabilityai--stable-diffusion-3-medium-diffusers");
        Write(staging, CheckpointLayout.Diffusers, DType.BF16, all);
        Hubify(sd3d, "feed42", staging);
        // another owner's repository is not SD3's
        Write(Path.Combine(_hub, "models--someone--other", "snapshots", "x", "model.safetensors"), CheckpointLayout.Single, DType.F16, all);

        // ComfyUI
        _comfy = Path.Combine(_root, "ComfyUI");
        string models = Path.Combine(_comfy, "models");
        Write(Path.Combine(models, "checkpoints", "sd3_tiny_incl_clips.safetensors"), CheckpointLayout.Single, DType.F16, all);
        Write(Path.Combine(models, "diffusion_models", "SD3", "sd3.5_tiny_dit.safetensors"), CheckpointLayout.Single, DType.F16, Component.Mmdit);
        WriteAs(Path.Combine(models, "clip", "clip_l.safetensors"), Component.ClipL);
        WriteAs(Path.Combine(models, "clip", "clip_g.safetensors"), Component.ClipG);
        WriteAs(Path.Combine(models, "text_encoders", "t5xxl_fp16.safetensors"), Component.T5xxl);
        WriteAs(Path.Combine(models, "text_encoders", "t5xxl_fp32.safetensors"), Component.T5xxl, DType.F32);
        WriteAs(Path.Combine(models, "vae", "sd3_vae.safetensors"), Component.Vae);
        File.WriteAllText(Path.Combine(models, "checkpoints", "broken.safetensors"), "not a checkpoint");
        new SafetensorsWriter().AddFloats("lora_unet_down.weight", DType.F16, new long[] { 2 }, new float[2]).Write(Path.Combine(models, "checkpoints", "a_lora.safetensors"));

        // SD3TEX_MODELS folders
        _folders = Path.Combine(_root, "models");
        Write(Path.Combine(_folders, "separate"), CheckpointLayout.Separate, DType.F16, all);
        Write(Path.Combine(_folders, "more", "tiny-diffusers"), CheckpointLayout.Diffusers, DType.F16, all);
        Write(Path.Combine(_folders, "lonely", "lonely_dit.safetensors"), CheckpointLayout.Single, DType.F16, Component.Mmdit);
        string twoT5 = Path.Combine(_folders, "two_t5");
        Write(Path.Combine(twoT5, "twin_dit.safetensors"), CheckpointLayout.Single, DType.F16, Component.Mmdit, Component.ClipL, Component.ClipG, Component.Vae);
        WriteAs(Path.Combine(twoT5, "t5_a.safetensors"), Component.T5xxl);
        WriteAs(Path.Combine(twoT5, "t5_b.safetensors"), Component.T5xxl);

        string folders = string.Join(Path.PathSeparator, new[] { "separate", "more", "lonely", "two_t5" }.Select(f => Path.Combine(_folders, f)));
        _env = new Dictionary<string, string>
        {
            ["HF_HOME"] = Path.Combine(_root, "hf"), ["HF_HUB_CACHE"] = null, ["COMFYUI_PATH"] = _comfy, [ModelSearch.ModelsVariable] = folders,
        };
    }

    [OneTimeTearDown] public void TearDown() => TestPaths.DeleteScratch(_root);

    (int code, string stdout, string stderr) Run(params string[] args) => Cli.Process(_env, _root, args);

    static JsonValue Named(JsonValue doc, string name) => doc["models"].Items.Single(m => m["name"].AsString == name);

    [Test]
    public void ModelsListsEveryPlaceWithItsComponents()
    {
        var (code, stdout, stderr) = Run("models", "--json");
        Assert.That(code, Is.EqualTo(0), stderr);
        var doc = JsonValue.Parse(stdout);
        var names = doc["models"].Items.Select(m => m["name"].AsString).ToList();
        Assert.That(names, Is.EquivalentTo(new[] { "sd3.5_medium", "stable-diffusion-3-medium-diffusers", "sd3_tiny_incl_clips", "sd3.5_tiny_dit",
                                                   "sd3_model", "tiny-diffusers", "lonely_dit", "twin_dit" }), "neither the stale snapshot nor another owner's repository");
        Assert.That(doc["searched"].Items.Select(s => s["source"].AsString), Is.EqualTo(new[] { "hf-hub", "comfyui", "folder", "folder", "folder", "folder" }));
        Assert.That(doc["warnings"].Items.Select(w => w.AsString), Has.Some.Contains("broken.safetensors"));

        // the hub: the snapshot refs/main names, through its links into blobs/
        var hf = Named(doc, "sd3.5_medium");
        Assert.That((hf["source"].AsString, hf["layout"].AsString, hf["complete"].AsBool, hf["dtype"].AsString), Is.EqualTo(("hf-hub", "separate-files", true, "F16")));
        Assert.That(hf["family"].AsString, Is.EqualTo("unknown"));
        Assert.That(hf["architecture"].AsString, Is.EqualTo("sd3-medium"));
        string snapshot = Path.Combine(_hub, "models--stabilityai--stable-diffusion-3.5-medium", "snapshots", "0123abcd");
        Assert.That(hf["path"].AsString, Is.EqualTo(Path.Combine(snapshot, "sd3.5_medium.safetensors")));
        Assert.That(hf["components"]["clip_g"]["path"].AsString, Is.EqualTo(Path.Combine(snapshot, "text_encoders", "clip_g.safetensors")));
        Assert.That(hf["components"]["vae"]["inside"].AsBool, Is.True, "the VAE inside the single file");
        Assert.That(hf["weights"].Items.Select(w => w.AsString), Is.EqualTo(new[]
        {
            Path.Combine(snapshot, "sd3.5_medium.safetensors"), "clip_l=" + Path.Combine(snapshot, "text_encoders", "clip_l.safetensors"),
            "clip_g=" + Path.Combine(snapshot, "text_encoders", "clip_g.safetensors"), Path.Combine(snapshot, "text_encoders", "t5xxl_fp16.safetensors"),
        }));
        long expected = Tiny.Plan(RandomCheckpoint.AllComponents, DType.F16).Sum(t => t.Bytes);
        Assert.That(hf["size_bytes"].AsLong, Is.EqualTo(expected));
        var diff = Named(doc, "stable-diffusion-3-medium-diffusers");
        Assert.That((diff["layout"].AsString, diff["dtype"].AsString, diff["complete"].AsBool), Is.EqualTo(("diffusers", "BF16", true)));

        // ComfyUI: the encoders from models/clip and models/text_encoders, the VAE from models/vae; the more precise T5
        var dit = Named(doc, "sd3.5_tiny_dit");
        Assert.That(dit["complete"].AsBool, Is.True, dit.ToJson(true));
        Assert.That(dit["components"]["t5xxl"]["path"].AsString, Is.EqualTo(Path.Combine(_comfy, "models", "text_encoders", "t5xxl_fp32.safetensors")));
        Assert.That(dit["components"]["vae"]["path"].AsString, Is.EqualTo(Path.Combine(_comfy, "models", "vae", "sd3_vae.safetensors")));
        Assert.That(dit["notes"].Items.Select(n => n.AsString), Has.Some.Contains("t5xxl_fp32.safetensors (F32) chosen over t5xxl_fp16.safetensors (F16)"));
        Assert.That(Named(doc, "sd3_tiny_incl_clips")["layout"].AsString, Is.EqualTo("single-file"));
        Assert.That(Named(doc, "sd3_tiny_incl_clips")["components"]["clip_l"]["inside"].AsBool, Is.True);

        // folders: separate files beside each other, a diffusers folder; an incomplete and an ambiguous set
        Assert.That(Named(doc, "sd3_model")["complete"].AsBool, Is.True);
        Assert.That(Named(doc, "tiny-diffusers")["complete"].AsBool, Is.True);
        var lonely = Named(doc, "lonely_dit");
        Assert.That((lonely["complete"].AsBool, lonely["missing"].Items.Select(m => m.AsString)), Is.EqualTo((false, new[] { "clip_l", "clip_g", "vae" })));
        var twin = Named(doc, "twin_dit");
        Assert.That(twin["ambiguous"]["t5xxl"].Items.Select(p => Path.GetFileName(p.AsString)), Is.EqualTo(new[] { "t5_a.safetensors", "t5_b.safetensors" }));

        // the table
        var (tcode, text, _) = Run("models");
        Assert.That(tcode, Is.EqualTo(0));
        Assert.That(text, Does.Contain("8 model(s)").And.Contain("sd3.5_tiny_dit").And.Contain("cannot be used: no CLIP-L, no CLIP-G, no VAE was found"));
    }

    [Test]
    public void GenerateUsesANamedModelAndSaysWhatIsWrongOtherwise()
    {
        string png = Path.Combine(_root, "hub.png");
        // a unique prefix, from the hub cache
        var (code, stdout, stderr) = Run("generate", "--model", "sd3.5_med", "--prompt", "mossy stone", "--width", "32", "--height", "32", "--steps", "2",
                                         "--device", "cpu", "--output", png);
        Assert.That(code, Is.EqualTo(0), stderr);
        Assert.That(stderr, Does.Contain("model sd3.5_medium (hf-hub)"));
        Assert.That(PngReader.Read(png).Width, Is.EqualTo(32));
        Assert.That(GenerationParameters.FromPng(PngReader.Read(png)).Model, Is.EqualTo("sd3.5_medium"));

        // ComfyUI named by --comfyui (no environment)
        string png2 = Path.Combine(_root, "comfy.png");
        var env = new Dictionary<string, string> { ["HF_HOME"] = Path.Combine(_root, "nowhere"), ["HF_HUB_CACHE"] = null, ["COMFYUI_PATH"] = null, [ModelSearch.ModelsVariable] = null };
        (code, _, stderr) = Cli.Process(env, _root, "generate", "--model", "sd3.5_tiny_dit", "--comfyui", _comfy, "--prompt", "x", "--width", "32", "--height", "32",
                                         "--steps", "1", "--device", "cpu", "--output", png2);
        Assert.That(code, Is.EqualTo(0), stderr);
        Assert.That(File.Exists(png2), Is.True);

        // a name matching several, an unknown name, an incomplete and an ambiguous set: exit 1, what to do, no PNG
        string none = Path.Combine(_root, "none.png");
        (code, _, stderr) = Run("generate", "--model", "sd3", "--prompt", "x", "--output", none);
        Assert.That((code, stderr), Is.EqualTo((1, stderr)));
        Assert.That(stderr, Does.Contain("\"sd3\" matches").And.Contain("sd3.5_medium").And.Contain("sd3_model").And.Contain("--weights"));
        (code, _, stderr) = Run("generate", "--model", "flux", "--prompt", "x", "--output", none);
        Assert.That(stderr, Does.Contain("no model named \"flux\"").And.Contain("Found: "));
        (code, _, stderr) = Run("generate", "--model", "lonely", "--prompt", "x", "--output", none);
        Assert.That(code, Is.EqualTo(1));
        Assert.That(stderr, Does.Contain("lonely_dit").And.Contain("no CLIP-L, no CLIP-G, no VAE was found"));
        (code, _, stderr) = Run("generate", "--model", "twin_dit", "--prompt", "x", "--output", none);
        Assert.That(stderr, Does.Contain("2 T5-XXL files fit equally").And.Contain("t5_a.safetensors").And.Contain("t5_b.safetensors"));
        (code, _, stderr) = Run("generate", "--model", "twin_dit", "--weights", "x.safetensors", "--prompt", "x", "--output", none);
        Assert.That((code, stderr.Contains("not both")), Is.EqualTo((2, true)));
        Assert.That(File.Exists(none), Is.False);
    }

    [Test]
    public void ABakeManifestMayNameAModel()
    {
        string dir = Path.Combine(_root, "bake");
        Directory.CreateDirectory(dir);
        string manifest = Path.Combine(dir, "m.json");
        File.WriteAllText(manifest, "{\"model\": \"sd3_tiny_incl\", \"output\": \"textures\", \"device\": \"cpu\", \"defaults\": {\"steps\": 1, \"width\": 32, \"height\": 32}," +
                                    " \"textures\": [{\"name\": \"a\", \"prompt\": \"x\", \"seed\": 1}]}");
        var (code, _, stderr) = Run("bake", manifest);
        Assert.That(code, Is.EqualTo(0), stderr);
        Assert.That(File.Exists(Path.Combine(dir, "textures", "a.png")), Is.True);
        Assert.That(Run("bake", manifest).stderr, Does.Contain("up to date"));
    }

    [Test]
    public void ListingReadsHeadersOnly()
    {
        long before = SafetensorsFile.MapsCreated;
        var catalog = ModelCatalog.Scan(ModelSearch.FromEnvironment(getVariable: v => _env.TryGetValue(v, out var x) ? x : null));
        Assert.That(catalog.Models.Count, Is.EqualTo(8));
        Assert.That(catalog.FilesRead, Is.GreaterThanOrEqualTo(20));
        Assert.That(SafetensorsFile.MapsCreated, Is.EqualTo(before), "no file was memory-mapped");
        // and a header-only checkpoint cannot read data
        using var ck = Checkpoint.OpenHeaders(new[] { Path.Combine(_comfy, "models", "vae", "sd3_vae.safetensors") });
        Assert.That(() => ck.Weights.Values.First().ReadFloats(), Throws.InvalidOperationException);
    }
}
