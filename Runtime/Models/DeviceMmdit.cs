using System;
using System.Collections.Generic;
using ILGPU;
using ILGPU.Runtime;
using Sd3Tex.Checkpoints;
using Sd3Tex.Kernels;

namespace Sd3Tex.Models
{
    /// <summary>
    /// The SD3 / SD3.5 MMDiT on an ILGPU accelerator: every op is a kernel (GEMM with fused epilogues, adaLN LayerNorm,
    /// flash-style joint attention, QK RMSNorm, patchify, position crop, timestep features). Linear weights are uploaded
    /// once, in their stored dtype (F32, F16 or BF16, decoded inside the GEMM); activations are F32. Intermediate
    /// buffers are allocated for the largest shape seen and reused, so steps allocate no device memory.
    /// Module names mirror the checkpoint keys; the step order follows the reference's <c>mmditx.py</c>
    /// (see <see cref="Reference.ReferenceMmdit"/>, which this is tested against).
    /// </summary>
    public sealed class DeviceMmdit : IMmditModel
    {
        const float Eps = 1e-6f;
        const int HeadDim = MmditConfig.HeadDim;

        readonly ComputeDevice _device;
        readonly bool _ownsDevice;
        readonly Gemm _gemm;
        readonly Norms _norms;
        readonly Activations _act;
        readonly Attention _attn;
        readonly ShapeOps _shape;
        readonly PositionGrid _pos;
        readonly DeviceTensors _weights;
        readonly MemoryBuffer1D<float, Stride1D.Dense> _ones;
        Workspace _ws;
        SinCosGrid? _tableGrid; // the spacing of pos_embed when it is a standard sin-cos table (then larger grids can be generated)
        // pos_embed stays in the checkpoint; the device holds only the centre window of the largest grid seen so far
        Weight _posSource;
        MemoryBuffer1D<float, Stride1D.Dense> _posWindow;
        int _posRows, _posCols;

        public MmditConfig Config { get; }
        public ComputeDevice Device => _device;
        /// <summary>Bytes of the weights: device copies plus <see cref="MappedWeightBytes"/>.</summary>
        public long WeightBytes => _weights.Bytes + _weights.MappedBytes;
        /// <summary>Weight bytes read in place from the checkpoint's memory map (the managed CPU backend's 16-bit linear weights).</summary>
        public long MappedWeightBytes => _weights.MappedBytes;
        /// <summary>Bytes of the position-embedding window on the device (the centre of pos_embed that the largest grid so
        /// far needs: 64 × 64 patches, 25 MB, at 1024² for SD3 Medium; the whole F32 table would be 226 MB, 906 MB for SD3.5).</summary>
        public long PositionWindowBytes => (long)_posRows * _posCols * Config.HiddenSize * 4;
        /// <summary>Allow patch grids beyond the 192 × 192 the models were trained on.</summary>
        public bool AllowLargeGrid { get; set; }

        /// <summary>When set, every forward counts the NaN / ±Inf values of its output on the device before copying it
        /// (<see cref="FiniteCheck"/>: one small reduction, a read-back of at most 1 KB) and throws
        /// <see cref="NonFiniteValuesException"/> when there are any.</summary>
        public bool CheckFinite { get; set; }
        FiniteCheck _finite;

        /// <summary>When set, intermediates named as in the mmdit fixture are copied to the host after each forward.</summary>
        public bool Capture { get; set; }
        public Dictionary<string, float[]> Captured { get; } = new Dictionary<string, float[]>(StringComparer.Ordinal);

