using System;
using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;

namespace Sd3Tex.Kernels
{
    /// <summary>The scalar arguments of <see cref="SpatialAttention"/>'s small kernels.</summary>
    public struct SpatialAttentionParams
    {
        /// <summary>Transpose: [Batch, Rows, Cols] → [Batch, Cols, Rows]. Softmax: Rows rows of Cols scores.</summary>
        public int Batch, Rows, Cols;
        public float Scale;
    }

    /// <summary>
    /// The VAE's mid-block attention: ONE head over all H·W positions with head size = channels (512 in SD3). That is
    /// far beyond what the flash kernel's shared-memory tiles hold well (<see cref="Attention"/> is tuned for head
    /// sizes up to 128; at 512 its tiles would shrink to 4 × 4 and one group would hold ~32 KB), so the attention runs
    /// as two matrix products on the <see cref="Conv2d"/> implicit-GEMM kernel (a 1 × 1 convolution is exactly a
    /// GEMM whose "weights" may be any F32 tensor), in chunks of query rows whose full score rows fit a caller-given
    /// scratch buffer:
    /// <c>S[r, T] = Qᵀ[rows, C] · K[C, T]</c>, an exact row softmax of <c>scale · S</c> in place (the whole row is there,
    /// so no online rescaling is needed), then <c>Oᵀ[rows, C] = P[r, T] · Vᵀ[T, C]</c>. With a scratch of T·T floats
    /// there is one chunk per image; smaller scratches trade launches for memory (one row, T floats, is the least).
    /// Kernels compile when this is constructed; calls enqueue on the default stream and allocate nothing.
    /// <para>The reference it must match is <see cref="ConvReference.SpatialAttention"/>.</para>
    /// </summary>
    public sealed class SpatialAttention
    {
        /// <summary>Largest softmax reduction group.</summary>
        public const int MaxGroup = 256;

        readonly ComputeDevice _device;
        readonly Conv2d _conv;
        readonly KernelPath _path;
        readonly int _group;
        readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>, SpatialAttentionParams> _transpose;
        readonly Action<KernelConfig, ArrayView<float>, SpatialAttentionParams> _softmax;

        /// <param name="device">The accelerator.</param>
        /// <param name="conv">The convolution to run the products on (one is created when null).</param>
        /// <param name="path">The softmax implementation (<see cref="KernelPath.Auto"/>: by the kind of accelerator):
        /// a group per row with tree reductions, or one thread per row.</param>
        public SpatialAttention(ComputeDevice device, Conv2d conv = null, KernelPath path = KernelPath.Auto)
        {
            _device = device ?? throw new ArgumentNullException(nameof(device));
            _conv = conv ?? new Conv2d(device, 0, path);
            _path = path != KernelPath.Auto ? path : device.Kind == DeviceKind.Cpu ? KernelPath.Threads : KernelPath.Groups;
            var acc = device.Accelerator;
            int limit = Math.Min(MaxGroup, acc.MaxNumThreadsPerGroup);
            long smem = acc.MaxSharedMemoryPerGroup;
            if (smem > 0) limit = (int)Math.Min(limit, smem / sizeof(float));
            _group = 1;
            while (_group * 2 <= limit) _group *= 2;
            if (device.IsManaged) return; // the managed CPU backend runs Cpu.CpuOps instead of the kernels
            _transpose = acc.LoadStreamKernel<ArrayView<float>, ArrayView<float>, SpatialAttentionParams>(TransposeKernel);
            _softmax = _path == KernelPath.Threads
                ? acc.LoadStreamKernel<ArrayView<float>, SpatialAttentionParams>(RowSoftmaxThreadKernel)
                : acc.LoadStreamKernel<ArrayView<float>, SpatialAttentionParams>(RowSoftmaxKernel);
        }

        public Conv2d Conv => _conv;

        /// <summary>The softmax implementation this instance runs.</summary>
        public KernelPath Path => _path;

        /// <summary>Query rows per chunk for a scratch of <paramref name="scratchFloats"/> floats and T tokens.</summary>
        public static int RowsPerChunk(long scratchFloats, int tokens) => (int)Math.Max(0, Math.Min(tokens, scratchFloats / Math.Max(1, tokens)));

