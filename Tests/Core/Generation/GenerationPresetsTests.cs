using NUnit.Framework;
using Sd3Tex.Models;
using Sd3Tex.Generation;
using Sd3Tex.Sampling;

namespace Sd3Tex.Tests.Generation
{
    public sealed class GenerationPresetsTests
    {
        // the reference's sd3_infer.py CONFIGS
        [TestCase(ModelFamily.Sd3Medium, 50, 5.0f, 1.0f)]
        [TestCase(ModelFamily.Sd35Medium, 50, 5.0f, 3.0f)]
        [TestCase(ModelFamily.Sd35Large, 40, 4.5f, 3.0f)]
        [TestCase(ModelFamily.Unknown, 50, 5.0f, 3.0f)]
        public void FollowTheReference(ModelFamily family, int steps, float cfg, float shift)
        {
            var p = GenerationPresets.For(family);
            Assert.That((p.Steps, p.Cfg, p.Shift, p.Sampler), Is.EqualTo((steps, cfg, shift, SamplerKind.DpmPp2M)));
            Assert.That(p.ToString(), Does.Contain(steps + " steps"));
        }
    }
}
