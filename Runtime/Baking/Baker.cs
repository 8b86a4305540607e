using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Security.Cryptography;
using System.Text;
using System.Threading;
using Sd3Tex.Generation;
using Sd3Tex.Imaging;
using Sd3Tex.Json;

namespace Sd3Tex.Baking
{
    public enum BakeItemStatus { Generated, Skipped, Failed }

    /// <summary>What became of one texture of a bake.</summary>
    public sealed class BakeItemResult
    {
        public string Name { get; set; }
        /// <summary>The texture's PNG paths (absolute), whether written now or before.</summary>
        public IReadOnlyList<string> Outputs { get; set; } = Array.Empty<string>();
        public BakeItemStatus Status { get; set; }
        /// <summary>Why it failed (null otherwise).</summary>
        public string Error { get; set; }
        /// <summary>Images generated now (a texture with count 4 may skip some and generate others).</summary>
        public int ImagesGenerated { get; set; }
        /// <summary>The material maps' PNG paths (absolute) when the texture has <c>pbr</c>, whether written now or before.</summary>
        public IReadOnlyList<string> MapOutputs { get; set; } = Array.Empty<string>();
        /// <summary>Map PNGs written now.</summary>
        public int MapsWritten { get; set; }
        public TimeSpan Time { get; set; }
    }

    /// <summary>The outcome of a bake.</summary>
    public sealed class BakeReport
    {
        public List<BakeItemResult> Items { get; } = new List<BakeItemResult>();
        public int Generated => Items.Count(i => i.Status == BakeItemStatus.Generated);
        public int Skipped => Items.Count(i => i.Status == BakeItemStatus.Skipped);
        public int Failed => Items.Count(i => i.Status == BakeItemStatus.Failed);
        /// <summary>No texture failed.</summary>
        public bool Success => Failed == 0;
        public TimeSpan Time { get; set; }

        public override string ToString() => $"{Generated} generated, {Skipped} up to date, {Failed} failed ({Time.TotalSeconds:0.0} s)";
    }

    /// <summary>Progress of a bake: texture <see cref="Index"/> of <see cref="Total"/> (in this shard), with the
    /// generation's own progress while one runs.</summary>
    public readonly struct BakeProgress
    {
        public int Index { get; }
        public int Total { get; }
        public string Name { get; }
        public GenerationProgress? Inner { get; }

        public BakeProgress(int index, int total, string name, GenerationProgress? inner)
        {
            Index = index; Total = total; Name = name; Inner = inner;
        }

        public override string ToString() => $"[{Index + 1}/{Total}] {Name}" + (Inner.HasValue ? " " + Inner.Value : "");
    }

    public sealed class BakeOptions
    {
        /// <summary>This shard (0-based) of <see cref="ShardCount"/>: texture k of the manifest belongs to shard k mod ShardCount.</summary>
        public int ShardIndex { get; set; }
        public int ShardCount { get; set; } = 1;
        /// <summary>Overrides the manifest's device.</summary>
        public string Device { get; set; }
        /// <summary>Regenerate even textures that are up to date.</summary>
        public bool Force { get; set; }
        /// <summary>Called after each texture (e.g. to import it and set its import settings).</summary>
        public Action<BakeItemResult> OnItemDone { get; set; }
        /// <summary>Where a manifest's <c>model</c> is looked for; null: <see cref="Checkpoints.ModelSearch.FromEnvironment"/>.</summary>
        public Checkpoints.ModelSearch ModelSearch { get; set; }
        /// <summary>Generator options beyond the manifest's (memory budget, residency ...); weights, tokenizers, device and
        /// CLIP heads come from the manifest.</summary>
        public GeneratorOptions Generator { get; set; }
    }

    /// <summary>The <c>--shard i/n</c> notation: i from 1 to n.</summary>
    public static class BakeShard
    {
        /// <summary>Parses "i/n" (1 ≤ i ≤ n) into a 0-based index and a count.</summary>
        public static void Parse(string text, out int index, out int count)
        {
            var parts = (text ?? "").Split('/');
            if (parts.Length != 2 || !int.TryParse(parts[0].Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out int i)
                || !int.TryParse(parts[1].Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out int n) || n < 1 || i < 1 || i > n)
                throw new FormatException($"shard \"{text}\" must be i/n with 1 ≤ i ≤ n, e.g. 1/2 and 2/2 for two machines.");
            index = i - 1;
            count = n;
        }

        /// <summary>Whether texture <paramref name="textureIndex"/> (its position in the manifest) belongs to the shard.</summary>
        public static bool Contains(int textureIndex, int shardIndex, int shardCount) => shardCount <= 1 || textureIndex % shardCount == shardIndex;
    }