        /// <summary>[batch, rows, cols] → [batch, cols, rows] (e.g. NCHW [C, H·W] to token-major [H·W, C]).</summary>
        public void Transpose(ArrayView<float> input, ArrayView<float> output, int batch, int rows, int cols)
        {
            if (batch < 0 || rows < 0 || cols < 0) throw new ArgumentException("negative transpose shape.");
            long n = (long)batch * rows * cols;
            if (n == 0) return;
            if (n > int.MaxValue) throw new ArgumentException("transpose over 2^31 elements: split the call.");
            Need("input", input.Length, n);
            Need("output", output.Length, n);
            if (_device.IsManaged)
            {
                unsafe { Cpu.CpuOps.Transpose(Cpu.CpuBackend.Ptr(input), Cpu.CpuBackend.Ptr(output), batch, rows, cols); }
                return;
            }
            _transpose(Conv2d.StrideConfig(_device, n), input, output, new SpatialAttentionParams { Batch = batch, Rows = rows, Cols = cols });
        }

        /// <summary>In place, per row of <paramref name="cols"/>: <c>s = softmax(scale · s)</c> (scale &gt; 0).</summary>
        public void RowSoftmax(ArrayView<float> scores, int rows, int cols, float scale)
        {
            if (rows < 0 || cols < 1 || !(scale > 0)) throw new ArgumentException($"softmax shape rows {rows}, cols {cols}, scale {scale}.");
            if (rows == 0) return;
            long n = (long)rows * cols;
            if (n > int.MaxValue) throw new ArgumentException("softmax over 2^31 elements: split the call.");
            Need("scores", scores.Length, n);
            if (_device.IsManaged)
            {
                unsafe { Cpu.CpuOps.RowSoftmax(Cpu.CpuBackend.Ptr(scores), rows, cols, scale); }
                return;
            }
            var p = new SpatialAttentionParams { Batch = 1, Rows = rows, Cols = cols, Scale = scale };
            if (_path == KernelPath.Threads)
            {
                _softmax(Conv2d.StrideConfig(_device, rows), scores, p);
                return;
            }
            int g = 1;
            while (g < cols && g < _group) g *= 2;
            _softmax(new KernelConfig(new Index1D(rows), new Index1D(g)), scores, p);
        }

        /// <summary>
        /// <c>outT[b, i, :] = Σ_j softmax_j(scale · q_i·k_j) · v_j</c> for T tokens of C channels, with
        /// <paramref name="qT"/>, <paramref name="vT"/> and <paramref name="outT"/> token-major [B, T, C] and
        /// <paramref name="k"/> channel-major (NCHW) [B, C, T]; <paramref name="scores"/> is scratch of at least T floats
        /// (whole rows of T scores per query; its length sets the chunk). <paramref name="scale"/> null means 1/√C.
        /// </summary>
        public void Run(ArrayView<float> qT, ArrayView<float> k, ArrayView<float> vT, ArrayView<float> outT, ArrayView<float> scores,
                        int batch, int channels, int tokens, float? scale = null)
        {
            if (batch < 0 || channels < 1 || tokens < 1) throw new ArgumentException($"attention shape batch {batch}, channels {channels}, tokens {tokens}.");
            if (batch == 0) return;
            long per = (long)channels * tokens;
            if (per * batch > int.MaxValue)
                throw new ArgumentException("attention operands over 2^31 elements: split the batch.");
            Need("qT", qT.Length, per * batch);
            Need("k", k.Length, per * batch);
            Need("vT", vT.Length, per * batch);
            Need("outT", outT.Length, per * batch);
            int rows = RowsPerChunk(Math.Min(scores.Length, int.MaxValue), tokens);
            if (rows < 1) throw new ArgumentException($"the score scratch holds {scores.Length} floats; one row of {tokens} is the least.");
            float sc = scale ?? (float)(1.0 / Math.Sqrt(channels));
            for (int b = 0; b < batch; b++)
            {
                long bo = per * b;
                var kb = k.SubView(bo, per);
                var vb = vT.SubView(bo, per);
                for (int i0 = 0; i0 < tokens; i0 += rows)
                {
                    int r = Math.Min(rows, tokens - i0);
                    var s = scores.SubView(0, (long)r * tokens);
                    // S[r, T]: a 1 × 1 convolution of K (C channels × T pixels) with "weights" Qᵀ[i0 .. i0 + r, C]
                    _conv.Run(kb, WeightView.FromF32(qT.SubView(bo + (long)i0 * channels, (long)r * channels)), default, default, s,
                              1, channels, r, 1, tokens, 1);
                    RowSoftmax(s, r, tokens, sc);
                    // Oᵀ[i0 .. i0 + r, C]: a 1 × 1 convolution of Vᵀ (T channels × C pixels) with "weights" P[r, T]
                    _conv.Run(vb, WeightView.FromF32(s), default, default, outT.SubView(bo + (long)i0 * channels, (long)r * channels),
                              1, tokens, r, 1, channels, 1);
                }
            }
        }