        /// <param name="weights">The MMDiT's weights, names without <c>model.diffusion_model.</c>.</param>
        /// <param name="device">The device; disposed with the model when <paramref name="ownsDevice"/>.</param>
        public DeviceMmdit(IReadOnlyDictionary<string, Weight> weights, ComputeDevice device, bool ownsDevice = false)
        {
            Config = MmditConfig.Infer(weights);
            if (Config.QkNormHasBias)
                throw new CheckpointException(null, "MMDiT: QK LayerNorm with bias (qk_norm \"ln\") is not used by any released SD3 model and is not supported on the device; use --device reference.");
            var check = SchemaCheck.Compare(weights, Config.Tensors());
            if (!check.IsComplete)
                throw new CheckpointException(null, $"MMDiT: {check.Missing.Count} tensors missing and {check.WrongShape.Count} wrongly shaped " +
                                                     $"(first: {string.Join(", ", check.Missing)} {string.Join(", ", check.WrongShape)}). Run `sd3tex inspect` for details.");
            _device = device ?? throw new ArgumentNullException(nameof(device));
            _ownsDevice = ownsDevice;
            _weights = new DeviceTensors(device);
            try
            {
                _gemm = new Gemm(device);
                _norms = new Norms(device);
                _act = new Activations(device);
                _attn = new Attention(device);
                _shape = new ShapeOps(device);
                _pos = new PositionGrid(device);
                foreach (var spec in Config.Tensors()) Upload(spec.Name, weights[spec.Name]);
                var ones = new float[Config.HiddenSize];
                for (int i = 0; i < ones.Length; i++) ones[i] = 1f;
                _ones = device.Accelerator.Allocate1D(ones);
            }
            catch
            {
                DisposeBuffers();
                throw;
            }
        }

        /// <summary>Rank-2 ".weight" tensors feed the GEMM in their stored 16-bit type (F8 as F16); everything else is
        /// uploaded as F32.</summary>
        void Upload(string name, Weight w)
        {
            bool linear = w.Shape.Length == 2 && name.EndsWith(".weight", StringComparison.Ordinal);
            if (linear)
            {
                _weights.Put(name, true, w); // in place from the memory map on the managed CPU backend
                return;
            }
            if (name == "pos_embed")
            {
                // kept in the checkpoint (read again when a larger grid comes), never copied whole
                _posSource = w;
                int hid = Config.HiddenSize;
                if (PositionGrid.TryDetectSinCos((cell, row) => w.ReadFloats((long)cell * hid, row), Config.PosEmbedMaxSize, hid, out var grid)) _tableGrid = grid;
                return;
            }
            _weights.Put(name, HostTensor.Prepare(linear, w));
        }

        ArrayView<float> F(string name) => _weights.F(name);

        WeightView Lw(string name) => _weights.Linear(name);

        /// <summary>Linear layer <paramref name="name"/> (weight + bias): c[m, n] = a[m, k] · Wᵀ + b.</summary>
        void Linear(string name, ArrayView<float> a, ArrayView<float> c, int m, int n, int k)
            => _gemm.Linear(a, Lw(name + ".weight"), F(name + ".bias"), c, m, n, k);

        /// <summary>x = x + gate · (a · Wᵀ + b), gate a chunk of a modulation buffer (row stride <paramref name="modStride"/>).</summary>
        void LinearGated(string name, ArrayView<float> a, ArrayView<float> x, ArrayView<float> gate, int m, int n, int k, int tokens, int modStride)
            => _gemm.LinearGatedResidual(a, Lw(name + ".weight"), F(name + ".bias"), x, gate, x, m, n, k, tokens, modStride);

        static ArrayView<float> At(ArrayView<float> v, long offset) => v.SubView(offset, v.Length - offset);

        /// <summary>Device buffers for one (batch, tokens) shape, reused across calls until a larger shape comes.</summary>
        sealed class Workspace : IDisposable
        {
            public readonly int Batch, ImageTokens, ContextTokens, LatentElements;
            readonly List<IDisposable> _all = new List<IDisposable>();
            public readonly MemoryBuffer1D<float, Stride1D.Dense> Latent, Timestep, Y, ContextIn, TEmb, H1, TVec, C, SiluC,
                CMods, XMods, X, Ctx, XMod, CMod, XQkv, CQkv, XAttn, CAttn, Mlp, Final, Out;

