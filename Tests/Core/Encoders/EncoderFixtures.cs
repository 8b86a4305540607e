using System;
using System.Collections.Generic;
using System.IO;
using Sd3Tex.Checkpoints;
using Sd3Tex.Encoders;

namespace Sd3Tex.Tests.Encoders
{
    /// <summary>Inputs of the clip-tiny, t5-tiny and pipeline-tiny fixtures, read in place.</summary>
    public static class EncoderFixtures
    {
        public const string Clip = "clip-tiny", T5 = "t5-tiny", Pipeline = "pipeline-tiny";
        /// <summary>The tiny CLIPs are 24 and 40 wide: their heads (2 each) cannot be inferred.</summary>
        public const int TinyClipHeads = 2;
        public const double Tolerance = 5e-5;

        public static long[] Int64(string fixture, string file, string name)
        {
            using var f = SafetensorsFile.Open(TestPaths.Fixture(fixture, file));
            var t = f[name] ?? throw new ArgumentException($"{fixture}/{file} has no tensor \"{name}\"");
            return f.ReadInt64(t);
        }

        public static int[] Ids(string fixture, string file, string name) => TextEncoderSetup.ToInt32(Int64(fixture, file, name));

        /// <summary>Two id tensors [1, T] stacked into a batch of 2.</summary>
        public static int[] Stack(int[] a, int[] b)
        {
            var r = new int[a.Length + b.Length];
            a.CopyTo(r, 0);
            b.CopyTo(r, a.Length);
            return r;
        }

        public static Checkpoint OpenClip() => Checkpoint.Open(TestPaths.Fixture(Clip, "model.safetensors"));
        public static Checkpoint OpenT5() => Checkpoint.Open(TestPaths.Fixture(T5, "model.safetensors"));
        public static Checkpoint OpenBoth() => Checkpoint.Open(TestPaths.Fixture(Clip, "model.safetensors"), TestPaths.Fixture(T5, "model.safetensors"));

        /// <summary>t5-tiny's weights with every rank-2 tensor stored as F8_E4M3 (norms stay BF16), written to
        /// <paramref name="dir"/> with the single-file keys.</summary>
        public static string WriteF8T5(string dir)
        {
            string path = Path.Combine(dir, "t5-f8.safetensors");
            using (var ck = OpenT5())
            {
                var sources = new List<TensorSource>();
                foreach (var kv in ck.Weights)
                {
                    var w = kv.Value;
                    if (w.Shape.Length != 2 || !DTypes.IsFloat(w.DType)) { sources.Add(TensorSource.From(w)); continue; }
                    var values = w.ReadFloats();
                    sources.Add(new TensorSource(kv.Key, DType.F8_E4M3, w.Shape, s => SafetensorsWriter.WriteFloats(s, DType.F8_E4M3, values, 0, values.Length)));
                }
                CheckpointWriter.Write(sources, CheckpointLayout.Single, path);
            }
            return path;
        }
    }
}
