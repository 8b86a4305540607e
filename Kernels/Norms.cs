using System;
using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;

namespace Sd3Tex.Kernels
{
    /// <summary>
    /// The scalar arguments of the row-norm kernels. A "row" is a vector of <see cref="Dim"/> contiguous floats;
    /// row r lives at <c>(r / Heads) · RowStride + (r % Heads) · Dim</c>, so a dense [rows, D] tensor has Heads = 1,
    /// RowStride = D, and per-head norms over [tokens, heads·headDim] (possibly inside a wider row, e.g. a fused QKV
    /// buffer) have Dim = headDim, Heads = heads, RowStride = the token row's stride.
    /// </summary>
    public struct RowNormParams
    {
        public int Rows, Dim, Heads, RowStride;
        public float Eps;
        /// <summary>1 when the affine / RMS weight (and for LayerNorm the bias) is applied.</summary>
        public int HasWeight;
        /// <summary>Modulation: rows per batch (row r's batch is r / TokensPerBatch) and the shift/scale batch stride.</summary>
        public int TokensPerBatch, ModStride;
    }

    /// <summary>
    /// Row-wise normalisations on the device, one group per row with a shared-memory tree reduction sized from the
    /// accelerator (group = the largest power of two ≤ min(max threads per group, 256, next power of two ≥ D)); correct
    /// for any D. Statistics are two-pass (mean, then Σ(x − mean)²) in float. In place (y = x) is allowed. Calls are
    /// asynchronous on the default stream and allocate nothing; kernels compile on first use.
    /// <para>The reference it must match is <see cref="NormReference"/>.</para>
    /// </summary>
    public sealed class Norms
    {
        /// <summary>Largest group a row reduction uses.</summary>
        public const int MaxGroup = 256;

        readonly ComputeDevice _device;
        readonly int _maxGroup;
        Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, RowNormParams> _lnMod, _ln;
        Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, RowNormParams> _rms;

        public Norms(ComputeDevice device)
        {
            _device = device ?? throw new ArgumentNullException(nameof(device));
            int limit = Math.Min(MaxGroup, device.Accelerator.MaxNumThreadsPerGroup);
            long smem = device.Accelerator.MaxSharedMemoryPerGroup;
            if (smem > 0) limit = (int)Math.Min(limit, smem / sizeof(float));
            _maxGroup = 1;
            while (_maxGroup * 2 <= limit) _maxGroup *= 2;
        }

        /// <summary>The group size a row of <paramref name="dim"/> floats is reduced with.</summary>
        public int GroupFor(int dim)
        {
            int g = 1;
            while (g < dim && g < _maxGroup) g *= 2;
            return g;
        }

        /// <summary>
        /// MMDiT adaLN: <c>y[r,:] = LN(x[r,:]) · (1 + scale[b,:]) + shift[b,:]</c>, LN without affine,
        /// b = r / tokensPerBatch. x, y [rows, dim]; shift/scale rows of dim at b·modBatchStride (e.g. chunks of the
        /// adaLN output [B, k·hidden]: offset = chunk·hidden, stride = k·hidden).
        /// </summary>
        public void LayerNormModulate(ArrayView<float> x, ArrayView<float> shift, ArrayView<float> scale, ArrayView<float> y,
                                      int rows, int dim, int tokensPerBatch, int modBatchStride, float eps = 1e-6f)
        {
            if (rows == 0) return;
            CheckRows(x, y, rows, dim, 1, dim);
            if (tokensPerBatch < 1) throw new ArgumentException("tokensPerBatch must be at least 1.", nameof(tokensPerBatch));
            long needMod = (long)((rows - 1) / tokensPerBatch) * modBatchStride + dim;
            Need("shift", shift.Length, needMod);
            Need("scale", scale.Length, needMod);
            if (_device.IsManaged)
            {
                using var timed = Cpu.CpuProfile.Enabled ? Cpu.CpuProfile.Time($"layernorm-modulate {rows}×{dim}") : default;
                unsafe { Cpu.CpuOps.LayerNormModulate(P(x), P(shift), P(scale), P(y), rows, dim, tokensPerBatch, modBatchStride, eps); }
                return;
            }
            var p = Params(rows, dim, 1, dim, eps, true);
            p.TokensPerBatch = tokensPerBatch; p.ModStride = modBatchStride;
            _lnMod = _lnMod ?? _device.Accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, RowNormParams>(LayerNormModulateKernel);
            _lnMod(Config(rows, dim), x, shift, scale, y, p);
        }