            public Workspace(Accelerator acc, MmditConfig cfg, int batch, int latentElements, int tx, int tc)
            {
                Batch = batch; ImageTokens = tx; ContextTokens = tc; LatentElements = latentElements;
                int hid = cfg.HiddenSize;
                long maxRows = (long)batch * Math.Max(tx, tc);
                MemoryBuffer1D<float, Stride1D.Dense> A(long n)
                {
                    var b = acc.Allocate1D<float>(Math.Max(1, n));
                    _all.Add(b);
                    return b;
                }
                Latent = A(latentElements); Out = A(latentElements);
                Timestep = A(batch); Y = A((long)batch * cfg.PooledDim); ContextIn = A((long)batch * tc * cfg.ContextDim);
                TEmb = A((long)batch * MmditConfig.TimestepFrequencyDim);
                H1 = A((long)batch * hid); TVec = A((long)batch * hid); C = A((long)batch * hid); SiluC = A((long)batch * hid);
                CMods = A((long)batch * 6 * hid); XMods = A((long)batch * 9 * hid);
                X = A((long)batch * tx * hid); Ctx = A((long)batch * tc * hid);
                XMod = A((long)batch * tx * hid); CMod = A((long)batch * tc * hid);
                XQkv = A((long)batch * tx * 3 * hid); CQkv = A((long)batch * tc * 3 * hid);
                XAttn = A((long)batch * tx * hid); CAttn = A((long)batch * tc * hid);
                Mlp = A(maxRows * cfg.MlpHidden);
                Final = A((long)batch * tx * cfg.PatchSize * cfg.PatchSize * cfg.OutChannels);
            }

            public bool Fits(int batch, int latentElements, int tx, int tc) =>
                batch == Batch && latentElements == LatentElements && tx == ImageTokens && tc == ContextTokens;

            public void Dispose() { foreach (var b in _all) b.Dispose(); _all.Clear(); }
        }

        void Keep(string name, ArrayView<float> v, long count)
        {
            if (!Capture) return;
            var host = new float[count];
            v.SubView(0, count).CopyToCPU(host);
            Captured[name] = host;
        }

