using System;
using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;

namespace Sd3Tex.Kernels
{
    /// <summary>The scalar arguments of the group-norm kernels (built by <see cref="GroupNorm"/>).</summary>
    public struct GroupNormParams
    {
        /// <summary>x [Batch, Channels, HW]; Groups groups of ChannelsPerGroup channels.</summary>
        public int Batch, Channels, HW, Groups, ChannelsPerGroup;
        /// <summary>Elements per (batch, group) = ChannelsPerGroup·HW, split into Splits chunks of Chunk elements.</summary>
        public int GroupElements, Splits, Chunk;
        public float Eps;
        /// <summary>1 when SiLU follows the affine.</summary>
        public int Silu;
    }

    /// <summary>
    /// GroupNorm over NCHW tensors (the VAE's: 32 groups, eps 1e-6, affine), optionally followed by SiLU:
    /// <c>y[b, c, :] = (x[b, c, :] − mean_bg)·rstd_bg·gamma[c] + beta[c]</c> with the statistics of (batch b, group g of c).
    /// Three launches: partial statistics of each (batch, group) in <see cref="Splits"/>-many chunks (one group of
    /// threads per chunk: chunk mean, then Σ(x − chunk mean)², both by shared-memory tree reductions), their exact
    /// combination per (batch, group) (Chan et al.'s parallel variance), and the element-wise normalisation. The split
    /// count and the reduction width come from the accelerator (enough groups to fill its multiprocessors, a
    /// power-of-two group within its thread and shared-memory limits). In place (y = x) is allowed.
    /// On ILGPU's CPU accelerator (<see cref="KernelPath.Threads"/>) each chunk's statistics are one thread's
    /// sequential two-pass loop instead (no barriers), and the normalisation is a grid-stride loop over one group per core.
    /// A small scratch buffer for the statistics is kept and grown when a larger batch × groups comes; otherwise a
    /// call allocates nothing. Calls are asynchronous on the default stream.
    /// <para>The reference it must match is <see cref="ConvReference.GroupNorm"/>.</para>
    /// </summary>
    public sealed class GroupNorm : IDisposable
    {
        /// <summary>Largest reduction group.</summary>
        public const int MaxGroup = 256;
        /// <summary>Fewest elements a chunk is given (smaller splits cost more than they save).</summary>
        public const int MinChunk = 4096;
        /// <summary>Most chunks per (batch, group).</summary>
        public const int MaxSplits = 64;

        readonly ComputeDevice _device;
        readonly KernelPath _path;
        readonly int _group;
        readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>, GroupNormParams> _partial;
        readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>, GroupNormParams> _combine;
        readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, GroupNormParams> _apply;
        MemoryBuffer1D<float, Stride1D.Dense> _scratch;

        /// <param name="device">The accelerator.</param>
        /// <param name="path">The implementation (<see cref="KernelPath.Auto"/>: by the kind of accelerator).</param>
        public GroupNorm(ComputeDevice device, KernelPath path = KernelPath.Auto)
        {
            _device = device ?? throw new ArgumentNullException(nameof(device));
            _path = path != KernelPath.Auto ? path : device.Kind == DeviceKind.Cpu ? KernelPath.Threads : KernelPath.Groups;
            var acc = device.Accelerator;
            int limit = Math.Min(MaxGroup, acc.MaxNumThreadsPerGroup);
            long smem = acc.MaxSharedMemoryPerGroup;
            if (smem > 0) limit = (int)Math.Min(limit, smem / sizeof(float));
            _group = 1;
            while (_group * 2 <= limit) _group *= 2;
            if (device.IsManaged) return; // the managed CPU backend runs Cpu.CpuOps instead of the kernels
            _partial = _path == KernelPath.Threads
                ? acc.LoadStreamKernel<ArrayView<float>, ArrayView<float>, GroupNormParams>(PartialStatsThreadKernel)
                : acc.LoadStreamKernel<ArrayView<float>, ArrayView<float>, GroupNormParams>(PartialStatsKernel);
            _combine = acc.LoadStreamKernel<ArrayView<float>, ArrayView<float>, GroupNormParams>(CombineStatsKernel);
            _apply = acc.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, GroupNormParams>(ApplyKernel);
        }

