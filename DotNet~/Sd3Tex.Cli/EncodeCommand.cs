using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using Sd3Tex.Checkpoints;
using Sd3Tex.Encoders;
using Sd3Tex.Kernels;

namespace Sd3Tex.Cli;

/// <summary><c>sd3tex encode --weights &lt;paths...&gt; --ids ids.safetensors --output out.safetensors [--clip-heads L,G] [--device D]</c>.</summary>
public static class EncodeCommand
{
    static readonly string Help = $"""
        usage: sd3tex encode --weights <paths...> --prompt "..." [--negative "..."] [--no-t5] [--tokenizers <dir>]
                             --output <cond.safetensors> [--clip-heads L,G] [--stream-t5 auto|on|off] [--device D]
               sd3tex encode --weights <paths...> --ids <ids.safetensors> --output <out.safetensors>
                             [--clip-heads L,G] [--stream-t5 auto|on|off] [--device D]

        With --prompt: tokenizes the prompt and the negative prompt (default "") as SD3 does and writes SD3's
        conditioning: cond_context [1, 154, 4096], cond_pooled [1, 2048], uncond_context, uncond_pooled (F32), and
        the token ids tokens_clip_l, tokens_clip_g, tokens_t5, neg_tokens_clip_l, neg_tokens_clip_g, neg_tokens_t5
        (I64). --no-t5 leaves T5 out: its 77 context rows are zeros. --tokenizers names a folder holding
        clip/vocab.json, clip/merges.txt and t5/tokenizer.json (or t5/spiece.model); by default a diffusers folder
        among --weights provides its own, else the tokenizers bundled with the package are used.

        With --ids:
        Runs each text encoder of --weights on the token ids of --ids and writes their outputs (F32).
        Ids are integer tensors (I64 as tokenizers write them):
          clip_l_ids [B, 77], clip_g_ids [B, 77], t5_ids [B, T]
        Outputs:
          clip_l_penultimate [B, 77, 768]    clip_l_pooled [B, 768]            (CLIP-L, pooled not projected)
          clip_g_penultimate [B, 77, 1280]   clip_g_pooled_projected [B, 1280] (CLIP-G)
          t5_hidden [B, T, 4096]                                               (T5-XXL)
          pooled [B, 2048]                   when CLIP-L and CLIP-G both ran
          context [B, 77 + T, 4096]          when all three ran (SD3's conditioning)
        An encoder whose weights are present but whose ids are not is skipped (with a note); ids for an
        encoder the weights lack are an error.

          --weights     checkpoint paths in any layout (see `sd3tex inspect --help`)
          --clip-heads  attention heads of CLIP-L and CLIP-G, e.g. 12,20; needed only when a CLIP's width
                        is not a multiple of 64 (small test models), otherwise 64-wide heads are used
          --stream-t5   upload T5's blocks one at a time on every call (on), keep them resident (off),
                        or decide from the device's memory (auto, the default)
          {ModelOptions.DeviceHelp}
        """;

    /// <summary>Ids of the encoders, each [batch, tokens], or null when not given.</summary>
    public sealed record EncoderIds(int[] ClipL, int[] ClipG, int[] T5, int Batch, int T5Tokens);

