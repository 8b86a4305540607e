using System.Collections.Generic;
using System;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using Sd3Tex.Checkpoints;
using Sd3Tex.Generation;
using Sd3Tex.Encoders;
using Sd3Tex.Kernels;
using Sd3Tex.Models;
using Sd3Tex.Vae;

namespace Sd3Tex.Bench;

/// <summary>
/// Model figures on SD3-Medium-shaped random weights (F16, official single-file key names): one MMDiT step with CFG
/// (batch 2, 154 context tokens) per size, text encoders on 77 tokens, VAE decodes, and a whole generation. The
/// random checkpoints are written once into the weights folder (the MMDiT is about 4.2 GB) and reused.
/// </summary>
public static class ModelBench
{
    const int ContextTokens = 154;

    static string Ensure(Program.Options o, string name, Func<System.Collections.Generic.IEnumerable<TensorSource>> tensors)
    {
        string path = Path.Combine(o.WeightsDir, "sd3tex-bench-" + name + ".safetensors");
        if (File.Exists(path)) return path;
        var sw = Stopwatch.StartNew();
        string tmp = path + ".part";
        CheckpointWriter.Write(tensors(), CheckpointLayout.Single, tmp);
        File.Move(tmp, path);
        Console.WriteLine($"| (wrote random {name} weights: {new FileInfo(path).Length / 1e9:0.00} GB in {sw.Elapsed.TotalSeconds:0} s) | | | | |");
        return path;
    }

    /// <summary>FLOP of one MMDiT forward (FLOP = 2·MAC; every linear layer and the two attention products).</summary>
    public static double MmditFlops(MmditConfig c, int batch, int tx, int tc)
    {
        double d = c.HiddenSize, B = batch, p2c = c.PatchSize * c.PatchSize * c.InChannels;
        double f = 2 * B * tx * p2c * d                                   // x_embedder
                 + 2 * B * (MmditConfig.TimestepFrequencyDim * d + d * d) // t_embedder
                 + 2 * B * (c.PooledDim * d + d * d)                     // y_embedder
                 + 2 * B * tc * c.ContextDim * d;                        // context_embedder
        for (int i = 0; i < c.Depth; i++)
        {
            bool last = i == c.Depth - 1;
            double mlp = c.MlpHidden;
            f += 2 * B * d * d * ((last ? 2 : 6) + (c.IsDualAttention(i) ? 9 : 6));           // adaLN
            f += 2 * B * tx * d * (3 * d + d + 2 * mlp) + (c.IsDualAttention(i) ? 2 * B * tx * d * 4 * d : 0);
            f += last ? 2 * B * tc * d * 3 * d : 2 * B * tc * d * (3 * d + d + 2 * mlp);
            f += 4 * B * (double)(tx + tc) * (tx + tc) * d + (c.IsDualAttention(i) ? 4 * B * (double)tx * tx * d : 0);
        }
        f += 2 * B * d * 2 * d + 2 * B * tx * d * p2c;                    // final layer
        return f;
    }

    static float[] Random(long n, int seed, float range = 1f)
    {
        var r = new Random(seed);
        var a = new float[n];
        for (long i = 0; i < n; i++) a[i] = (float)(r.NextDouble() * 2 - 1) * range;
        return a;
    }

