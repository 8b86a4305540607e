using System.Linq;
using NUnit.Framework;
using Sd3Tex.Checkpoints;
using Sd3Tex.Reference;
using Sd3Tex.Sampling;

namespace Sd3Tex.Tests.Reference
{
    /// <summary>The plain C# reference MMDiT and samplers against the golden fixtures (every intermediate).</summary>
    public sealed class ReferenceMmditTests
    {
        const string Fx = "mmdit-tiny-sd3m";

        static ReferenceMmdit Load(out Checkpoint ck)
        {
            ck = Checkpoint.Open(TestPaths.Fixture(Fx, "model.safetensors"));
            return new ReferenceMmdit(ck.ComponentWeights(Component.Mmdit));
        }

        [Test]
        public void MatchesTheMmditFixture()
        {
            var model = Load(out var ck);
            using (ck)
            {
                model.Capture = true;
                var x = Golden.Floats(Fx, "inputs.safetensors", "x");
                var t = Golden.Floats(Fx, "inputs.safetensors", "timestep");
                var y = Golden.Floats(Fx, "inputs.safetensors", "y");
                var c = Golden.Floats(Fx, "inputs.safetensors", "context");
                var outp = model.Forward(x, 2, 8, 12, t, y, c, 7);
                foreach (var name in new[] { "pos_embed_cropped", "x_embedded", "c", "context_embedded", "block0_context", "block0_x", "block1_x", "final_tokens" })
                    Golden.AssertClose(Golden.Floats(Fx, "golden.safetensors", name), model.Captured[name], 5e-5, name);
                Golden.AssertClose(Golden.Floats(Fx, "golden.safetensors", "out"), outp, 5e-5, "out");
                Assert.That(model.Captured.ContainsKey("block1_context"), Is.False, "the last block's context stream is pre-only");
            }
        }

        [Test]
        public void ScheduleMatchesTheSamplerFixtures()
        {
            var s = new FlowSchedule(3.0f);
            Golden.AssertClose(Golden.Floats("sampler-tiny", "golden.safetensors", "sigmas"), s.Sigmas(4), 1e-6, "sigmas (4 steps)");
            Golden.AssertClose(Golden.Floats("sampler-tiny-dpmpp2m", "golden.safetensors", "sigmas"), s.Sigmas(5), 1e-6, "sigmas (5 steps)");
            Assert.That(s.Sigmas(4)[3], Is.EqualTo(0.008929f).Within(1e-6), "sigma_min shifted twice");
            Assert.That(s.Sigmas(10, 0.5).Length, Is.EqualTo(6), "denoise 0.5 keeps the last 5 steps");
            Assert.That(s.Sigmas(10, 0.5)[0], Is.EqualTo(s.Sigmas(10)[5]));
        }

        [TestCase("sampler-tiny", SamplerKind.Euler, 4, 5.0f, 2e-4)]
        [TestCase("sampler-tiny-dpmpp2m", SamplerKind.DpmPp2M, 5, 4.5f, 6e-4)]
        public void SamplerMatchesTheFixture(string fixture, SamplerKind kind, int steps, float cfg, double tol)
        {
            var model = Load(out var ck);
            using (ck)
            {
                var noise = Golden.Floats(fixture, "inputs.safetensors", "noise");
                var cc = Golden.Floats(fixture, "inputs.safetensors", "cond_context");
                var uc = Golden.Floats(fixture, "inputs.safetensors", "uncond_context");
                var cp = Golden.Floats(fixture, "inputs.safetensors", "cond_pooled");
                var up = Golden.Floats(fixture, "inputs.safetensors", "uncond_pooled");
                var context = cc.Concat(uc).ToArray();
                var pooled = cp.Concat(up).ToArray();
                VelocityModel velocity = (x, batch, ts) => model.Forward(x, batch, 8, 12, ts, pooled, context, 10);
                var sigmas = new FlowSchedule(3.0f).Sigmas(steps);
                var perStep = Golden.Floats(fixture, "golden.safetensors", "latents_per_step");
                int n = noise.Length;
                var final = Samplers.Sample(kind, Cfg.Guided(velocity, 1, cfg), Samplers.NoiseScaling(sigmas[0], noise), sigmas,
                    (i, x) => Golden.AssertClose(perStep.Skip(i * n).Take(n).ToArray(), x, tol, $"latent after step {i}"));
                Golden.AssertClose(Golden.Floats(fixture, "golden.safetensors", "final_latent"), final, tol, "final_latent");
                Golden.AssertClose(Golden.Floats(fixture, "golden.safetensors", "vae_input"), Samplers.ToVaeInput(final), tol, "vae_input");
            }
        }
    }
}
