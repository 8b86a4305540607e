using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using Sd3Tex.Checkpoints;

namespace Sd3Tex.Bench;

/// <summary>
/// `sd3tex models` on a folder of N checkpoint files with the released models' real headers (sd3-medium single files
/// with CLIP-L, CLIP-G, T5-XXL and the VAE; sd3.5-large transformer files; CLIP-L, CLIP-G and T5-XXL files), written
/// as sparse files: each header is real, the tensor data is a hole of the right length (tens of GB per file, no disk
/// used). Listing reads only the headers, so it takes the same time as with real weights.
/// </summary>
public static class CatalogBench
{
    public static void Run(Program.Options o)
    {
        string dir = Path.Combine(o.WeightsDir, $"sd3tex-bench-catalog-{o.CatalogFiles}");
        long apparent = Write(dir, o.CatalogFiles);
        var search = new ModelSearch { Folders = { dir } };
        ModelCatalog last = null;
        Program.Row($"sd3tex models on a folder of {o.CatalogFiles} files ({apparent / 1e12:0.0} TB of released-size checkpoints, sparse)", Math.Max(3, o.Repeats),
                    () => last = ModelCatalog.Scan(search), 0, $"{dir}", warmup: false);
        Console.WriteLine($"| models found | {last.Models.Count} | | | {last.FilesRead} headers read, {last.Models.Count(m => m.Complete)} complete |");
    }

    /// <summary>Writes the folder once (kept for later runs); returns the files' apparent total size.</summary>
    static long Write(string dir, int files)
    {
        var kinds = new List<(string name, string family, Component[] parts)>
        {
            ("sd3_medium_incl_clips_t5xxl", "sd3-medium", RandomCheckpoint.AllComponents.ToArray()),
            ("sd3.5_large", "sd3.5-large", new[] { Component.Mmdit, Component.Vae }),
            ("clip_l", "sd3-medium", new[] { Component.ClipL }),
            ("clip_g", "sd3-medium", new[] { Component.ClipG }),
            ("t5xxl_fp16", "sd3-medium", new[] { Component.T5xxl }),
        };
        Directory.CreateDirectory(dir);
        long total = 0;
        for (int i = 0; i < files; i++)
        {
            var (name, family, parts) = kinds[i % kinds.Count];
            string path = Path.Combine(dir, $"{name}_{i:D3}.safetensors");
            var plan = RandomCheckpoint.ForFamily(family).Plan(parts, DType.F16);
            bool bare = parts.Length == 1 && parts[0] != Component.Mmdit;
            var w = new SafetensorsWriter();
            string strip = bare ? Checkpoint.PrefixOf(parts[0]) : "";
            foreach (var t in plan) w.Add(t.Name.Substring(strip.Length), t.DType, t.Shape, _ => { });
            var header = w.BuildHeader();
            long data = plan.Sum(t => t.Bytes), length = 8 + header.Length + data;
            total += length;
            if (File.Exists(path) && new FileInfo(path).Length == length) continue;
            using var f = new FileStream(path, FileMode.Create, FileAccess.Write);
            f.Write(BitConverter.GetBytes((ulong)header.Length));
            f.Write(header);
            f.SetLength(length); // the data: a hole
        }
        return total;
    }
}
