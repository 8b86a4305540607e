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
    /// A CLIP text encoder (CLIP-L or CLIP-G) on an ILGPU accelerator: the embedding lookup is a gather kernel over the
    /// table in its stored type (F16/BF16 decoded in the kernel) that adds the position table; per block a LayerNorm,
    /// one GEMM for the fused q ‖ k ‖ v projection, causal flash attention, the out projection with the residual add
    /// fused into the GEMM, LayerNorm, fc1, the activation (quick_gelu or erf-GELU) and fc2 with the residual add.
    /// Linear weights stay on the device in their stored type; activations are F32. The workspace is allocated for the
    /// largest batch seen and reused. Tested against <see cref="Reference.ReferenceClip"/>.
    /// </summary>
    public sealed class ClipEncoder : IClipEncoder
    {
        const float Eps = TextEncoderSetup.ClipLayerNormEps;
        const string P = "text_model.";

        readonly ComputeDevice _device;
        readonly bool _ownsDevice;
        readonly Gemm _gemm;
        readonly Norms _norms;
        readonly Activations _act;
        readonly Attention _attn;
        readonly TextEncoderOps _ops;
        readonly DeviceTensors _t;
        readonly MemoryBuffer1D<float, Stride1D.Dense> _ones;
        Workspace _ws;

        public ClipConfig Config { get; }
        public Component Role { get; }
        public ComputeDevice Device => _device;
        /// <summary>Bytes of the weights: device copies plus, on the managed CPU backend, those read in place from the memory map.</summary>
        public long WeightBytes => _t.Bytes + _t.MappedBytes;

        /// <param name="weights">The encoder's weights, names without <c>text_encoders.clip_x.transformer.</c>.</param>
        /// <param name="role">CLIP-L (quick_gelu) or CLIP-G (erf-GELU).</param>
        /// <param name="device">The device; disposed with the encoder when <paramref name="ownsDevice"/>.</param>
        /// <param name="heads">Attention heads; null infers 64-wide heads (see <see cref="TextEncoderSetup.Clip"/>).</param>
        public ClipEncoder(IReadOnlyDictionary<string, Weight> weights, Component role, ComputeDevice device, int? heads = null, bool ownsDevice = false)
        {
            Config = TextEncoderSetup.Clip(weights, role, heads);
            Role = role;
            _device = device ?? throw new ArgumentNullException(nameof(device));
            _ownsDevice = ownsDevice;
            _t = new DeviceTensors(device);
            try
            {
                _gemm = new Gemm(device);
                _norms = new Norms(device);
                _act = new Activations(device);
                _attn = new Attention(device);
                _ops = new TextEncoderOps(device);
                Upload(weights);
                var ones = new float[Math.Max(Config.HiddenSize, 1)];
                for (int i = 0; i < ones.Length; i++) ones[i] = 1f;
                _ones = device.Accelerator.Allocate1D(ones);
            }
            catch
            {
                DisposeBuffers();
                throw;
            }
        }

        void Upload(IReadOnlyDictionary<string, Weight> w)
        {
            _t.Put("tok", true, w[P + "embeddings.token_embedding.weight"]);
            _t.Put("pos", false, w[P + "embeddings.position_embedding.weight"]);
            for (int l = 0; l < Config.Layers; l++)
            {
                string n = $"{P}encoder.layers.{l}.", s = $"L{l}.";
                Weight W(string x) => w[n + x];
                foreach (var ln in new[] { "layer_norm1", "layer_norm2" })
                {
                    _t.Put(s + ln + ".weight", false, W(ln + ".weight"));
                    _t.Put(s + ln + ".bias", false, W(ln + ".bias"));
                }
                _t.Put(s + "qkv.weight", true, W("self_attn.q_proj.weight"), W("self_attn.k_proj.weight"), W("self_attn.v_proj.weight"));
                _t.Put(s + "qkv.bias", false, W("self_attn.q_proj.bias"), W("self_attn.k_proj.bias"), W("self_attn.v_proj.bias"));
                foreach (var lin in new[] { "self_attn.out_proj", "mlp.fc1", "mlp.fc2" })
                {
                    _t.Put(s + lin + ".weight", true, W(lin + ".weight"));
                    _t.Put(s + lin + ".bias", false, W(lin + ".bias"));
                }
            }
            _t.Put("final.weight", false, w[P + "final_layer_norm.weight"]);
            _t.Put("final.bias", false, w[P + "final_layer_norm.bias"]);
            if (Config.ProjectionDim.HasValue) _t.Put("proj", true, w["text_projection.weight"]);
        }

        /// <summary>Device buffers for one batch size, reused until a larger one comes.</summary>
        sealed class Workspace : IDisposable
        {
            public readonly int Batch;
            readonly List<IDisposable> _all = new List<IDisposable>();
            public readonly MemoryBuffer1D<int, Stride1D.Dense> Ids, PoolRows;
            public readonly MemoryBuffer1D<float, Stride1D.Dense> X, H, Qkv, Attn, Mlp, Pooled, Projected;

            public Workspace(Accelerator acc, ClipConfig cfg, int batch)
            {
                Batch = batch;
                long rows = (long)batch * cfg.MaxPositions, d = cfg.HiddenSize;
                MemoryBuffer1D<float, Stride1D.Dense> A(long n) { var b = acc.Allocate1D<float>(Math.Max(1, n)); _all.Add(b); return b; }
                Ids = acc.Allocate1D<int>(rows); _all.Add(Ids);
                PoolRows = acc.Allocate1D<int>(batch); _all.Add(PoolRows);
                X = A(rows * d); H = A(rows * d); Qkv = A(rows * 3 * d); Attn = A(rows * d); Mlp = A(rows * cfg.IntermediateSize);
                Pooled = A(batch * d); Projected = A(batch * (long)(cfg.ProjectionDim ?? 1));
            }

            public void Dispose() { foreach (var b in _all) b.Dispose(); _all.Clear(); }
        }

        public ClipOutput Encode(int[] ids, int batch)
        {
            var cfg = Config;
            int t = cfg.MaxPositions, d = cfg.HiddenSize, heads = cfg.Heads.Value, hd = d / heads, ff = cfg.IntermediateSize;
            TextEncoderSetup.CheckIds(TextEncoderSetup.NameOf(Role), ids, batch, t, cfg.VocabSize);
            if (_ws == null || _ws.Batch < batch)
            {
                _ws?.Dispose();
                _ws = null;
                _ws = new Workspace(_device.Accelerator, cfg, batch);
            }
            var ws = _ws;
            int rows = batch * t;
            long n = (long)rows * d;
            ws.Ids.View.SubView(0, rows).CopyFromCPU(ids);
            var poolRows = TextEncoderSetup.PooledIndices(ids, batch, t);
            for (int b = 0; b < batch; b++) poolRows[b] += b * t;
            ws.PoolRows.View.SubView(0, batch).CopyFromCPU(poolRows);

            // token_embedding[ids] + position_embedding[t]
            _ops.Gather(ws.Ids.View, _t.Table("tok"), _t.F("pos"), t, ws.X.View, rows, d, cfg.VocabSize);

            float[] penultimate = null;
            if (cfg.Layers == 1) penultimate = Download(ws.X.View, n);
            var act = cfg.Activation == "quick_gelu" ? Activation.QuickGelu : Activation.GeluErf;
            var options = new AttentionOptions { Causal = true };
            for (int l = 0; l < cfg.Layers; l++)
            {
                string s = $"L{l}.";
                _norms.LayerNorm(ws.X.View, _t.F(s + "layer_norm1.weight"), _t.F(s + "layer_norm1.bias"), ws.H.View, rows, d, Eps);
                _gemm.Linear(ws.H.View, _t.Linear(s + "qkv.weight"), _t.F(s + "qkv.bias"), ws.Qkv.View, rows, 3 * d, d);
                _attn.SelfAttention(ws.Qkv.View, ws.Attn.View, batch, t, heads, hd, options);
                Residual(s + "self_attn.out_proj", ws.Attn.View, ws.X.View, rows, d, d);
                _norms.LayerNorm(ws.X.View, _t.F(s + "layer_norm2.weight"), _t.F(s + "layer_norm2.bias"), ws.H.View, rows, d, Eps);
                _gemm.Linear(ws.H.View, _t.Linear(s + "mlp.fc1.weight"), _t.F(s + "mlp.fc1.bias"), ws.Mlp.View, rows, ff, d);
                _act.Apply(act, ws.Mlp.View, ws.Mlp.View, (int)((long)rows * ff));
                Residual(s + "mlp.fc2", ws.Mlp.View, ws.X.View, rows, d, ff);
                if (l == cfg.Layers - 2) penultimate = Download(ws.X.View, n);
            }

            _norms.LayerNorm(ws.X.View, _t.F("final.weight"), _t.F("final.bias"), ws.H.View, rows, d, Eps);
            var normed = Download(ws.H.View, n);
            // the pooled rows: a gather from the normed output at b·T + argmax(ids[b])
            _ops.Gather(ws.PoolRows.View, TableView.FromF32(ws.H.View), default, 0, ws.Pooled.View, batch, d, rows);
            var pooled = Download(ws.Pooled.View, (long)batch * d);
            float[] projected = null;
            int pdim = cfg.ProjectionDim ?? 0;
            if (cfg.ProjectionDim.HasValue)
            {
                _gemm.Linear(ws.Pooled.View, _t.Linear("proj"), default, ws.Projected.View, batch, pdim, d);
                projected = Download(ws.Projected.View, (long)batch * pdim);
            }
            return new ClipOutput(batch, t, d, penultimate, normed, pooled, projected, pdim);
        }

        /// <summary>x = x + (a · Wᵀ + b) for the linear layer <paramref name="name"/>, the add fused into the GEMM (gate 1).</summary>
        void Residual(string name, ArrayView<float> a, ArrayView<float> x, int rows, int n, int k)
            => _gemm.LinearGatedResidual(a, _t.Linear(name + ".weight"), _t.F(name + ".bias"), x, _ones.View, x, rows, n, k, 1, 0);

        static float[] Download(ArrayView<float> v, long count)
        {
            var host = new float[count];
            v.SubView(0, count).CopyToCPU(host);
            return host;
        }

        void DisposeBuffers()
        {
            _ws?.Dispose();
            _ws = null;
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
