using System;
using System.Runtime.CompilerServices;
using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;

namespace Sd3Tex.Kernels
{
    /// <summary>How a convolution reads outside the image along one axis.</summary>
    public enum PadMode
    {
        /// <summary>Zeros past the border (PyTorch's default).</summary>
        Zeros = 0,
        /// <summary>Wrap around to the opposite border (circular padding): the output tiles seamlessly along the axis.</summary>
        Circular = 1,
    }

    /// <summary>
    /// Which implementation of a kernel family runs. ILGPU's CPU accelerator simulates every thread of a group with an
    /// OS thread: starting a group costs about 0.1 ms and every group barrier about 0.4 ms (measured on 2 cores), so
    /// the GPU-shaped kernels (shared-memory tiles, group reductions) spend nearly all their time synchronising there.
    /// </summary>
    public enum KernelPath
    {
        /// <summary><see cref="Threads"/> on ILGPU's CPU accelerator, <see cref="Groups"/> on GPUs.</summary>
        Auto = 0,
        /// <summary>GPU-shaped: shared-memory tiles and group-wide reductions.</summary>
        Groups = 1,
        /// <summary>Barrier-free: each thread computes whole blocks of outputs in a grid-stride loop over few groups.</summary>
        Threads = 2,
    }

    /// <summary>The shape and options of one convolution (built by <see cref="Conv2d"/>).</summary>
    public struct Conv2dParams
    {
        /// <summary>Input [Batch, Cin, InH, InW]; output [Batch, Cout, OutH, OutW] (OutH = InH, 2·InH when upsampling,
        /// InH / 2 for the stride-2 downsample).</summary>
        public int Batch, Cin, Cout, InH, InW, OutH, OutW;
        /// <summary>Kernel edge (1 or 3) and padding (0 or 1, before the first sample; 0 for the downsample, which pads
        /// one sample after the last instead): output pixel (y, x) reads sample (y·Stride + ky − Pad, x·Stride + kx − Pad).</summary>
        public int Kernel, Pad;
        /// <summary>1, or 2 for the VAE encoder's downsample (3 × 3, no padding before, one zero (or wrapped) row and
        /// column after the last).</summary>
        public int Stride;
        /// <summary>Size of the sampled image: the (upsampled) input, InH·(1 + Upsample) × InW·(1 + Upsample).</summary>
        public int SrcH, SrcW;
        /// <summary>1 when the input is read through a nearest ×2 upsampling: sample (y, x) of the upsampled image is
        /// input (y / 2, x / 2).</summary>
        public int Upsample;
        /// <summary><see cref="PadMode"/> values of the x and y axes.</summary>
        public int PadX, PadY;
        /// <summary>1 when a bias / a residual is added.</summary>
        public int HasBias, HasResidual;
        /// <summary>Derived: M = Batch·OutH·OutW output pixels, K = Cin·Kernel², OutH·OutW.</summary>
        public int M, K, OutHW;
    }

    /// <summary>A block tile of the convolution's implicit GEMM (outputs: BM pixels × BN channels; reduction BK at a
    /// time), each thread computing a 4 × 4 micro-tile; see <see cref="IGemmTile"/>. The 32 and 64 tiles are the
    /// GEMM's own (<see cref="GemmTile32"/>, <see cref="GemmTile64"/>).</summary>
    public struct ConvTile16 : IGemmTile
    {
        // a deeper K step than the GEMM's: half the barriers, which dominate on ILGPU's CPU accelerator
        public int BM => 16; public int BN => 16; public int BK => 32;
        public int ASize => 32 * 17; public int WSize => 32 * 17;
    }

