using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using NUnit.Framework;
using Sd3Tex.Encoders;
using Sd3Tex.Generation;
using Sd3Tex.Imaging;
using Sd3Tex.Models;
using Sd3Tex.Sampling;
using Sd3Tex.Vae;

namespace Sd3Tex.Tests.Generation
{
    /// <summary>The tiny models with the VAE that has an encoder (vae-encoder-tiny), and test pictures.</summary>
    public static class Img2ImgFixture
    {
        public const string Fx = "img2img-tiny";

        public static GeneratorOptions Options(string device)
        {
            var o = PipelineTinyTests.TinyOptions(device);
            o.Weights = o.Weights.Select(w => w.Contains("vae-tiny") ? TestPaths.Fixture("vae-encoder-tiny", "model.safetensors") : w).ToList();
            return o;
        }

        /// <summary>The fixture's init picture (96 × 64).</summary>
        public static ImageRgba8 InitImage()
        {
            using var f = Sd3Tex.Checkpoints.SafetensorsFile.Open(TestPaths.Fixture(Fx, "inputs.safetensors"));
            var t = f["init_image_uint8"];
            return Sd3Tex.Tests.Vae.EncoderFixture.FromPlanar(f.GetBytes(t).ToArray(), 96, 64);
        }

        /// <summary>A picture that does not tile: a horizontal ramp, a vertical one in green, a little noise.</summary>
        public static ImageRgba8 Ramp(int w, int h, int seed = 1)
        {
            var r = new Random(seed);
            var img = new ImageRgba8(w, h);
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++)
                {
                    img[x, y, 0] = (byte)(20 + 200 * x / (w - 1) + r.Next(4));
                    img[x, y, 1] = (byte)(40 + 150 * y / (h - 1) + r.Next(4));
                    img[x, y, 2] = (byte)(90 + r.Next(8));
                    img[x, y, 3] = 255;
                }
            return img;
        }