    /// <summary>
    /// Bakes a manifest: every texture of the shard whose PNGs are missing or were made with other parameters is
    /// generated and written atomically (a temporary file, then a rename), so a bake that was killed resumes where it
    /// stopped and a re-run skips everything that is up to date (a hash of the parameters is kept in each PNG's
    /// metadata). A texture that fails is reported and the bake goes on. The model is opened only when something needs
    /// generating.
    /// </summary>
    public static class Baker
    {
        /// <summary>The metadata key holding the hash of the parameters that produced a baked PNG.</summary>
        public const string HashKey = "bake_hash";

        public static BakeReport Run(BakeManifest manifest, BakeOptions options = null, IProgress<BakeProgress> progress = null, CancellationToken cancel = default)
        {
            if (manifest == null) throw new ArgumentNullException(nameof(manifest));
            options = options ?? new BakeOptions();
            if (options.ShardCount < 1 || options.ShardIndex < 0 || options.ShardIndex >= options.ShardCount)
                throw new ArgumentException($"shard {options.ShardIndex + 1}/{options.ShardCount} does not exist.");
            manifest.Check();
            var total = Stopwatch.StartNew();
            var report = new BakeReport();
            var mine = Enumerable.Range(0, manifest.Textures.Count).Where(k => BakeShard.Contains(k, options.ShardIndex, options.ShardCount)).ToList();
            string outDir = manifest.OutputDirectory;
            Directory.CreateDirectory(outDir);
            RemoveStaleTemporaries(manifest, mine);
            var generators = new Dictionary<string, TextureGenerator>(StringComparer.Ordinal);
            var pbrDevice = new BakePbr.DeviceHolder(options.Device ?? manifest.Device ?? options.Generator?.Device);
            var weights = string.IsNullOrWhiteSpace(manifest.Model) ? manifest.ResolvedWeights()
                : Checkpoints.ModelCatalog.Scan(options.ModelSearch).Resolve(manifest.Model).Weights();
            string modelId = ModelIdentity(weights);
            try
            {
                for (int n = 0; n < mine.Count; n++)
                {
                    cancel.ThrowIfCancellationRequested();
                    var texture = manifest.Textures[mine[n]];
                    progress?.Report(new BakeProgress(n, mine.Count, texture.Name, null));
                    var item = BakeOne(manifest, weights, texture, modelId, options, generators, pbrDevice, n, mine.Count, progress, cancel);
                    report.Items.Add(item);
                    options.OnItemDone?.Invoke(item);
                }
            }
            finally
            {
                foreach (var g in generators.Values) g.Dispose();
                pbrDevice.Dispose();
                report.Time = total.Elapsed;
            }
            return report;
        }

        static BakeItemResult BakeOne(BakeManifest manifest, List<string> weights, BakeEntry texture, string modelId, BakeOptions options,
                                      Dictionary<string, TextureGenerator> generators, BakePbr.DeviceHolder pbrDevice, int n, int count,
                                      IProgress<BakeProgress> progress, CancellationToken cancel)
        {
            var sw = Stopwatch.StartNew();
            var item = new BakeItemResult { Name = texture.Name, Outputs = manifest.OutputsOf(texture) };
            try
            {
                var merged = texture.Over(manifest.Defaults);
                var request = merged.ToRequest(manifest.BaseDirectory);
                var problems = request.Problems();
                if (problems.Count > 0) throw new GenerationRequestException(problems);
                var hashes = new string[request.Count];
                var pending = new List<int>();
                var pbr = BakePbr.IsOn(merged.Pbr) ? merged.Pbr : null;
                var mapsPending = new List<int>();
                var mapOutputs = new List<string>();
                for (int i = 0; i < request.Count; i++)
                {
                    hashes[i] = Hash(modelId, merged, request, i);
                    bool stale = options.Force || !UpToDate(item.Outputs[i], hashes[i]);
                    if (stale) pending.Add(i);
                    if (pbr == null) continue;
                    mapOutputs.AddRange(Materials.PbrMaps.PathsBeside(item.Outputs[i], pbr.Maps));
                    if (stale || !BakePbr.MapsUpToDate(item.Outputs[i], pbr, BakePbr.MapHash(hashes[i], pbr))) mapsPending.Add(i);
                }
                item.MapOutputs = mapOutputs;
                if (pending.Count == 0 && mapsPending.Count == 0)
                {
                    item.Status = BakeItemStatus.Skipped;
                    return item;
                }
                var generated = new Dictionary<int, GeneratedImage>();
                if (pending.Count > 0)
                {
                    var generator = GeneratorFor(manifest, weights, merged.ClipHeads, options, generators);
                    var modelProblems = merged.MakeSeamless != null ? new List<string>() : generator.Validate(request);
                    if (modelProblems.Count > 0) throw new GenerationRequestException(modelProblems);
                    var inner = progress == null ? null : new InnerProgress(p => progress.Report(new BakeProgress(n, count, texture.Name, p)));
                    foreach (int i in pending)
                    {
                        cancel.ThrowIfCancellationRequested();
                        var one = request.Clone();
                        one.Seed = request.Seed + i;
                        one.Count = 1;
                        if (request.InitialNoise != null)
                        {
                            int size = request.InitialNoise.Length / request.Count;
                            one.InitialNoise = new float[size];
                            Array.Copy(request.InitialNoise, (long)i * size, one.InitialNoise, 0, size);
                        }
                        var image = merged.MakeSeamless != null
                            ? generator.MakeSeamless(merged.ToMakeSeamlessRequest(request, one.Seed), inner, cancel).Generation.Images[0]
                            : generator.Generate(one, inner, cancel).Images[0];
                        image.Parameters.Extra.Add(new KeyValuePair<string, string>(HashKey, hashes[i]));
                        image.SavePng(item.Outputs[i]);
                        item.ImagesGenerated++;
                        generated[i] = image;
                    }
                }
                // the maps: of the images generated now, or derived again from the PNGs already baked
                foreach (int i in mapsPending)
                {
                    cancel.ThrowIfCancellationRequested();
                    generated.TryGetValue(i, out var image);
                    item.MapsWritten += BakePbr.WriteMaps(item.Outputs[i], image?.Image, image?.Parameters, pbr, BakePbr.MapHash(hashes[i], pbr), pbrDevice.Get()).Count;
                }
                item.Status = BakeItemStatus.Generated;
            }
            catch (OperationCanceledException) { throw; }
            catch (Exception e)
            {
                item.Status = BakeItemStatus.Failed;
                item.Error = e.Message;
            }
            finally { item.Time = sw.Elapsed; }
            return item;
        }

