using System;
using System.Reflection;
using System.Runtime.CompilerServices;
using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;

namespace Sd3Tex.Kernels
{
    /// <summary>
    /// Where one run of tokens keeps its q, k and v, and where its attention output goes.
    /// Element (b, t, head h, dim d) of q is <c>Q[(b*Tokens + t)*RowStride + QOffset + h*D + d]</c> (the same for k, v);
    /// the output element is <c>Output[(b*Tokens + t)*OutRowStride + h*D + d]</c>.
    /// The qkv Linear's output [B, T, 3*H*D] (per token <c>[3][H][D]</c>) is <see cref="FromQkv"/>: one buffer, offsets 0, H*D, 2*H*D.
    /// </summary>
    public readonly struct AttentionSegment
    {
        public ArrayView<float> Q { get; }
        public ArrayView<float> K { get; }
        public ArrayView<float> V { get; }
        /// <summary>[B, Tokens, OutRowStride] (OutRowStride ≥ H*D; usually H*D).</summary>
        public ArrayView<float> Output { get; }
        public int Tokens { get; }
        public int RowStride { get; }
        public int QOffset { get; }
        public int KOffset { get; }
        public int VOffset { get; }
        public int OutRowStride { get; }

        public AttentionSegment(ArrayView<float> q, ArrayView<float> k, ArrayView<float> v, ArrayView<float> output, int tokens,
                                int rowStride, int qOffset, int kOffset, int vOffset, int outRowStride)
        {
            Q = q; K = k; V = v; Output = output; Tokens = tokens; RowStride = rowStride;
            QOffset = qOffset; KOffset = kOffset; VOffset = vOffset; OutRowStride = outRowStride;
        }

        /// <summary>A fused qkv buffer [B, tokens, 3*H*D] as the qkv Linear writes it; output [B, tokens, H*D].</summary>
        public static AttentionSegment FromQkv(ArrayView<float> qkv, ArrayView<float> output, int tokens, int heads, int headDim) =>
            new AttentionSegment(qkv, qkv, qkv, output, tokens, 3 * heads * headDim, 0, heads * headDim, 2 * heads * headDim, heads * headDim);

        /// <summary>Separate q, k, v buffers, each [B, tokens, H*D]; output [B, tokens, H*D].</summary>
        public static AttentionSegment FromSeparate(ArrayView<float> q, ArrayView<float> k, ArrayView<float> v, ArrayView<float> output,
                                                    int tokens, int heads, int headDim) =>
            new AttentionSegment(q, k, v, output, tokens, heads * headDim, 0, 0, 0, heads * headDim);

        /// <summary>No tokens (the second segment of a plain self-attention).</summary>
        public static AttentionSegment None => default;
    }

    /// <summary>The two builds of the flash attention (<see cref="Attention.ChooseVariant"/> picks one per device).</summary>
    public enum FlashVariant
    {
        /// <summary><see cref="Attention"/>'s FlashKernel: shared memory sized at launch from the device's limit
        /// (the largest tiles the device fits). CUDA, the CPU and OpenCL C 2.0 (and 3.0 with program-scope variables).</summary>
        DynamicShared,
        /// <summary>FlashStaticKernel: the same computation in a fixed block of
        /// <see cref="Attention.StaticSharedFloats"/> floats declared in the kernel, for OpenCL C 3.0 devices without
        /// program-scope variables, through which ILGPU declares dynamic shared memory.</summary>
        StaticShared,
    }

    /// <summary>Options of <see cref="Attention.Run"/>. The default is SD3's: scale 1/sqrt(D), no mask, no bias.</summary>
    public struct AttentionOptions
    {
        /// <summary>Multiplies q·k before the softmax; null means 1/sqrt(D) (SD3, CLIP). T5 uses 1.</summary>
        public float? Scale;
        /// <summary>Token i attends only to tokens j ≤ i of the whole sequence (CLIP's text encoder).</summary>
        public bool Causal;
        /// <summary>Optional additive bias [H, T, T] over the whole sequence (T5's relative position bias), shared by the
        /// batch; a default (invalid) view means none.</summary>
        public ArrayView<float> Bias;
    }

