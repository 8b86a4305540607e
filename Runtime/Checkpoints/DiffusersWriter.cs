using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using Sd3Tex.Json;

namespace Sd3Tex.Checkpoints
{
    /// <summary>
    /// Writes a diffusers folder as <c>StableDiffusion3Pipeline.save_pretrained</c> lays it out: <c>model_index.json</c>,
    /// <c>transformer/</c> (sharded, with <c>diffusion_pytorch_model.safetensors.index.json</c>), <c>text_encoder/</c>
    /// (CLIP-L), <c>text_encoder_2/</c> (CLIP-G), <c>text_encoder_3/</c> (T5), <c>vae/</c> and <c>scheduler/</c>, each with
    /// a minimal <c>config.json</c>. Tensor data is streamed from the sources; a diffusers tensor cut from part of an
    /// internal one (q, k, v of a fused qkv; a swapped half) streams the source and keeps only the wanted bytes.
    /// Every file is written atomically; <c>model_index.json</c> last, so an interrupted write is not a valid folder.
    /// </summary>
    public static class DiffusersWriter
    {
        /// <summary>The diffusers version written into the configs (the first with SD3.5's dual attention).</summary>
        public const string DiffusersVersion = "0.31.0";

        /// <summary>Largest transformer shard. The transformer is always split in at least two shards when it has two or
        /// more tensors, so the loader's shard path is used.</summary>
        public const long MaxShardBytes = 5L << 30;

        /// <summary>Writes <paramref name="components"/> (tensors under their internal names, as grouped by
        /// <see cref="CheckpointWriter.GroupByComponent"/>) into <paramref name="folder"/>; <paramref name="clipHeads"/> go
        /// into the text encoders' <c>config.json</c> (<c>num_attention_heads</c>). Returns the files written.
        /// Throws <see cref="ArgumentException"/> when a tensor has no diffusers name.</summary>
        public static List<string> Write(SortedDictionary<Component, List<TensorSource>> components, string folder,
                                         IReadOnlyDictionary<Component, int> clipHeads = null)
        {
            Directory.CreateDirectory(folder);
            var written = new List<string>();
            List<TensorSource> Of(Component c) => components.TryGetValue(c, out var l) && l.Count > 0 ? l : null;

            var mmdit = Of(Component.Mmdit);
            if (mmdit != null)
            {
                var shapes = Shapes(mmdit, Component.Mmdit);
                string dir = Path.Combine(folder, "transformer");
                written.AddRange(WriteSharded(dir, "diffusion_pytorch_model", Mapped(mmdit, Component.Mmdit, DiffusersNames.TransformerFromInternal)));
                written.Add(WriteJson(Path.Combine(dir, "config.json"), DiffusersConfigs.Transformer(shapes)));
            }
            foreach (var (c, sub) in new[] { (Component.ClipL, "text_encoder"), (Component.ClipG, "text_encoder_2") })
            {
                var clip = Of(c);
                if (clip == null) continue;
                string dir = Path.Combine(folder, sub);
                written.Add(WriteFile(Path.Combine(dir, "model.safetensors"), Renamed(clip, c)));
                int heads = 0;
                bool declared = clipHeads != null && clipHeads.TryGetValue(c, out heads);
                written.Add(WriteJson(Path.Combine(dir, "config.json"), DiffusersConfigs.Clip(Shapes(clip, c), c, declared ? heads : (int?)null)));
            }
            var t5 = Of(Component.T5xxl);
            if (t5 != null)
            {
                string dir = Path.Combine(folder, "text_encoder_3");
                written.Add(WriteFile(Path.Combine(dir, "model.safetensors"), Renamed(t5, Component.T5xxl)));
                written.Add(WriteJson(Path.Combine(dir, "config.json"), DiffusersConfigs.T5(Shapes(t5, Component.T5xxl))));
            }
            var vae = Of(Component.Vae);
            if (vae != null)
            {
                string dir = Path.Combine(folder, "vae");
                written.Add(WriteFile(Path.Combine(dir, "diffusion_pytorch_model.safetensors"), Mapped(vae, Component.Vae, DiffusersNames.VaeFromInternal)));
                written.Add(WriteJson(Path.Combine(dir, "config.json"), DiffusersConfigs.Vae(Shapes(vae, Component.Vae))));
            }
            written.Add(WriteJson(Path.Combine(folder, "scheduler", "scheduler_config.json"), DiffusersConfigs.Scheduler()));
            written.Add(WriteJson(Path.Combine(folder, "model_index.json"), ModelIndex(mmdit != null, Of(Component.ClipL) != null,
                Of(Component.ClipG) != null, t5 != null, vae != null)));
            return written;
        }

