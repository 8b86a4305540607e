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
/// The benchmark harness. It prints a Markdown table (median and min–max over repeats, achieved GFLOP/s against an
/// analytic FLOP count, peak resident memory) that the README quotes. Speed is measured here, never asserted in tests.
/// <code>
/// sd3tex-bench [--suite lab,models,tiny] [--device cpu] [--repeats 3] [--sizes 256,512] [--vae-sizes 512]
///              [--encoders clip|clip,t5|none] [--generate 512 [--tokenizers DIR]] [--steps 28] [--weights-dir DIR]
/// </code>
/// lab: each kernel alone at the model's shapes (GEMM at SD3-Medium's M×N×K against OpenBLAS SGEMM when it loads,
/// attention at 1178 and 4250 tokens, norms, convolution). models: SD3-Medium-shaped random F16 weights (written once
/// to --weights-dir, default the temp folder, and memory-mapped): one CFG step (batch 2) per size, text encoders on 77
/// tokens, VAE decodes, and optionally a whole generation. tiny: the fixture-sized models. catalog: `sd3tex models` on a
/// folder of --files released-size checkpoints (sparse: real headers, data holes).
/// </summary>
public static class Program
{
    public static int Main(string[] args)
    {
        var o = new Options();
        for (int i = 0; i < args.Length; i++)
        {
            string a = args[i];
            string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{a} needs a value");
            switch (a)
            {
                case "--suite": o.Suites = Next().Split(',').ToHashSet(); break;
                case "--repeats": o.Repeats = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--device": o.Device = Next(); break;
                case "--sizes": o.Sizes = Ints(Next()); break;
                case "--vae-sizes": o.VaeSizes = Ints(Next()); break;
                case "--encoders": o.Encoders = Next().Split(',').ToHashSet(); break;
                case "--generate": o.Generate = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--steps": o.Steps = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--weights-dir": o.WeightsDir = Next(); break;
                case "--tokenizers": o.Tokenizers = Next(); break;
                case "--lab": o.Lab = Next().Split(',').ToHashSet(); break;
                case "--pbr-sizes": o.PbrSizes = Ints(Next()); break;
                case "--pbr-ilgpu-size": o.PbrIlgpuSize = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--files": o.CatalogFiles = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--help": case "-h": Console.WriteLine(Usage + " " + ImageBench.Usage); return 0;
                default:
                    if (ImageBench.TryParse(a, Next)) break;
                    Console.Error.WriteLine($"unknown option {a}\n{Usage}"); return 2;
            }
        }
        Console.WriteLine($"machine: {Machine()}");
        Console.WriteLine($"command: sd3tex-bench {string.Join(' ', args)}");
        Console.WriteLine($"OPENBLAS_CORETYPE={Environment.GetEnvironmentVariable("OPENBLAS_CORETYPE") ?? "(unset)"}, " +
                          $"OPENBLAS_NUM_THREADS={Environment.GetEnvironmentVariable("OPENBLAS_NUM_THREADS") ?? "(unset)"}");
        Console.WriteLine();
        Console.WriteLine("| figure | median | min–max | GFLOP/s | note |");
        Console.WriteLine("| --- | --- | --- | --- | --- |");
        if (o.Suites.Contains("lab")) KernelLab.Run(o);
        if (o.Suites.Contains("models")) ModelBench.Run(o);
        if (o.Suites.Contains("pbr")) PbrBench.Run(o);
        if (o.Suites.Contains("catalog")) CatalogBench.Run(o);
        if (o.Suites.Contains("image")) ImageBench.Run(o);
        if (o.Suites.Contains("tiny"))
        {
            TinyMmdit(o.Repeats, o.Device);
            TinyVae(o.Repeats, o.Device);
        }
        Console.WriteLine();
        Console.WriteLine($"peak resident memory of the process: {PeakRss() / 1e9:0.00} GB (weights are memory-mapped, so their pages count when touched)");
        return 0;
    }

    const string Usage = "sd3tex-bench [--suite lab,models,tiny,catalog,pbr,image] [--files 100] [--device cpu] [--repeats N] [--sizes 256,512,1024] [--vae-sizes 512,1024] " +
                         "[--encoders clip,t5|none] [--generate 512 [--tokenizers DIR]] [--steps 28] [--weights-dir DIR] [--lab gemm,attention,norms,conv,elementwise,finite] " +
                         "[--pbr-sizes 1024 --pbr-ilgpu-size 128]";