    /// <summary>
    /// Fused multi-head attention, flash-attention style: <c>out = softmax(scale * q kᵀ + bias, mask) v</c> per head,
    /// computed in tiles with an online softmax (running max and sum), so the tokens×tokens matrix never exists.
    /// <para>The sequence is the concatenation of two <see cref="AttentionSegment"/>s, the first then the second
    /// (SD3's joint attention: text tokens FIRST, then image tokens); each keeps its own buffers and receives its own
    /// slice of the output, so nothing is concatenated in memory. Plain self-attention passes
    /// <see cref="AttentionSegment.None"/> as the second.</para>
    /// <para>Grid: (query tiles, B*H); one group per (query tile, batch, head). A group holds its q tile, one k tile,
    /// one v tile, the score tile and the output accumulator in shared memory, and walks the key tiles; tile sizes
    /// come from the device's group and shared-memory limits, so any head size D whose tiles fit runs (D ≤ 128 is
    /// tested; D = 64 is SD3's).</para>
    /// <para>Two variants (<see cref="FlashVariant"/>) run the same code and differ only in where the shared memory
    /// comes from: dynamic (sized at launch) everywhere it builds, or a fixed static block of
    /// <see cref="StaticSharedFloats"/> floats on OpenCL C 3.0 devices without program-scope variables.
    /// <see cref="ChooseVariant"/> makes the choice from the device's <see cref="DeviceFeatures"/>.</para>
    /// <para>SD3.5's per-head RMSNorm of q and k is a separate small kernel, <see cref="QkRmsNorm"/>, run in place on
    /// the qkv buffer before the attention (each k is normalised once instead of once per query tile).</para>
    /// Kernels are compiled once per device when this is constructed; calls enqueue on the default stream and
    /// allocate nothing.
    /// </summary>
    public sealed class Attention
    {
        readonly ComputeDevice _device;
        readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, AttentionArgs> _flash;
        readonly Action<Index1D, ArrayView<float>, ArrayView<float>, HeadNormArgs> _headNorm;
        readonly int _threads, _tileQ, _tileK;
        readonly FlashVariant _variant;

        /// <summary>Default tile sizes (queries and keys per tile); shrunk to fit the device's shared memory.</summary>
        public const int DefaultTile = 32;

        /// <summary>Floats of shared memory the static variant declares: 32 KiB, the least local memory a full-profile
        /// OpenCL device has. Head size 64 (SD3, CLIP, T5) runs with 32 × 16 tiles in it, 128 with 16 × 8.</summary>
        public const int StaticSharedFloats = 8192;

        /// <summary>The variant a device with these features runs: the static one on an OpenCL device without
        /// program-scope variables (optional in OpenCL C 3.0), the dynamic one everywhere else (CUDA, the CPU,
        /// OpenCL C 2.0 and 3.0 devices that have them).</summary>
        public static FlashVariant ChooseVariant(DeviceFeatures features) =>
            features.Kind == DeviceKind.OpenCL && !features.ProgramScopeVariables ? FlashVariant.StaticShared : FlashVariant.DynamicShared;

        /// <summary>For <see cref="KernelCatalog"/>: whether a device with these features launches this class's kernel
        /// (each flash variant only where <see cref="ChooseVariant"/> picks it; every other kernel always).</summary>
        static bool KernelUsed(MethodInfo kernel, DeviceFeatures features)
        {
            if (kernel.Name == nameof(FlashKernel)) return ChooseVariant(features) == FlashVariant.DynamicShared;
            if (kernel.Name == nameof(FlashStaticKernel)) return ChooseVariant(features) == FlashVariant.StaticShared;
            return true;
        }