        /// <inheritdoc />
        public float[] Forward(float[] x, int batch, int height, int width, float[] timestep, float[] y, float[] context, int contextTokens,
                               ICollection<int> skipBlocks = null)
        {
            var cfg = Config;
            int p = cfg.PatchSize, hid = cfg.HiddenSize, heads = cfg.NumHeads, c = cfg.InChannels;
            if (batch < 1) throw new ArgumentException("batch must be at least 1");
            if (height % p != 0 || width % p != 0) throw new ArgumentException($"latent {height}×{width} is not a multiple of the patch size {p}");
            int gh = height / p, gw = width / p, tx = gh * gw, tc = contextTokens;
            int latent = batch * c * height * width;
            if (x.Length != latent) throw new ArgumentException($"x holds {x.Length} values, not {batch}×{c}×{height}×{width}");
            if (timestep.Length != batch) throw new ArgumentException($"timestep holds {timestep.Length} values, not {batch}");
            if (y.Length != batch * cfg.PooledDim) throw new ArgumentException($"y holds {y.Length} values, not {batch}×{cfg.PooledDim}");
            if (context.Length != (long)batch * tc * cfg.ContextDim) throw new ArgumentException($"context holds {context.Length} values, not {batch}×{tc}×{cfg.ContextDim}");
            // grids beyond the table are generated with the table's own sin-cos spacing when it has one; grids beyond
            // 192 × 192 patches need AllowLargeGrid (the models were not trained on them)
            PositionGrid.PlanCrop(gh, gw, cfg.PosEmbedMaxSize, _tableGrid.HasValue, AllowLargeGrid);
            bool inTable = gh <= cfg.PosEmbedMaxSize && gw <= cfg.PosEmbedMaxSize;

            if (_ws == null || !_ws.Fits(batch, latent, tx, tc))
            {
                _ws?.Dispose();
                _ws = null;
                _ws = new Workspace(_device.Accelerator, cfg, batch, latent, tx, tc);
            }
            var ws = _ws;
            using var timed = _device.IsManaged && Kernels.Cpu.CpuProfile.Enabled ? Kernels.Cpu.CpuProfile.Time($"(mmdit pass {batch}×{tx}+{tc})") : default;
            Captured.Clear();
            ws.Latent.View.SubView(0, latent).CopyFromCPU(x);
            ws.Timestep.View.SubView(0, batch).CopyFromCPU(timestep);
            ws.Y.View.SubView(0, y.Length).CopyFromCPU(y);
            if (context.Length > 0) ws.ContextIn.View.SubView(0, context.Length).CopyFromCPU(context);

            // x_embedder (conv p×p stride p) + centre-cropped pos_embed → tokens [B, Tx, hid]
            _shape.Patchify(ws.Latent.View, F("x_embedder.proj.weight"), F("x_embedder.proj.bias"), ws.X.View, batch, c, height, width, hid, p);
            if (inTable)
            {
                EnsurePositionWindow(gh, gw);
                if (Capture)
                {
                    using var posOnly = _device.Accelerator.Allocate1D<float>((long)tx * hid);
                    _pos.AddFromWindow(posOnly.View, _posWindow.View, 1, gh, gw, hid, cfg.PosEmbedMaxSize, _posRows, _posCols, accumulate: false);
                    Keep("pos_embed_cropped", posOnly.View, (long)tx * hid);
                }
                _pos.AddFromWindow(ws.X.View, _posWindow.View, batch, gh, gw, hid, cfg.PosEmbedMaxSize, _posRows, _posCols);
            }
            else
            {
                var (top, left) = PositionGrid.PlanCrop(gh, gw, cfg.PosEmbedMaxSize, _tableGrid.HasValue, AllowLargeGrid);
                _pos.AddSinCos(ws.X.View, batch, gh, gw, hid, top, left, _tableGrid.Value);
            }
            Keep("x_embedded", ws.X.View, (long)batch * tx * hid);

            // c = t_embedder(timestep_embedding(t)) + y_embedder(y); the add is fused into the last GEMM (gate = 1)
            _shape.TimestepEmbedding(ws.Timestep.View, ws.TEmb.View, batch, MmditConfig.TimestepFrequencyDim);
            Linear("t_embedder.mlp.0", ws.TEmb.View, ws.H1.View, batch, hid, MmditConfig.TimestepFrequencyDim);
            _act.Silu(ws.H1.View, ws.H1.View, batch * hid);
            Linear("t_embedder.mlp.2", ws.H1.View, ws.TVec.View, batch, hid, hid);
            Linear("y_embedder.mlp.0", ws.Y.View, ws.H1.View, batch, hid, cfg.PooledDim);
            _act.Silu(ws.H1.View, ws.H1.View, batch * hid);
            _gemm.LinearGatedResidual(ws.H1.View, Lw("y_embedder.mlp.2.weight"), F("y_embedder.mlp.2.bias"), ws.TVec.View, _ones.View, ws.C.View,
                                      batch, hid, hid, batch, 0);
            Keep("c", ws.C.View, (long)batch * hid);
            _act.Silu(ws.C.View, ws.SiluC.View, batch * hid);

            // context_embedder
            Linear("context_embedder", ws.ContextIn.View, ws.Ctx.View, batch * tc, hid, cfg.ContextDim);
            Keep("context_embedded", ws.Ctx.View, (long)batch * tc * hid);

            for (int i = 0; i < cfg.Depth; i++)
            {
                if (skipBlocks != null && skipBlocks.Contains(i)) continue;
                JointBlock(i, ws, batch, tx, tc);
                Keep($"block{i}_x", ws.X.View, (long)batch * tx * hid);
                if (i < cfg.Depth - 1) Keep($"block{i}_context", ws.Ctx.View, (long)batch * tc * hid);
            }

            // final_layer: (shift, scale) = adaLN(SiLU(c)); linear(modulate(LN(x))); then unpatchify
            Linear("final_layer.adaLN_modulation.1", ws.SiluC.View, ws.XMods.View, batch, 2 * hid, hid);
            _norms.LayerNormModulate(ws.X.View, ws.XMods.View, At(ws.XMods.View, hid), ws.XMod.View, batch * tx, hid, tx, 2 * hid, Eps);
            int outF = p * p * cfg.OutChannels;
            Linear("final_layer.linear", ws.XMod.View, ws.Final.View, batch * tx, outF, hid);
            Keep("final_tokens", ws.Final.View, (long)batch * tx * outF);
            int outLen = batch * cfg.OutChannels * height * width;
            _shape.Unpatchify(ws.Final.View, ws.Out.View, batch, cfg.OutChannels, height, width, p);
            if (CheckFinite)
            {
                long bad = (_finite = _finite ?? new FiniteCheck(_device)).CountNonFinite(ws.Out.View, outLen);
                if (bad > 0) throw new NonFiniteValuesException("transformer", bad, outLen);
            }
            var result = new float[outLen];
            ws.Out.View.SubView(0, outLen).CopyToCPU(result);
            if (Capture) Captured["out"] = (float[])result.Clone();
            return result;
        }