        static TextureGenerator GeneratorFor(BakeManifest manifest, List<string> weights, string clipHeads, BakeOptions options, Dictionary<string, TextureGenerator> cache)
        {
            string key = clipHeads ?? "";
            if (cache.TryGetValue(key, out var g)) return g;
            var o = options.Generator?.Clone() ?? new GeneratorOptions();
            o.Weights = weights;
            o.Model = null;
            o.Tokenizers = manifest.ResolvedTokenizers();
            o.Device = options.Device ?? manifest.Device ?? o.Device ?? "auto";
            if (clipHeads != null)
            {
                var parts = clipHeads.Split(',');
                if (parts.Length != 2 || !int.TryParse(parts[0].Trim(), out int l) || !int.TryParse(parts[1].Trim(), out int gh) || l < 1 || gh < 1)
                    throw new BakeManifestException($"clip_heads \"{clipHeads}\" must be two positive integers \"L,G\", e.g. \"12,20\".");
                o.ClipLHeads = l;
                o.ClipGHeads = gh;
            }
            g = TextureGenerator.Open(o);
            cache[key] = g;
            return g;
        }

        /// <summary>Whether <paramref name="png"/> exists, decodes, and was made with the parameters <paramref name="hash"/> stands for.</summary>
        public static bool UpToDate(string png, string hash)
        {
            if (!File.Exists(png)) return false;
            try
            {
                var p = GenerationParameters.FromPng(PngReader.Read(png, pixels: true));
                return p != null && p.Extra.Any(kv => kv.Key == HashKey && kv.Value == hash);
            }
            catch (Exception e) when (e is ImageFileException || e is IOException || e is FormatException || e is InvalidDataException || e is JsonException)
            {
                return false;
            }
        }

        /// <summary>The model's identity for the hash: the weight files' names and sizes (a changed model re-bakes).</summary>
        static string ModelIdentity(List<string> weights)
        {
            var sb = new StringBuilder();
            foreach (var w in weights)
            {
                sb.Append(Checkpoints.Checkpoint.SplitRole(w, out string path));
                sb.Append(Path.GetFileName(path.TrimEnd('/', '\\')));
                if (File.Exists(path)) sb.Append(':').Append(new FileInfo(path).Length.ToString(CultureInfo.InvariantCulture));
                else if (Directory.Exists(path))
                    foreach (var f in Directory.GetFiles(path, "*.safetensors", SearchOption.AllDirectories).OrderBy(x => x, StringComparer.Ordinal))
                        sb.Append(':').Append(Path.GetFileName(f)).Append('=').Append(new FileInfo(f).Length.ToString(CultureInfo.InvariantCulture));
                sb.Append(';');
            }
            return sb.ToString();
        }