    /// <summary>
    /// 2-D convolutions on NCHW float tensors, stride 1, kernel 3 × 3 (padding 1) or 1 × 1 (padding 0), as an implicit
    /// GEMM: <c>out[b, co, y, x] = bias[co] + Σ_{ci, ky, kx} W[co, ci, ky, kx] · in[b, ci, y + ky − pad, x + kx − pad]
    /// (+ residual[b, co, y, x])</c>; and the VAE encoder's stride-2 3 × 3 downsample (<see cref="Downsample"/>) on the
    /// same kernels. A group computes a tile of output pixels × output channels; the input patch of
    /// each K step (ci, ky, kx) is gathered straight from the input into shared memory (no im2col buffer), with
    /// zero or circular padding per axis and optionally through a nearest ×2 upsampling (the VAE's
    /// <c>upsample.conv</c> reads the un-upsampled tensor). Weights [Cout, Cin, k, k] are F32, F16 or BF16
    /// (<see cref="WeightView"/>, decoded in the kernel). The residual may be the output itself (in place); the input
    /// must not alias the output.
    /// <para>On ILGPU's CPU accelerator (<see cref="KernelPath.Threads"/>) the same arithmetic runs without shared
    /// memory or barriers: each thread computes 4 pixels × 4 output channels at a time, reading the input (through the
    /// same padding and upsampling) and the weights directly, in a grid-stride loop over one group per core.</para>
    /// Kernels are compiled on first use and cached; a call allocates nothing and is asynchronous on the default stream.
    /// <para>The reference it must match is <see cref="ConvReference"/>.</para>
    /// </summary>
    public sealed class Conv2d
    {
        /// <summary>The tile edges this class can use, smallest first.</summary>
        public static readonly int[] TileSizes = { 16, 32, 64 };

        readonly ComputeDevice _device;
        readonly int _largestTile;
        readonly KernelPath _path;
        readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, Conv2dParams>[] _direct32 =
            new Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, Conv2dParams>[1];
        readonly Action<KernelConfig, ArrayView<float>, ArrayView<ushort>, ArrayView<float>, ArrayView<float>, ArrayView<float>, Conv2dParams>[] _direct16 =
            new Action<KernelConfig, ArrayView<float>, ArrayView<ushort>, ArrayView<float>, ArrayView<float>, ArrayView<float>, Conv2dParams>[2];
        readonly Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, Conv2dParams>[] _f32 =
            new Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, Conv2dParams>[3];
        readonly Action<KernelConfig, ArrayView<float>, ArrayView<ushort>, ArrayView<float>, ArrayView<float>, ArrayView<float>, Conv2dParams>[] _f16 =
            new Action<KernelConfig, ArrayView<float>, ArrayView<ushort>, ArrayView<float>, ArrayView<float>, ArrayView<float>, Conv2dParams>[3];
        readonly Action<KernelConfig, ArrayView<float>, ArrayView<ushort>, ArrayView<float>, ArrayView<float>, ArrayView<float>, Conv2dParams>[] _bf16 =
            new Action<KernelConfig, ArrayView<float>, ArrayView<ushort>, ArrayView<float>, ArrayView<float>, ArrayView<float>, Conv2dParams>[3];

        /// <param name="device">The accelerator.</param>
        /// <param name="maxTile">Largest tile edge to use (16, 32 or 64; 0 = the largest the accelerator holds).</param>
        /// <param name="path">The implementation (<see cref="KernelPath.Auto"/>: by the kind of accelerator).</param>
        public Conv2d(ComputeDevice device, int maxTile = 0, KernelPath path = KernelPath.Auto)
        {
            _device = device ?? throw new ArgumentNullException(nameof(device));
            _path = path != KernelPath.Auto ? path : device.Kind == DeviceKind.Cpu ? KernelPath.Threads : KernelPath.Groups;
            _largestTile = TilePlan.LargestFitting(device, TileSizes, maxTile, ThreadsFor, SharedBytesFor, "convolution");
        }

        public ComputeDevice Device => _device;

        /// <summary>The implementation this instance runs.</summary>
        public KernelPath Path => _path;

        /// <summary>Groups and threads per group of a barrier-free grid-stride launch over <paramref name="work"/> items:
        /// on the CPU accelerator one group per core; on GPUs up to 32 groups per multiprocessor.</summary>
        public static KernelConfig StrideConfig(ComputeDevice device, long work)
        {
            var acc = device.Accelerator;
            int threads = device.Kind == DeviceKind.Cpu ? acc.MaxNumThreadsPerGroup : Math.Min(256, acc.MaxNumThreadsPerGroup);
            int sms = Math.Max(1, acc.NumMultiprocessors);
            long cap = device.Kind == DeviceKind.Cpu ? sms : 32L * sms;
            long groups = Math.Max(1, Math.Min(cap, (work + threads - 1) / threads));
            return new KernelConfig((int)groups, threads);
        }