        public ComputeDevice Device => _device;
        /// <summary>Threads per group of the attention kernel.</summary>
        public int GroupSize => _threads;
        /// <summary>The flash attention build this instance launches.</summary>
        public FlashVariant Variant => _variant;

        /// <summary>Loads the kernels for a device. tileQ / tileK override the tile sizes (tests and tuning use it);
        /// they are still shrunk per call when a head size would not fit the device's shared memory. variant
        /// overrides <see cref="ChooseVariant"/> (tests run both everywhere).</summary>
        public Attention(ComputeDevice device, int tileQ = DefaultTile, int tileK = DefaultTile, FlashVariant? variant = null)
        {
            _device = device ?? throw new ArgumentNullException(nameof(device));
            if (tileQ < 1 || tileK < 1) throw new ArgumentOutOfRangeException(nameof(tileQ), "tile sizes must be positive");
            var acc = device.Accelerator;
            int warp = Math.Max(1, acc.WarpSize);
            int threads = Math.Min(acc.MaxNumThreadsPerGroup, 128);
            _threads = Math.Max(warp, threads / warp * warp);
            _tileQ = tileQ; _tileK = tileK;
            _variant = variant ?? ChooseVariant(DeviceFeatures.Of(device));
            if (device.IsManaged) return; // the managed CPU backend runs Cpu.CpuAttention instead of the kernels
            if (_variant == FlashVariant.StaticShared && acc.MaxSharedMemoryPerGroup < StaticSharedFloats * sizeof(float))
                throw new DeviceException($"{device.Name} has {acc.MaxSharedMemoryPerGroup} bytes of shared (local) memory per group; the " +
                                          $"flash attention's static variant needs {StaticSharedFloats * sizeof(float)}. Use another device " +
                                          "(--device), or one whose OpenCL C supports program-scope variables.");
            _flash = acc.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
                ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, AttentionArgs>(
                _variant == FlashVariant.StaticShared ? FlashStaticKernel : FlashKernel);
            _headNorm = acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, HeadNormArgs>(HeadRmsNormKernel);
        }

        /// <summary>Floats of shared memory one group needs for these tiles.</summary>
        static long SharedFloats(int tq, int tk, int d) => (long)tq * d * 2 + (long)tk * (d | 1) + (long)tk * d + (long)tq * tk + 3L * tq;

        /// <summary>The tile sizes used for head size d: the requested ones, halved (keys first) until they fit.</summary>
        public (int TileQ, int TileK) TilesFor(int headDim)
        {
            long limit = Math.Max(1024, _device.Accelerator.MaxSharedMemoryPerGroup) / sizeof(float);
            if (_variant == FlashVariant.StaticShared) limit = Math.Min(limit, StaticSharedFloats);
            int tq = _tileQ, tk = _tileK;
            while (SharedFloats(tq, tk, headDim) > limit && (tq > 1 || tk > 1))
            {
                if (tk >= tq && tk > 1) tk /= 2; else tq /= 2;
            }
            if (SharedFloats(tq, tk, headDim) > limit)
                throw new ArgumentException(_variant == FlashVariant.StaticShared
                    ? $"head size {headDim} does not fit the static flash attention's block ({limit * 4} bytes); this device runs the static variant (OpenCL C 3.0 without program-scope variables), so use another device for such heads."
                    : $"head size {headDim} does not fit this device's shared memory ({limit * 4} bytes per group).");
            return (tq, tk);
        }

        // ---------------------------------------------------------------------------------------------------------
        // host entry points

        /// <summary>Self-attention over one fused qkv buffer: qkv [B, T, 3*H*D] → output [B, T, H*D].
        /// (MMDiT-X's attn2 over image tokens; CLIP with <see cref="AttentionOptions.Causal"/>; T5 with a bias and scale 1.)</summary>
        public void SelfAttention(ArrayView<float> qkv, ArrayView<float> output, int batch, int tokens, int heads, int headDim,
                                  AttentionOptions options = default) =>
            Run(AttentionSegment.FromQkv(qkv, output, tokens, heads, headDim), AttentionSegment.None, batch, heads, headDim, options);