        /// <summary>SHA-256 (first 16 bytes, hex) over everything that decides image <paramref name="index"/> of a texture.</summary>
        public static string Hash(string modelId, BakeEntry merged, GenerationRequest request, int index)
        {
            var j = JsonValue.NewObject();
            j.Set("v", 1);
            j.Set("model", modelId ?? "");
            j.Set("prompt", request.Prompt ?? "");
            j.Set("negative", request.NegativePrompt ?? "");
            j.Set("seed", request.Seed + index);
            j.Set("width", request.Width);
            j.Set("height", request.Height);
            j.Set("steps", request.Steps.HasValue ? request.Steps.Value.ToString(CultureInfo.InvariantCulture) : "preset");
            j.Set("cfg", request.Cfg.HasValue ? request.Cfg.Value.ToString("R", CultureInfo.InvariantCulture) : "preset");
            j.Set("shift", request.Shift.HasValue ? request.Shift.Value.ToString("R", CultureInfo.InvariantCulture) : "preset");
            j.Set("sampler", request.Sampler.HasValue ? Sampling.SamplerNames.Key(request.Sampler.Value) : "preset");
            j.Set("t5", request.UseT5);
            j.Set("seamless", Vae.SeamlessAxesNames.Name(request.Seamless));
            j.Set("clip_heads", merged.ClipHeads ?? "");
            if (request.InitialNoise != null)
            {
                int size = request.InitialNoise.Length / request.Count;
                var bytes = new byte[size * 4];
                Buffer.BlockCopy(request.InitialNoise, index * size * 4, bytes, 0, bytes.Length);
                j.Set("noise", Hex(Sha256(bytes)));
            }
            // image-to-image, guidance and make-seamless: keys only when used, so the hashes of plain textures stay as they were
            if (request.InitImage != null)
            {
                j.Set("init_image", ImageHash(request.InitImage));
                j.Set("strength", (merged.MakeSeamless != null ? merged.Strength ?? 1f : request.Strength).ToString("R", CultureInfo.InvariantCulture));
            }
            if (request.Mask != null)
            {
                j.Set("mask", ImageHash(request.Mask));
                j.Set("mask_blur", request.MaskBlur);
            }
            if (request.SkipLayerGuidance != null && request.SkipLayerGuidance.IsActive) j.Set("slg", request.SkipLayerGuidance.ToString());
            if (merged.MakeSeamless != null)
            {
                j.Set("make_seamless", merged.MakeSeamless);
                j.Set("band", merged.Band ?? 0);
            }
            return Hex(Sha256(Encoding.UTF8.GetBytes(j.ToJson(false)))).Substring(0, 32);
        }

        /// <summary>The pixels' identity (size and RGBA bytes): a changed picture re-bakes, a moved one does not.</summary>
        static string ImageHash(ImageRgba8 image)
        {
            var head = Encoding.ASCII.GetBytes(image.Width.ToString(CultureInfo.InvariantCulture) + "x" + image.Height.ToString(CultureInfo.InvariantCulture) + ":");
            var all = new byte[head.Length + image.Pixels.Length];
            Buffer.BlockCopy(head, 0, all, 0, head.Length);
            Buffer.BlockCopy(image.Pixels, 0, all, head.Length, image.Pixels.Length);
            return Hex(Sha256(all));
        }

        static byte[] Sha256(byte[] data)
        {
            using (var sha = SHA256.Create()) return sha.ComputeHash(data);
        }

        static string Hex(byte[] b)
        {
            var sb = new StringBuilder(b.Length * 2);
            foreach (var x in b) sb.Append(x.ToString("x2", CultureInfo.InvariantCulture));
            return sb.ToString();
        }

        /// <summary>Temporary files of writes that a killed bake left behind (never a finished PNG).</summary>
        static void RemoveStaleTemporaries(BakeManifest manifest, List<int> mine)
        {
            foreach (int k in mine)
                foreach (var png in manifest.OutputsOf(manifest.Textures[k]).SelectMany(p => new[] { p }.Concat(Materials.PbrMaps.PathsBeside(p, Materials.PbrMapKinds.All))))
                {
                    string dir = Path.GetDirectoryName(png);
                    if (!Directory.Exists(dir)) continue;
                    foreach (var tmp in Directory.GetFiles(dir, Path.GetFileName(png) + ".tmp-*"))
                        try { File.Delete(tmp); } catch (IOException) { }
                }
        }

        sealed class InnerProgress : IProgress<GenerationProgress>
        {
            readonly Action<GenerationProgress> _on;
            public InnerProgress(Action<GenerationProgress> on) { _on = on; }
            public void Report(GenerationProgress value) => _on(value);
        }
    }
}