        /// <summary>Threads per group of a tile edge: one per 4 × 4 outputs.</summary>
        public static int ThreadsFor(int tile) => (tile / 4) * (tile / 4);

        /// <summary>Shared memory per group of a tile edge.</summary>
        public static int SharedBytesFor(int tile) => 2 * BkFor(tile) * (tile + 1) * sizeof(float);

        static int BkFor(int tile) => tile == 16 ? 32 : 16;

        /// <summary>The largest tile edge this instance uses.</summary>
        public int MaxTile => TileSizes[_largestTile];

        /// <summary>The tile edge a launch of M pixels × N channels uses: the largest allowed, stepped down while that
        /// leaves multiprocessors idle.</summary>
        public int TileFor(int m, int n) => TileSizes[TileIndexFor(m, n)];

        int TileIndexFor(int m, int n) => TilePlan.IndexFor(_device, TileSizes, _largestTile, m, n);

        /// <summary>
        /// The convolution. <paramref name="input"/> [batch, cin, inH, inW]; <paramref name="output"/> and
        /// <paramref name="residual"/> [batch, cout, outH, outW] with outH = inH·(upsample ? 2 : 1) (likewise W);
        /// <paramref name="weight"/> [cout, cin, kernel, kernel]; <paramref name="bias"/> [cout] or <c>default</c> for
        /// none; <paramref name="residual"/> <c>default</c> for none (it may be <paramref name="output"/>).
        /// <paramref name="kernel"/> is 3 (padding 1) or 1 (padding 0).
        /// </summary>
        public void Run(ArrayView<float> input, WeightView weight, ArrayView<float> bias, ArrayView<float> residual, ArrayView<float> output,
                        int batch, int cin, int cout, int inH, int inW, int kernel, bool upsample = false,
                        PadMode padX = PadMode.Zeros, PadMode padY = PadMode.Zeros)
            => Launch(input, weight, bias, residual, output, batch, cin, cout, inH, inW, kernel, upsample, 1, padX, padY);

        /// <summary>
        /// The VAE encoder's downsample: the input padded by one zero column on the right and one zero row at the bottom
        /// (with <see cref="PadMode.Circular"/>, the first column / row instead, so the image stays on the torus), then a
        /// 3 × 3 convolution with stride 2 and no other padding: <c>out[b, co, y, x] = bias[co] + Σ W[co, ci, ky, kx] ·
        /// pad(in)[b, ci, 2y + ky, 2x + kx]</c>, output [batch, cout, inH / 2, inW / 2] (sizes at least 2).
        /// </summary>
        public void Downsample(ArrayView<float> input, WeightView weight, ArrayView<float> bias, ArrayView<float> output,
                               int batch, int cin, int cout, int inH, int inW, PadMode padX = PadMode.Zeros, PadMode padY = PadMode.Zeros)
        {
            if (inH < 2 || inW < 2) throw new ArgumentException($"the stride-2 downsample needs at least 2 × 2 pixels, not {inH}×{inW}.");
            Launch(input, weight, bias, default, output, batch, cin, cout, inH, inW, 3, false, 2, padX, padY);
        }