        /// <summary>SD3 joint attention over [context tokens ; image tokens] (context FIRST), without concatenating:
        /// contextQkv [B, Tc, 3*H*D], imageQkv [B, Tx, 3*H*D] → contextOut [B, Tc, H*D], imageOut [B, Tx, H*D].</summary>
        public void JointAttention(ArrayView<float> contextQkv, ArrayView<float> contextOut, int contextTokens,
                                   ArrayView<float> imageQkv, ArrayView<float> imageOut, int imageTokens,
                                   int batch, int heads, int headDim, AttentionOptions options = default) =>
            Run(AttentionSegment.FromQkv(contextQkv, contextOut, contextTokens, heads, headDim),
                AttentionSegment.FromQkv(imageQkv, imageOut, imageTokens, heads, headDim), batch, heads, headDim, options);

        /// <summary>Attention over the sequence [first ; second] (either may be empty, not both); each segment's output
        /// receives its own tokens' rows. Bias, when given, is [H, T, T] with T = first.Tokens + second.Tokens.</summary>
        public void Run(AttentionSegment first, AttentionSegment second, int batch, int heads, int headDim, AttentionOptions options = default)
        {
            if (batch < 1 || heads < 1 || headDim < 1) throw new ArgumentOutOfRangeException(nameof(batch), "batch, heads and head size must be positive");
            if (first.Tokens < 0 || second.Tokens < 0) throw new ArgumentOutOfRangeException(nameof(first), "token counts must not be negative");
            int total = first.Tokens + second.Tokens;
            if (total == 0) return;
            Check(first, "first", batch, heads, headDim);
            Check(second, "second", batch, heads, headDim);
            bool hasBias = options.Bias.IsValid && options.Bias.Length > 0;
            if (hasBias && options.Bias.Length < (long)heads * total * total)
                throw new ArgumentException($"bias has {options.Bias.Length} elements; [H, T, T] = [{heads}, {total}, {total}] needs {(long)heads * total * total}.");

            if (_device.IsManaged)
            {
                RunManaged(first, second, batch, heads, headDim, options.Scale ?? (float)(1.0 / Math.Sqrt(headDim)), options.Causal, hasBias ? options.Bias : default);
                return;
            }
            var (tq, tk) = TilesFor(headDim);
            // a segment with no tokens still needs a valid view for the kernel: borrow the other one's (never read)
            var a = first.Tokens > 0 ? first : second;
            var b = second.Tokens > 0 ? second : first;
            var args = new AttentionArgs
            {
                Heads = heads, HeadDim = headDim,
                TokensA = first.Tokens, TokensB = second.Tokens,
                RowStrideA = a.RowStride, QOffsetA = a.QOffset, KOffsetA = a.KOffset, VOffsetA = a.VOffset, OutStrideA = a.OutRowStride,
                RowStrideB = b.RowStride, QOffsetB = b.QOffset, KOffsetB = b.KOffset, VOffsetB = b.VOffset, OutStrideB = b.OutRowStride,
                Scale = options.Scale ?? (float)(1.0 / Math.Sqrt(headDim)),
                Causal = options.Causal ? 1 : 0, HasBias = hasBias ? 1 : 0,
                TileQ = tq, TileK = tk, KStride = headDim | 1,
            };
            var bias = hasBias ? options.Bias : a.Output;
            var grid = new Index2D((total + tq - 1) / tq, batch * heads);
            var group = new Index2D(_threads, 1);
            var config = _variant == FlashVariant.StaticShared
                ? new KernelConfig(grid, group)
                : new KernelConfig(grid, group, SharedMemoryConfig.RequestDynamic<float>((int)SharedFloats(tq, tk, headDim)));
            _flash(config, a.Q, a.K, a.V, a.Output, b.Q, b.K, b.V, b.Output, bias, args);
        }