        /// <summary>Threads per reduction group (<see cref="KernelPath.Groups"/>).</summary>
        public int GroupSize => _group;

        /// <summary>The implementation this instance runs.</summary>
        public KernelPath Path => _path;

        /// <summary>The chunks each (batch, group) of <paramref name="elements"/> values is split into when there are
        /// <paramref name="batchGroups"/> of them: enough to give every multiprocessor about four groups, each chunk at
        /// least <see cref="MinChunk"/> elements, at most <see cref="MaxSplits"/>.</summary>
        public int SplitsFor(int batchGroups, int elements)
        {
            var acc = _device.Accelerator;
            int sms = Math.Max(1, acc.NumMultiprocessors);
            // the thread path spreads chunks over all threads of one group per core
            long workers = _path == KernelPath.Threads ? (long)sms * acc.MaxNumThreadsPerGroup : 4L * sms;
            long want = Math.Max(1, (workers + batchGroups - 1) / batchGroups);
            long byChunk = Math.Max(1, elements / MinChunk);
            return (int)Math.Max(1, Math.Min(MaxSplits, Math.Min(want, byChunk)));
        }

        /// <summary>
        /// y = GroupNorm(x) (· gamma + beta, then SiLU when <paramref name="silu"/>). x, y [batch, channels, hw]; gamma,
        /// beta [channels]; channels a multiple of <paramref name="groups"/>.
        /// </summary>
        public void Run(ArrayView<float> x, ArrayView<float> gamma, ArrayView<float> beta, ArrayView<float> y,
                        int batch, int channels, int hw, int groups = 32, float eps = 1e-6f, bool silu = false)
        {
            if (batch == 0) return;
            var p = Params(batch, channels, hw, groups, eps, silu);
            int bg = batch * groups;
            long need = (long)bg * p.Splits * 3 + (long)bg * 2;
            var stats = Scratch(need).SubView((long)bg * p.Splits * 3, (long)bg * 2);
            Statistics(x, stats, p);
            Apply(x, stats, gamma, beta, y, p);
        }

        /// <summary>The statistics alone: <c>stats[(b·groups + g)·2 + 0/1]</c> = mean, 1/√(var + eps) of each (batch,
        /// group) of x [batch, channels, hw]. Statistics captured from one tensor can be imposed on another with
        /// <see cref="Apply(ArrayView{float}, ArrayView{float}, ArrayView{float}, ArrayView{float}, ArrayView{float}, int, int, int, int, bool)"/>.</summary>
        public void Statistics(ArrayView<float> x, ArrayView<float> stats, int batch, int channels, int hw, int groups = 32, float eps = 1e-6f)
        {
            if (batch == 0) return;
            Need("stats", stats.Length, (long)batch * groups * 2);
            Statistics(x, stats, Params(batch, channels, hw, groups, eps, false));
        }

        /// <summary>The normalisation with given statistics (see <see cref="Statistics(ArrayView{float}, ArrayView{float}, int, int, int, int, float)"/>):
        /// <c>y = (x − mean)·rstd·gamma + beta</c>, then SiLU when asked.</summary>
        public void Apply(ArrayView<float> x, ArrayView<float> stats, ArrayView<float> gamma, ArrayView<float> beta, ArrayView<float> y,
                          int batch, int channels, int hw, int groups = 32, bool silu = false)
        {
            if (batch == 0) return;
            Need("stats", stats.Length, (long)batch * groups * 2);
            Apply(x, stats, gamma, beta, y, Params(batch, channels, hw, groups, 1e-6f, silu));
        }

        GroupNormParams Params(int batch, int channels, int hw, int groups, float eps, bool silu)
        {
            if (batch < 0 || channels < 1 || hw < 1 || groups < 1) throw new ArgumentException($"group norm shape batch {batch}, channels {channels}, hw {hw}, groups {groups}.");
            if (channels % groups != 0) throw new ArgumentException($"{channels} channels do not split into {groups} groups.");
            long n = (long)batch * channels * hw;
            if (n > int.MaxValue) throw new ArgumentException("group norm operands over 2^31 elements: split the call.");
            int cpg = channels / groups, elements = cpg * hw, bg = batch * groups;
            int splits = SplitsFor(bg, elements);
            return new GroupNormParams
            {
                Batch = batch, Channels = channels, HW = hw, Groups = groups, ChannelsPerGroup = cpg,
                GroupElements = elements, Splits = splits, Chunk = (elements + splits - 1) / splits, Eps = eps, Silu = silu ? 1 : 0,
            };
        }