        void Launch(ArrayView<float> input, WeightView weight, ArrayView<float> bias, ArrayView<float> residual, ArrayView<float> output,
                    int batch, int cin, int cout, int inH, int inW, int kernel, bool upsample, int stride, PadMode padX, PadMode padY)
        {
            if (kernel != 1 && kernel != 3) throw new ArgumentException($"kernel {kernel}: only 1 × 1 and 3 × 3 convolutions are supported.", nameof(kernel));
            if (batch < 0 || cin < 1 || cout < 1 || inH < 1 || inW < 1)
                throw new ArgumentException($"convolution shape batch {batch}, cin {cin}, cout {cout}, {inH}×{inW}.");
            if (batch == 0) return;
            int outH = stride == 2 ? inH / 2 : upsample ? 2 * inH : inH, outW = stride == 2 ? inW / 2 : upsample ? 2 * inW : inW;
            long inN = (long)batch * cin * inH * inW, outN = (long)batch * cout * outH * outW;
            if (inN > int.MaxValue || outN > int.MaxValue || (long)cout * cin * kernel * kernel > int.MaxValue)
                throw new ArgumentException("convolution operands over 2^31 elements: split the batch or decode in tiles.");
            bool hasBias = bias.IsValid && bias.Length > 0, hasRes = residual.IsValid && residual.Length > 0;
            Need("input", input.Length, inN);
            Need("output", output.Length, outN);
            Need("weight", weight.Length, (long)cout * cin * kernel * kernel);
            if (hasBias) Need("bias", bias.Length, cout); else bias = output;
            if (hasRes) Need("residual", residual.Length, outN); else residual = output;
            var p = new Conv2dParams
            {
                Batch = batch, Cin = cin, Cout = cout, InH = inH, InW = inW, OutH = outH, OutW = outW,
                Kernel = kernel, Pad = stride == 2 ? 0 : kernel / 2, Upsample = upsample ? 1 : 0, PadX = (int)padX, PadY = (int)padY,
                Stride = stride, SrcH = upsample ? 2 * inH : inH, SrcW = upsample ? 2 * inW : inW,
                HasBias = hasBias ? 1 : 0, HasResidual = hasRes ? 1 : 0,
                M = batch * outH * outW, K = cin * kernel * kernel, OutHW = outH * outW,
            };
            if (_device.IsManaged)
            {
                unsafe
                {
                    Cpu.CpuConv.Run(Cpu.CpuBackend.Ptr(input), Cpu.WeightPtr.Of(weight), hasBias ? Cpu.CpuBackend.Ptr(bias) : null,
                                    hasRes ? Cpu.CpuBackend.Ptr(residual) : null, Cpu.CpuBackend.Ptr(output),
                                    batch, cin, cout, inH, inW, kernel, upsample, padX, padY, stride);
                }
                return;
            }
            if (_path == KernelPath.Threads)
            {
                long units = (long)batch * ((p.OutHW + 3) / 4) * ((cout + 3) / 4);
                var sc = StrideConfig(_device, units);
                switch (weight.Type)
                {
                    case DType.F32: Direct32()(sc, input, weight.F32, bias, residual, output, p); break;
                    case DType.F16: case DType.BF16: Direct16(weight.Type)(sc, input, weight.Bits, bias, residual, output, p); break;
                    default: throw new NotSupportedException($"convolution weights of type {weight.Type}.");
                }
                return;
            }
            int ti = TileIndexFor(p.M, cout);
            int tile = TileSizes[ti];
            int blocks = ((p.M + tile - 1) / tile) * ((cout + tile - 1) / tile);
            var cfg = new KernelConfig(blocks, ThreadsFor(tile));
            switch (weight.Type)
            {
                case DType.F32: F32Kernel(ti)(cfg, input, weight.F32, bias, residual, output, p); break;
                case DType.F16: F16Kernel(ti)(cfg, input, weight.Bits, bias, residual, output, p); break;
                case DType.BF16: BF16Kernel(ti)(cfg, input, weight.Bits, bias, residual, output, p); break;
                default: throw new NotSupportedException($"convolution weights of type {weight.Type}.");
            }
        }

        static void Need(string what, long have, long need)
        {
            if (have < need) throw new ArgumentException($"{what} holds {have} elements; the convolution shape needs {need}.");
        }

        Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, Conv2dParams> Direct32()
            => _direct32[0] ?? (_direct32[0] = _device.Accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, Conv2dParams>(DirectConvKernel<float, F32Decoder>));