        /// <summary>Makes the position window cover a gh × gw grid: the centre window of (max rows, max columns) seen
        /// so far, read from the checkpoint's pos_embed row by row (so the checkpoint must stay open, as for the
        /// in-place weights).</summary>
        void EnsurePositionWindow(int gh, int gw)
        {
            if (_posWindow != null && gh <= _posRows && gw <= _posCols) return;
            int M = Config.PosEmbedMaxSize, hid = Config.HiddenSize;
            int rows = Math.Max(gh, _posRows), cols = Math.Max(gw, _posCols);
            var (top, left) = PositionGrid.WindowOrigin(rows, cols, M);
            var host = new float[(long)rows * cols * hid];
            for (int r = 0; r < rows; r++)
                _posSource.ReadFloats(((long)(top + r) * M + left) * hid, new Span<float>(host, r * cols * hid, cols * hid));
            _posWindow?.Dispose();
            _posWindow = null;
            _posWindow = _device.Accelerator.Allocate1D(host);
            _posRows = rows; _posCols = cols;
        }

        void JointBlock(int index, Workspace ws, int batch, int tx, int tc)
        {
            var cfg = Config;
            int hid = cfg.HiddenSize, heads = cfg.NumHeads, mlp = cfg.MlpHidden;
            bool preOnly = index == cfg.Depth - 1;
            bool dual = cfg.IsDualAttention(index);
            string cb = $"joint_blocks.{index}.context_block", xb = $"joint_blocks.{index}.x_block";
            // modulation chunks [B, n·hid]: shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp (, shift_msa2, scale_msa2, gate_msa2)
            int cn = preOnly ? 2 : 6, xn = dual ? 9 : 6;
            int cs = cn * hid, xs = xn * hid;
            var cm = ws.CMods.View;
            var xm = ws.XMods.View;
            Linear(cb + ".adaLN_modulation.1", ws.SiluC.View, cm, batch, cs, hid);
            Linear(xb + ".adaLN_modulation.1", ws.SiluC.View, xm, batch, xs, hid);

            // pre-attention: qkv of the modulated LayerNorm of each stream, optional per-head RMSNorm on q and k
            _norms.LayerNormModulate(ws.Ctx.View, cm, At(cm, hid), ws.CMod.View, batch * tc, hid, tc, cs, Eps);
            Linear(cb + ".attn.qkv", ws.CMod.View, ws.CQkv.View, batch * tc, 3 * hid, hid);
            _norms.LayerNormModulate(ws.X.View, xm, At(xm, hid), ws.XMod.View, batch * tx, hid, tx, xs, Eps);
            Linear(xb + ".attn.qkv", ws.XMod.View, ws.XQkv.View, batch * tx, 3 * hid, hid);
            if (cfg.QkNorm)
            {
                _attn.QkRmsNorm(ws.CQkv.View, batch, tc, heads, HeadDim, F(cb + ".attn.ln_q.weight"), F(cb + ".attn.ln_k.weight"), Eps);
                _attn.QkRmsNorm(ws.XQkv.View, batch, tx, heads, HeadDim, F(xb + ".attn.ln_q.weight"), F(xb + ".attn.ln_k.weight"), Eps);
            }

            // joint attention over [context ; image], context first; each stream's output stays in its own buffer
            _attn.JointAttention(ws.CQkv.View, ws.CAttn.View, tc, ws.XQkv.View, ws.XAttn.View, tx, batch, heads, HeadDim);

            // context stream post-attention (the last block's context is pre-only: nothing more to do)
            if (!preOnly)
            {
                LinearGated(cb + ".attn.proj", ws.CAttn.View, ws.Ctx.View, At(cm, 2 * hid), batch * tc, hid, hid, tc, cs);
                _norms.LayerNormModulate(ws.Ctx.View, At(cm, 3 * hid), At(cm, 4 * hid), ws.CMod.View, batch * tc, hid, tc, cs, Eps);
                _gemm.LinearGeluTanh(ws.CMod.View, Lw(cb + ".mlp.fc1.weight"), F(cb + ".mlp.fc1.bias"), ws.Mlp.View, batch * tc, mlp, hid);
                LinearGated(cb + ".mlp.fc2", ws.Mlp.View, ws.Ctx.View, At(cm, 5 * hid), batch * tc, hid, mlp, tc, cs);
            }

            // image stream: attention residual, then (MMDiT-X) the second self-attention, then the MLP
            if (dual)
            {
                // attn2 reads LN(x) before the first residual: compute its qkv now, reusing the context qkv buffer
                // would not fit, so the image qkv buffer is reused after the joint attention consumed it
                _norms.LayerNormModulate(ws.X.View, At(xm, 6 * hid), At(xm, 7 * hid), ws.XMod.View, batch * tx, hid, tx, xs, Eps);
                Linear(xb + ".attn2.qkv", ws.XMod.View, ws.XQkv.View, batch * tx, 3 * hid, hid);
                if (cfg.QkNorm)
                    _attn.QkRmsNorm(ws.XQkv.View, batch, tx, heads, HeadDim, F(xb + ".attn2.ln_q.weight"), F(xb + ".attn2.ln_k.weight"), Eps);
                LinearGated(xb + ".attn.proj", ws.XAttn.View, ws.X.View, At(xm, 2 * hid), batch * tx, hid, hid, tx, xs);
                _attn.SelfAttention(ws.XQkv.View, ws.XAttn.View, batch, tx, heads, HeadDim);
                LinearGated(xb + ".attn2.proj", ws.XAttn.View, ws.X.View, At(xm, 8 * hid), batch * tx, hid, hid, tx, xs);
            }
            else
            {
                LinearGated(xb + ".attn.proj", ws.XAttn.View, ws.X.View, At(xm, 2 * hid), batch * tx, hid, hid, tx, xs);
            }
            _norms.LayerNormModulate(ws.X.View, At(xm, 3 * hid), At(xm, 4 * hid), ws.XMod.View, batch * tx, hid, tx, xs, Eps);
            _gemm.LinearGeluTanh(ws.XMod.View, Lw(xb + ".mlp.fc1.weight"), F(xb + ".mlp.fc1.bias"), ws.Mlp.View, batch * tx, mlp, hid);
            LinearGated(xb + ".mlp.fc2", ws.Mlp.View, ws.X.View, At(xm, 5 * hid), batch * tx, hid, mlp, tx, xs);
        }

        /// <summary>Frees the intermediate buffers of the last shape (about 0.5 GB at 1024², batch 2) and the managed
        /// backend's idle scratch; the next <see cref="Forward"/> allocates them again. The generator calls it before the
        /// VAE decode, whose activations are the largest of a generation.</summary>
        public void ReleaseWorkspace()
        {
            _ws?.Dispose();
            _ws = null;
            if (_device.IsManaged) Kernels.Cpu.Scratch.Trim();
        }

        void DisposeBuffers()
        {
            _finite?.Dispose();
            _finite = null;
            _ws?.Dispose();
            _ws = null;
            _weights.Dispose();
            _ones?.Dispose();
            _posWindow?.Dispose();
            _posWindow = null;
        }

        public void Dispose()
        {
            DisposeBuffers();
            if (_ownsDevice) _device.Dispose();
        }
    }
}
