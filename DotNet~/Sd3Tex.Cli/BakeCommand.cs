using System;
using System.Collections.Generic;
using System.IO;
using System.Threading;
using Sd3Tex.Baking;

namespace Sd3Tex.Cli;

/// <summary><c>sd3tex bake</c>: every texture of a manifest, skipping what is up to date, resumable, shardable.</summary>
public static class BakeCommand
{
    static readonly string Help = $$"""
        usage: sd3tex bake <manifest.json> [--shard i/n] [--device D] [--force] [--memory-budget B] [--comfyui DIR]

        Bakes the textures of a JSON manifest (paths relative to the manifest; field names are generate's option
        names in snake_case):
          {"weights": ["..."], "tokenizers": "...", "output": "textures",
           "defaults": {"steps": 28, "cfg": 5.0, "width": 1024, "height": 1024, "seamless": "xy", "clip_heads": "12,20"},
           "textures": [{"name": "mossy_brick", "prompt": "...", "seed": 7}, {"name": "lava", "prompt": "...", "negative": "..."}]}
        In place of "weights", "model" names a model `sd3tex models` lists (--comfyui DIR names the ComfyUI folder).
        Texture fields: name, prompt, negative, seed, count, steps, cfg, shift, sampler, width, height, no_t5, seamless,
        noise, clip_heads. Each texture goes to <output>/<name>.png, or <name>_<i>.png when its count is above 1.

        A texture whose PNG exists with the same parameters (a hash kept in its metadata) is skipped, so a re-run or
        a bake that was killed resumes where it stopped. Every write is atomic. A failed texture does not stop the
        bake: failures are listed at the end and the exit code is 1.

          --shard i/n   bake only textures k with k mod n = i - 1 (1 ≤ i ≤ n): n machines or CI jobs together bake
                        the whole manifest, each a fixed part
          --force       regenerate textures that are up to date
          --memory-budget B  device bytes to use (e.g. 6G)
          {{ModelOptions.DeviceHelp}}
        """;

    public static int Run(string[] argv, TextWriter stdout, TextWriter stderr)
    {
        var args = new Args(argv, new HashSet<string> { "help", "force" });
        if (args.Flag("help")) { stdout.WriteLine(Help); return 0; }
        var options = new BakeOptions { Device = args.One("device"), Force = args.Flag("force"), ModelSearch = ModelsCommand.Search(args) };
        string shard = args.One("shard");
        if (shard != null)
        {
            try { BakeShard.Parse(shard, out int index, out int count); options.ShardIndex = index; options.ShardCount = count; }
            catch (FormatException e) { throw new UsageException("--shard: " + e.Message.TrimEnd('.')); }
        }
        long budget = GenerateCommand.ParseBytes(args.One("memory-budget"));
        if (budget > 0) options.Generator = new Generation.GeneratorOptions { MemoryBudget = budget };
        args.RejectUnknown();
        if (args.Positional.Count != 1) throw new UsageException("name one manifest file");

        BakeManifest manifest;
        try { manifest = BakeManifest.Load(args.Positional[0]); }
        catch (BakeManifestException e)
        {
            stderr.WriteLine("sd3tex bake: " + e.Message);
            return 1;
        }
        var bar = new ProgressBar(stderr);
        string current = null;
        var progress = new SyncProgress<BakeProgress>(p =>
        {
            if (p.Name != current)
            {
                bar.Clear();
                stderr.WriteLine($"[{p.Index + 1}/{p.Total}] {p.Name}");
                current = p.Name;
            }
            if (p.Inner.HasValue) bar.Report(p.Inner.Value);
        });
        options.OnItemDone = item =>
        {
            bar.Clear();
            switch (item.Status)
            {
                case BakeItemStatus.Generated:
                    stderr.WriteLine($"  generated {item.ImagesGenerated} image(s){(item.MapsWritten > 0 ? $" and {item.MapsWritten} material map(s)" : "")} in {item.Time.TotalSeconds:0.0} s");
                    foreach (var o in item.Outputs) stdout.WriteLine(o);
                    foreach (var o in item.MapOutputs) stdout.WriteLine(o);
                    break;
                case BakeItemStatus.Skipped: stderr.WriteLine("  up to date"); break;
                default: stderr.WriteLine("  FAILED: " + item.Error); break;
            }
        };
        using var cancel = new CancellationTokenSource();
        ConsoleCancelEventHandler onCancel = (_, e) => { e.Cancel = true; cancel.Cancel(); };
        Console.CancelKeyPress += onCancel;
        BakeReport report;
        try { report = Baker.Run(manifest, options, progress, cancel.Token); }
        catch (OperationCanceledException)
        {
            bar.Clear();
            stderr.WriteLine("sd3tex bake: cancelled; run it again to resume");
            return 130;
        }
        finally { Console.CancelKeyPress -= onCancel; }
        stderr.WriteLine($"bake{(options.ShardCount > 1 ? $" (shard {options.ShardIndex + 1}/{options.ShardCount})" : "")}: {report}");
        if (!report.Success)
        {
            stderr.WriteLine("failed textures:");
            foreach (var item in report.Items)
                if (item.Status == BakeItemStatus.Failed) stderr.WriteLine($"  {item.Name}: {item.Error}");
            return 1;
        }
        return 0;
    }

    sealed class SyncProgress<T>(Action<T> on) : IProgress<T>
    {
        public void Report(T value) { lock (this) on(value); }
    }
}