        /// <summary>
        /// LayerNorm with optional affine (CLIP, eps 1e-5): <c>y[r,:] = (x − mean)/√(var + eps) · weight + bias</c>.
        /// x, y [rows, dim]; weight, bias [dim], or both <c>default</c> for none.
        /// </summary>
        public void LayerNorm(ArrayView<float> x, ArrayView<float> weight, ArrayView<float> bias, ArrayView<float> y,
                              int rows, int dim, float eps = 1e-5f)
        {
            if (rows == 0) return;
            CheckRows(x, y, rows, dim, 1, dim);
            bool affine = weight.Length > 0;
            if (affine) { Need("weight", weight.Length, dim); Need("bias", bias.Length, dim); }
            else { weight = x; bias = x; }
            if (_device.IsManaged)
            {
                using var timed = Cpu.CpuProfile.Enabled ? Cpu.CpuProfile.Time($"layernorm {rows}×{dim}") : default;
                unsafe { Cpu.CpuOps.LayerNorm(P(x), affine ? P(weight) : null, affine ? P(bias) : null, P(y), rows, dim, eps); }
                return;
            }
            _ln = _ln ?? _device.Accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, RowNormParams>(LayerNormKernel);
            _ln(Config(rows, dim), x, weight, bias, y, Params(rows, dim, 1, dim, eps, affine));
        }

        /// <summary>RMSNorm over the last dim: <c>y[r,:] = x[r,:] · rsqrt(mean(x[r,:]²) + eps) · weight</c> (T5: eps 1e-6).
        /// x, y [rows, dim]; weight [dim] or <c>default</c> for none.</summary>
        public void RmsNorm(ArrayView<float> x, ArrayView<float> weight, ArrayView<float> y, int rows, int dim, float eps = 1e-6f) =>
            RmsNormPerHead(x, weight, y, rows, 1, dim, dim, eps);

        /// <summary>
        /// RMSNorm of every head vector (SD3.5 q/k norm): x, y hold <paramref name="rows"/> token rows at stride
        /// <paramref name="rowStride"/> (0 = heads·headDim), each of <paramref name="heads"/> vectors of
        /// <paramref name="headDim"/>; each vector is normalised with the shared weight [headDim].
        /// </summary>
        public void RmsNormPerHead(ArrayView<float> x, ArrayView<float> weight, ArrayView<float> y, int rows, int heads,
                                   int headDim, int rowStride = 0, float eps = 1e-6f)
        {
            if (rowStride == 0) rowStride = heads * headDim;
            if (rows == 0) return;
            CheckRows(x, y, rows, headDim, heads, rowStride);
            bool hasWeight = weight.Length > 0;
            if (hasWeight) Need("weight", weight.Length, headDim); else weight = x;
            if (_device.IsManaged)
            {
                using var timed = Cpu.CpuProfile.Enabled ? Cpu.CpuProfile.Time($"rmsnorm {rows}×{heads}×{headDim}") : default;
                unsafe { Cpu.CpuOps.RmsNormPerHead(P(x), hasWeight ? P(weight) : null, P(y), rows, heads, headDim, rowStride, 0, eps); }
                return;
            }
            _rms = _rms ?? _device.Accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, RowNormParams>(RmsNormKernel);
            _rms(Config(rows * heads, headDim), x, weight, y, Params(rows * heads, headDim, heads, rowStride, eps, hasWeight));
        }

        static unsafe float* P(ArrayView<float> v) => Cpu.CpuBackend.Ptr(v);

        KernelConfig Config(int rows, int dim)
        {
            int g = GroupFor(dim);
            return new KernelConfig(new Index1D(rows), new Index1D(g));
        }

        static RowNormParams Params(int rows, int dim, int heads, int rowStride, float eps, bool weight) => new RowNormParams
        {
            Rows = rows, Dim = dim, Heads = heads, RowStride = rowStride, Eps = eps, HasWeight = weight ? 1 : 0,
            TokensPerBatch = 1, ModStride = 0,
        };

        static void CheckRows(ArrayView<float> x, ArrayView<float> y, int rows, int dim, int heads, int rowStride)
        {
            if (rows < 0 || dim < 1 || heads < 1) throw new ArgumentException($"norm shape rows {rows}, dim {dim}, heads {heads}.");
            if (rowStride < heads * dim) throw new ArgumentException($"row stride {rowStride} < heads·dim {heads * dim}.");
            long need = (long)(rows - 1) * rowStride + (long)heads * dim;
            if (need > int.MaxValue) throw new ArgumentException("norm operands over 2^31 elements: split the call.");
            Need("x", x.Length, need);
            Need("y", y.Length, need);
        }