        ArrayView<float> Scratch(long need)
        {
            if (_scratch == null || _scratch.Length < need)
            {
                _scratch?.Dispose();
                _scratch = null;
                _scratch = _device.Accelerator.Allocate1D<float>(Math.Max(need, 1024));
            }
            return _scratch.View;
        }

        void Statistics(ArrayView<float> x, ArrayView<float> stats, GroupNormParams p)
        {
            long n = (long)p.Batch * p.Channels * p.HW;
            Need("x", x.Length, n);
            int bg = p.Batch * p.Groups;
            if (_device.IsManaged)
            {
                unsafe { Cpu.CpuOps.GroupNormStatistics(Cpu.CpuBackend.Ptr(x), Cpu.CpuBackend.Ptr(stats), p.Batch, p.Channels, p.HW, p.Groups, p.Eps); }
                return;
            }
            long partialsN = (long)bg * p.Splits * 3;
            var partials = Scratch(partialsN + (long)bg * 2).SubView(0, partialsN);
            if (_path == KernelPath.Threads) _partial(Conv2d.StrideConfig(_device, (long)bg * p.Splits), x, partials, p);
            else _partial(new KernelConfig(new Index1D(bg * p.Splits), new Index1D(_group)), x, partials, p);
            _combine(Conv2d.StrideConfig(_device, bg), partials, stats, p);
        }

        void Apply(ArrayView<float> x, ArrayView<float> stats, ArrayView<float> gamma, ArrayView<float> beta, ArrayView<float> y, GroupNormParams p)
        {
            long n = (long)p.Batch * p.Channels * p.HW;
            Need("x", x.Length, n);
            Need("y", y.Length, n);
            Need("gamma", gamma.Length, p.Channels);
            Need("beta", beta.Length, p.Channels);
            if (_device.IsManaged)
            {
                unsafe
                {
                    Cpu.CpuOps.GroupNormApply(Cpu.CpuBackend.Ptr(x), Cpu.CpuBackend.Ptr(stats), Cpu.CpuBackend.Ptr(gamma), Cpu.CpuBackend.Ptr(beta),
                                              Cpu.CpuBackend.Ptr(y), p.Batch, p.Channels, p.HW, p.Groups, p.Silu != 0);
                }
                return;
            }
            _apply(Conv2d.StrideConfig(_device, n), x, stats, gamma, beta, y, p);
        }

        static void Need(string what, long have, long need)
        {
            if (have < need) throw new ArgumentException($"{what} holds {have} elements; the group norm shape needs {need}.");
        }

        public void Dispose()
        {
            _scratch?.Dispose();
            _scratch = null;
        }

        // ---------------------------------------------------------------------------------------------------------
        // kernels

        /// <summary>
        /// One group per chunk s of (batch, group) bg (group index bg·Splits + s): the chunk's element count, mean and
        /// M2 = Σ(x − chunk mean)², written to partials[(bg·Splits + s)·3 ..]. Dynamic shared memory: one float per thread.
        /// </summary>
        public static void PartialStatsKernel(ArrayView<float> x, ArrayView<float> partials, GroupNormParams p)
        {
            var scratch = SharedMemory.Allocate<float>(MaxGroup) /* static: no program-scope variables in OpenCL C */;
            int idx = Grid.IdxX;
            int bg = idx / p.Splits, s = idx - bg * p.Splits;
            int b = bg / p.Groups, g = bg - b * p.Groups;
            int start = (b * p.Channels + g * p.ChannelsPerGroup) * p.HW;
            int from = s * p.Chunk;
            int to = XMath.Min(p.GroupElements, from + p.Chunk);
            int count = XMath.Max(0, to - from);
            int tid = Group.IdxX, step = Group.DimX;
            float sum = 0f;
            for (int i = from + tid; i < to; i += step) sum += x[start + i];
            float total = KernelMath.GroupSum(scratch, sum);
            float mean = count > 0 ? total / count : 0f;
            float m2 = 0f;
            for (int i = from + tid; i < to; i += step)
            {
                float d = x[start + i] - mean;
                m2 += d * d;
            }
            m2 = KernelMath.GroupSum(scratch, m2);
            if (tid == 0)
            {
                partials[idx * 3] = count;
                partials[idx * 3 + 1] = mean;
                partials[idx * 3 + 2] = m2;
            }
        }