        Action<KernelConfig, ArrayView<float>, ArrayView<ushort>, ArrayView<float>, ArrayView<float>, ArrayView<float>, Conv2dParams> Direct16(DType type)
        {
            int i = type == DType.F16 ? 0 : 1;
            if (_direct16[i] != null) return _direct16[i];
            var acc = _device.Accelerator;
            return _direct16[i] = type == DType.F16
                ? acc.LoadStreamKernel<ArrayView<float>, ArrayView<ushort>, ArrayView<float>, ArrayView<float>, ArrayView<float>, Conv2dParams>(DirectConvKernel<ushort, F16Decoder>)
                : acc.LoadStreamKernel<ArrayView<float>, ArrayView<ushort>, ArrayView<float>, ArrayView<float>, ArrayView<float>, Conv2dParams>(DirectConvKernel<ushort, BF16Decoder>);
        }

        Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, Conv2dParams> F32Kernel(int ti)
        {
            var kr = _f32[ti];
            if (kr != null) return kr;
            var acc = _device.Accelerator;
            switch (ti)
            {
                case 0: kr = acc.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, Conv2dParams>(ConvKernel<ConvTile16, float, F32Decoder>); break;
                case 1: kr = acc.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, Conv2dParams>(ConvKernel<GemmTile32, float, F32Decoder>); break;
                default: kr = acc.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, Conv2dParams>(ConvKernel<GemmTile64, float, F32Decoder>); break;
            }
            return _f32[ti] = kr;
        }

        Action<KernelConfig, ArrayView<float>, ArrayView<ushort>, ArrayView<float>, ArrayView<float>, ArrayView<float>, Conv2dParams> F16Kernel(int ti)
        {
            var kr = _f16[ti];
            if (kr != null) return kr;
            var acc = _device.Accelerator;
            switch (ti)
            {
                case 0: kr = acc.LoadStreamKernel<ArrayView<float>, ArrayView<ushort>, ArrayView<float>, ArrayView<float>, ArrayView<float>, Conv2dParams>(ConvKernel<ConvTile16, ushort, F16Decoder>); break;
                case 1: kr = acc.LoadStreamKernel<ArrayView<float>, ArrayView<ushort>, ArrayView<float>, ArrayView<float>, ArrayView<float>, Conv2dParams>(ConvKernel<GemmTile32, ushort, F16Decoder>); break;
                default: kr = acc.LoadStreamKernel<ArrayView<float>, ArrayView<ushort>, ArrayView<float>, ArrayView<float>, ArrayView<float>, Conv2dParams>(ConvKernel<GemmTile64, ushort, F16Decoder>); break;
            }
            return _f16[ti] = kr;
        }

        Action<KernelConfig, ArrayView<float>, ArrayView<ushort>, ArrayView<float>, ArrayView<float>, ArrayView<float>, Conv2dParams> BF16Kernel(int ti)
        {
            var kr = _bf16[ti];
            if (kr != null) return kr;
            var acc = _device.Accelerator;
            switch (ti)
            {
                case 0: kr = acc.LoadStreamKernel<ArrayView<float>, ArrayView<ushort>, ArrayView<float>, ArrayView<float>, ArrayView<float>, Conv2dParams>(ConvKernel<ConvTile16, ushort, BF16Decoder>); break;
                case 1: kr = acc.LoadStreamKernel<ArrayView<float>, ArrayView<ushort>, ArrayView<float>, ArrayView<float>, ArrayView<float>, Conv2dParams>(ConvKernel<GemmTile32, ushort, BF16Decoder>); break;
                default: kr = acc.LoadStreamKernel<ArrayView<float>, ArrayView<ushort>, ArrayView<float>, ArrayView<float>, ArrayView<float>, Conv2dParams>(ConvKernel<GemmTile64, ushort, BF16Decoder>); break;
            }
            return _bf16[ti] = kr;
        }

        /// <summary>A padded coordinate of the (upsampled) input along one axis: in range, wrapped (circular), or −1
        /// (a zero-padding sample). Padding is at most 1, so one wrap suffices.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        static int Coord(int v, int size, int mode)
        {
            if (v < 0) return mode == (int)PadMode.Circular ? v + size : -1;
            if (v >= size) return mode == (int)PadMode.Circular ? v - size : -1;
            return v;
        }