        /// <summary>SD3.5's per-head RMSNorm of q and k, in place on a fused qkv buffer [B, T, 3*H*D]:
        /// for every token and head, <c>q = q * rsqrt(mean(q²) + eps) * qWeight</c> and likewise k with kWeight
        /// (weights [D]); v is untouched. Run it on each stream with that stream's ln_q / ln_k before the attention.</summary>
        public void QkRmsNorm(ArrayView<float> qkv, int batch, int tokens, int heads, int headDim,
                              ArrayView<float> qWeight, ArrayView<float> kWeight, float eps = 1e-6f) =>
            QkRmsNorm(AttentionSegment.FromQkv(qkv, qkv, tokens, heads, headDim), batch, heads, headDim, qWeight, kWeight, eps);

        /// <summary>The same for any segment layout (normalises the segment's q and k in place; v untouched).</summary>
        public void QkRmsNorm(AttentionSegment segment, int batch, int heads, int headDim,
                              ArrayView<float> qWeight, ArrayView<float> kWeight, float eps = 1e-6f)
        {
            if (segment.Tokens == 0) return;
            Check(segment, "segment", batch, heads, headDim, checkOutput: false);
            if (!qWeight.IsValid || !kWeight.IsValid || qWeight.Length < headDim || kWeight.Length < headDim)
                throw new ArgumentException($"q and k norm weights need {headDim} elements each.");
            if (_device.IsManaged)
            {
                using var timed = Cpu.CpuProfile.Enabled ? Cpu.CpuProfile.Time($"qk-rmsnorm {batch * segment.Tokens}×{heads}×{headDim}") : default;
                unsafe
                {
                    Cpu.CpuOps.RmsNormPerHead(Cpu.CpuBackend.Ptr(segment.Q), Cpu.CpuBackend.Ptr(qWeight), Cpu.CpuBackend.Ptr(segment.Q), batch * segment.Tokens,
                                              heads, headDim, segment.RowStride, segment.QOffset, eps);
                    Cpu.CpuOps.RmsNormPerHead(Cpu.CpuBackend.Ptr(segment.K), Cpu.CpuBackend.Ptr(kWeight), Cpu.CpuBackend.Ptr(segment.K), batch * segment.Tokens,
                                              heads, headDim, segment.RowStride, segment.KOffset, eps);
                }
                return;
            }
            int n = batch * segment.Tokens * heads;
            var args = new HeadNormArgs { Heads = heads, HeadDim = headDim, RowStride = segment.RowStride, Eps = eps };
            args.Offset = segment.QOffset;
            _headNorm(n, segment.Q, qWeight, args);
            args.Offset = segment.KOffset;
            _headNorm(n, segment.K, kWeight, args);
        }

        /// <summary>The managed CPU backend's path (<see cref="Cpu.CpuAttention"/>) on the same buffers.</summary>
        static unsafe void RunManaged(AttentionSegment first, AttentionSegment second, int batch, int heads, int headDim, float scale, bool causal, ArrayView<float> bias)
        {
            Cpu.CpuSegment Seg(AttentionSegment s) => s.Tokens == 0 ? default : new Cpu.CpuSegment
            {
                Q = Cpu.CpuBackend.Ptr(s.Q) + s.QOffset, K = Cpu.CpuBackend.Ptr(s.K) + s.KOffset, V = Cpu.CpuBackend.Ptr(s.V) + s.VOffset,
                Output = Cpu.CpuBackend.Ptr(s.Output), Tokens = s.Tokens, RowStride = s.RowStride, OutRowStride = s.OutRowStride,
            };
            int t = first.Tokens + second.Tokens;
            using var timed = Cpu.CpuProfile.Enabled ? Cpu.CpuProfile.Time($"attention {batch}×{heads}×{t}×{headDim}", 4.0 * batch * heads * t * (double)t * headDim) : default;
            Cpu.CpuAttention.Run(Seg(first), Seg(second), batch, heads, headDim, scale, causal, Cpu.CpuBackend.Ptr(bias));
        }

