using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;

namespace Sd3Tex.Checkpoints
{
    /// <summary>The on-disk layouts a checkpoint can be written in.</summary>
    public enum CheckpointLayout { Single, Separate, Diffusers }

    /// <summary>A tensor to write under its internal name: dtype, shape and a callback that streams its bytes.</summary>
    public sealed class TensorSource
    {
        public string Name { get; }
        public DType DType { get; }
        public long[] Shape { get; }
        public Action<Stream> Write { get; }
        public long ElementCount => Shape.Aggregate(1L, (a, b) => a * b);

        public TensorSource(string name, DType dtype, long[] shape, Action<Stream> write) { Name = name; DType = dtype; Shape = shape; Write = write; }

        /// <summary>The stored bytes of a loaded weight, copied as they are (no conversion).</summary>
        public static TensorSource From(Weight w) => new TensorSource(w.Name, w.DType, w.Shape, s =>
        {
            const int chunk = 1 << 22;
            var buf = new byte[chunk];
            int size = DTypes.SizeOf(w.DType);
            foreach (var p in w.Parts)
            {
                long total = p.Count * size, done = 0;
                while (done < total)
                {
                    int n = (int)Math.Min(chunk, total - done);
                    p.Source.File.GetBytes(p.Source, p.Start * size + done, n).CopyTo(buf);
                    s.Write(buf, 0, n);
                    done += n;
                }
            }
        });
    }

    /// <summary>
    /// Writes tensors named with the internal (single-file) keys in any of the three layouts users download:
    /// one file; separate files (<c>sd3_model.safetensors</c>, <c>clip_l.safetensors</c>, <c>clip_g.safetensors</c>,
    /// <c>t5xxl.safetensors</c>, <c>vae.safetensors</c> with the component prefixes removed, as distributed); or a
    /// diffusers folder. Used by <c>make-random-checkpoint</c> and by the layout tests.
    /// </summary>
    public static class CheckpointWriter
    {
        public static readonly IReadOnlyDictionary<Component, string> SeparateFileNames = new Dictionary<Component, string>
        {
            [Component.Mmdit] = "sd3_model.safetensors",
            [Component.ClipL] = "clip_l.safetensors",
            [Component.ClipG] = "clip_g.safetensors",
            [Component.T5xxl] = "t5xxl.safetensors",
            [Component.Vae] = "vae.safetensors",
        };

        /// <summary>The <c>__metadata__</c> key of a single file that declares a CLIP's attention heads
        /// (<c>text_encoders.clip_l.num_attention_heads</c>); a separate CLIP file uses <see cref="HeadsKey"/>.</summary>
        public static string SingleFileHeadsKey(Component clip) => "text_encoders." + Checkpoint.KeyOf(clip) + "." + HeadsKey;

        /// <summary>The <c>__metadata__</c> key of a CLIP file declaring its attention heads, as transformers'
        /// <c>config.json</c> names them.</summary>
        public const string HeadsKey = "num_attention_heads";

        /// <summary>Writes <paramref name="tensors"/> to <paramref name="output"/> (a file for Single, a folder otherwise).
        /// Returns the paths written. <paramref name="clipHeads"/> declares the CLIP encoders' attention heads, which the
        /// weights do not hold (needed for CLIPs whose width is not a multiple of 64): in the <c>__metadata__</c> of the
        /// single file (<see cref="SingleFileHeadsKey"/>) or of each separate CLIP file (<see cref="HeadsKey"/>), and in
        /// the diffusers text encoders' <c>config.json</c> (<c>num_attention_heads</c>), where diffusers keeps them.</summary>
        public static List<string> Write(IEnumerable<TensorSource> tensors, CheckpointLayout layout, string output,
                                         IReadOnlyDictionary<Component, int> clipHeads = null)
        {
            var list = tensors.ToList();
            clipHeads = clipHeads ?? new Dictionary<Component, int>();
            switch (layout)
            {
                case CheckpointLayout.Single:
                {
                    var w = new SafetensorsWriter();
                    foreach (var kv in clipHeads.OrderBy(kv => kv.Key))
                        if (list.Any(t => t.Name.StartsWith(Checkpoint.PrefixOf(kv.Key), StringComparison.Ordinal)))
                            w.SetMetadata(SingleFileHeadsKey(kv.Key), kv.Value.ToString(System.Globalization.CultureInfo.InvariantCulture));
                    foreach (var t in list) w.Add(t.Name, t.DType, t.Shape, t.Write);
                    w.Write(output);
                    return new List<string> { output };
                }
                case CheckpointLayout.Separate:
                {
                    Directory.CreateDirectory(output);
                    var written = new List<string>();
                    foreach (var group in GroupByComponent(list))
                    {
                        var w = new SafetensorsWriter();
                        // the diffusion model keeps its prefix, as in Stability's sd3.5_large.safetensors; the encoders
                        // drop theirs, as in clip_l.safetensors / t5xxl_fp16.safetensors; the VAE file uses LDM names
                        string strip = group.Key == Component.Mmdit ? "" : Checkpoint.PrefixOf(group.Key);
                        if (clipHeads.TryGetValue(group.Key, out int heads))
                            w.SetMetadata(HeadsKey, heads.ToString(System.Globalization.CultureInfo.InvariantCulture));
                        foreach (var t in group.Value) w.Add(t.Name.Substring(strip.Length), t.DType, t.Shape, t.Write);
                        string path = Path.Combine(output, SeparateFileNames[group.Key]);
                        w.Write(path);
                        written.Add(path);
                    }
                    return written;
                }
                default:
                    return DiffusersWriter.Write(GroupByComponent(list), output, clipHeads);
            }
        }

        /// <summary>Splits internal names by component; a name of no component is an error.</summary>
        public static SortedDictionary<Component, List<TensorSource>> GroupByComponent(IEnumerable<TensorSource> tensors)
        {
            var r = new SortedDictionary<Component, List<TensorSource>>();
            foreach (var t in tensors)
            {
                Component? c = null;
                foreach (Component x in Enum.GetValues(typeof(Component)))
                    if (t.Name.StartsWith(Checkpoint.PrefixOf(x), StringComparison.Ordinal)) c = x;
                if (c == null) throw new ArgumentException($"\"{t.Name}\" belongs to no SD3 component");
                if (!r.TryGetValue(c.Value, out var l)) r[c.Value] = l = new List<TensorSource>();
                l.Add(t);
            }
            return r;
        }
    }
}
