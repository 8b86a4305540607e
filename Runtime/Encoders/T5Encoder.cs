using System;
using System.Collections.Generic;
using ILGPU;
using ILGPU.Runtime;
using Sd3Tex.Checkpoints;
using Sd3Tex.Kernels;
using Sd3Tex.Models;

namespace Sd3Tex.Encoders
{
    /// <summary>
    /// The T5 v1.1 encoder on an ILGPU accelerator: a gather kernel for the embeddings (table kept in its stored type);
    /// the relative position bias [H, T, T] built on the host from block 0's table once per sequence length and added
    /// inside the flash attention in every block (scale 1, no mask); per block RMSNorm, one GEMM for q ‖ k ‖ v, the
    /// attention, o with the residual add fused, RMSNorm, one GEMM for wi_0 ‖ wi_1, the gated GELU kernel, wo with the
    /// residual add; a final RMSNorm.
    /// <para>Weights stay on the device in their stored type: F16 and BF16 as they are; F8 (E4M3 / E5M2, as in
    /// <c>t5xxl_fp8_e4m3fn</c>) is converted on upload to F16, which holds every F8 value exactly (twice the F8 bytes,
    /// half of F32); F32 as F32. Activations are F32 (so F16 weights cannot overflow them).</para>
    /// <para>With <c>streamWeights</c>, only the embeddings, the position table and the final norm stay resident and
    /// each block's weights are uploaded into one reused buffer set just before the block runs (the host converts a
    /// block while the device still runs the previous one): T5-XXL then needs about 0.4 GB of device memory for its
    /// blocks instead of 9.5 GB, at the cost of re-uploading them every call.</para>
    /// Tested against <see cref="Reference.ReferenceT5"/>.
    /// </summary>
    public sealed class T5Encoder : IT5Encoder
    {
        const float Eps = TextEncoderSetup.T5RmsNormEps;
        const string RelBias = "encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight";

        readonly ComputeDevice _device;
        readonly bool _ownsDevice;
        readonly IReadOnlyDictionary<string, Weight> _weights;
        readonly Gemm _gemm;
        readonly Norms _norms;
        readonly Attention _attn;
        readonly TextEncoderOps _ops;
        readonly DeviceTensors _t;
        readonly float[] _relTable;
        readonly MemoryBuffer1D<float, Stride1D.Dense> _ones;
        MemoryBuffer1D<float, Stride1D.Dense> _bias;
        int _biasTokens;
        int _loadedBlock = -1;
        Workspace _ws;

        public T5Config Config { get; }
        public ComputeDevice Device => _device;
        /// <summary>True when block weights are uploaded block by block on every call.</summary>
        public bool StreamsWeights { get; }
        /// <summary>Device bytes held by the weights (with streaming: the resident ones plus one block's buffer set).</summary>
        public long WeightBytes => _t.Bytes + _t.MappedBytes; // mapped: the managed CPU backend's in-place weights

        /// <param name="weights">The encoder's weights, names without <c>text_encoders.t5xxl.transformer.</c>. With
        /// streaming they must stay readable (the checkpoint open) for the encoder's lifetime.</param>
        /// <param name="device">The device; disposed with the encoder when <paramref name="ownsDevice"/>.</param>
        /// <param name="streamWeights">Upload one block at a time (true), everything once (false), or decide from the
        /// device's memory (null, see <see cref="ShouldStream"/>).</param>
        public T5Encoder(IReadOnlyDictionary<string, Weight> weights, ComputeDevice device, bool? streamWeights = null, bool ownsDevice = false)
        {
            Config = TextEncoderSetup.T5(weights);
            _device = device ?? throw new ArgumentNullException(nameof(device));
            _ownsDevice = ownsDevice;
            _weights = weights;
            StreamsWeights = streamWeights ?? ShouldStream(weights, device);
            _t = new DeviceTensors(device);
            try
            {
                _gemm = new Gemm(device);
                _norms = new Norms(device);
                _attn = new Attention(device);
                _ops = new TextEncoderOps(device);
                _relTable = weights[RelBias].ReadFloats();
                _t.Put("embed", true, weights[Config.EmbeddingKey]);
                _t.Put("final", false, weights["encoder.final_layer_norm.weight"]);
                if (StreamsWeights) PutBlock(0, PrepareBlock(0));
                else for (int l = 0; l < Config.Layers; l++) PutBlock(l, PrepareBlock(l));
                var ones = new float[Math.Max(Config.DModel, 1)];
                for (int i = 0; i < ones.Length; i++) ones[i] = 1f;
                _ones = device.Accelerator.Allocate1D(ones);
            }
            catch
            {
                DisposeBuffers();
                throw;
            }
        }