    public static void Run(Program.Options o)
    {
        using var dev = ComputeDevice.Open(o.Device);
        string on = dev.IsManaged ? "managed CPU" : dev.Kind.ToString();
        var cfg = MmditConfig.ForFamily(ModelFamily.Sd3Medium);
        string mmditPath = Ensure(o, "sd3-medium-mmdit-f16", () => RandomWeights.Mmdit(cfg, DType.F16, 1));
        if (o.Sizes.Length == 0 && o.Generate > 0) Generate(o, dev, on, cfg); // the generator opens its own models: nothing else resident
        else if (o.Sizes.Length > 0)
        {
            using var ck = Checkpoint.Open(mmditPath);
            var w = ck.ComponentWeights(Component.Mmdit);
            var sw = Stopwatch.StartNew();
            using var model = new DeviceMmdit(w, dev);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| SD3-Medium MMDiT load (random F16 weights, {cfg.Tensors().Sum(t => t.ElementCount) / 1e9:0.00} B parameters), {on} | {Program.Time(sw.Elapsed.TotalMilliseconds)} | | | {model.MappedWeightBytes / 1e9:0.00} GB mapped in place, {(model.WeightBytes - model.MappedWeightBytes) / 1e6:0} MB copied |"));
            foreach (int size in o.Sizes)
            {
                int lat = size / 8, tx = (lat / 2) * (lat / 2);
                var x = Random(2L * 16 * lat * lat, 1);
                var t = new[] { 800f, 800f };
                var y = Random(2 * cfg.PooledDim, 2);
                var c = Random(2L * ContextTokens * cfg.ContextDim, 3);
                double flops = MmditFlops(cfg, 2, tx, ContextTokens);
                sw.Restart();
                model.Forward(x, 2, lat, lat, t, y, c, ContextTokens);
                double first = sw.Elapsed.TotalMilliseconds;
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"| MMDiT CFG step {size}² first run (JIT, workspace, page-in of the mapped weights), {on} | {Program.Time(first)} | | | |"));
                int reps = size >= 1024 ? Math.Min(o.Repeats, 2) : o.Repeats;
                Program.Row($"MMDiT CFG step {size}² (batch 2, {tx} + {ContextTokens} tokens), {on}", reps, () => model.Forward(x, 2, lat, lat, t, y, c, ContextTokens),
                            flops, $"{flops / 1e9:0} GFLOP; {Program.MemoryNote(dev)}", warmup: false);
            }
            if (o.Generate > 0)
            {
                model.Dispose();
                Generate(o, dev, on, cfg);
            }
        }
        if (o.Encoders.Contains("clip")) Clip(o, dev, on);
        if (o.Encoders.Contains("t5")) T5(o, dev, on);
        if (o.VaeSizes.Length > 0) VaeDecodes(o, dev, on);
    }

    static void Clip(Program.Options o, ComputeDevice dev, string on)
    {
        var ids = Enumerable.Range(0, 77).Select(i => i == 0 ? 49406 : i < 20 ? 320 + i : 49407).ToArray();
        foreach (var (role, c, name) in new[] { (Component.ClipL, ClipConfig.ClipL(), "clip-l"), (Component.ClipG, ClipConfig.ClipG(), "clip-g") })
        {
            string prefix = role == Component.ClipL ? Checkpoint.ClipLPrefix : Checkpoint.ClipGPrefix;
            string path = Ensure(o, name + "-f16", () => RandomWeights.For(c.Tensors(), prefix, DType.F16, 5));
            using var ck = Checkpoint.Open(path);
            using var enc = new ClipEncoder(ck.ComponentWeights(role), role, dev);
            double flops = 2.0 * 77 * (c.Layers * (4.0 * c.HiddenSize * c.HiddenSize + 2.0 * c.HiddenSize * c.IntermediateSize) + 2.0 * 77 * c.HiddenSize * c.Layers);
            Program.Row($"{TextEncoderSetup.NameOf(role)} encode, 77 tokens, {on}", o.Repeats, () => enc.Encode(ids, 1), flops, Program.MemoryNote(dev));
        }
    }

    static void T5(Program.Options o, ComputeDevice dev, string on)
    {
        var c = T5Config.Xxl();
        string path = Ensure(o, "t5xxl-f16", () => RandomWeights.For(c.Tensors(), Checkpoint.T5Prefix, DType.F16, 6));
        using var ck = Checkpoint.Open(path);
        using var enc = new T5Encoder(ck.ComponentWeights(Component.T5xxl), dev);
        var ids = Enumerable.Range(0, 77).Select(i => i < 20 ? 100 + i : i == 20 ? 1 : 0).ToArray();
        double flops = 2.0 * 77 * c.Layers * (4.0 * c.DModel * c.Heads * c.DKv + 3.0 * c.DModel * c.DFf) + 4.0 * 77 * 77 * c.Heads * c.DKv * c.Layers;
        Program.Row($"T5-XXL encode, 77 tokens, {on}", o.Repeats, () => enc.Encode(ids, 1, 77), flops, Program.MemoryNote(dev));
    }

    static void VaeDecodes(Program.Options o, ComputeDevice dev, string on)
    {
        var c = VaeConfig.Sd3();
        string path = Ensure(o, "sd3-vae-f16", () => RandomWeights.For(c.Tensors(), Checkpoint.VaePrefix, DType.F16, 7));
        using var ck = Checkpoint.Open(path);
        using var vae = new VaeDecoder(ck.ComponentWeights(Component.Vae), dev);
        foreach (int size in o.VaeSizes)
        {
            int lat = size / 8;
            var z = Random(16L * lat * lat, 8);
            var opts = new VaeDecodeOptions { MemoryBudget = 16L << 30 };
            int reps = size >= 1024 ? 1 : o.Repeats;
            Program.Row($"VAE decode {size}², {on}", reps, () => vae.Decode(z, 1, lat, lat, opts), 0, Program.MemoryNote(dev), warmup: size < 1024);
        }
    }

    /// <summary>A whole generation through the product's <see cref="TextureGenerator"/>: CLIP-L and CLIP-G (T5 too when
    /// --encoders has t5), <see cref="Program.Options.Steps"/> Euler steps with CFG (cond and uncond as one batch of 2),
    /// the VAE decode, the PNG's pixels; the stage timings are the generator's own.</summary>
    static void Generate(Program.Options o, ComputeDevice dev, string on, MmditConfig cfg)
    {
        int size = o.Generate;
        var cl = ClipConfig.ClipL(); var cg = ClipConfig.ClipG(); var vc = VaeConfig.Sd3();
        var weights = new List<string>
        {
            Ensure(o, "sd3-medium-mmdit-f16", () => RandomWeights.Mmdit(cfg, DType.F16, 1)),
            Ensure(o, "clip-l-f16", () => RandomWeights.For(cl.Tensors(), Checkpoint.ClipLPrefix, DType.F16, 5)),
            Ensure(o, "clip-g-f16", () => RandomWeights.For(cg.Tensors(), Checkpoint.ClipGPrefix, DType.F16, 5)),
            Ensure(o, "sd3-vae-f16", () => RandomWeights.For(vc.Tensors(), Checkpoint.VaePrefix, DType.F16, 7)),
        };
        bool t5 = o.Encoders.Contains("t5");
        if (t5) weights.Add(Ensure(o, "t5xxl-f16", () => RandomWeights.For(T5Config.Xxl().Tensors(), Checkpoint.T5Prefix, DType.F16, 6)));
        var sw = Stopwatch.StartNew();
        using var gen = TextureGenerator.Open(new GeneratorOptions { Weights = weights, Tokenizers = o.Tokenizers, Device = o.Device });
        double open = sw.Elapsed.TotalMilliseconds;
        var request = new GenerationRequest
        {
            Prompt = "mossy stone bricks, seamless texture", Seed = 42, Width = size, Height = size, Steps = o.Steps, Cfg = 5f, Shift = 3f,
            Sampler = Sd3Tex.Sampling.SamplerKind.Euler, UseT5 = t5,
        };
        var result = gen.Generate(request);
        var tm = result.Timings;
        int lat = size / 8, tx = (lat / 2) * (lat / 2);
        int tokens = ContextTokens;
        double flops = o.Steps * MmditFlops(cfg, 2, tx, tokens);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"| whole generation {size}², {o.Steps} Euler steps, CFG, CLIP-L + CLIP-G{(t5 ? " + T5-XXL" : " (no T5)")}, {on}, TextureGenerator | {Program.Time(tm.Total.TotalMilliseconds)} | | {flops / (tm.Sampling.TotalMilliseconds * 1e6):0.0} (sampling) | " +
            $"open {Program.Time(open)} (kernels {Program.Time(gen.OpenTimings.CompilingKernels.TotalMilliseconds)}, weights {Program.Time(gen.OpenTimings.Loading.TotalMilliseconds)}); encode {Program.Time(tm.Encoding.TotalMilliseconds)}, " +
            $"sampling {Program.Time(tm.Sampling.TotalMilliseconds)} ({Program.Time(tm.Sampling.TotalMilliseconds / o.Steps)}/step), VAE {Program.Time(tm.Decoding.TotalMilliseconds)}; one run; {Program.MemoryNote(dev)} |"));
    }
}
