using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using Sd3Tex.Checkpoints;
using Sd3Tex.Generation;
using Sd3Tex.Imaging;
using Sd3Tex.Kernels;
using Sd3Tex.Vae;

namespace Sd3Tex.Bench;

/// <summary>
/// <c>--suite image</c>: the VAE encoder at <c>--encode-sizes</c> (default 512,1024) and a whole image-to-image request
/// through <see cref="TextureGenerator"/> at <c>--img2img N</c> pixels (<c>--strength</c>, default 0.8; the shared
/// <c>--steps</c>, <c>--tokenizers</c>, <c>--device</c>, <c>--repeats</c>), on SD3-Medium-shaped random F16 weights with
/// the VAE encoder: the folder <c>--image-weights DIR</c> (what <c>sd3tex make-random-checkpoint --family sd3-medium
/// --layout separate --dtype f16 --no-t5 --output DIR</c> writes; written so when missing or empty).
/// </summary>
public static class ImageBench
{
    static readonly List<int> EncodeSizes = new() { 512, 1024 };
    static int _img2img;
    static float _strength = 0.8f;
    static string _weights;

    /// <summary>This suite's options (called for options Program does not know); false when <paramref name="option"/> is not one.</summary>
    public static bool TryParse(string option, Func<string> next)
    {
        switch (option)
        {
            case "--encode-sizes":
                EncodeSizes.Clear();
                EncodeSizes.AddRange(next().Split(',', StringSplitOptions.RemoveEmptyEntries).Select(x => int.Parse(x, CultureInfo.InvariantCulture)));
                return true;
            case "--img2img": _img2img = int.Parse(next(), CultureInfo.InvariantCulture); return true;
            case "--strength": _strength = float.Parse(next(), CultureInfo.InvariantCulture); return true;
            case "--image-weights": _weights = next(); return true;
            default: return false;
        }
    }

    public const string Usage = "[--suite image [--encode-sizes 512,1024] [--img2img 512 --strength 0.8 --tokenizers DIR] [--image-weights DIR]]";

    static List<string> Weights(Program.Options o)
    {
        string dir = _weights ?? Path.Combine(o.WeightsDir, "sd3tex-bench-image-sd3m");
        if (!Directory.Exists(dir) || !Directory.EnumerateFiles(dir, "*.safetensors").Any())
        {
            var sw = Stopwatch.StartNew();
            var model = RandomCheckpoint.ForFamily("sd3-medium");
            var components = RandomCheckpoint.AllComponents.Where(c => c != Component.T5xxl).ToList();
            var written = CheckpointWriter.Write(model.Tensors(components, DType.F16, 1), CheckpointLayout.Separate, dir);
            Console.WriteLine($"| (wrote random SD3-Medium weights with the VAE encoder, no T5: {written.Sum(f => new FileInfo(f).Length) / 1e9:0.00} GB in {sw.Elapsed.TotalSeconds:0} s) | | | | |");
        }
        return Directory.GetFiles(dir, "*.safetensors").OrderBy(x => x, StringComparer.Ordinal).ToList();
    }

    /// <summary>A deterministic picture: ramps and a little noise (the content does not change the cost).</summary>
    static ImageRgba8 Picture(int size)
    {
        var r = new Random(size);
        var img = new ImageRgba8(size, size);
        for (int y = 0; y < size; y++)
            for (int x = 0; x < size; x++)
            {
                img[x, y, 0] = (byte)(255 * x / size); img[x, y, 1] = (byte)(255 * y / size); img[x, y, 2] = (byte)r.Next(256); img[x, y, 3] = 255;
            }
        return img;
    }

    public static void Run(Program.Options o)
    {
        var weights = Weights(o);
        string on = o.Device;
        if (EncodeSizes.Count > 0)
        {
            using var ck = Checkpoint.Open(weights);
            using var dev = ComputeDevice.Open(o.Device);
            on = dev.Name;
            using var enc = new VaeEncoder(ck.ComponentWeights(Component.Vae), dev);
            foreach (int size in EncodeSizes)
            {
                var input = VaeEncoding.ToEncoderInput(Picture(size));
                VaePlan plan = null;
                Program.Row($"VAE encode {size}² → {size / 8}² latent on {on}", o.Repeats,
                            () => VaeEncoding.Encode(enc, input, 1, size, size, new VaeDecodeOptions(), out plan), warmup: false);
                Console.WriteLine($"|  (plan: {plan}; peak RSS so far {Program.PeakRss() / 1e9:0.0} GB) | | | | |");
            }
        }
        if (_img2img > 0)
        {
            if (string.IsNullOrEmpty(o.Tokenizers)) throw new ArgumentException("--img2img needs --tokenizers DIR (clip/vocab.json, clip/merges.txt, t5/tokenizer.json)");
            int size = _img2img;
            var proc = Process.GetCurrentProcess();
            var sw = Stopwatch.StartNew();
            using var gen = TextureGenerator.Open(new GeneratorOptions { Weights = weights, Tokenizers = o.Tokenizers, Device = o.Device });
            double open = sw.Elapsed.TotalMilliseconds;
            var request = new GenerationRequest
            {
                Prompt = "mossy stone bricks, seamless texture", Seed = 42, Width = size, Height = size, Steps = o.Steps, Cfg = 5f, Shift = 3f,
                Sampler = Sd3Tex.Sampling.SamplerKind.Euler, UseT5 = false, InitImage = Picture(size), Strength = _strength,
            };
            int run = new Sd3Tex.Sampling.FlowSchedule(3f).Sigmas(o.Steps, request.Denoise).Length - 1;
            proc.Refresh();
            var cpu0 = proc.TotalProcessorTime;
            var result = gen.Generate(request);
            proc.Refresh();
            double cpu = (proc.TotalProcessorTime - cpu0).TotalMilliseconds;
            var tm = result.Timings;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| whole image-to-image {size}², strength {_strength} ({run} of {o.Steps} Euler steps run), CFG, CLIP-L + CLIP-G (no T5), {on}, TextureGenerator | " +
                $"{Program.Time(tm.Total.TotalMilliseconds)} | | | open {Program.Time(open)}; encoding (picture + prompts) {Program.Time(tm.Encoding.TotalMilliseconds)}, " +
                $"sampling {Program.Time(tm.Sampling.TotalMilliseconds)} ({Program.Time(tm.Sampling.TotalMilliseconds / run)}/step), VAE decode {Program.Time(tm.Decoding.TotalMilliseconds)}; " +
                $"CPU {Program.Time(cpu)}; one run; peak RSS {Program.PeakRss() / 1e9:0.0} GB |"));
        }
    }
}