        /// <summary>Device bytes of all of T5's weights when resident (16-bit linear weights and embeddings, F8 as F16).</summary>
        public static long ResidentBytes(IReadOnlyDictionary<string, Weight> weights)
        {
            long n = 0;
            foreach (var kv in weights)
            {
                if (kv.Key == "shared.weight" && weights.ContainsKey("encoder.embed_tokens.weight")) continue; // tied copy, uploaded once
                if (!DTypes.IsFloat(kv.Value.DType)) continue;
                n += HostTensor.DeviceBytesOf(kv.Value.Shape.Length == 2, kv.Value);
            }
            return n;
        }

        /// <summary>
        /// The automatic choice: stream on a GPU whose memory cannot hold the resident weights with room to spare (they
        /// may take at most 60 % of it, leaving the rest to the MMDiT, the VAE and the workspaces); never on the CPU
        /// accelerator, whose "device" memory is host memory the weights are mapped in anyway.
        /// </summary>
        public static bool ShouldStream(IReadOnlyDictionary<string, Weight> weights, ComputeDevice device, double fraction = 0.6)
        {
            if (device.Kind == DeviceKind.Cpu) return false;
            long memory = device.Accelerator.MemorySize;
            return memory > 0 && ResidentBytes(weights) > fraction * memory;
        }

        string Slot(int layer, string name) => (StreamsWeights ? "blk." : $"b{layer}.") + name;

        /// <summary>A block's weights converted on the host: fused q ‖ k ‖ v and wi_0 ‖ wi_1.</summary>
        HostTensor[] PrepareBlock(int l)
        {
            string n = $"encoder.block.{l}.layer.";
            Weight W(string x) => _weights[n + x];
            return new[]
            {
                HostTensor.Prepare(false, W("0.layer_norm.weight")),
                HostTensor.Prepare(true, W("0.SelfAttention.q.weight"), W("0.SelfAttention.k.weight"), W("0.SelfAttention.v.weight")),
                HostTensor.Prepare(true, W("0.SelfAttention.o.weight")),
                HostTensor.Prepare(false, W("1.layer_norm.weight")),
                HostTensor.Prepare(true, W("1.DenseReluDense.wi_0.weight"), W("1.DenseReluDense.wi_1.weight")),
                HostTensor.Prepare(true, W("1.DenseReluDense.wo.weight")),
            };
        }

        static readonly string[] BlockNames = { "ln0", "qkv", "o", "ln1", "wi", "wo" };

        void PutBlock(int l, HostTensor[] block)
        {
            for (int i = 0; i < block.Length; i++) _t.Put(Slot(l, BlockNames[i]), block[i]);
            _loadedBlock = l;
        }

        /// <summary>Streaming: block l's weights into the slot buffers, unless they hold them already. The host converts
        /// them while the device still runs the kernels already queued; it is synchronised only before the overwrite.</summary>
        void EnsureBlock(int l)
        {
            if (_loadedBlock == l) return;
            var block = PrepareBlock(l);
            _device.Accelerator.Synchronize();
            PutBlock(l, block);
        }

        sealed class Workspace : IDisposable
        {
            public readonly long Rows;
            readonly List<IDisposable> _all = new List<IDisposable>();
            public readonly MemoryBuffer1D<int, Stride1D.Dense> Ids;
            public readonly MemoryBuffer1D<float, Stride1D.Dense> X, H, Qkv, Attn, Wi, Ff;