        static void Check(AttentionSegment s, string name, int batch, int heads, int headDim, bool checkOutput = true)
        {
            if (s.Tokens == 0) return;
            int hd = heads * headDim;
            if (s.RowStride < hd) throw new ArgumentException($"{name} segment: row stride {s.RowStride} < H*D = {hd}.");
            long rows = (long)batch * s.Tokens;
            void Need(ArrayView<float> v, int offset, string what)
            {
                if (!v.IsValid) throw new ArgumentException($"{name} segment: {what} buffer is missing.");
                if (offset < 0 || offset + hd > s.RowStride)
                    throw new ArgumentException($"{name} segment: {what} offset {offset} + H*D exceeds the row stride {s.RowStride}.");
                long need = (rows - 1) * s.RowStride + offset + hd;
                if (v.Length < need) throw new ArgumentException($"{name} segment: {what} buffer has {v.Length} elements, [B={batch}, T={s.Tokens}] needs {need}.");
                if (need > int.MaxValue) throw new ArgumentException($"{name} segment: {what} is larger than 2^31 elements.");
            }
            Need(s.Q, s.QOffset, "q"); Need(s.K, s.KOffset, "k"); Need(s.V, s.VOffset, "v");
            if (checkOutput)
            {
                if (s.OutRowStride < hd) throw new ArgumentException($"{name} segment: output row stride {s.OutRowStride} < H*D = {hd}.");
                Need2(s.Output, (rows - 1) * s.OutRowStride + hd);
            }
            void Need2(ArrayView<float> v, long need)
            {
                if (!v.IsValid || v.Length < need)
                    throw new ArgumentException($"{name} segment: output has {(v.IsValid ? v.Length : 0)} elements, needs {need}.");
            }
        }

        // ---------------------------------------------------------------------------------------------------------
        // kernels

        // kernel argument blocks: public only because ILGPU's CPU backend emits code that must see them

        /// <summary>Argument block of the attention kernel (set by <see cref="Run"/>).</summary>
        public struct AttentionArgs
        {
            public int Heads, HeadDim, TokensA, TokensB;
            public int RowStrideA, QOffsetA, KOffsetA, VOffsetA, OutStrideA;
            public int RowStrideB, QOffsetB, KOffsetB, VOffsetB, OutStrideB;
            public float Scale;
            public int Causal, HasBias;
            public int TileQ, TileK, KStride;
        }

        /// <summary>Argument block of the qk-norm kernel (set by <see cref="QkRmsNorm(AttentionSegment, int, int, int, ArrayView{float}, ArrayView{float}, float)"/>).</summary>
        public struct HeadNormArgs
        {
            public int Heads, HeadDim, RowStride, Offset;
            public float Eps;
        }

        /// <summary>Element (b, t, h, d) of q, k or v (offA/offB pick which) of the concatenated sequence.</summary>
        static float Load(ArrayView<float> a, ArrayView<float> b, AttentionArgs p, int batch, int t, int offA, int offB, int hd)
        {
            if (t < p.TokensA) return a[((long)batch * p.TokensA + t) * p.RowStrideA + offA + hd];
            return b[((long)batch * p.TokensB + (t - p.TokensA)) * p.RowStrideB + offB + hd];
        }