    public static int Run(string[] argv, TextWriter stdout, TextWriter stderr)
    {
        var args = new Args(argv, new HashSet<string> { "help" });
        if (args.Flag("help")) { stdout.WriteLine(Help); return 0; }
        var weights = args.Many("weights");
        string prompt = args.One("prompt");
        string idsPath = prompt == null ? args.Required("ids") : args.One("ids"), output = args.Required("output"), device = args.One("device", "auto");
        var (lHeads, gHeads) = ParseHeads(args.One("clip-heads"));
        bool? stream = ParseStream(args.One("stream-t5", "auto"));
        string negative = args.One("negative", ""), tokenizers = args.One("tokenizers");
        bool noT5 = args.Flag("no-t5");
        args.RejectUnknown();
        if (weights.Count == 0) throw new UsageException("--weights needs at least one path");
        if (args.Positional.Count > 0) throw new UsageException($"unexpected argument \"{args.Positional[0]}\"");
        if (prompt != null)
        {
            if (idsPath != null) throw new UsageException("give either --prompt or --ids, not both");
            return RunPrompt(weights, prompt, negative, noT5, tokenizers, output, device, lHeads, gHeads, stream, stdout, stderr);
        }
        if (noT5 || tokenizers != null) throw new UsageException("--no-t5 and --tokenizers go with --prompt");

        using var ck = Checkpoint.Open(weights);
        var ids = ReadIds(idsPath);
        List<(string, long[], float[])> outputs;
        try { outputs = Encode(ck, device, ids, lHeads, gHeads, stream, stderr); }
        catch (ArgumentException e) { throw new CheckpointException(idsPath, e.Message); } // bad ids: out of the vocabulary, wrong length
        TensorInputs.WriteOutputs(output, outputs);
        stdout.WriteLine(output);
        return 0;
    }

    /// <summary>The tokenizers named by --tokenizers, else those of a diffusers folder among the weights that has
    /// tokenizer files, else the ones bundled with the package.</summary>
    public static Sd3Tex.Text.Sd3Tokenizer LoadTokenizers(string tokenizers, IEnumerable<string> weights)
        => Sd3Tex.Generation.TextureGenerator.FindTokenizers(tokenizers, weights);

    static int RunPrompt(List<string> weights, string prompt, string negative, bool noT5, string tokenizers, string output, string device,
                         int? lHeads, int? gHeads, bool? stream, TextWriter stdout, TextWriter stderr)
    {
        var tok = LoadTokenizers(tokenizers, weights);
        var cond = tok.Tokenize(prompt);
        var uncond = tok.Tokenize(negative);
        foreach (var warning in cond.Warnings.Concat(uncond.Warnings)) stderr.WriteLine("warning: " + warning);
        using var ck = Checkpoint.Open(weights);
        // the context is as wide as T5's output whether or not T5 runs: the transformer's context_dim, else T5's
        // hidden size (the encoders given alone), else SD3's 4096
        var mmdit = ck.Has(Component.Mmdit) ? Sd3Tex.Models.MmditConfig.Infer(ck.ComponentWeights(Component.Mmdit)) : null;
        int contextDim = mmdit?.ContextDim ?? (ck.Has(Component.T5xxl) ? Sd3Tex.Models.T5Config.Infer(ck.ComponentWeights(Component.T5xxl)).DModel : 4096);
        var options = new TextEncoderOptions { ClipLHeads = lHeads, ClipGHeads = gHeads, NoT5 = noT5, StreamT5 = stream,
                                               ContextDimWithoutT5 = contextDim };
        ComputeDevice dev = null;
        if (!string.Equals(device, "reference", StringComparison.OrdinalIgnoreCase))
        {
            dev = ComputeDevice.Open(device);
            stderr.WriteLine("device: " + dev.Describe());
        }
        else stderr.WriteLine("device: plain C# reference");
        try
        {
            using var enc = Sd3TextEncoder.Open(ck, dev, options);
            var sw = Stopwatch.StartNew();
            // cond and uncond are encoded one by one: T5 has no padding mask, so padding the shorter T5 sequence
            // to batch them would change its output
            var c = enc.Encode(Ints(cond.ClipL), Ints(cond.ClipG), enc.T5 != null ? Ints(cond.T5) : null, 1, cond.T5.Length);
            var u = enc.Encode(Ints(uncond.ClipL), Ints(uncond.ClipG), enc.T5 != null ? Ints(uncond.T5) : null, 1, uncond.T5.Length);
            stderr.WriteLine($"encoded in {sw.Elapsed.TotalMilliseconds:0} ms{(enc.T5 == null ? " (without T5)" : "")}");
            var w = new SafetensorsWriter().SetMetadata("format", "pt").SetMetadata("producer", "sd3tex");
            w.AddFloats("cond_context", DType.F32, new long[] { 1, c.ContextTokens, c.ContextDim }, c.Context);
            w.AddFloats("cond_pooled", DType.F32, new long[] { 1, c.PooledDim }, c.Pooled);
            w.AddFloats("uncond_context", DType.F32, new long[] { 1, u.ContextTokens, u.ContextDim }, u.Context);
            w.AddFloats("uncond_pooled", DType.F32, new long[] { 1, u.PooledDim }, u.Pooled);
            foreach (var (prefix, t) in new[] { ("", cond), ("neg_", uncond) })
            {
                w.AddInt64(prefix + "tokens_clip_l", new long[] { 1, t.ClipL.Length }, t.ClipL);
                w.AddInt64(prefix + "tokens_clip_g", new long[] { 1, t.ClipG.Length }, t.ClipG);
                w.AddInt64(prefix + "tokens_t5", new long[] { 1, t.T5.Length }, t.T5);
            }
            w.Write(output);
            stdout.WriteLine(output);
            return 0;
        }
        finally { dev?.Dispose(); }
    }

