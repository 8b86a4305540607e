using System;
using System.Collections.Generic;
using System.Linq;
using NUnit.Framework;
using Sd3Tex.Checkpoints;
using Sd3Tex.Models;

namespace Sd3Tex.Tests.Checkpoints
{
    /// <summary>The random checkpoints' families: "tiny" has exactly the tensors of the tiny fixtures (plus the VAE
    /// encoder, which the fixture leaves out), and the plan is what the tensor sources write.</summary>
    public sealed class RandomCheckpointTests
    {
        static Dictionary<string, string> FixtureTensors(string fixture)
        {
            using (var f = SafetensorsFile.Open(TestPaths.Fixture(fixture, "model.safetensors")))
                return f.Tensors.ToDictionary(t => t.Name, t => DTypes.Name(t.DType) == "I64" ? "I64 " + t.ShapeText : t.ShapeText);
        }

        static Dictionary<string, string> Planned(IEnumerable<PlannedTensor> plan) =>
            plan.ToDictionary(t => t.Name, t => t.DType == DType.I64 ? "I64 [" + string.Join(", ", t.Shape) + "]" : "[" + string.Join(", ", t.Shape) + "]");

        [TestCase("mmdit-tiny-sd3m", Component.Mmdit)]
        [TestCase("clip-tiny", Component.ClipL, Component.ClipG)]
        [TestCase("t5-tiny", Component.T5xxl)]
        public void TinyHasTheFixturesTensors(string fixture, params Component[] components)
        {
            var plan = RandomCheckpoint.ForFamily("tiny").Plan(components, DType.F16);
            Assert.That(Planned(plan), Is.EquivalentTo(FixtureTensors(fixture)));
        }

        [Test]
        public void TinyVaeIsTheFixturesDecoderPlusTheEncoder()
        {
            var plan = RandomCheckpoint.ForFamily("tiny").Plan(new[] { Component.Vae }, DType.BF16);
            var decoder = plan.Where(t => !t.Name.StartsWith(Checkpoint.VaePrefix + "encoder.", StringComparison.Ordinal));
            Assert.That(Planned(decoder), Is.EquivalentTo(FixtureTensors("vae-tiny")));
            var encoder = plan.Where(t => t.Name.StartsWith(Checkpoint.VaePrefix + "encoder.", StringComparison.Ordinal)).ToList();
            Assert.That(encoder.Select(t => t.Name), Does.Contain(Checkpoint.VaePrefix + "encoder.down.2.downsample.conv.weight")
                                                         .And.Not.Contain(Checkpoint.VaePrefix + "encoder.down.3.downsample.conv.weight"));
            Assert.That(encoder.Single(t => t.Name.EndsWith("encoder.conv_out.weight", StringComparison.Ordinal)).Shape, Is.EqualTo(new long[] { 32, 64, 3, 3 }));
            Assert.That(encoder.Single(t => t.Name.EndsWith("encoder.down.2.block.0.nin_shortcut.weight", StringComparison.Ordinal)).Shape, Is.EqualTo(new long[] { 64, 32, 1, 1 }));
        }

        [Test]
        public void TheSourcesWriteThePlan()
        {
            var model = RandomCheckpoint.ForFamily("tiny");
            var components = new[] { Component.Vae, Component.ClipG };
            var plan = model.Plan(components, DType.BF16);
            var sources = model.Tensors(components, DType.BF16, 1);
            Assert.That(sources.Select(s => s.Name), Is.EqualTo(plan.Select(p => p.Name)), "same tensors, same order (components in checkpoint order)");
            Assert.That(plan.First().Component, Is.EqualTo(Component.ClipG));
            for (int i = 0; i < plan.Count; i++)
            {
                Assert.That(sources[i].Shape, Is.EqualTo(plan[i].Shape), plan[i].Name);
                Assert.That(sources[i].DType, Is.EqualTo(plan[i].DType), plan[i].Name);
                using (var ms = new System.IO.MemoryStream())
                {
                    sources[i].Write(ms);
                    Assert.That(ms.Length, Is.EqualTo(plan[i].Bytes), plan[i].Name);
                }
            }
        }

        [Test]
        public void UnknownFamiliesAndDTypesAreRejected()
        {
            var e = Assert.Throws<ArgumentException>(() => RandomCheckpoint.ForFamily("sd3-large"));
            Assert.That(e.Message, Does.Contain("tiny, sd3-medium, sd3.5-medium, sd3.5-large"));
            Assert.Throws<ArgumentException>(() => RandomCheckpoint.ForFamily("tiny").Plan(RandomCheckpoint.AllComponents, DType.F8_E4M3));
            Assert.That(RandomCheckpoint.ComponentSeed(0, Component.Mmdit), Is.Not.EqualTo(RandomCheckpoint.ComponentSeed(0, Component.Vae)));
        }
    }
}