        /// <summary>The pipeline's <c>model_index.json</c>: [library, class] per component, [null, null] when absent
        /// (as diffusers' <c>register_modules</c> records a None component). No tokenizer files are written.</summary>
        static JsonValue ModelIndex(bool transformer, bool clipL, bool clipG, bool t5, bool vae)
        {
            JsonValue Pair(bool present, string library, string cls) =>
                present ? JsonValue.NewArray(new[] { JsonValue.From(library), JsonValue.From(cls) }) : JsonValue.NewArray(new[] { JsonValue.Null, JsonValue.Null });
            return JsonValue.NewObject()
                .Set("_class_name", "StableDiffusion3Pipeline")
                .Set("_diffusers_version", DiffusersVersion)
                .Set("scheduler", Pair(true, "diffusers", "FlowMatchEulerDiscreteScheduler"))
                .Set("text_encoder", Pair(clipL, "transformers", "CLIPTextModelWithProjection"))
                .Set("text_encoder_2", Pair(clipG, "transformers", "CLIPTextModelWithProjection"))
                .Set("text_encoder_3", Pair(t5, "transformers", "T5EncoderModel"))
                .Set("tokenizer", Pair(false, null, null))
                .Set("tokenizer_2", Pair(false, null, null))
                .Set("tokenizer_3", Pair(false, null, null))
                .Set("transformer", Pair(transformer, "diffusers", "SD3Transformer2DModel"))
                .Set("vae", Pair(vae, "diffusers", "AutoencoderKL"));
        }

        #region Tensors

        /// <summary>Shapes by name inside the component (prefix removed).</summary>
        static Dictionary<string, long[]> Shapes(List<TensorSource> tensors, Component c)
        {
            string prefix = Checkpoint.PrefixOf(c);
            return tensors.ToDictionary(t => t.Name.Substring(prefix.Length), t => t.Shape, StringComparer.Ordinal);
        }

        /// <summary>The encoders keep HF transformers' names: the internal names minus the component prefix.</summary>
        static List<TensorSource> Renamed(List<TensorSource> tensors, Component c)
        {
            string prefix = Checkpoint.PrefixOf(c);
            return tensors.Select(t => new TensorSource(t.Name.Substring(prefix.Length), t.DType, t.Shape, t.Write)).ToList();
        }

        delegate IReadOnlyList<TensorAssembly> Mapper(IReadOnlyDictionary<string, long[]> shapes, List<string> unmapped);

        /// <summary>The diffusers tensors of a component, each streamed from element ranges of the internal sources.</summary>
        static List<TensorSource> Mapped(List<TensorSource> tensors, Component c, Mapper map)
        {
            string prefix = Checkpoint.PrefixOf(c);
            var byName = tensors.ToDictionary(t => t.Name.Substring(prefix.Length), StringComparer.Ordinal);
            var unmapped = new List<string>();
            var assemblies = map(byName.ToDictionary(kv => kv.Key, kv => kv.Value.Shape, StringComparer.Ordinal), unmapped);
            if (unmapped.Count > 0)
                throw new ArgumentException($"{unmapped.Count} tensor(s) have no diffusers name and cannot be written in the diffusers layout: " +
                                            string.Join(", ", unmapped.Take(10).Select(u => prefix + u)));
            return assemblies.Select(a => Assembled(a, byName)).ToList();
        }

        static TensorSource Assembled(TensorAssembly a, Dictionary<string, TensorSource> sources)
        {
            var first = sources[a.Parts[0].From];
            if (a.Parts.Any(p => sources[p.From].DType != first.DType))
                throw new ArgumentException($"\"{a.Name}\" would mix dtypes of its sources.");
            long size = DTypes.SizeOf(first.DType);
            return new TensorSource(a.Name, first.DType, a.Shape, s =>
            {
                foreach (var p in a.Parts)
                {
                    var src = sources[p.From];
                    if (p.Start == 0 && p.Count == src.ElementCount) src.Write(s);   // the whole tensor: copied straight through
                    else src.Write(new RangeStream(s, p.Start * size, p.Count * size));
                }
            });
        }