        static void Need(string what, long have, long need)
        {
            if (have < need) throw new ArgumentException($"{what} holds {have} elements; the attention shape needs {need}.");
        }

        // ---------------------------------------------------------------------------------------------------------
        // kernels

        /// <summary>Grid-stride over the output elements (b, c, r) of [Batch, Cols, Rows]: out = in[b, r, c].</summary>
        public static void TransposeKernel(ArrayView<float> input, ArrayView<float> output, SpatialAttentionParams p)
        {
            int total = p.Batch * p.Rows * p.Cols;
            for (int i = Grid.GlobalIndex.X; i < total; i += Grid.DimX * Group.DimX)
            {
                int r = i % p.Rows;
                int bc = i / p.Rows;
                int b = bc / p.Cols, c = bc - b * p.Cols;
                output[i] = input[(b * p.Rows + r) * p.Cols + c];
            }
        }

        /// <summary>One group per row of Cols scores, in place: max and sum by shared-memory tree reductions, then
        /// <c>exp(Scale·(s − max)) / Σ</c>. Dynamic shared memory: one float per thread (a power of two).</summary>
        public static void RowSoftmaxKernel(ArrayView<float> s, SpatialAttentionParams p)
        {
            var scratch = SharedMemory.Allocate<float>(MaxGroup) /* static: no program-scope variables in OpenCL C */;
            int o = Grid.IdxX * p.Cols;
            int tid = Group.IdxX, step = Group.DimX;
            float m = float.NegativeInfinity;
            for (int i = tid; i < p.Cols; i += step) m = XMath.Max(m, s[o + i]);
            scratch[tid] = m;
            Group.Barrier();
            for (int h = step >> 1; h > 0; h >>= 1)
            {
                if (tid < h) scratch[tid] = XMath.Max(scratch[tid], scratch[tid + h]);
                Group.Barrier();
            }
            m = scratch[0];
            Group.Barrier();
            float sum = 0f;
            for (int i = tid; i < p.Cols; i += step)
            {
                float e = XMath.Exp((s[o + i] - m) * p.Scale);
                s[o + i] = e;
                sum += e;
            }
            float inv = 1f / KernelMath.GroupSum(scratch, sum);
            for (int i = tid; i < p.Cols; i += step) s[o + i] *= inv;
        }

        /// <summary>The barrier-free softmax (<see cref="KernelPath.Threads"/>): a grid-stride loop over the rows, one
        /// thread per row, with the same arithmetic as <see cref="RowSoftmaxKernel"/>.</summary>
        public static void RowSoftmaxThreadKernel(ArrayView<float> s, SpatialAttentionParams p)
        {
            for (int row = Grid.GlobalIndex.X; row < p.Rows; row += Grid.DimX * Group.DimX)
            {
                int o = row * p.Cols;
                float m = float.NegativeInfinity;
                for (int i = 0; i < p.Cols; i++) m = XMath.Max(m, s[o + i]);
                float sum = 0f;
                for (int i = 0; i < p.Cols; i++)
                {
                    float e = XMath.Exp((s[o + i] - m) * p.Scale);
                    s[o + i] = e;
                    sum += e;
                }
                float inv = 1f / sum;
                for (int i = 0; i < p.Cols; i++) s[o + i] *= inv;
            }
        }
    }
}
