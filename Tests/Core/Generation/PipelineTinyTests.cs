using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Threading;
using NUnit.Framework;
using Sd3Tex.Generation;
using Sd3Tex.Sampling;

namespace Sd3Tex.Tests.Generation
{
    /// <summary>
    /// The tiny end-to-end fixture (prompt → tokens → CLIP-L + CLIP-G + T5 → CFG Euler → VAE → image) through the
    /// public <see cref="TextureGenerator"/> API, with the fixture's noise, on the plain C# reference and on the device.
    /// </summary>
    [TestFixtureSource(nameof(Devices))]
    public sealed class PipelineTinyTests
    {
        /// <summary>The plain C# reference and the managed CPU backend always; a GPU too when one is present or named in
        /// SD3TEX_TEST_DEVICES (as for the kernel tests; ILGPU's CPU accelerator is left out: 47 s for this pipeline).</summary>
        public static IEnumerable<string> Devices()
        {
            yield return "reference";
            yield return "cpu";
            foreach (var d in DeviceTestBase.Devices)
            {
                string name = d.ToString();
                if (name.StartsWith("cuda", StringComparison.Ordinal) || name.StartsWith("opencl", StringComparison.Ordinal)) yield return name;
            }
        }

        const string Fixture = "pipeline-tiny";
        readonly string _device;

        public PipelineTinyTests(string device) { _device = device; }

        public static GeneratorOptions TinyOptions(string device) => new GeneratorOptions
        {
            Weights = new List<string>
            {
                TestPaths.Fixture("mmdit-tiny-sd3m", "model.safetensors"), TestPaths.Fixture("vae-tiny", "model.safetensors"),
                TestPaths.Fixture("clip-tiny", "model.safetensors"), TestPaths.Fixture("t5-tiny", "model.safetensors"),
            },
            Tokenizers = Path.Combine(TestPaths.Shared, "tokenizers"),
            Device = device,
            ClipLHeads = 2,
            ClipGHeads = 2,
        };

        public static GenerationRequest FixtureRequest() => new GenerationRequest
        {
            Prompt = "a photo of a cat", NegativePrompt = "", Width = 96, Height = 64, Steps = 4, Cfg = 4.0f, Shift = 3.0f,
            Sampler = SamplerKind.Euler, InitialNoise = Golden.Floats(Fixture, "inputs.safetensors", "noise"), CaptureIntermediates = true,
        };

        static long[] Ints(string name) => Sd3Tex.Tests.Encoders.EncoderFixtures.Int64(Fixture, "golden.safetensors", name);

        [Test]
        public void ReproducesThePipelineFixtureThroughThePublicApi()
        {
            var stages = new List<GenerationStage>();
            var progress = new SyncProgress(p => stages.Add(p.Stage));
            using (var gen = TextureGenerator.Open(TinyOptions(_device), progress))
            {
                var result = gen.GenerateAsync(FixtureRequest(), progress, CancellationToken.None).GetAwaiter().GetResult();
                TestContext.Progress.WriteLine($"  pipeline-tiny on {gen.DeviceDescription}: open {gen.OpenTimings}; request {result.Timings}");
                Assert.That(result.Images.Count, Is.EqualTo(1));
                var image = result.Images[0];
                var cap = image.Intermediates;

                Assert.That(cap.Tokens.ClipL, Is.EqualTo(Ints("tokens_clip_l")));
                Assert.That(cap.Tokens.ClipG, Is.EqualTo(Ints("tokens_clip_g")));
                Assert.That(cap.Tokens.T5, Is.EqualTo(Ints("tokens_t5")));
                Assert.That(cap.NegativeTokens.ClipL, Is.EqualTo(Ints("neg_tokens_clip_l")));
                Assert.That(cap.NegativeTokens.ClipG, Is.EqualTo(Ints("neg_tokens_clip_g")));
                Assert.That(cap.NegativeTokens.T5, Is.EqualTo(Ints("neg_tokens_t5")));

                Golden.AssertClose(Golden.Floats(Fixture, "golden.safetensors", "cond_context"), cap.Cond.Context, 5e-5, "cond_context");
                Golden.AssertClose(Golden.Floats(Fixture, "golden.safetensors", "cond_pooled"), cap.Cond.Pooled, 5e-5, "cond_pooled");
                Golden.AssertClose(Golden.Floats(Fixture, "golden.safetensors", "uncond_context"), cap.Uncond.Context, 5e-5, "uncond_context");
                Golden.AssertClose(Golden.Floats(Fixture, "golden.safetensors", "uncond_pooled"), cap.Uncond.Pooled, 5e-5, "uncond_pooled");
                Golden.AssertClose(Golden.Floats(Fixture, "golden.safetensors", "sigmas"), cap.Sigmas, 1e-6, "sigmas");

                var perStep = Golden.Floats(Fixture, "golden.safetensors", "latents_per_step");
                Assert.That(cap.LatentsPerStep.Count, Is.EqualTo(4));
                Golden.AssertClose(perStep, cap.LatentsPerStep.SelectMany(x => x).ToArray(), 2e-4, "latents_per_step");
                Golden.AssertClose(Golden.Floats(Fixture, "golden.safetensors", "final_latent"), cap.FinalLatent, 2e-4, "final_latent");
                Golden.AssertClose(Golden.Floats(Fixture, "golden.safetensors", "vae_input"), cap.VaeInput, 2e-4, "vae_input");

                Assert.That(image.Decoded.Shape, Is.EqualTo(new long[] { 1, 3, 64, 96 }));
                Golden.AssertClose(Golden.Floats(Fixture, "golden.safetensors", "image"), image.Decoded.Data, 5e-4, "image");
                var expected = Ints("image_uint8");
                var planar = image.Image.ToPlanar(3);
                int worst = 0;
                for (int i = 0; i < expected.Length; i++) worst = Math.Max(worst, Math.Abs((int)expected[i] - planar[i]));
                Assert.That(worst, Is.LessThanOrEqualTo(1), "image_uint8 off by more than 1");

                Assert.That(image.Seed, Is.EqualTo(0));
                Assert.That(image.Parameters.Steps, Is.EqualTo(4));
                Assert.That(image.Parameters.Sampler, Is.EqualTo("euler"));
                Assert.That(stages, Does.Contain(GenerationStage.Encoding).And.Contain(GenerationStage.Sampling)
                                        .And.Contain(GenerationStage.Decoding).And.Contain(GenerationStage.Done));
                if (_device != "reference") Assert.That(stages, Does.Contain(GenerationStage.CompilingKernels));
            }
        }

        /// <summary>Reports synchronously (Progress&lt;T&gt; would post to the thread pool).</summary>
        public sealed class SyncProgress : IProgress<GenerationProgress>
        {
            readonly Action<GenerationProgress> _on;
            public SyncProgress(Action<GenerationProgress> on) { _on = on; }
            public void Report(GenerationProgress value) { lock (this) _on(value); }
        }
    }
}
