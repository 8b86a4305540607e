using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using Sd3Tex.Checkpoints;
using Sd3Tex.Kernels;
using Sd3Tex.Models;
using Sd3Tex.Reference;

namespace Sd3Tex.Bench;

/// <summary>
/// The benchmark harness. It prints a Markdown table (median and min–max over repeats) that the README quotes.
/// Speed is measured here, never asserted in tests. Usage: sd3tex-bench [--repeats N] [--device D]
/// </summary>
public static class Program
{
    public static int Main(string[] args)
    {
        int repeats = 5;
        string device = "auto";
        for (int i = 0; i < args.Length; i++)
        {
            if (args[i] == "--repeats") repeats = int.Parse(args[++i], CultureInfo.InvariantCulture);
            else if (args[i] == "--device") device = args[++i];
        }
        Console.WriteLine($"machine: {Environment.ProcessorCount} logical cores, {System.Runtime.InteropServices.RuntimeInformation.OSDescription}, " +
                          $"{System.Runtime.InteropServices.RuntimeInformation.ProcessArchitecture}, .NET {Environment.Version}");
        Console.WriteLine();
        Console.WriteLine("| figure | median | min–max | note |");
        Console.WriteLine("| --- | --- | --- | --- |");
        Conversions(repeats);
        TinyMmdit(repeats, device);
        TinyVae(repeats, device);
        return 0;
    }

    static void Conversions(int repeats)
    {
        const int n = 16 << 20; // 16 M elements
        var rng = new Random(1);
        var f16 = new ushort[n]; var bf16 = new ushort[n]; var f8 = new byte[n];
        for (int i = 0; i < n; i++)
        {
            float v = (float)(rng.NextDouble() * 2 - 1);
            f16[i] = DTypes.FloatToHalf(v); bf16[i] = DTypes.FloatToBFloat16(v); f8[i] = (byte)rng.Next(0, 256);
        }
        var dst = new float[n];
        Row("F16 → F32, 16 M elements (host)", repeats, () => { for (int i = 0; i < n; i++) dst[i] = DTypes.HalfToFloat(f16[i]); }, ms => $"{n / ms / 1e6:0.00} G elements/s");
        Row("BF16 → F32, 16 M elements (host)", repeats, () => { for (int i = 0; i < n; i++) dst[i] = DTypes.BFloat16ToFloat(bf16[i]); }, ms => $"{n / ms / 1e6:0.00} G elements/s");
        Row("F8_E4M3 → F32, 16 M elements (host)", repeats, () => { for (int i = 0; i < n; i++) dst[i] = DTypes.F8E4M3ToFloat(f8[i]); }, ms => $"{n / ms / 1e6:0.00} G elements/s");
    }