        /// <summary>
        /// One group: queries [q0, q0+TQ) of head h of batch b. Shared memory (floats):
        /// Qs [TQ][D] | Ks [TK][KS] (KS = D|1, odd, so the score loop reads distinct banks) | Vs [TK][D] |
        /// Ss [TQ][TK] (scores, then probabilities) | Os [TQ][D] (unnormalised output) | M [TQ] running max |
        /// L [TQ] running sum | Al [TQ] rescale factor of the current tile.
        /// Per key tile: load k, v → scores → per-row online softmax update → O = O*alpha + P·V; four barriers.
        /// The shared memory is dynamic, sized at launch (<see cref="FlashVariant.DynamicShared"/>).
        /// </summary>
        static void FlashKernel(ArrayView<float> qA, ArrayView<float> kA, ArrayView<float> vA, ArrayView<float> oA,
                                ArrayView<float> qB, ArrayView<float> kB, ArrayView<float> vB, ArrayView<float> oB,
                                ArrayView<float> bias, AttentionArgs p) =>
            Flash(SharedMemory.GetDynamic<float>(), qA, kA, vA, oA, qB, kB, vB, oB, bias, p);

        /// <summary>The same as <see cref="FlashKernel"/> in a static block of <see cref="StaticSharedFloats"/> floats
        /// (<see cref="FlashVariant.StaticShared"/>): OpenCL C declares it inside the kernel, so it needs no
        /// program-scope variable. The host picks tiles that fit the block.</summary>
        static void FlashStaticKernel(ArrayView<float> qA, ArrayView<float> kA, ArrayView<float> vA, ArrayView<float> oA,
                                      ArrayView<float> qB, ArrayView<float> kB, ArrayView<float> vB, ArrayView<float> oB,
                                      ArrayView<float> bias, AttentionArgs p) =>
            Flash(SharedMemory.Allocate<float>(StaticSharedFloats), qA, kA, vA, oA, qB, kB, vB, oB, bias, p);

