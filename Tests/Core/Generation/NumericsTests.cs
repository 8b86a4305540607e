using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using NUnit.Framework;
using Sd3Tex.Checkpoints;
using Sd3Tex.Generation;

namespace Sd3Tex.Tests.Generation
{
    /// <summary>Tiny random checkpoints (make-random-checkpoint's weights) with one value of one tensor set to NaN.</summary>
    public static class PoisonedCheckpoint
    {
        public const string Transformer = Checkpoint.MmditPrefix + "final_layer.linear.bias";
        public const string ClipG = Checkpoint.ClipGPrefix + "text_model.encoder.layers.0.mlp.fc2.bias";
        public const string T5 = Checkpoint.T5Prefix + "encoder.block.0.layer.1.DenseReluDense.wo.weight";
        public const string Decoder = Checkpoint.VaePrefix + "decoder.conv_out.bias";

        /// <summary>Writes the tiny family as one file with element 0 of <paramref name="poisoned"/> (null: none) NaN.</summary>
        public static string Write(string path, string poisoned, DType dtype = DType.F16)
        {
            var model = RandomCheckpoint.ForFamily("tiny");
            var tensors = model.Tensors(RandomCheckpoint.AllComponents, dtype, 1).Select(t => t.Name != poisoned ? t : new TensorSource(t.Name, t.DType, t.Shape, s =>
            {
                var bytes = new MemoryStream();
                t.Write(bytes);
                var b = bytes.ToArray();
                var nan = new MemoryStream();
                SafetensorsWriter.WriteFloats(nan, t.DType, new[] { float.NaN }, 0, 1);
                nan.ToArray().CopyTo(b, 0);
                s.Write(b, 0, b.Length);
            })).ToList();
            Assert.That(tensors.Any(t => t.Name == poisoned) || poisoned == null, Is.True, poisoned);
            CheckpointWriter.Write(tensors, CheckpointLayout.Single, path, model.ClipHeads);
            return path;
        }
    }

    /// <summary>
    /// A NaN in the weights stops the generation with <see cref="GenerationNumericsException"/> naming the stage, the
    /// component and the remedy, instead of a black image: the transformer's output is checked on the device after
    /// every step (the managed CPU backend and the reference here; the reduction kernel inside DeviceMmdit on ILGPU's
    /// CPU accelerator and every other device in DeviceMmditTests), the encoders' and the decoder's outputs once.
    /// </summary>
    public sealed class NumericsTests
    {
        string _dir;

        [SetUp] public void SetUp() => _dir = TestPaths.NewScratch("numerics");
        [TearDown] public void TearDown() => TestPaths.DeleteScratch(_dir);

        static GenerationRequest Small() => new GenerationRequest { Prompt = "mossy stone", Width = 32, Height = 32, Steps = 2, Cfg = 2f, Seed = 1 };

        GenerationNumericsException Fail(string poisoned, string device, GenerationRequest request = null)
        {
            string path = PoisonedCheckpoint.Write(Path.Combine(_dir, "poisoned.safetensors"), poisoned);
            using var gen = TextureGenerator.Open(new GeneratorOptions { Weights = { path }, Device = device });
            return Assert.Throws<GenerationNumericsException>(() => gen.Generate(request ?? Small()));
        }

        // ILGPU's CPU accelerator runs the same DeviceMmdit check (DeviceMmditTests, on every device); through the
        // generator it would spend ~40 s compiling every kernel family here
        [TestCase("cpu")]
        [TestCase("reference")]
        public void ANaNInTheTransformerStopsAtTheFirstStep(string device)
        {
            var e = Fail(PoisonedCheckpoint.Transformer, device);
            Assert.That((e.Stage, e.Step, e.Steps), Is.EqualTo((NumericsStage.Step, 1, 2)));
            Assert.That(e.Component, Does.StartWith("transformer"));
            Assert.That(e.Count, Is.GreaterThan(0));
            // F16 weights: an overflow is named first, then the damaged checkpoint
            Assert.That(e.Message, Does.Contain("step 1 of 2").And.Contain("transformer").And.Contain("NaN"));
            Assert.That(e.Message.IndexOf("F16 overflow", StringComparison.Ordinal), Is.LessThan(e.Message.IndexOf("sd3tex inspect --values", StringComparison.Ordinal)));
            Assert.That(e.Message, Does.Contain("BF16 or F32 weights"));
        }

        [TestCase(PoisonedCheckpoint.ClipG, "CLIP-G")]
        [TestCase(PoisonedCheckpoint.T5, "T5-XXL")]
        public void ANaNInATextEncoderStopsAtEncoding(string tensor, string component)
        {
            var e = Fail(tensor, "cpu");
            Assert.That((e.Stage, e.Component), Is.EqualTo((NumericsStage.Encoding, component)));
            Assert.That(e.Message, Does.Contain("at encoding: the " + component));
        }

        [TestCase("cpu")]
        [TestCase("reference")]
        public void ANaNInTheDecoderStopsAtDecoding(string device)
        {
            var e = Fail(PoisonedCheckpoint.Decoder, device);
            Assert.That((e.Stage, e.Component), Is.EqualTo((NumericsStage.Decoding, "decoder (VAE)")));
        }

        [Test]
        public void WithoutTheNaNTheSameCheckpointGenerates()
        {
            string path = PoisonedCheckpoint.Write(Path.Combine(_dir, "clean.safetensors"), null);
            using var gen = TextureGenerator.Open(new GeneratorOptions { Weights = { path }, Device = "cpu" });
            var image = gen.Generate(Small()).Images[0];
            Assert.That(image.Decoded.Data.All(float.IsFinite), Is.True);
            // the damaged tensor is found by reading the values (sd3tex inspect --values)
            string bad = PoisonedCheckpoint.Write(Path.Combine(_dir, "bad.safetensors"), PoisonedCheckpoint.T5);
            using var ck = Checkpoint.Open(bad);
            var found = CheckpointValues.FindNonFinite(ck);
            Assert.That(found.Select(f => (f.Name, f.Count)), Is.EqualTo(new[] { (PoisonedCheckpoint.T5, 1L) }));
            using var clean = Checkpoint.Open(path);
            Assert.That(CheckpointValues.FindNonFinite(clean), Is.Empty);
        }
    }
}