        /// <summary>The instantiations the launcher uses (every tile × weight type of the implicit GEMM, and the CPU's
        /// direct kernel per weight type), listed for <see cref="KernelCatalog"/>.</summary>
        public static System.Collections.Generic.IEnumerable<System.Reflection.MethodInfo> KernelSpecializations()
        {
            var conv = typeof(Conv2d).GetMethod(nameof(ConvKernel));
            var direct = typeof(Conv2d).GetMethod(nameof(DirectConvKernel));
            foreach (var tile in new[] { typeof(ConvTile16), typeof(GemmTile32), typeof(GemmTile64) })
            {
                yield return conv.MakeGenericMethod(tile, typeof(float), typeof(F32Decoder));
                yield return conv.MakeGenericMethod(tile, typeof(ushort), typeof(F16Decoder));
                yield return conv.MakeGenericMethod(tile, typeof(ushort), typeof(BF16Decoder));
            }
            yield return direct.MakeGenericMethod(typeof(float), typeof(F32Decoder));
            yield return direct.MakeGenericMethod(typeof(ushort), typeof(F16Decoder));
            yield return direct.MakeGenericMethod(typeof(ushort), typeof(BF16Decoder));
        }

        /// <summary>
        /// The implicit-GEMM convolution kernel: C[m, n] with m = (b, y, x) an output pixel and n = co an output channel,
        /// reduced over k = (ci, ky, kx). Grid: one group per BM × BN tile (pixel tiles fastest, so that neighbouring
        /// groups share the weight tile); group: (BM/4)·(BN/4) threads, thread (tm, tn) owning pixels
        /// m0 + tm + i·BM/4 and channels n0 + tn + j·BN/4 (i, j ∈ 0..3; neighbouring threads own neighbouring pixels,
        /// so loads and NCHW stores are contiguous). Per K step, the input patch (gathered with the padding and the
        /// optional ×2 upsampling) and the weight slice (decoded to float) are staged k-major in shared memory,
        /// zero-filled past M, N and K.
        /// </summary>
        public static void ConvKernel<TTile, TW, TDec>(ArrayView<float> input, ArrayView<TW> w, ArrayView<float> bias,
                                                       ArrayView<float> residual, ArrayView<float> output, Conv2dParams p)
            where TTile : struct, IGemmTile
            where TW : unmanaged
            where TDec : struct, IWeightDecoder<TW>
        {
            TTile tile = default;
            TDec dec = default;
            int bm = tile.BM, bn = tile.BN, bk = tile.BK;
            int sa = bm + 1, sw = bn + 1;
            int qm = bm / 4, qn = bn / 4;
            int threads = qm * qn;
            var As = SharedMemory.Allocate<float>(tile.ASize);
            var Ws = SharedMemory.Allocate<float>(tile.WSize);

            int tid = Group.IdxX;
            int tilesM = (p.M + bm - 1) / bm;
            int tileN = Grid.IdxX / tilesM;
            int m0 = (Grid.IdxX - tileN * tilesM) * bm, n0 = tileN * bn;
            int tn = tid / qm, tm = tid - tn * qm;
            int kk2 = p.Kernel * p.Kernel;
            int inHW = p.InH * p.InW;

            float c00 = 0, c01 = 0, c02 = 0, c03 = 0;
            float c10 = 0, c11 = 0, c12 = 0, c13 = 0;
            float c20 = 0, c21 = 0, c22 = 0, c23 = 0;
            float c30 = 0, c31 = 0, c32 = 0, c33 = 0;

            for (int k0 = 0; k0 < p.K; k0 += bk)
            {
                // input patch: As[kk][r] = in(pixel m0 + r, reduction index k0 + kk)
                for (int e = tid; e < bm * bk; e += threads)
                {
                    int kk = e / bm, r = e - kk * bm;
                    int gm = m0 + r, gk = k0 + kk;
                    float v = 0f;
                    if (gm < p.M && gk < p.K)
                    {
                        int b = gm / p.OutHW, pix = gm - b * p.OutHW;
                        int oy = pix / p.OutW, ox = pix - oy * p.OutW;
                        int ci = gk / kk2, rem = gk - ci * kk2;
                        int ky = rem / p.Kernel, kx = rem - ky * p.Kernel;
                        int iy = Coord(oy * p.Stride + ky - p.Pad, p.SrcH, p.PadY);
                        int ix = Coord(ox * p.Stride + kx - p.Pad, p.SrcW, p.PadX);
                        if (iy >= 0 && ix >= 0)
                        {
                            if (p.Upsample != 0) { iy >>= 1; ix >>= 1; }
                            v = input[(b * p.Cin + ci) * inHW + iy * p.InW + ix];
                        }
                    }
                    As[kk * sa + r] = v;
                }
                // weight slice: Ws[kk][r] = W[n0 + r, k0 + kk]
                for (int e = tid; e < bn * bk; e += threads)
                {
                    int r = e / bk, kk = e - r * bk;
                    int gn = n0 + r, gk = k0 + kk;
                    Ws[kk * sw + r] = gn < p.Cout && gk < p.K ? dec.Decode(w[gn * p.K + gk]) : 0f;
                }
                Group.Barrier();

                for (int kk = 0; kk < bk; kk++)
                {
                    int ao = kk * sa + tm, wo = kk * sw + tn;
                    float a0 = As[ao], a1 = As[ao + qm], a2 = As[ao + 2 * qm], a3 = As[ao + 3 * qm];
                    float w0 = Ws[wo], w1 = Ws[wo + qn], w2 = Ws[wo + 2 * qn], w3 = Ws[wo + 3 * qn];
                    c00 += a0 * w0; c01 += a0 * w1; c02 += a0 * w2; c03 += a0 * w3;
                    c10 += a1 * w0; c11 += a1 * w1; c12 += a1 * w2; c13 += a1 * w3;
                    c20 += a2 * w0; c21 += a2 * w1; c22 += a2 * w2; c23 += a2 * w3;
                    c30 += a3 * w0; c31 += a3 * w1; c32 += a3 * w2; c33 += a3 * w3;
                }
                Group.Barrier();
            }

            int m = m0 + tm, n = n0 + tn;
            StorePixel(output, bias, residual, p, m, n, qn, c00, c01, c02, c03);
            StorePixel(output, bias, residual, p, m + qm, n, qn, c10, c11, c12, c13);
            StorePixel(output, bias, residual, p, m + 2 * qm, n, qn, c20, c21, c22, c23);
            StorePixel(output, bias, residual, p, m + 3 * qm, n, qn, c30, c31, c32, c33);
        }