    static int[] Ints(long[] ids) => TextEncoderSetup.ToInt32(ids, "token ids");

    /// <summary>"L,G" → the two head counts (null, null when not given).</summary>
    public static (int? L, int? G) ParseHeads(string s)
    {
        if (s == null) return (null, null);
        var parts = s.Split(',');
        if (parts.Length != 2 || !int.TryParse(parts[0], NumberStyles.Integer, CultureInfo.InvariantCulture, out int l) ||
            !int.TryParse(parts[1], NumberStyles.Integer, CultureInfo.InvariantCulture, out int g) || l < 1 || g < 1)
            throw new UsageException($"--clip-heads: \"{s}\" is not two positive integers L,G (e.g. 12,20)");
        return (l, g);
    }

    public static bool? ParseStream(string s) => s switch
    {
        "auto" => null,
        "on" => true,
        "off" => false,
        _ => throw new UsageException($"--stream-t5: \"{s}\" is not auto, on or off"),
    };

    /// <summary>clip_l_ids, clip_g_ids and t5_ids of a safetensors file (each optional; batches must agree).</summary>
    public static EncoderIds ReadIds(string path)
    {
        using var f = SafetensorsFile.Open(path);
        int batch = -1;
        int[] Read(string name, out int tokens)
        {
            tokens = 0;
            var t = f[name];
            if (t == null) return null;
            if (t.Shape.Length != 2)
                throw new CheckpointException(path, $"\"{name}\" has shape {t.ShapeText}; [batch, tokens] is expected.");
            if (batch >= 0 && t.Shape[0] != batch)
                throw new CheckpointException(path, $"\"{name}\" holds {t.Shape[0]} sequences, the other ids {batch}.");
            batch = (int)t.Shape[0];
            tokens = (int)t.Shape[1];
            try { return TextEncoderSetup.ToInt32(f.ReadInt64(t), name); }
            catch (InvalidOperationException e) { throw new CheckpointException(path, $"\"{name}\": {e.Message}"); }
        }
        var l = Read("clip_l_ids", out _);
        var g = Read("clip_g_ids", out _);
        var t5 = Read("t5_ids", out int t5Tokens);
        if (l == null && g == null && t5 == null)
            throw new CheckpointException(path, $"holds none of clip_l_ids, clip_g_ids, t5_ids (it holds: {string.Join(", ", f.Tensors.Select(x => x.Name))}).");
        return new EncoderIds(l, g, t5, batch, t5Tokens);
    }