    /// <summary>One forward of a tiny MMDiT with the mmdit-tiny-sd3m fixture's shapes (hidden 128, depth 2, batch 2,
    /// latent 16×8×12, 7 text tokens), random F16 weights: the plain C# reference and the ILGPU model.</summary>
    static void TinyMmdit(int repeats, string device)
    {
        var cfg = new MmditConfig { Depth = 2, HiddenSize = 128, PatchSize = 2, InChannels = 16, OutChannels = 16, PosEmbedMaxSize = 16, PooledDim = 64, ContextDim = 96, MlpHidden = 512 };
        string dir = Path.Combine(Path.GetTempPath(), "sd3tex-bench-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(dir);
        try
        {
            string path = Path.Combine(dir, "tiny.safetensors");
            CheckpointWriter.Write(RandomWeights.Mmdit(cfg, DType.F16, 1), CheckpointLayout.Single, path);
            using var ck = Checkpoint.Open(path);
            var w = ck.ComponentWeights(Component.Mmdit);
            var rng = new Random(2);
            float[] R(int n) => Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
            var x = R(2 * 16 * 8 * 12); var t = new[] { 500f, 500f }; var y = R(2 * 64); var c = R(2 * 7 * 96);
            var reference = new ReferenceMmdit(w);
            Row("tiny MMDiT forward, plain C# reference", repeats, () => reference.Forward(x, 2, 8, 12, t, y, c, 7), _ => "hidden 128, depth 2, batch 2, 24+7 tokens");

            var sw = Stopwatch.StartNew();
            using var dev = ComputeDevice.Open(device);
            using var model = new DeviceMmdit(w, dev);
            double load = sw.Elapsed.TotalMilliseconds;
            sw.Restart();
            model.Forward(x, 2, 8, 12, t, y, c, 7);
            double first = sw.Elapsed.TotalMilliseconds;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| tiny MMDiT: context + upload, first forward (kernel compilation) on {dev.Kind} | {load:0} ms + {first:0} ms | | {dev.Name} |"));
            Row($"tiny MMDiT forward on {dev.Kind}", repeats, () => model.Forward(x, 2, 8, 12, t, y, c, 7), _ => dev.Describe());
        }
        finally { Directory.Delete(dir, true); }
    }

    /// <summary>A tiny VAE decode with the vae-tiny fixture's shapes (ch 32, ch_mult 1, 1, 2, 2, 3 blocks per level,
    /// random BF16 weights): 5 × 7 latent cells → 56 × 40 pixels on the plain C# reference and the ILGPU decoder,
    /// and 16 × 16 cells → 128² pixels on the ILGPU decoder.</summary>
    static void TinyVae(int repeats, string device)
    {
        var cfg = new VaeConfig { LatentChannels = 16, OutChannels = 3, BaseChannels = 32, ChannelMult = new[] { 1, 1, 2, 2 }, BlocksPerLevel = 3 };
        string dir = Path.Combine(Path.GetTempPath(), "sd3tex-bench-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(dir);
        try
        {
            string path = Path.Combine(dir, "vae.safetensors");
            CheckpointWriter.Write(RandomWeights.For(cfg.Tensors(), Checkpoint.VaePrefix, DType.BF16, 3), CheckpointLayout.Single, path);
            using var ck = Checkpoint.Open(path);
            var w = ck.ComponentWeights(Component.Vae);
            var rng = new Random(4);
            float[] R(int n) => Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
            var small = R(16 * 5 * 7);
            var large = R(16 * 16 * 16);
            using var reference = new ReferenceVae(w);
            Row("tiny VAE decode 5×7 → 56×40, plain C# reference", repeats, () => reference.Decode(small, 1, 5, 7), _ => "ch 32, mults 1,1,2,2");
            var sw = Stopwatch.StartNew();
            using var dev = ComputeDevice.Open(device);
            using var vae = new Sd3Tex.Vae.VaeDecoder(w, dev);
            double load = sw.Elapsed.TotalMilliseconds;
            sw.Restart();
            vae.Decode(small, 1, 5, 7);
            double first = sw.Elapsed.TotalMilliseconds;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| tiny VAE: context + upload, first decode (kernel compilation) on {dev.Kind} | {load:0} ms + {first:0} ms | | {dev.Name} |"));
            Row($"tiny VAE decode 5×7 → 56×40 on {dev.Kind}", repeats, () => vae.Decode(small, 1, 5, 7), _ => dev.Describe());
            Row($"tiny VAE decode 16×16 → 128² on {dev.Kind}", repeats, () => vae.Decode(large, 1, 16, 16), _ => dev.Describe());
        }
        finally { Directory.Delete(dir, true); }
    }

    static void Row(string name, int repeats, Action body, Func<double, string> note)
    {
        body(); // warm-up (JIT, kernel compilation)
        var ms = new double[repeats];
        for (int r = 0; r < repeats; r++)
        {
            var sw = Stopwatch.StartNew();
            body();
            ms[r] = sw.Elapsed.TotalMilliseconds;
        }
        Array.Sort(ms);
        double median = ms[repeats / 2];
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| {name} | {median:0.0} ms | {ms.First():0.0}–{ms.Last():0.0} ms | {note(median)} |"));
    }
}
