using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using Sd3Tex.Checkpoints;

namespace Sd3Tex.Cli;

/// <summary><c>sd3tex models [--comfyui DIR] [--json]</c>: the SD3 / SD3.5 checkpoints already on this machine.</summary>
public static class ModelsCommand
{
    const string Help = """
        usage: sd3tex models [--comfyui DIR] [--folder DIR ...] [--json]

        Lists every SD3 / SD3.5 checkpoint found where users already keep them, with its family, components
        (MMDiT, CLIP-L, CLIP-G, T5-XXL, VAE), dtype and size, and the set `generate --model NAME` would use:
          - the Hugging Face hub cache: $HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub
            (models--stabilityai--stable-diffusion-3* snapshots: diffusers folders and single files);
          - a ComfyUI install (--comfyui DIR, else $COMFYUI_PATH): models/checkpoints, models/diffusion_models,
            models/clip, models/text_encoders, models/vae;
          - the folders of $SD3TEX_MODELS (separated by ':' on Linux and macOS, ';' on Windows) and --folder.
        The encoders and VAE come from the model's own file or folder, else from beside it (its folder, a
        text_encoders/ folder there), else from anywhere under the same root; T5-XXL is optional. Only
        safetensors headers are read: listing never reads the weights.

          --comfyui DIR  the ComfyUI folder (the one holding models/), in place of $COMFYUI_PATH
          --folder DIR   another folder to search (repeatable)
          --json         print {"models": [{"name", "family", "architecture", "source", "root", "path", "layout",
                         "dtype", "size_bytes", "complete", "components": {"mmdit": {"path", "dtype", "size_bytes",
                         "inside"} | null, "clip_l", "clip_g", "t5xxl", "vae"}, "missing", "ambiguous", "problems",
                         "notes", "weights"}], "searched": [{"source", "path", "exists"}], "warnings", "files_read",
                         "seconds"}
        """;

    public static int Run(string[] argv, TextWriter stdout, TextWriter stderr)
    {
        var args = new Args(argv, new HashSet<string> { "help", "json" });
        if (args.Flag("help")) { stdout.WriteLine(Help); return 0; }
        bool json = args.Flag("json");
        var search = Search(args);
        args.RejectUnknown();
        if (args.Positional.Count > 0) throw new UsageException($"unexpected argument \"{args.Positional[0]}\"");
        var catalog = ModelCatalog.Scan(search);
        if (json)
        {
            stdout.Write(catalog.ToJson().ToJson(true) + "\n");
            return 0;
        }
        foreach (var w in catalog.Warnings) stderr.WriteLine("warning: " + w);
        stdout.WriteLine($"searched: {catalog.SearchedText()}");
        stdout.WriteLine($"{catalog.Models.Count} model(s), {catalog.FilesRead} file(s) read in {catalog.Time.TotalSeconds:0.00} s");
        if (catalog.Models.Count == 0) return 0;
        stdout.WriteLine();
        var rows = catalog.Models.Select(m => new[]
        {
            m.Name, m.FamilyText, m.DType, ModelCatalog.Size(m.Bytes),
            string.Join(" ", RandomCheckpoint.AllComponents.Where(c => m.Components.ContainsKey(c)).Select(ModelCatalog.Title)),
            m.Complete ? "ready" : "incomplete", $"{ModelSearch.Key(m.Source)}: {m.Path}",
        }).ToList();
        var header = new[] { "NAME", "FAMILY", "DTYPE", "SIZE", "COMPONENTS", "STATE", "WHERE" };
        var widths = Enumerable.Range(0, header.Length).Select(i => rows.Select(r => r[i].Length).Append(header[i].Length).Max()).ToArray();
        string Line(string[] r) => string.Join("  ", r.Select((x, i) => i == r.Length - 1 ? x : x.PadRight(widths[i]))).TrimEnd();
        stdout.WriteLine(Line(header));
        for (int k = 0; k < rows.Count; k++)
        {
            stdout.WriteLine(Line(rows[k]));
            var m = catalog.Models[k];
            foreach (var c in m.Components.Values.Where(c => !c.Inside))
                stdout.WriteLine($"    {ModelCatalog.Title(c.Component)}: {c.Path} ({c.DType})");
            if (!m.Complete) stdout.WriteLine("    cannot be used: " + m.WhatIsWrong());
            foreach (var n in m.Notes) stdout.WriteLine("    note: " + n);
        }
        stdout.WriteLine();
        stdout.WriteLine("use one with: sd3tex generate --model NAME --prompt \"...\" --output out.png (a unique prefix of NAME works too)");
        return 0;
    }

    /// <summary>The places from the environment, --comfyui and --folder.</summary>
    public static ModelSearch Search(Args args)
    {
        string comfy = args.One("comfyui");
        var folders = args.Many("folder");
        return ModelSearch.FromEnvironment(comfy, folders);
    }
}