        /// <summary>A mask whose left <paramref name="white"/> columns are white (repaint), the rest black.</summary>
        public static ImageRgba8 LeftMask(int w, int h, int white)
        {
            var m = new ImageRgba8(w, h);
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++)
                {
                    byte v = x < white ? (byte)255 : (byte)0;
                    m[x, y, 0] = m[x, y, 1] = m[x, y, 2] = v;
                    m[x, y, 3] = 255;
                }
            return m;
        }

        public static double MeanAbs(float[] a, float[] b)
        {
            double s = 0;
            for (int i = 0; i < a.Length; i++) s += Math.Abs(a[i] - b[i]);
            return s / a.Length;
        }
    }

    /// <summary>img2img-tiny through the public API: the reference's schedule (first int(5 × 0.4) = 2 sigmas dropped),
    /// the start noise·σ₀ + (1 − σ₀)·latent, the encoder's mean as the init latent, CFG Euler, the decoded image.</summary>
    [TestFixture("reference")]
    [TestFixture("cpu")]
    public sealed class Img2ImgFixtureTests
    {
        readonly string _device;
        public Img2ImgFixtureTests(string device) { _device = device; }

        [Test]
        public void ReproducesTheImg2ImgFixtureThroughThePublicApi()
        {
            const string Fx = Img2ImgFixture.Fx;
            using var gen = TextureGenerator.Open(Img2ImgFixture.Options(_device));
            Assert.That(gen.HasVaeEncoder, Is.True);
            var request = new GenerationRequest
            {
                Prompt = "red bricks", NegativePrompt = "", Width = 96, Height = 64, Steps = 5, Cfg = 4f, Shift = 3f, Sampler = SamplerKind.Euler,
                InitImage = Img2ImgFixture.InitImage(), Strength = 0.6f, InitialNoise = Golden.Floats(Fx, "inputs.safetensors", "noise"),
                CaptureIntermediates = true,
            };
            var result = gen.Generate(request);
            TestContext.Progress.WriteLine($"  img2img-tiny on {gen.DeviceDescription}: {result.Timings}");
            var image = result.Images[0];
            var cap = image.Intermediates;
            Golden.AssertClose(Golden.Floats(Fx, "golden.safetensors", "sigmas"), cap.Sigmas, 1e-6, "sigmas");
            Assert.That(cap.Sigmas.Length, Is.EqualTo(4), "5 steps at strength 0.6 keep the last 3 (4 sigmas)");
            Assert.That(cap.LatentsPerStep.Count, Is.EqualTo(3));
            Golden.AssertClose(Golden.Floats(Fx, "golden.safetensors", "init_latent"), cap.InitLatent, 2e-4, "init_latent");
            Golden.AssertClose(Golden.Floats(Fx, "golden.safetensors", "final_latent"), cap.FinalLatent, 2e-4, "final_latent");
            Golden.AssertClose(Golden.Floats(Fx, "golden.safetensors", "image"), image.Decoded.Data, 5e-4, "image");
            var expected = Sd3Tex.Tests.Encoders.EncoderFixtures.Int64(Fx, "golden.safetensors", "image_uint8");
            var planar = image.Image.ToPlanar(3);
            int worst = 0;
            for (int i = 0; i < expected.Length; i++) worst = Math.Max(worst, Math.Abs((int)expected[i] - planar[i]));
            Assert.That(worst, Is.LessThanOrEqualTo(1), "image_uint8 off by more than 1");
            Assert.That(image.Parameters.Extra, Does.Contain(new KeyValuePair<string, string>("Denoising strength", "0.6")));
        }
    }

    /// <summary>Image-to-image, inpainting, variations, skip-layer guidance and make-seamless on the tiny models
    /// (managed CPU backend: each generation takes a fraction of a second).</summary>
    public sealed class ImageToImageTests
    {
        static TextureGenerator _gen;

        [OneTimeSetUp]
        public void Open() => _gen = TextureGenerator.Open(Img2ImgFixture.Options("cpu"));

        [OneTimeTearDown]
        public void Close() => _gen?.Dispose();

        static GenerationRequest Small(long seed = 5) => new GenerationRequest
        {
            Prompt = "mossy brick wall", Seed = seed, Width = 64, Height = 32, Steps = 5, Cfg = 4f, Shift = 3f, Sampler = SamplerKind.Euler,
            CaptureIntermediates = true,
        };

        [Test]
        public void StrengthOneEqualsTextToImageFromTheSameNoise()
        {
            var txt = _gen.Generate(Small()).Images[0];
            var r = Small();
            r.InitImage = Img2ImgFixture.Ramp(64, 32);
            r.Strength = 1f;
            var img = _gen.Generate(r).Images[0];
            // sigma0 = 1 exactly, so the start is the noise itself and the image's latent has no weight
            Assert.That(img.Intermediates.Sigmas, Is.EqualTo(txt.Intermediates.Sigmas));
            Assert.That(img.Intermediates.FinalLatent, Is.EqualTo(txt.Intermediates.FinalLatent));
            Assert.That(img.Image.Pixels, Is.EqualTo(txt.Image.Pixels));
        }

        [Test]
        public void SmallStrengthStaysCloseToTheInput()
        {
            // the tiny VAE's random weights make decode(encode(x)) unlike x, so closeness is measured where it is defined:
            // the final latent against the init latent, and the image against the decoded init latent (the round trip)
            var init = Img2ImgFixture.Ramp(64, 32, 3);
            var dist = new Dictionary<float, (double latent, double image)>();
            float[] roundTrip = null;
            foreach (float s in new[] { 0.2f, 0.6f, 1f })
            {
                var r = Small();
                r.InitImage = init;
                r.Strength = s;
                var g = _gen.Generate(r).Images[0];
                var cap = g.Intermediates;
                if (roundTrip == null)
                {
                    using var ck = Sd3Tex.Checkpoints.Checkpoint.Open(TestPaths.Fixture("vae-encoder-tiny", "model.safetensors"));
                    using var device = Sd3Tex.Kernels.ComputeDevice.CreateManagedCpu();
                    using var dec = new VaeDecoder(ck.ComponentWeights(Sd3Tex.Checkpoints.Component.Vae), device);
                    roundTrip = dec.Decode(cap.InitLatent, 1, 4, 8).Data;
                }
                dist[s] = (Img2ImgFixture.MeanAbs(cap.InitLatent, cap.FinalLatent), Img2ImgFixture.MeanAbs(roundTrip, g.Decoded.Data));
                TestContext.Progress.WriteLine($"  strength {s}: {cap.Sigmas.Length - 1} steps; mean |final − init latent| {dist[s].latent:0.000}, " +
                                               $"mean |image − decode(init latent)| {dist[s].image:0.000}");
            }
            // measured: latent 0.016 / 1.30 / 1.65, image 0.020 / 0.52 / 0.53 (strength 0.2 / 0.6 / 1: 1, 3 and 5 steps)
            Assert.That(dist[0.2f].latent, Is.LessThan(0.25 * dist[1f].latent));
            Assert.That(dist[0.2f].image, Is.LessThan(0.25 * dist[1f].image));
            Assert.That(dist[0.2f].latent, Is.LessThan(dist[0.6f].latent));
            Assert.That(dist[0.6f].latent, Is.LessThan(dist[1f].latent));
        }

        [Test]
        public void InpaintingKeepsTheUnmaskedPixelsExactly([Values(0, 6)] int blur)
        {
            var init = Img2ImgFixture.Ramp(64, 32, 7);
            var r = Small();
            r.InitImage = init;
            r.Strength = 1f;
            r.Mask = Img2ImgFixture.LeftMask(64, 32, 24);
            r.MaskBlur = blur;
            var g = _gen.Generate(r).Images[0];
            int changedInside = 0, changedOutside = 0;
            for (int y = 0; y < 32; y++)
                for (int x = 0; x < 64; x++)
                    for (int c = 0; c < 4; c++)
                    {
                        bool same = g.Image[x, y, c] == init[x, y, c];
                        if (x >= 24 && !same) changedOutside++;
                        if (x < 24 - blur && c < 3 && !same) changedInside++;
                    }
            Assert.That(changedOutside, Is.EqualTo(0), "every pixel the mask leaves black is the input's");
            Assert.That(changedInside, Is.GreaterThan(24 * 32), "the white part is repainted");
            // the latent: cells of columns 3 and up (pixels 24 and up) hold no white pixel, so after the last step
            // (sigma 0) they are the init latent exactly
            var cap = g.Intermediates;
            Assert.That(cap.LatentMask.Take(8).ToArray(), Is.EqualTo(new[] { 1f, 1f, 1f, 0f, 0f, 0f, 0f, 0f }));
            for (int ch = 0; ch < 16; ch++)
                for (int y = 0; y < 4; y++)
                    for (int x = 3; x < 8; x++)
                    {
                        int i = (ch * 4 + y) * 8 + x;
                        Assert.That(cap.FinalLatent[i], Is.EqualTo(cap.InitLatent[i]), $"latent [{ch}, {y}, {x}]");
                    }
            // every pixel lies between the input's and the decoder's (the composite); with feathering some lie strictly between
            var decoded = ImageRgba8.FromVaeImage(cap.Uncomposited);
            int between = 0;
            for (int y = 0; y < 32; y++)
                for (int x = 0; x < 64; x++)
                    for (int c = 0; c < 3; c++)
                    {
                        int v = g.Image[x, y, c], a = init[x, y, c], d = decoded[x, y, c];
                        Assert.That(v, Is.InRange(Math.Min(a, d) - 1, Math.Max(a, d) + 1), $"({x}, {y}, {c})");
                        if (v != a && Math.Abs(v - d) > 1) between++;
                    }
            if (blur == 0) Assert.That(between, Is.EqualTo(0), "a hard edge: decoded inside, input outside");
            else Assert.That(between, Is.GreaterThan(32), "the fade inside the white area's edge");
        }

        [Test]
        public void FeatheringIsInwardAndSoft()
        {
            var m = InpaintMask.FromImage(Img2ImgFixture.LeftMask(40, 4, 20));
            var f = InpaintMask.Feather(m, 40, 4, 8);
            for (int x = 20; x < 40; x++) Assert.That(f[x], Is.EqualTo(0f), $"column {x} outside stays 0");
            Assert.That(f[0], Is.EqualTo(1f).Within(1e-6), "far inside stays 1");
            for (int x = 1; x < 20; x++) Assert.That(f[x], Is.LessThanOrEqualTo(f[x - 1] + 1e-6f), "monotone fade");
            Assert.That(f[16], Is.GreaterThan(0f).And.LessThan(1f), "soft inside the edge");
            // on a circular axis the fade wraps: the white columns 0 .. 19 also fade towards column 39
            var wrapped = InpaintMask.Feather(m, 40, 4, 8, SeamlessAxes.X);
            Assert.That(wrapped[0], Is.LessThan(1f));
            // the latent grid takes each cell's maximum: every cell with a white pixel is repainted
            Assert.That(InpaintMask.ToLatent(m, 40, 4, 4).Take(6).ToArray(), Is.EqualTo(new[] { 1f, 1f, 1f, 1f, 1f, 0f }));
            Assert.That(InpaintMask.ToLatent(InpaintMask.FromImage(Img2ImgFixture.LeftMask(40, 4, 21)), 40, 4, 4)[5], Is.EqualTo(1f));
        }

        [Test]
        public void VariationsAreImageToImageWithSuccessiveSeeds()
        {
            var init = Img2ImgFixture.Ramp(64, 32, 9);
            var r = Small(40);
            r.InitImage = init;
            r.Strength = 0.6f;
            r.Count = 3;
            var batch = _gen.Generate(r);
            Assert.That(batch.Images.Select(i => i.Seed), Is.EqualTo(new long[] { 40, 41, 42 }));
            var one = Small(41);
            one.InitImage = init;
            one.Strength = 0.6f;
            Assert.That(_gen.Generate(one).Images[0].Image.Pixels, Is.EqualTo(batch.Images[1].Image.Pixels), "variation 1 is seed 41 alone");
            Assert.That(batch.Images[0].Image.Pixels, Is.Not.EqualTo(batch.Images[1].Image.Pixels));
        }

        static Sd3Conditioning RandomCond(int tokens, int seed)
        {
            var r = new Random(seed);
            var ctx = new float[tokens * 96];
            var pooled = new float[64];
            for (int i = 0; i < ctx.Length; i++) ctx[i] = (float)(r.NextDouble() * 2 - 1);
            for (int i = 0; i < pooled.Length; i++) pooled[i] = (float)(r.NextDouble() * 2 - 1);
            return new Sd3Conditioning(1, tokens, 96, ctx, 64, pooled);
        }

        [Test]
        public void SkipLayerGuidanceChangesOnlyTheGuidedSteps()
        {
            // the denoiser alone: 5 steps, start 0.01, end 0.5 → steps i with 0.05 < i < 2.5 are guided: 1 and 2
            using var ck = Sd3Tex.Checkpoints.Checkpoint.Open(TestPaths.Fixture("mmdit-tiny-sd3m", "model.safetensors"));
            var model = new Sd3Tex.Reference.ReferenceMmdit(ck.ComponentWeights(Sd3Tex.Checkpoints.Component.Mmdit));
            var calls = new List<int>();
            var counting = new CountingModel(model, calls);
            var cond = RandomCond(7, 1);
            var uncond = RandomCond(7, 2);
            var slg = new SkipLayerGuidance { Layers = new[] { 1 }, Scale = 2.5f, Start = 0.01f, End = 0.5f };
            Assert.That(Enumerable.Range(0, 5).Where(i => slg.IsGuidedStep(i, 5)), Is.EqualTo(new[] { 1, 2 }));
            var plain = TextureGenerator.Guided(counting, cond, uncond, 4f, 4, 4);
            var guided = TextureGenerator.Guided(counting, cond, uncond, 4f, 4, 4, slg, 5);
            var x = KernelAssert.Random(16 * 16, 3);
            var sigmas = new FlowSchedule(3f).Sigmas(5);
            for (int i = 0; i < 5; i++)
            {
                calls.Clear();
                var a = plain(x, sigmas[i]);
                int plainCalls = calls.Count;
                calls.Clear();
                var b = guided(x, sigmas[i]);
                bool isGuided = i == 1 || i == 2;
                Assert.That(calls.Count, Is.EqualTo(plainCalls + (isGuided ? 1 : 0)), $"step {i}: a third pass only when guided");
                if (isGuided)
                {
                    Assert.That(calls.Last(), Is.EqualTo(1), "the third pass is the cond input alone (batch 1)");
                    Assert.That(Golden.MaxAbsDiff(a, b), Is.GreaterThan(1e-3), $"step {i} is guided");
                }
                else Assert.That(b, Is.EqualTo(a), $"step {i} is not guided");
            }

            // through the pipeline: the latent after step 0 is the same, from step 1 on it differs
            var r = Small();
            var off = _gen.Generate(r).Images[0].Intermediates.LatentsPerStep;
            r.SkipLayerGuidance = slg;
            var on = _gen.Generate(r).Images[0];
            Assert.That(on.Intermediates.LatentsPerStep[0], Is.EqualTo(off[0]));
            Assert.That(Golden.MaxAbsDiff(off[1], on.Intermediates.LatentsPerStep[1]), Is.GreaterThan(1e-4));
            Assert.That(on.Parameters.Extra.Any(kv => kv.Key == "Skip layer guidance" && kv.Value.Contains("layers 1")), Is.True);
        }

        sealed class CountingModel : IMmditModel
        {
            readonly IMmditModel _inner;
            readonly List<int> _batches;
            public CountingModel(IMmditModel inner, List<int> batches) { _inner = inner; _batches = batches; }
            public MmditConfig Config => _inner.Config;
            public float[] Forward(float[] x, int batch, int height, int width, float[] timestep, float[] y, float[] context, int contextTokens,
                                   ICollection<int> skipBlocks = null)
            {
                _batches.Add(skipBlocks == null ? 2 * batch : batch);
                return _inner.Forward(x, batch, height, width, timestep, y, context, contextTokens, skipBlocks);
            }
            public void Dispose() { }
        }

        [Test]
        public void MakeSeamlessLowersTheSeamMetric()
        {
            var input = Img2ImgFixture.Ramp(64, 48, 11);
            var result = _gen.MakeSeamless(new MakeSeamlessRequest
            {
                Image = input, Axes = SeamlessAxes.X, Prompt = "stone", Seed = 3, Steps = 4, Cfg = 4f, Shift = 3f, Sampler = SamplerKind.Euler,
            });
            double after = result.SeamAfter[0];
            TestContext.Progress.WriteLine($"  make seamless (x, band {result.BandWidth}): seam metric {result.SeamBefore:0.00} → {after:0.00}");
            Assert.That(result.BandWidth, Is.EqualTo(16));
            Assert.That(result.SeamBefore, Is.GreaterThan(10), "the ramp does not tile");
            Assert.That(after, Is.LessThan(result.SeamBefore / 3));
            var image = result.Generation.Images[0].Image;
            Assert.That((image.Width, image.Height), Is.EqualTo((64, 48)));
            // the band lies over the new wrap-around edge (8 columns on each side); the middle is the input's
            for (int y = 0; y < 48; y++)
                for (int x = 8; x < 56; x++)
                    for (int c = 0; c < 3; c++) Assert.That(image[x, y, c], Is.EqualTo(input[x, y, c]), $"({x}, {y}) outside the band");
            Assert.That(result.Generation.Images[0].Parameters.Extra, Does.Contain(new KeyValuePair<string, string>("Make seamless", "x")));
        }

        [Test]
        public void BadImageRequestsFailBeforeAnyWorkListingEveryProblem()
        {
            var stages = new List<GenerationStage>();
            var progress = new PipelineTinyTests.SyncProgress(p => stages.Add(p.Stage));
            var r = Small();
            r.InitImage = Img2ImgFixture.Ramp(64, 32);
            r.Strength = 1.5f;
            r.Mask = Img2ImgFixture.LeftMask(32, 32, 8);
            r.SkipLayerGuidance = new SkipLayerGuidance { Layers = new[] { 1, 5 } };
            var e = Assert.Throws<GenerationRequestException>(() => _gen.Generate(r, progress));
            Assert.That(stages, Is.Empty, "no work may start");
            Assert.That(e.Problems.Count, Is.EqualTo(3), string.Join(" | ", e.Problems));
            Assert.That(e.Message, Does.Contain("strength 1.5 is outside (0, 1]"));
            Assert.That(e.Message, Does.Contain("the mask is 32x32 but the init image is 64x32"));
            Assert.That(e.Message, Does.Contain("layer 5 is beyond the model's 2 joint blocks"));
            r = Small();
            r.Strength = 0f;
            r.Mask = Img2ImgFixture.LeftMask(64, 32, 8);
            e = Assert.Throws<GenerationRequestException>(() => _gen.Generate(r, progress));
            Assert.That(e.Problems.Count, Is.EqualTo(1), "the strength of text-to-image is unused, so not an error");
            Assert.That(e.Message, Does.Contain("a mask needs an init image"));
            // an unreadable file becomes one of the problems, naming the file
            var problems = new List<string>();
            string missing = Path.Combine(Path.GetTempPath(), "sd3tex-no-such-image.png");
            Assert.That(ImageFiles.TryLoad(missing, "init image", problems), Is.Null);
            string garbage = Path.Combine(Path.GetTempPath(), "sd3tex-garbage-" + Guid.NewGuid().ToString("N") + ".png");
            File.WriteAllBytes(garbage, new byte[] { 1, 2, 3 });
            try { Assert.That(ImageFiles.TryLoad(garbage, "mask", problems), Is.Null); }
            finally { File.Delete(garbage); }
            Assert.That(problems.Count, Is.EqualTo(2));
            Assert.That(problems[0], Does.Contain("init image").And.Contain(missing));
            Assert.That(problems[1], Does.Contain("mask").And.Contain(garbage).And.Contain("not an image in a supported format"));
            // make seamless with no axis
            var ms = Assert.Throws<GenerationRequestException>(() => _gen.MakeSeamless(new MakeSeamlessRequest { Image = Img2ImgFixture.Ramp(32, 32), Axes = SeamlessAxes.None, Steps = 0 }));
            Assert.That(ms.Message, Does.Contain("needs an axis").And.Contain("steps is 0"));
            Assert.That(stages, Is.Empty);
        }

        [Test]
        public void ResizingIsLanczosAndKeepsFlatImagesFlat()
        {
            var flat = new ImageRgba8(30, 20);
            for (int i = 0; i < flat.Pixels.Length; i++) flat.Pixels[i] = (byte)(i % 4 == 3 ? 255 : 77);
            var up = ImageResize.Lanczos3(flat, 64, 48);
            var down = ImageResize.Lanczos3(flat, 16, 16);
            Assert.That(up.Pixels.Where((v, i) => i % 4 != 3), Is.All.EqualTo(77));
            Assert.That(down.Pixels.Where((v, i) => i % 4 != 3), Is.All.EqualTo(77));
            Assert.That(ImageResize.Lanczos3(flat, 30, 20), Is.SameAs(flat));
            // a ramp stays a ramp (monotone) when resized
            var ramp = ImageResize.Lanczos3(Img2ImgFixture.Ramp(100, 10), 48, 16);
            Assert.That(ramp[47, 8, 0], Is.GreaterThan(ramp[0, 8, 0] + 150));
        }
    }
}