        /// <summary>The input index of output pixel (oy, ox) shifted by (dy, dx), through padding and upsampling; −1 for a
        /// zero sample or a pixel past the end.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        static int Source(Conv2dParams p, int pix, int dy, int dx)
        {
            if (pix >= p.OutHW) return -1;
            int oy = pix / p.OutW, ox = pix - oy * p.OutW;
            int iy = Coord(oy * p.Stride + dy, p.SrcH, p.PadY), ix = Coord(ox * p.Stride + dx, p.SrcW, p.PadX);
            if (iy < 0 || ix < 0) return -1;
            if (p.Upsample != 0) { iy >>= 1; ix >>= 1; }
            return iy * p.InW + ix;
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        static float At(ArrayView<float> input, int baseIndex, int offset) => offset >= 0 ? input[baseIndex + offset] : 0f;

        /// <summary>
        /// The barrier-free convolution (<see cref="KernelPath.Threads"/>): a grid-stride loop over work units of
        /// 4 output pixels × 4 output channels of one image (channel quads fastest, so that neighbouring threads share
        /// the input pixels). A unit walks the kernel taps (ky, kx), resolving its 4 source pixels once per tap, then
        /// the input channels: 4 input values and 4 decoded weights feed 16 multiply-adds.
        /// </summary>
        public static void DirectConvKernel<TW, TDec>(ArrayView<float> input, ArrayView<TW> w, ArrayView<float> bias,
                                                      ArrayView<float> residual, ArrayView<float> output, Conv2dParams p)
            where TW : unmanaged
            where TDec : struct, IWeightDecoder<TW>
        {
            TDec dec = default;
            int quadsP = (p.OutHW + 3) / 4, quadsC = (p.Cout + 3) / 4;
            int units = p.Batch * quadsP * quadsC;
            int inHW = p.InH * p.InW, kk2 = p.Kernel * p.Kernel;
            for (int u = Grid.GlobalIndex.X; u < units; u += Grid.DimX * Group.DimX)
            {
                int cq = u % quadsC, rest = u / quadsC;
                int pq = rest % quadsP, b = rest / quadsP;
                int p0 = pq * 4, c0 = cq * 4;
                int n0 = XMath.Min(c0, p.Cout - 1), n1 = XMath.Min(c0 + 1, p.Cout - 1), n2 = XMath.Min(c0 + 2, p.Cout - 1), n3 = XMath.Min(c0 + 3, p.Cout - 1);
                float c00 = 0, c01 = 0, c02 = 0, c03 = 0;
                float c10 = 0, c11 = 0, c12 = 0, c13 = 0;
                float c20 = 0, c21 = 0, c22 = 0, c23 = 0;
                float c30 = 0, c31 = 0, c32 = 0, c33 = 0;
                int inBase = b * p.Cin * inHW;
                for (int ky = 0; ky < p.Kernel; ky++)
                    for (int kx = 0; kx < p.Kernel; kx++)
                    {
                        int dy = ky - p.Pad, dx = kx - p.Pad;
                        int s0 = Source(p, p0, dy, dx), s1 = Source(p, p0 + 1, dy, dx), s2 = Source(p, p0 + 2, dy, dx), s3 = Source(p, p0 + 3, dy, dx);
                        int tap = ky * p.Kernel + kx;
                        for (int ci = 0; ci < p.Cin; ci++)
                        {
                            int ib = inBase + ci * inHW;
                            float a0 = At(input, ib, s0), a1 = At(input, ib, s1), a2 = At(input, ib, s2), a3 = At(input, ib, s3);
                            int wk = ci * kk2 + tap;
                            float w0 = dec.Decode(w[n0 * p.K + wk]), w1 = dec.Decode(w[n1 * p.K + wk]);
                            float w2 = dec.Decode(w[n2 * p.K + wk]), w3 = dec.Decode(w[n3 * p.K + wk]);
                            c00 += a0 * w0; c01 += a0 * w1; c02 += a0 * w2; c03 += a0 * w3;
                            c10 += a1 * w0; c11 += a1 * w1; c12 += a1 * w2; c13 += a1 * w3;
                            c20 += a2 * w0; c21 += a2 * w1; c22 += a2 * w2; c23 += a2 * w3;
                            c30 += a3 * w0; c31 += a3 * w1; c32 += a3 * w2; c33 += a3 * w3;
                        }
                    }
                int m = b * p.OutHW + p0;
                if (p0 < p.OutHW) StorePixel(output, bias, residual, p, m, c0, 1, c00, c01, c02, c03);
                if (p0 + 1 < p.OutHW) StorePixel(output, bias, residual, p, m + 1, c0, 1, c10, c11, c12, c13);
                if (p0 + 2 < p.OutHW) StorePixel(output, bias, residual, p, m + 2, c0, 1, c20, c21, c22, c23);
                if (p0 + 3 < p.OutHW) StorePixel(output, bias, residual, p, m + 3, c0, 1, c30, c31, c32, c33);
            }
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        static void StorePixel(ArrayView<float> output, ArrayView<float> bias, ArrayView<float> residual, Conv2dParams p,
                               int m, int n, int qn, float v0, float v1, float v2, float v3)
        {
            if (m >= p.M) return;
            int b = m / p.OutHW, pix = m - b * p.OutHW;
            int o = b * p.Cout * p.OutHW + pix;
            Store(output, bias, residual, p, o, n, v0);
            Store(output, bias, residual, p, o, n + qn, v1);
            Store(output, bias, residual, p, o, n + 2 * qn, v2);
            Store(output, bias, residual, p, o, n + 3 * qn, v3);
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        static void Store(ArrayView<float> output, ArrayView<float> bias, ArrayView<float> residual, Conv2dParams p, int pixelBase, int n, float acc)
        {
            if (n >= p.Cout) return;
            int o = pixelBase + n * p.OutHW;
            float v = acc;
            if (p.HasBias != 0) v += bias[n];
            if (p.HasResidual != 0) v += residual[o];
            output[o] = v;
        }
    }
}