        /// <summary>A write-only view that passes on bytes [start, start + count) of what is written to it and drops
        /// the rest: a source streamed whole yields one element range without being held in memory.</summary>
        sealed class RangeStream : Stream
        {
            readonly Stream _target;
            readonly long _start, _end;
            long _position;

            public RangeStream(Stream target, long start, long count) { _target = target; _start = start; _end = start + count; }

            public override void Write(byte[] buffer, int offset, int count)
            {
                long from = Math.Max(_position, _start), to = Math.Min(_position + count, _end);
                if (to > from) _target.Write(buffer, offset + (int)(from - _position), (int)(to - from));
                _position += count;
            }

            public override bool CanRead => false;
            public override bool CanSeek => false;
            public override bool CanWrite => true;
            public override long Length => _position;
            public override long Position { get => _position; set => throw new NotSupportedException(); }
            public override void Flush() { }
            public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
            public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
            public override void SetLength(long value) => throw new NotSupportedException();
        }

        #endregion

        #region Files

        static string WriteFile(string path, IEnumerable<TensorSource> tensors)
        {
            var w = new SafetensorsWriter();
            w.SetMetadata("format", "pt");
            foreach (var t in tensors.OrderBy(t => t.Name, StringComparer.Ordinal)) w.Add(t.Name, t.DType, t.Shape, t.Write);
            w.Write(path);
            return path;
        }

        static string WriteJson(string path, JsonValue json)
        {
            AtomicFile.WriteAllText(path, json.ToJson(true) + "\n");
            return path;
        }

        /// <summary>Writes <c>stem-0000k-of-0000N.safetensors</c> shards and <c>stem.safetensors.index.json</c>
        /// (<c>metadata.total_size</c> and a sorted <c>weight_map</c>), as diffusers' <c>save_pretrained</c> does;
        /// a single tensor goes to <c>stem.safetensors</c>.</summary>
        static List<string> WriteSharded(string dir, string stem, List<TensorSource> tensors)
        {
            tensors = tensors.OrderBy(t => t.Name, StringComparer.Ordinal).ToList();
            if (tensors.Count < 2) return new List<string> { WriteFile(Path.Combine(dir, stem + ".safetensors"), tensors) };

            var shards = Shard(tensors);
            var written = new List<string>();
            var map = new SortedDictionary<string, string>(StringComparer.Ordinal);
            long total = 0;
            for (int k = 0; k < shards.Count; k++)
            {
                string file = $"{stem}-{k + 1:D5}-of-{shards.Count:D5}.safetensors";
                written.Add(WriteFile(Path.Combine(dir, file), shards[k]));
                foreach (var t in shards[k])
                {
                    map[t.Name] = file;
                    total += t.ElementCount * DTypes.SizeOf(t.DType);
                }
            }
            var weightMap = JsonValue.NewObject();
            foreach (var kv in map) weightMap.Set(kv.Key, kv.Value);
            var index = JsonValue.NewObject()
                .Set("metadata", JsonValue.NewObject().Set("total_size", total))
                .Set("weight_map", weightMap);
            written.Add(WriteJson(Path.Combine(dir, stem + ".safetensors.index.json"), index));
            return written;
        }

        /// <summary>Splits ≥ 2 tensors, in order, into N ≥ 2 shards of about equal bytes (N grows with
        /// <see cref="MaxShardBytes"/>): a tensor goes to the shard holding its middle byte; the first tensor is in the
        /// first shard and the last in the last, so there are always at least two.</summary>
        static List<List<TensorSource>> Shard(List<TensorSource> tensors)
        {
            var bytes = tensors.Select(t => t.ElementCount * DTypes.SizeOf(t.DType) + 1).ToList(); // +1: empty tensors count too
            long total = bytes.Sum();
            int n = (int)Math.Max(2, Math.Min(tensors.Count, (total + MaxShardBytes - 1) / MaxShardBytes));
            var shards = Enumerable.Range(0, n).Select(_ => new List<TensorSource>()).ToList();
            long before = 0;
            for (int i = 0; i < tensors.Count; i++)
            {
                double middle = before + bytes[i] / 2.0;
                int k = i == 0 ? 0 : i == tensors.Count - 1 ? n - 1 : Math.Min(n - 1, (int)(middle * n / total));
                shards[k].Add(tensors[i]);
                before += bytes[i];
            }
            return shards.Where(s => s.Count > 0).ToList();
        }

        #endregion
    }
}