    /// <summary>Runs every encoder that has both weights and ids; returns the named outputs. Device "reference" runs
    /// the plain C# encoders.</summary>
    public static List<(string name, long[] shape, float[] values)> Encode(Checkpoint ck, string device, EncoderIds ids, int? clipLHeads, int? clipGHeads,
                                                                          bool? streamT5, TextWriter log)
    {
        bool Use(Component c, int[] given)
        {
            string name = TextEncoderSetup.NameOf(c), key = Checkpoint.KeyOf(c);
            if (given != null && !ck.Has(c))
                throw new CheckpointException(null, $"the ids include {(c == Component.T5xxl ? "t5" : key)}_ids but the --weights hold no {name} ({key}).");
            if (given == null && ck.Has(c)) log.WriteLine($"{name}: no {(c == Component.T5xxl ? "t5" : key)}_ids given, skipped");
            return given != null;
        }
        bool useL = Use(Component.ClipL, ids.ClipL), useG = Use(Component.ClipG, ids.ClipG), useT5 = Use(Component.T5xxl, ids.T5);
        if (!useL && !useG && !useT5) throw new CheckpointException(null, "nothing to encode.");

        ComputeDevice dev = null;
        if (!string.Equals(device, "reference", StringComparison.OrdinalIgnoreCase))
        {
            dev = ComputeDevice.Open(device);
            log.WriteLine("device: " + dev.Describe());
        }
        else log.WriteLine("device: plain C# reference");
        try
        {
            var outputs = new List<(string, long[], float[])>();
            int b = ids.Batch;
            ClipOutput l = null, g = null;
            float[] t5 = null;
            int t5Width = 0;
            var sw = new Stopwatch();
            if (useL)
            {
                using var enc = Sd3TextEncoder.OpenClip(ck, Component.ClipL, dev, clipLHeads);
                sw.Restart();
                l = enc.Encode(ids.ClipL, b);
                log.WriteLine($"CLIP-L: {sw.Elapsed.TotalMilliseconds:0} ms");
                outputs.Add(("clip_l_penultimate", new long[] { b, l.Tokens, l.Width }, l.Penultimate));
                outputs.Add(("clip_l_pooled", new long[] { b, l.Width }, l.Pooled));
            }
            if (useG)
            {
                using var enc = Sd3TextEncoder.OpenClip(ck, Component.ClipG, dev, clipGHeads);
                sw.Restart();
                g = enc.Encode(ids.ClipG, b);
                log.WriteLine($"CLIP-G: {sw.Elapsed.TotalMilliseconds:0} ms");
                outputs.Add(("clip_g_penultimate", new long[] { b, g.Tokens, g.Width }, g.Penultimate));
                outputs.Add(("clip_g_pooled_projected", new long[] { b, g.ProjectionDim }, g.PooledProjected));
            }
            if (useT5)
            {
                using var enc = Sd3TextEncoder.OpenT5(ck, dev, streamT5);
                if (enc is T5Encoder de && de.StreamsWeights) log.WriteLine("T5-XXL: streaming its blocks (device memory is short)");
                sw.Restart();
                t5 = enc.Encode(ids.T5, b, ids.T5Tokens);
                t5Width = enc.Config.DModel;
                log.WriteLine($"T5-XXL: {sw.Elapsed.TotalMilliseconds:0} ms");
                outputs.Add(("t5_hidden", new long[] { b, ids.T5Tokens, t5Width }, t5));
            }
            if (l != null && g != null)
            {
                if (t5 != null)
                {
                    var c = Sd3Conditioning.Assemble(l, g, t5, ids.T5Tokens, t5Width);
                    outputs.Add(("context", new long[] { b, c.ContextTokens, c.ContextDim }, c.Context));
                    outputs.Add(("pooled", new long[] { b, c.PooledDim }, c.Pooled));
                }
                else outputs.Add(("pooled", new long[] { b, l.Width + g.ProjectionDim }, Sd3Conditioning.Assemble(l, g, null, 0, l.Width + g.Width).Pooled));
            }
            return outputs;
        }
        finally { dev?.Dispose(); }
    }
}