        static void Need(string what, long have, long need)
        {
            if (have < need) throw new ArgumentException($"{what} holds {have} elements; the norm shape needs {need}.");
        }

        static int RowOffset(RowNormParams p, int row)
        {
            int outer = row / p.Heads;
            return outer * p.RowStride + (row - outer * p.Heads) * p.Dim;
        }

        /// <summary>Mean and 1/√(var + eps) of the group's row (every thread gets both).</summary>
        static void MeanRstd(ArrayView<float> x, ArrayView<float> scratch, int o, RowNormParams p, out float mean, out float rstd)
        {
            int tid = Group.IdxX, step = Group.DimX;
            float s = 0f;
            for (int i = tid; i < p.Dim; i += step) s += x[o + i];
            mean = KernelMath.GroupSum(scratch, s) / p.Dim;
            float q = 0f;
            for (int i = tid; i < p.Dim; i += step)
            {
                float d = x[o + i] - mean;
                q += d * d;
            }
            rstd = XMath.Rsqrt(KernelMath.GroupSum(scratch, q) / p.Dim + p.Eps);
        }

        /// <summary>
        /// One group per row r of x [rows, Dim]: <c>y[r,i] = (x[r,i] − mean)·rstd·(1 + scale[b·ModStride + i]) +
        /// shift[b·ModStride + i]</c>, b = r / TokensPerBatch. Dynamic shared memory: one float per thread.
        /// </summary>
        public static void LayerNormModulateKernel(ArrayView<float> x, ArrayView<float> shift, ArrayView<float> scale,
                                                   ArrayView<float> y, RowNormParams p)
        {
            var scratch = SharedMemory.Allocate<float>(MaxGroup) /* static: no program-scope variables in OpenCL C */;
            int row = Grid.IdxX;
            int o = RowOffset(p, row);
            MeanRstd(x, scratch, o, p, out float mean, out float rstd);
            int mo = (row / p.TokensPerBatch) * p.ModStride;
            for (int i = Group.IdxX; i < p.Dim; i += Group.DimX)
                y[o + i] = (x[o + i] - mean) * rstd * (1f + scale[mo + i]) + shift[mo + i];
        }

        /// <summary>
        /// One group per row r of x [rows, Dim]: <c>y[r,i] = (x[r,i] − mean)·rstd·weight[i] + bias[i]</c>
        /// (weight and bias only when HasWeight). Dynamic shared memory: one float per thread.
        /// </summary>
        public static void LayerNormKernel(ArrayView<float> x, ArrayView<float> weight, ArrayView<float> bias,
                                           ArrayView<float> y, RowNormParams p)
        {
            var scratch = SharedMemory.Allocate<float>(MaxGroup) /* static: no program-scope variables in OpenCL C */;
            int o = RowOffset(p, Grid.IdxX);
            MeanRstd(x, scratch, o, p, out float mean, out float rstd);
            for (int i = Group.IdxX; i < p.Dim; i += Group.DimX)
            {
                float v = (x[o + i] - mean) * rstd;
                y[o + i] = p.HasWeight != 0 ? v * weight[i] + bias[i] : v;
            }
        }

        /// <summary>
        /// One group per row vector r (see <see cref="RowNormParams"/> for where it lives):
        /// <c>y[r,i] = x[r,i] · rsqrt(Σ x[r,:]² / Dim + eps) · weight[i]</c> (weight only when HasWeight).
        /// Dynamic shared memory: one float per thread.
        /// </summary>
        public static void RmsNormKernel(ArrayView<float> x, ArrayView<float> weight, ArrayView<float> y, RowNormParams p)
        {
            var scratch = SharedMemory.Allocate<float>(MaxGroup) /* static: no program-scope variables in OpenCL C */;
            int o = RowOffset(p, Grid.IdxX);
            float q = 0f;
            for (int i = Group.IdxX; i < p.Dim; i += Group.DimX)
            {
                float v = x[o + i];
                q += v * v;
            }
            float r = XMath.Rsqrt(KernelMath.GroupSum(scratch, q) / p.Dim + p.Eps);
            for (int i = Group.IdxX; i < p.Dim; i += Group.DimX)
            {
                float v = x[o + i] * r;
                y[o + i] = p.HasWeight != 0 ? v * weight[i] : v;
            }
        }
    }
}