        /// <summary>The body of both flash variants; <paramref name="sm"/> is the group's shared memory.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        static void Flash(ArrayView<float> sm, ArrayView<float> qA, ArrayView<float> kA, ArrayView<float> vA, ArrayView<float> oA,
                          ArrayView<float> qB, ArrayView<float> kB, ArrayView<float> vB, ArrayView<float> oB,
                          ArrayView<float> bias, AttentionArgs p)
        {
            int D = p.HeadDim, TQ = p.TileQ, TK = p.TileK, KS = p.KStride;
            int T = p.TokensA + p.TokensB;
            int tid = Group.IdxX, nt = Group.DimX;
            int q0 = Grid.IdxX * TQ;
            int b = Grid.IdxY / p.Heads, h = Grid.IdxY - b * p.Heads;
            int hoff = h * D;

            int qsBase = 0, ksBase = TQ * D, vsBase = ksBase + TK * KS, ssBase = vsBase + TK * D,
                osBase = ssBase + TQ * TK, mBase = osBase + TQ * D, lBase = mBase + TQ, alBase = lBase + TQ;

            // q tile, zeroed accumulators
            for (int e = tid; e < TQ * D; e += nt)
            {
                int i = e / D, d = e - i * D, t = q0 + i;
                sm[qsBase + e] = t < T ? Load(qA, qB, p, b, t, p.QOffsetA, p.QOffsetB, hoff + d) : 0f;
                sm[osBase + e] = 0f;
            }
            for (int i = tid; i < TQ; i += nt)
            {
                sm[mBase + i] = float.NegativeInfinity;
                sm[lBase + i] = 0f;
            }

            int kEnd = T;
            if (p.Causal != 0) kEnd = XMath.Min(T, q0 + TQ);
            for (int k0 = 0; k0 < kEnd; k0 += TK)
            {
                // (1) k and v tiles
                for (int e = tid; e < TK * D; e += nt)
                {
                    int j = e / D, d = e - j * D, t = k0 + j;
                    bool ok = t < T;
                    sm[ksBase + j * KS + d] = ok ? Load(kA, kB, p, b, t, p.KOffsetA, p.KOffsetB, hoff + d) : 0f;
                    sm[vsBase + e] = ok ? Load(vA, vB, p, b, t, p.VOffsetA, p.VOffsetB, hoff + d) : 0f;
                }
                Group.Barrier();

                // (2) scores S[i][j] = scale * q_i·k_j + bias, -inf where masked or past the end
                for (int e = tid; e < TQ * TK; e += nt)
                {
                    int i = e / TK, j = e - i * TK, qi = q0 + i, kj = k0 + j;
                    float s = float.NegativeInfinity;
                    if (qi < T && kj < T && (p.Causal == 0 || kj <= qi))
                    {
                        float dot = 0f;
                        int qr = qsBase + i * D, kr = ksBase + j * KS;
                        for (int d = 0; d < D; d++) dot += sm[qr + d] * sm[kr + d];
                        s = dot * p.Scale;
                        if (p.HasBias != 0) s += bias[((long)h * T + qi) * T + kj];
                    }
                    sm[ssBase + e] = s;
                }
                Group.Barrier();

                // (3) online softmax per row: new max, probabilities in place, rescale factor, running sum
                for (int i = tid; i < TQ; i += nt)
                {
                    int sr = ssBase + i * TK;
                    float mOld = sm[mBase + i], mNew = mOld;
                    for (int j = 0; j < TK; j++) mNew = XMath.Max(mNew, sm[sr + j]);
                    float alpha = 1f, sum = 0f;
                    if (mNew == float.NegativeInfinity)
                    {
                        for (int j = 0; j < TK; j++) sm[sr + j] = 0f;
                    }
                    else
                    {
                        alpha = mOld == float.NegativeInfinity ? 0f : XMath.Exp(mOld - mNew);
                        for (int j = 0; j < TK; j++)
                        {
                            float s = sm[sr + j];
                            float pr = s == float.NegativeInfinity ? 0f : XMath.Exp(s - mNew);
                            sm[sr + j] = pr;
                            sum += pr;
                        }
                    }
                    sm[mBase + i] = mNew;
                    sm[lBase + i] = sm[lBase + i] * alpha + sum;
                    sm[alBase + i] = alpha;
                }
                Group.Barrier();

                // (4) O = O * alpha + P·V
                for (int e = tid; e < TQ * D; e += nt)
                {
                    int i = e / D, d = e - i * D;
                    float acc = sm[osBase + e] * sm[alBase + i];
                    int sr = ssBase + i * TK;
                    for (int j = 0; j < TK; j++) acc += sm[sr + j] * sm[vsBase + j * D + d];
                    sm[osBase + e] = acc;
                }
                Group.Barrier();
            }

            // O / L into the owning segment's output
            for (int e = tid; e < TQ * D; e += nt)
            {
                int i = e / D, d = e - i * D, t = q0 + i;
                if (t >= T) continue;
                float l = sm[lBase + i];
                float v = l > 0f ? sm[osBase + e] / l : 0f;
                if (t < p.TokensA) oA[((long)b * p.TokensA + t) * p.OutStrideA + hoff + d] = v;
                else oB[((long)b * p.TokensB + (t - p.TokensA)) * p.OutStrideB + hoff + d] = v;
            }
        }

        /// <summary>One thread per (row, head): x = x * rsqrt(mean(x²) + eps) * w over the head's D values at
        /// x[row*RowStride + Offset + h*D ...].</summary>
        static void HeadRmsNormKernel(Index1D index, ArrayView<float> x, ArrayView<float> w, HeadNormArgs p)
        {
            int h = index % p.Heads;
            int row = index / p.Heads;
            long bas = (long)row * p.RowStride + p.Offset + h * p.HeadDim;
            float ss = 0f;
            for (int d = 0; d < p.HeadDim; d++)
            {
                float v = x[bas + d];
                ss += v * v;
            }
            float inv = XMath.Rsqrt(ss / p.HeadDim + p.Eps);
            for (int d = 0; d < p.HeadDim; d++) x[bas + d] = x[bas + d] * inv * w[d];
        }
    }
}