            public Workspace(Accelerator acc, T5Config cfg, long rows)
            {
                Rows = rows;
                long inner = (long)cfg.Heads * cfg.DKv;
                MemoryBuffer1D<float, Stride1D.Dense> A(long n) { var b = acc.Allocate1D<float>(Math.Max(1, n)); _all.Add(b); return b; }
                Ids = acc.Allocate1D<int>(rows); _all.Add(Ids);
                X = A(rows * cfg.DModel); H = A(rows * cfg.DModel); Qkv = A(rows * 3 * inner); Attn = A(rows * inner);
                Wi = A(rows * 2 * cfg.DFf); Ff = A(rows * cfg.DFf);
            }

            public void Dispose() { foreach (var b in _all) b.Dispose(); _all.Clear(); }
        }

        public float[] Encode(int[] ids, int batch, int tokens)
        {
            var cfg = Config;
            int t = tokens, d = cfg.DModel, heads = cfg.Heads, dkv = cfg.DKv, inner = heads * dkv, ff = cfg.DFf;
            TextEncoderSetup.CheckIds("T5-XXL", ids, batch, t, cfg.VocabSize);
            int rows = batch * t;
            var acc = _device.Accelerator;
            if (_ws == null || _ws.Rows < rows)
            {
                _ws?.Dispose();
                _ws = null;
                _ws = new Workspace(acc, cfg, rows);
            }
            if (_bias == null || _biasTokens != t)
            {
                _bias?.Dispose();
                _bias = null;
                _bias = acc.Allocate1D(T5RelativePosition.Bias(_relTable, cfg.NumBuckets, heads, t));
                _biasTokens = t;
            }
            var ws = _ws;
            ws.Ids.View.SubView(0, rows).CopyFromCPU(ids);
            _ops.Gather(ws.Ids.View, _t.Table("embed"), default, 0, ws.X.View, rows, d, cfg.VocabSize);

            var options = new AttentionOptions { Scale = 1f, Bias = _bias.View };
            for (int l = 0; l < cfg.Layers; l++)
            {
                if (StreamsWeights) EnsureBlock(l);
                _norms.RmsNorm(ws.X.View, _t.F(Slot(l, "ln0")), ws.H.View, rows, d, Eps);
                _gemm.Linear(ws.H.View, _t.Linear(Slot(l, "qkv")), default, ws.Qkv.View, rows, 3 * inner, d);
                _attn.SelfAttention(ws.Qkv.View, ws.Attn.View, batch, t, heads, dkv, options);
                _gemm.LinearGatedResidual(ws.Attn.View, _t.Linear(Slot(l, "o")), default, ws.X.View, _ones.View, ws.X.View, rows, d, inner, 1, 0);
                _norms.RmsNorm(ws.X.View, _t.F(Slot(l, "ln1")), ws.H.View, rows, d, Eps);
                _gemm.Linear(ws.H.View, _t.Linear(Slot(l, "wi")), default, ws.Wi.View, rows, 2 * ff, d);
                _ops.GatedGelu(ws.Wi.View, ws.Ff.View, rows, ff);
                _gemm.LinearGatedResidual(ws.Ff.View, _t.Linear(Slot(l, "wo")), default, ws.X.View, _ones.View, ws.X.View, rows, d, ff, 1, 0);
            }
            _norms.RmsNorm(ws.X.View, _t.F("final"), ws.H.View, rows, d, Eps);
            var result = new float[(long)rows * d];
            ws.H.View.SubView(0, result.LongLength).CopyToCPU(result);
            return result;
        }

        void DisposeBuffers()
        {
            _ws?.Dispose();
            _ws = null;
            _bias?.Dispose();
            _bias = null;
            _t.Dispose();
            _ones?.Dispose();
        }

        public void Dispose()
        {
            DisposeBuffers();
            if (_ownsDevice) _device.Dispose();
        }
    }
}