        /// <summary>The barrier-free partial statistics (<see cref="KernelPath.Threads"/>): a grid-stride loop over the
        /// chunks, each one thread's two passes (mean, then M2), written like <see cref="PartialStatsKernel"/>'s.</summary>
        public static void PartialStatsThreadKernel(ArrayView<float> x, ArrayView<float> partials, GroupNormParams p)
        {
            int units = p.Batch * p.Groups * p.Splits;
            for (int idx = Grid.GlobalIndex.X; idx < units; idx += Grid.DimX * Group.DimX)
            {
                int bg = idx / p.Splits, s = idx - bg * p.Splits;
                int b = bg / p.Groups, g = bg - b * p.Groups;
                int start = (b * p.Channels + g * p.ChannelsPerGroup) * p.HW;
                int from = start + s * p.Chunk;
                int to = start + XMath.Min(p.GroupElements, s * p.Chunk + p.Chunk);
                int count = XMath.Max(0, to - from);
                float sum = 0f;
                for (int i = from; i < to; i++) sum += x[i];
                float mean = count > 0 ? sum / count : 0f;
                float m2 = 0f;
                for (int i = from; i < to; i++)
                {
                    float d = x[i] - mean;
                    m2 += d * d;
                }
                partials[idx * 3] = count;
                partials[idx * 3 + 1] = mean;
                partials[idx * 3 + 2] = m2;
            }
        }

        /// <summary>Grid-stride over the (batch, group)s, one thread each: merges the chunks' (count, mean, M2) exactly
        /// (Chan et al.) and writes stats[bg·2] = mean, stats[bg·2 + 1] = 1/√(M2/n + eps).</summary>
        public static void CombineStatsKernel(ArrayView<float> partials, ArrayView<float> stats, GroupNormParams p)
        {
            int total = p.Batch * p.Groups;
            for (int bg = Grid.GlobalIndex.X; bg < total; bg += Grid.DimX * Group.DimX)
                Combine(partials, stats, p, bg);
        }

        static void Combine(ArrayView<float> partials, ArrayView<float> stats, GroupNormParams p, int bg)
        {
            float n = 0f, mean = 0f, m2 = 0f;
            for (int s = 0; s < p.Splits; s++)
            {
                int o = (bg * p.Splits + s) * 3;
                float nb = partials[o];
                if (nb <= 0f) continue;
                float mb = partials[o + 1], m2b = partials[o + 2];
                float nt = n + nb;
                float d = mb - mean;
                mean += d * (nb / nt);
                m2 += m2b + d * d * (n * nb / nt);
                n = nt;
            }
            stats[bg * 2] = mean;
            stats[bg * 2 + 1] = XMath.Rsqrt(m2 / XMath.Max(n, 1f) + p.Eps);
        }

        /// <summary>Grid-stride over the elements i = (b·Channels + c)·HW + j: the affine normalisation, then SiLU when asked.</summary>
        public static void ApplyKernel(ArrayView<float> x, ArrayView<float> stats, ArrayView<float> gamma,
                                       ArrayView<float> beta, ArrayView<float> y, GroupNormParams p)
        {
            int total = p.Batch * p.Channels * p.HW;
            for (int i = Grid.GlobalIndex.X; i < total; i += Grid.DimX * Group.DimX)
            {
                int bc = i / p.HW;
                int b = bc / p.Channels, c = bc - b * p.Channels;
                int bg = b * p.Groups + c / p.ChannelsPerGroup;
                float v = (x[i] - stats[bg * 2]) * stats[bg * 2 + 1] * gamma[c] + beta[c];
                if (p.Silu != 0) v = KernelMath.Silu(v);
                y[i] = v;
            }
        }
    }
}