    public sealed class Options
    {
        public HashSet<string> Suites = new() { "lab", "models" };
        public HashSet<string> Lab = new() { "gemm", "attention", "norms", "conv", "finite" };
        public HashSet<string> Encoders = new() { "clip" };
        public int Repeats = 3;
        public string Device = "cpu";
        public int[] Sizes = { 256, 512 };
        public int[] VaeSizes = { 512 };
        public int Generate;
        public int Steps = 28;
        public string WeightsDir = Path.GetTempPath();
        /// <summary>Files in the folder the catalog suite lists.</summary>
        public int CatalogFiles = 100;
        /// <summary>Tokenizer folder for --generate (clip/vocab.json, clip/merges.txt, t5/tokenizer.json); default: the bundled ones.</summary>
        public string Tokenizers;
        /// <summary>--suite pbr: albedo sizes on --device, and one size on ILGPU's CPU accelerator (0: none).</summary>
        public int[] PbrSizes = { 1024 };
        public int PbrIlgpuSize = 128;
    }

    static int[] Ints(string s) => s.Split(',', StringSplitOptions.RemoveEmptyEntries).Select(x => int.Parse(x, CultureInfo.InvariantCulture)).ToArray();

    static string Machine()
    {
        string cpu = "unknown CPU";
        try
        {
            foreach (var line in File.ReadLines("/proc/cpuinfo"))
                if (line.StartsWith("model name", StringComparison.Ordinal)) { cpu = line.Substring(line.IndexOf(':') + 1).Trim(); break; }
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        return $"{cpu}, {Environment.ProcessorCount} logical cores, {Sd3Tex.Kernels.Cpu.CpuBackend.InstructionSet}, " +
               $"{System.Runtime.InteropServices.RuntimeInformation.OSDescription}, .NET {Environment.Version}";
    }

    /// <summary>The memory figures of a row's note: the process's peak resident set (VmHWM) and what it holds now,
    /// split into anonymous memory (activations, copies) and file pages (the memory-mapped weights, which the kernel
    /// can drop and read again); on CUDA also the device memory in use now and the most seen so far.</summary>
    public static string MemoryNote(ComputeDevice dev)
    {
        string note = string.Create(CultureInfo.InvariantCulture, $"peak RSS {PeakRss() / 1e9:0.00} GB");
        var (anon, file) = RssSplit();
        if (anon >= 0) note += string.Create(CultureInfo.InvariantCulture, $" (now: anonymous {anon / 1e9:0.00} GB, mapped files {file / 1e9:0.00} GB)");
        long? used = dev?.DeviceMemoryInUse;
        if (used.HasValue)
        {
            PeakDevice = Math.Max(PeakDevice, used.Value);
            note += string.Create(CultureInfo.InvariantCulture, $"; device memory in use {used.Value / 1e9:0.00} GB (peak seen {PeakDevice / 1e9:0.00} GB)");
        }
        return note;
    }

    /// <summary>The most device memory in use seen by <see cref="MemoryNote"/>.</summary>
    public static long PeakDevice;

    /// <summary>RssAnon and RssFile + RssShmem of /proc/self/status (−1 where it is not there).</summary>
    public static (long Anon, long File) RssSplit()
    {
        long anon = -1, file = 0;
        try
        {
            foreach (var line in File.ReadLines("/proc/self/status"))
            {
                long Kb() => long.Parse(line.Split((char[])null, StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) * 1024;
                if (line.StartsWith("RssAnon:", StringComparison.Ordinal)) anon = Kb();
                else if (line.StartsWith("RssFile:", StringComparison.Ordinal) || line.StartsWith("RssShmem:", StringComparison.Ordinal)) file += Kb();
            }
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        return (anon, file);
    }

    /// <summary>Peak resident set of the process (VmHWM on Linux).</summary>
    public static long PeakRss()
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/self/status"))
                if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
                    return long.Parse(line.Split((char[])null, StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) * 1024; // "VmHWM:\t12345678 kB": a tab, then no padding past 8 digits
        }
        catch (IOException) { }
        return Process.GetCurrentProcess().PeakWorkingSet64;
    }

    /// <summary>Times <paramref name="body"/> (one untimed warm-up unless <paramref name="warmup"/> is false) and prints a row.</summary>
    public static double[] Row(string name, int repeats, Action body, double flops = 0, string note = "", bool warmup = true)
    {
        if (warmup) body();
        var ms = new double[Math.Max(1, repeats)];
        var proc = Process.GetCurrentProcess();
        proc.Refresh();
        var cpu0 = proc.TotalProcessorTime;
        for (int r = 0; r < ms.Length; r++)
        {
            var sw = Stopwatch.StartNew();
            body();
            ms[r] = sw.Elapsed.TotalMilliseconds;
        }
        proc.Refresh();
        double cpuMs = (proc.TotalProcessorTime - cpu0).TotalMilliseconds / ms.Length;
        Array.Sort(ms);
        double median = ms[ms.Length / 2];
        string gf = flops > 0 ? (flops / (median * 1e6)).ToString("0.0", CultureInfo.InvariantCulture) : "";
        // CPU time per run: robust to other load on the machine (a quiet machine gives wall ≈ CPU / threads)
        string cpu = string.Create(CultureInfo.InvariantCulture, $"CPU {Time(cpuMs)}/run") +
                     (flops > 0 ? string.Create(CultureInfo.InvariantCulture, $" = {flops / (cpuMs * 1e6):0.0} GFLOP per CPU-s") : "");
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| {name} | {Time(median)} | {Time(ms.First())}–{Time(ms.Last())} | {gf} | {note}{(note.Length > 0 ? "; " : "")}{cpu} |"));
        LastCpuMs = cpuMs;
        return ms;
    }

    /// <summary>Mean CPU time per run of the last <see cref="Row"/>.</summary>
    public static double LastCpuMs;

    public static string Time(double ms) => ms >= 10000 ? (ms / 1000).ToString("0.00 s", CultureInfo.InvariantCulture)
        : ms >= 100 ? ms.ToString("0 ms", CultureInfo.InvariantCulture) : ms.ToString("0.00 ms", CultureInfo.InvariantCulture);

    /// <summary>One forward of a tiny MMDiT with the mmdit-tiny-sd3m fixture's shapes (hidden 128, depth 2, batch 2,
    /// latent 16×8×12, 7 text tokens), random F16 weights: the plain C# reference and the device model.</summary>
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
            Row("tiny MMDiT forward, plain C# reference", repeats, () => reference.Forward(x, 2, 8, 12, t, y, c, 7), note: "hidden 128, depth 2, batch 2, 24+7 tokens");
            var sw = Stopwatch.StartNew();
            using var dev = ComputeDevice.Open(device);
            using var model = new DeviceMmdit(w, dev);
            double load = sw.Elapsed.TotalMilliseconds;
            sw.Restart();
            model.Forward(x, 2, 8, 12, t, y, c, 7);
            double first = sw.Elapsed.TotalMilliseconds;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| tiny MMDiT: context + upload, first forward (kernel compilation) on {dev.Name} | {load:0} ms + {first:0} ms | | | |"));
            Row($"tiny MMDiT forward on {dev.Name}", repeats, () => model.Forward(x, 2, 8, 12, t, y, c, 7), note: dev.Describe());
        }
        finally { Directory.Delete(dir, true); }
    }

    /// <summary>A tiny VAE decode with the vae-tiny fixture's shapes (ch 32, ch_mult 1, 1, 2, 2, 3 blocks per level,
    /// random BF16 weights).</summary>
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
            Row("tiny VAE decode 5×7 → 56×40, plain C# reference", repeats, () => reference.Decode(small, 1, 5, 7), note: "ch 32, mults 1,1,2,2");
            using var dev = ComputeDevice.Open(device);
            using var vae = new Sd3Tex.Vae.VaeDecoder(w, dev);
            Row($"tiny VAE decode 5×7 → 56×40 on {dev.Name}", repeats, () => vae.Decode(small, 1, 5, 7), note: dev.Describe());
            Row($"tiny VAE decode 16×16 → 128² on {dev.Name}", repeats, () => vae.Decode(large, 1, 16, 16), note: dev.Describe());
        }
        finally { Directory.Delete(dir, true); }
    }
}
