using System;
using System.Collections.Generic;
using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;

namespace Sd3Tex.Kernels
{
    /// <summary>The 3 × 3 derivative filter the normal map is computed with.</summary>
    public enum NormalFilter
    {
        /// <summary>Scharr: smoothing (3, 10, 3)/16 across the derivative (the most rotation-invariant 3 × 3 gradient).</summary>
        Scharr = 0,
        /// <summary>Sobel: smoothing (1, 2, 1)/4 across the derivative.</summary>
        Sobel = 1,
    }

    /// <summary>The settings of a PBR derivation (<see cref="Pbr.Derive"/>, <see cref="Reference.PbrReference.Derive"/>).</summary>
    public sealed class PbrSettings
    {
        /// <summary>The normal map's slope multiplier: the surface's slope is strength × the height map's difference
        /// between neighbouring pixels (default 2).</summary>
        public float Strength { get; set; } = 2f;
        /// <summary>DirectX convention (green = −Y, down); false = OpenGL / Unity (green = +Y, up).</summary>
        public bool DirectX { get; set; }
        public NormalFilter Filter { get; set; } = NormalFilter.Scharr;
        /// <summary>How dark cavities get in the ambient occlusion (default 1.5).</summary>
        public float AoStrength { get; set; } = 1.5f;
        /// <summary>The roughness of a pixel of average luminance and average local contrast (default 0.6).</summary>
        public float RoughnessBase { get; set; } = 0.6f;

        public PbrSettings Clone() => (PbrSettings)MemberwiseClone();
    }

    /// <summary>The maps of a PBR derivation, each [height, width] row-major from the top row (packed maps as RGBA
    /// bytes in an int, R in the lowest byte).</summary>
    public sealed class PbrOutput
    {
        public int Width { get; set; }
        public int Height { get; set; }
        /// <summary>Height in [0, 1].</summary>
        public float[] HeightMap { get; set; }
        /// <summary>Tangent-space normal, RGB = n·0.5 + 0.5, A 255.</summary>
        public int[] Normal { get; set; }
        /// <summary>Roughness in [0, 1] (smoothness = 1 − roughness).</summary>
        public float[] Roughness { get; set; }
        /// <summary>Ambient occlusion in [0, 1] (1 = unoccluded).</summary>
        public float[] Occlusion { get; set; }
        /// <summary>HDRP mask map: R metallic 0, G occlusion, B detail mask 0, A smoothness.</summary>
        public int[] Mask { get; set; }
        /// <summary>URP / Built-in metallic-smoothness map: RGB metallic 0, A smoothness.</summary>
        public int[] MetallicSmoothness { get; set; }
    }

    /// <summary>Arguments of the separable blur kernels.</summary>
    public struct PbrBlurArgs
    {
        public int Width, Height, Radius;
    }

    /// <summary>Arguments of the reduction kernel: N values in chunks of Chunk.</summary>
    public struct PbrStatsArgs
    {
        public int N, Chunk, Chunks;
    }

    /// <summary>Arguments of the element-wise kernels: N elements and up to four scalars (each kernel names its own).</summary>
    public struct PbrMapArgs
    {
        public int N;
        public float P0, P1, P2, P3;
    }

    /// <summary>Arguments of the normal kernel.</summary>
    public struct PbrNormalArgs
    {
        public int Width, Height;
        /// <summary>Slope multiplier; +1 (OpenGL: green = +Y) or −1 (DirectX); the filter's side and centre weights.</summary>
        public float Strength, YSign, Side, Center;
    }

    /// <summary>Arguments of the packing kernel: per channel a plane (Use = 1, inverted as 1 − v when Invert = 1) or a constant.</summary>
    public struct PbrPackArgs
    {
        public int N;
        public int UseR, UseG, UseB, UseA, InvertA;
        public float R, G, B, A;
    }

    /// <summary>Mean, standard deviation, minimum and maximum of a plane.</summary>
    public struct PbrStats
    {
        public double Mean, Std, Min, Max;
        public override string ToString() => $"mean {Mean:G4}, std {Std:G4}, min {Min:G4}, max {Max:G4}";
    }

    /// <summary>
    /// PBR maps from an albedo, as ILGPU kernels with circular (wrap-around) sampling everywhere, so that a tileable
    /// albedo gives tileable maps (a circular shift of the albedo shifts every map the same way):
    /// <list type="bullet">
    /// <item>height: the luminance (Rec. 709 weights of the stored values) through a multi-scale high-pass: the sum of
    /// the bands between Gaussian blurs at σ = 2, 4, … up to min(W, H)/8 (at most 64), coarser bands weighted more
    /// (1 + k/2), everything coarser than the last blur (large-scale lighting) removed; then mapped to [0, 1] over
    /// [max(min, mean − 3σ), min(max, mean + 3σ)];</item>
    /// <item>normal: Scharr (or Sobel) derivatives of the height, n = normalize(−s·∂h/∂x, ±s·∂h/∂y, 1) with y the image
    /// row (+ for OpenGL / Unity, green up; − for DirectX), RGB = n·0.5 + 0.5;</item>
    /// <item>roughness: base + 0.25·tanh(c/c̄ − 1) − 0.4·(L − L̄) clamped to [0, 1], with c the local standard deviation
    /// of the luminance L (Gaussian window σ = 2) and bars the image means: more local contrast and darker is rougher;
    /// smoothness = 1 − roughness;</item>
    /// <item>ambient occlusion: 1 − strength·(max(0, blur₂(h) − h) + max(0, blurₛ(h) − h)) clamped, a cavity estimate at
    /// σ = 2 and σ = min(W, H)/32 (4 to 32);</item>
    /// <item>packed: HDRP's mask map (R metallic 0, G occlusion, B detail 0, A smoothness) and the URP / Built-in
    /// metallic-smoothness map (RGB 0, A smoothness).</item>
    /// </list>
    /// Each step is an op of this class (luminance, separable circular blur, statistics, band sum, normalisation,
    /// normals, local contrast, roughness, occlusion, packing); <see cref="Derive"/> runs them all. The managed CPU
    /// backend runs <see cref="Cpu.CpuPbr"/> instead of the kernels. The reference is <see cref="Reference.PbrReference"/>.
    /// Calls are asynchronous on the default stream except <see cref="Stats"/> and <see cref="Derive"/>, which wait.
    /// </summary>
    public sealed class Pbr
    {
        /// <summary>Largest blur of the height's high-pass.</summary>
        public const float MaxHeightSigma = 64f;
        /// <summary>The window of the local contrast.</summary>
        public const float ContrastSigma = 2f;
        /// <summary>Chunks the statistics are reduced in.</summary>
        const int StatsChunks = 256;

        readonly ComputeDevice _device;
        readonly Action<Index1D, ArrayView<int>, ArrayView<float>, PbrMapArgs> _luminance;
        readonly Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, PbrBlurArgs> _blurRows, _blurColumns;
        readonly Action<Index1D, ArrayView<float>, ArrayView<float>, PbrStatsArgs> _stats;
        readonly Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, PbrMapArgs> _band, _localStd;
        readonly Action<Index1D, ArrayView<float>, PbrMapArgs> _normalise, _square;
        readonly Action<Index1D, ArrayView<float>, ArrayView<int>, PbrNormalArgs> _normal;
        readonly Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, PbrMapArgs> _roughness;
        readonly Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, PbrMapArgs> _occlusion;
        readonly Action<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<int>, PbrPackArgs> _pack;

        public Pbr(ComputeDevice device)
        {
            _device = device ?? throw new ArgumentNullException(nameof(device));
            if (device.IsManaged) return; // the managed CPU backend runs Cpu.CpuPbr instead of the kernels
            var acc = device.Accelerator;
            _luminance = acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<int>, ArrayView<float>, PbrMapArgs>(LuminanceKernel);
            _blurRows = acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, PbrBlurArgs>(BlurRowsKernel);
            _blurColumns = acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, PbrBlurArgs>(BlurColumnsKernel);
            _stats = acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, PbrStatsArgs>(StatsKernel);
            _band = acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, PbrMapArgs>(BandKernel);
            _localStd = acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, PbrMapArgs>(LocalStdKernel);
            _normalise = acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, PbrMapArgs>(NormaliseKernel);
            _square = acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, PbrMapArgs>(SquareKernel);
            _normal = acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<int>, PbrNormalArgs>(NormalKernel);
            _roughness = acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, PbrMapArgs>(RoughnessKernel);
            _occlusion = acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, PbrMapArgs>(OcclusionKernel);
            _pack = acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<int>, PbrPackArgs>(PackKernel);
        }

        public ComputeDevice Device => _device;

        #region Host-side definitions (shared with the reference)

        /// <summary>The normalised Gaussian taps w[0..radius] (w[j] for offsets ±j), radius = ⌈3σ⌉.</summary>
        public static float[] GaussianWeights(double sigma)
        {
            if (!(sigma > 0)) throw new ArgumentOutOfRangeException(nameof(sigma), sigma, "a positive sigma");
            int radius = (int)Math.Ceiling(3 * sigma);
            var w = new double[radius + 1];
            double sum = 0;
            for (int j = 0; j <= radius; j++)
            {
                w[j] = Math.Exp(-(double)j * j / (2 * sigma * sigma));
                sum += j == 0 ? w[j] : 2 * w[j];
            }
            var r = new float[radius + 1];
            for (int j = 0; j <= radius; j++) r[j] = (float)(w[j] / sum);
            return r;
        }

        /// <summary>The blur scales of the height's high-pass: σ = 2, 4, … ≤ max(2, min(W, H)/8), at most <see cref="MaxHeightSigma"/>.</summary>
        public static IReadOnlyList<float> HeightSigmas(int width, int height)
        {
            double top = Math.Min(MaxHeightSigma, Math.Max(2.0, Math.Min(width, height) / 8.0));
            var r = new List<float>();
            for (float s = 2; s <= top; s *= 2) r.Add(s);
            return r;
        }

        /// <summary>The blur taking each scale of <see cref="HeightSigmas"/> to the next (from the luminance to the first):
        /// √(σ_k² − σ_{k−1}²).</summary>
        public static IReadOnlyList<float> HeightBlurSteps(int width, int height)
        {
            var sigmas = HeightSigmas(width, height);
            var r = new List<float>();
            double prev = 0;
            foreach (var s in sigmas)
            {
                r.Add((float)Math.Sqrt((double)s * s - prev * prev));
                prev = s;
            }
            return r;
        }

        /// <summary>The weight of band k (0 = finest) of the height.</summary>
        public static float BandWeight(int k) => 1f + 0.5f * k;

        /// <summary>The coarse occlusion scale: min(W, H)/32 within [4, 32].</summary>
        public static float OcclusionSigma(int width, int height) => (float)Math.Min(32.0, Math.Max(4.0, Math.Min(width, height) / 32.0));

        /// <summary>The side and centre weights of the derivative filter's smoothing (they sum to 1 with the side twice).</summary>
        public static (float side, float center) FilterWeights(NormalFilter f) => f == NormalFilter.Sobel ? (0.25f, 0.5f) : (3f / 16f, 10f / 16f);

        /// <summary>The range the height is mapped to [0, 1] over: [max(min, mean − 3σ), min(max, mean + 3σ)].</summary>
        public static (double lo, double hi) HeightRange(PbrStats s) => (Math.Max(s.Min, s.Mean - 3 * s.Std), Math.Min(s.Max, s.Mean + 3 * s.Std));

        #endregion

        #region Ops

        /// <summary>lum[i] = (0.2126 R + 0.7152 G + 0.0722 B)/255 of rgba[i] (packed bytes, R lowest), i &lt; n.</summary>
        public void Luminance(ArrayView<int> rgba, ArrayView<float> lum, int n)
        {
            Need(rgba.Length, n, "rgba"); Need(lum.Length, n, "lum");
            if (_device.IsManaged) { unsafe { Cpu.CpuPbr.Luminance(Cpu.CpuBackend.Ptr(rgba), Cpu.CpuBackend.Ptr(lum), n); } return; }
            _luminance(n, rgba, lum, new PbrMapArgs { N = n });
        }

        /// <summary>dst = src blurred by a circular Gaussian of σ (rows then columns, through <paramref name="tmp"/>);
        /// all [height, width]; dst may be src.</summary>
        public void Blur(ArrayView<float> src, ArrayView<float> tmp, ArrayView<float> dst, int width, int height, float sigma)
        {
            int n = Size(width, height);
            Need(src.Length, n, "src"); Need(tmp.Length, n, "tmp"); Need(dst.Length, n, "dst");
            var w = GaussianWeights(sigma);
            var args = new PbrBlurArgs { Width = width, Height = height, Radius = w.Length - 1 };
            if (_device.IsManaged)
            {
                unsafe
                {
                    fixed (float* pw = w) Cpu.CpuPbr.Blur(Cpu.CpuBackend.Ptr(src), Cpu.CpuBackend.Ptr(tmp), Cpu.CpuBackend.Ptr(dst), width, height, pw, args.Radius);
                }
                return;
            }
            using (var wb = _device.Accelerator.Allocate1D(w))
            {
                _blurRows(n, src, tmp, wb.View, args);
                _blurColumns(n, tmp, dst, wb.View, args);
                _device.Accelerator.DefaultStream.Synchronize(); // before the weights are freed
            }
        }

        /// <summary>Mean, standard deviation, min and max of x[0..n) (partial sums per chunk on the device, combined
        /// in double on the host). Waits for the device.</summary>
        public PbrStats Stats(ArrayView<float> x, int n)
        {
            if (n < 1) throw new ArgumentOutOfRangeException(nameof(n));
            Need(x.Length, n, "x");
            int chunks = Math.Min(StatsChunks, n), chunk = (n + chunks - 1) / chunks;
            chunks = (n + chunk - 1) / chunk;
            var partial = new float[chunks * 4];
            if (_device.IsManaged) { unsafe { fixed (float* p = partial) Cpu.CpuPbr.Stats(Cpu.CpuBackend.Ptr(x), p, n, chunk, chunks); } }
            else
                using (var pb = _device.Accelerator.Allocate1D<float>(chunks * 4))
                {
                    _stats(chunks, x, pb.View, new PbrStatsArgs { N = n, Chunk = chunk, Chunks = chunks });
                    pb.CopyToCPU(partial);
                }
            return Combine(partial, chunks, n);
        }

        /// <summary>The statistics from per-chunk (sum, sum of squares, min, max).</summary>
        public static PbrStats Combine(float[] partial, int chunks, int n)
        {
            double sum = 0, sq = 0, min = double.PositiveInfinity, max = double.NegativeInfinity;
            for (int c = 0; c < chunks; c++)
            {
                sum += partial[c * 4];
                sq += partial[c * 4 + 1];
                min = Math.Min(min, partial[c * 4 + 2]);
                max = Math.Max(max, partial[c * 4 + 3]);
            }
            double mean = sum / n;
            return new PbrStats { Mean = mean, Std = Math.Sqrt(Math.Max(0, sq / n - mean * mean)), Min = min, Max = max };
        }

        /// <summary>acc[i] += weight·(a[i] − b[i]).</summary>
        public void Band(ArrayView<float> acc, ArrayView<float> a, ArrayView<float> b, int n, float weight)
        {
            Need(acc.Length, n, "acc"); Need(a.Length, n, "a"); Need(b.Length, n, "b");
            if (_device.IsManaged) { unsafe { Cpu.CpuPbr.Band(Cpu.CpuBackend.Ptr(acc), Cpu.CpuBackend.Ptr(a), Cpu.CpuBackend.Ptr(b), n, weight); } return; }
            _band(n, acc, a, b, new PbrMapArgs { N = n, P0 = weight });
        }

        /// <summary>x[i] = clamp((x[i] − lo)·scale, 0, 1); a scale of 0 gives 0.5 everywhere (a flat map).</summary>
        public void Normalise(ArrayView<float> x, int n, float lo, float scale)
        {
            Need(x.Length, n, "x");
            if (_device.IsManaged) { unsafe { Cpu.CpuPbr.Normalise(Cpu.CpuBackend.Ptr(x), n, lo, scale); } return; }
            _normalise(n, x, new PbrMapArgs { N = n, P0 = lo, P1 = scale });
        }

        /// <summary>x[i] = x[i]².</summary>
        public void Square(ArrayView<float> x, int n)
        {
            Need(x.Length, n, "x");
            if (_device.IsManaged) { unsafe { Cpu.CpuPbr.Square(Cpu.CpuBackend.Ptr(x), n); } return; }
            _square(n, x, new PbrMapArgs { N = n });
        }

        /// <summary>std[i] = √max(0, meanSq[i] − mean[i]²) (the local standard deviation from local moments).</summary>
        public void LocalStd(ArrayView<float> mean, ArrayView<float> meanSq, ArrayView<float> std, int n)
        {
            Need(mean.Length, n, "mean"); Need(meanSq.Length, n, "meanSq"); Need(std.Length, n, "std");
            if (_device.IsManaged) { unsafe { Cpu.CpuPbr.LocalStd(Cpu.CpuBackend.Ptr(mean), Cpu.CpuBackend.Ptr(meanSq), Cpu.CpuBackend.Ptr(std), n); } return; }
            _localStd(n, mean, meanSq, std, new PbrMapArgs { N = n });
        }

        /// <summary>The normal map of a height [height, width] (see the class summary), packed RGBA8 with A 255.</summary>
        public void Normal(ArrayView<float> heightMap, ArrayView<int> normal, int width, int height, float strength, bool directX, NormalFilter filter)
        {
            int n = Size(width, height);
            Need(heightMap.Length, n, "height"); Need(normal.Length, n, "normal");
            var (side, center) = FilterWeights(filter);
            var a = new PbrNormalArgs { Width = width, Height = height, Strength = strength, YSign = directX ? -1f : 1f, Side = side, Center = center };
            if (_device.IsManaged) { unsafe { Cpu.CpuPbr.Normal(Cpu.CpuBackend.Ptr(heightMap), Cpu.CpuBackend.Ptr(normal), a); } return; }
            _normal(n, heightMap, normal, a);
        }

        /// <summary>rough[i] = clamp(base + 0.25·tanh(c[i]/c̄ − 1) − 0.4·(lum[i] − L̄), 0, 1); c̄ ≤ 0 drops the contrast term.</summary>
        public void Roughness(ArrayView<float> lum, ArrayView<float> contrast, ArrayView<float> rough, int n, float baseRoughness, float meanLum, float meanContrast)
        {
            Need(lum.Length, n, "lum"); Need(contrast.Length, n, "contrast"); Need(rough.Length, n, "rough");
            float inv = meanContrast > 1e-6f ? 1f / meanContrast : 0f;
            var a = new PbrMapArgs { N = n, P0 = baseRoughness, P1 = meanLum, P2 = inv };
            if (_device.IsManaged) { unsafe { Cpu.CpuPbr.Roughness(Cpu.CpuBackend.Ptr(lum), Cpu.CpuBackend.Ptr(contrast), Cpu.CpuBackend.Ptr(rough), a); } return; }
            _roughness(n, lum, contrast, rough, a);
        }

        /// <summary>ao[i] = clamp(1 − strength·(max(0, fine[i] − h[i]) + max(0, coarse[i] − h[i])), 0, 1).</summary>
        public void Occlusion(ArrayView<float> heightMap, ArrayView<float> fine, ArrayView<float> coarse, ArrayView<float> ao, int n, float strength)
        {
            Need(heightMap.Length, n, "height"); Need(fine.Length, n, "fine"); Need(coarse.Length, n, "coarse"); Need(ao.Length, n, "ao");
            var a = new PbrMapArgs { N = n, P0 = strength };
            if (_device.IsManaged) { unsafe { Cpu.CpuPbr.Occlusion(Cpu.CpuBackend.Ptr(heightMap), Cpu.CpuBackend.Ptr(fine), Cpu.CpuBackend.Ptr(coarse), Cpu.CpuBackend.Ptr(ao), a); } return; }
            _occlusion(n, heightMap, fine, coarse, ao, a);
        }

        /// <summary>Packs planes into RGBA8: each channel a plane's value (alpha optionally 1 − v) or a constant, as
        /// round(255·clamp(v, 0, 1)). Planes not used may be any view of n floats.</summary>
        public void Pack(ArrayView<float> r, ArrayView<float> g, ArrayView<float> b, ArrayView<float> a, ArrayView<int> rgba, PbrPackArgs args)
        {
            int n = args.N;
            Need(r.Length, n, "r"); Need(g.Length, n, "g"); Need(b.Length, n, "b"); Need(a.Length, n, "a"); Need(rgba.Length, n, "rgba");
            if (_device.IsManaged)
            {
                unsafe { Cpu.CpuPbr.Pack(Cpu.CpuBackend.Ptr(r), Cpu.CpuBackend.Ptr(g), Cpu.CpuBackend.Ptr(b), Cpu.CpuBackend.Ptr(a), Cpu.CpuBackend.Ptr(rgba), args); }
                return;
            }
            _pack(n, r, g, b, a, rgba, args);
        }

        /// <summary>The mask map's packing: R 0, G occlusion, B 0, A 1 − roughness.</summary>
        public static PbrPackArgs MaskPacking(int n) => new PbrPackArgs { N = n, UseG = 1, UseA = 1, InvertA = 1 };

        /// <summary>The metallic-smoothness packing: RGB 0, A 1 − roughness.</summary>
        public static PbrPackArgs MetallicPacking(int n) => new PbrPackArgs { N = n, UseA = 1, InvertA = 1 };

        #endregion

        /// <summary>
        /// Every map of an albedo <paramref name="rgba"/> [height, width] (packed RGBA8, R lowest; alpha ignored):
        /// luminance, the multi-scale high-pass height, normals, local contrast and roughness, occlusion, and the two
        /// packed maps, on this device; downloads them and waits.
        /// </summary>
        public PbrOutput Derive(int[] rgba, int width, int height, PbrSettings settings = null)
        {
            settings = settings ?? new PbrSettings();
            int n = Size(width, height);
            if (rgba == null || rgba.Length != n) throw new ArgumentException($"the albedo must hold {width}×{height} packed pixels.");
            var acc = _device.Accelerator;
            var buffers = new List<IDisposable>();
            MemoryBuffer1D<float, Stride1D.Dense> F() { var b = acc.Allocate1D<float>(n); buffers.Add(b); return b; }
            MemoryBuffer1D<int, Stride1D.Dense> I() { var b = acc.Allocate1D<int>(n); buffers.Add(b); return b; }
            try
            {
                var albedo = I();
                albedo.CopyFromCPU(rgba);
                acc.DefaultStream.Synchronize();
                var lum = F(); var tmp = F(); var a = F(); var b = F(); var h = F();
                Luminance(albedo.View, lum.View, n);

                // height: Σ_k w_k (B_k − B_{k+1}), B_0 = L, each blur reached from the last (σ² adds up)
                h.MemSetToZero();
                acc.DefaultStream.Synchronize();
                var prev = lum.View;
                var steps = HeightBlurSteps(width, height);
                for (int k = 0; k < steps.Count; k++)
                {
                    var next = (k % 2 == 0 ? a : b).View;
                    Blur(prev, tmp.View, next, width, height, steps[k]);
                    Band(h.View, prev, next, n, BandWeight(k));
                    prev = next;
                }
                var (lo, hi) = HeightRange(Stats(h.View, n));
                Normalise(h.View, n, (float)lo, hi - lo > 1e-12 ? (float)(1.0 / (hi - lo)) : 0f);

                var output = new PbrOutput { Width = width, Height = height };
                var normal = I();
                Normal(h.View, normal.View, width, height, settings.Strength, settings.DirectX, settings.Filter);

                // roughness from the local contrast (σ = 2) and the luminance
                Blur(lum.View, tmp.View, a.View, width, height, ContrastSigma);
                acc.DefaultStream.Synchronize();
                lum.View.CopyTo(b.View);
                acc.DefaultStream.Synchronize();
                Square(b.View, n);
                Blur(b.View, tmp.View, b.View, width, height, ContrastSigma);
                var contrast = F();
                LocalStd(a.View, b.View, contrast.View, n);
                var lumStats = Stats(lum.View, n);
                var contrastStats = Stats(contrast.View, n);
                var rough = F();
                Roughness(lum.View, contrast.View, rough.View, n, settings.RoughnessBase, (float)lumStats.Mean, (float)contrastStats.Mean);

                // occlusion: cavities of the height at two scales
                Blur(h.View, tmp.View, a.View, width, height, 2f);
                Blur(h.View, tmp.View, b.View, width, height, OcclusionSigma(width, height));
                var ao = lum; // the luminance is no longer needed
                Occlusion(h.View, a.View, b.View, ao.View, n, settings.AoStrength);

                var mask = I(); var metallic = I();
                Pack(rough.View, ao.View, rough.View, rough.View, mask.View, MaskPacking(n));
                Pack(rough.View, rough.View, rough.View, rough.View, metallic.View, MetallicPacking(n));
                acc.DefaultStream.Synchronize();
                output.HeightMap = h.GetAsArray1D();
                output.Normal = normal.GetAsArray1D();
                output.Roughness = rough.GetAsArray1D();
                output.Occlusion = ao.GetAsArray1D();
                output.Mask = mask.GetAsArray1D();
                output.MetallicSmoothness = metallic.GetAsArray1D();
                return output;
            }
            finally
            {
                foreach (var x in buffers) x.Dispose();
            }
        }

        static int Size(int width, int height)
        {
            if (width < 1 || height < 1) throw new ArgumentException($"map size {width}×{height} must be positive.");
            long n = (long)width * height;
            if (n > int.MaxValue) throw new ArgumentException($"map {width}×{height} is too large.");
            return (int)n;
        }

        static void Need(long have, long need, string what)
        {
            if (have < need) throw new ArgumentException($"{what} holds {have} elements; {need} are needed.");
        }

        // ---------------------------------------------------------------------------------------------------------
        // kernels: one thread per pixel (or per chunk for the statistics); argument blocks are public for ILGPU's CPU backend

        static int Wrap(int i, int n)
        {
            int r = i % n;
            return r < 0 ? r + n : r;
        }

        /// <summary>round(255·clamp(v, 0, 1)).</summary>
        static int ToByte(float v) => v >= 1f ? 255 : v > 0f ? (int)(v * 255f + 0.5f) : 0;

        /// <summary>lum[i] from packed rgba[i].</summary>
        public static void LuminanceKernel(Index1D i, ArrayView<int> rgba, ArrayView<float> lum, PbrMapArgs p)
        {
            int v = rgba[i];
            float r = v & 0xFF, g = (v >> 8) & 0xFF, b = (v >> 16) & 0xFF;
            lum[i] = (0.2126f * r + 0.7152f * g + 0.0722f * b) * (1f / 255f);
        }

        /// <summary>dst[y, x] = Σ_j w[|j|]·src[y, (x + j) mod W] for |j| ≤ radius.</summary>
        public static void BlurRowsKernel(Index1D i, ArrayView<float> src, ArrayView<float> dst, ArrayView<float> w, PbrBlurArgs p)
        {
            int y = i / p.Width, x = i - y * p.Width, row = y * p.Width;
            float acc = w[0] * src[i];
            for (int j = 1; j <= p.Radius; j++)
                acc += w[j] * (src[row + Wrap(x - j, p.Width)] + src[row + Wrap(x + j, p.Width)]);
            dst[i] = acc;
        }

        /// <summary>dst[y, x] = Σ_j w[|j|]·src[(y + j) mod H, x] for |j| ≤ radius.</summary>
        public static void BlurColumnsKernel(Index1D i, ArrayView<float> src, ArrayView<float> dst, ArrayView<float> w, PbrBlurArgs p)
        {
            int y = i / p.Width, x = i - y * p.Width;
            float acc = w[0] * src[i];
            for (int j = 1; j <= p.Radius; j++)
                acc += w[j] * (src[Wrap(y - j, p.Height) * p.Width + x] + src[Wrap(y + j, p.Height) * p.Width + x]);
            dst[i] = acc;
        }

        /// <summary>Chunk c: partial[c·4 ..] = (Σx, Σx², min, max) over x[c·Chunk .. min(N, (c + 1)·Chunk)).</summary>
        public static void StatsKernel(Index1D c, ArrayView<float> x, ArrayView<float> partial, PbrStatsArgs p)
        {
            int from = c * p.Chunk, to = XMath.Min(p.N, from + p.Chunk);
            float sum = 0f, sq = 0f, min = float.MaxValue, max = -float.MaxValue;
            for (int k = from; k < to; k++)
            {
                float v = x[k];
                sum += v;
                sq += v * v;
                min = XMath.Min(min, v);
                max = XMath.Max(max, v);
            }
            partial[c * 4] = sum;
            partial[c * 4 + 1] = sq;
            partial[c * 4 + 2] = min;
            partial[c * 4 + 3] = max;
        }

        /// <summary>acc[i] += P0·(a[i] − b[i]).</summary>
        public static void BandKernel(Index1D i, ArrayView<float> acc, ArrayView<float> a, ArrayView<float> b, PbrMapArgs p) =>
            acc[i] += p.P0 * (a[i] - b[i]);

        /// <summary>x[i] = clamp((x[i] − P0)·P1, 0, 1), or 0.5 when P1 = 0.</summary>
        public static void NormaliseKernel(Index1D i, ArrayView<float> x, PbrMapArgs p) =>
            x[i] = p.P1 == 0f ? 0.5f : XMath.Clamp((x[i] - p.P0) * p.P1, 0f, 1f);

        /// <summary>x[i] = x[i]².</summary>
        public static void SquareKernel(Index1D i, ArrayView<float> x, PbrMapArgs p) => x[i] = x[i] * x[i];

        /// <summary>std[i] = √max(0, meanSq[i] − mean[i]²).</summary>
        public static void LocalStdKernel(Index1D i, ArrayView<float> mean, ArrayView<float> meanSq, ArrayView<float> std, PbrMapArgs p)
        {
            float m = mean[i];
            std[i] = XMath.Sqrt(XMath.Max(0f, meanSq[i] - m * m));
        }

        /// <summary>The normal of pixel i from the 3 × 3 circular neighbourhood of the height.</summary>
        public static void NormalKernel(Index1D i, ArrayView<float> h, ArrayView<int> normal, PbrNormalArgs p)
        {
            int w = p.Width, y = i / w, x = i - y * w;
            int xl = Wrap(x - 1, w), xr = Wrap(x + 1, w);
            int yu = Wrap(y - 1, p.Height) * w, yc = y * w, yd = Wrap(y + 1, p.Height) * w;
            // ∂h/∂x and ∂h/∂y (y = row, downwards), each a central difference smoothed across
            float dx = 0.5f * (p.Side * (h[yu + xr] - h[yu + xl]) + p.Center * (h[yc + xr] - h[yc + xl]) + p.Side * (h[yd + xr] - h[yd + xl]));
            float dy = 0.5f * (p.Side * (h[yd + xl] - h[yu + xl]) + p.Center * (h[yd + x] - h[yu + x]) + p.Side * (h[yd + xr] - h[yu + xr]));
            float nx = -p.Strength * dx, ny = p.YSign * p.Strength * dy, nz = 1f;
            float inv = XMath.Rsqrt(nx * nx + ny * ny + nz * nz);
            int r = ToByte(nx * inv * 0.5f + 0.5f), g = ToByte(ny * inv * 0.5f + 0.5f), b = ToByte(nz * inv * 0.5f + 0.5f);
            normal[i] = r | (g << 8) | (b << 16) | (255 << 24);
        }

        /// <summary>rough[i] = clamp(P0 + 0.25·tanh(c[i]·P2 − 1) − 0.4·(lum[i] − P1), 0, 1) (P2 = 1/c̄, or 0: no contrast term).</summary>
        public static void RoughnessKernel(Index1D i, ArrayView<float> lum, ArrayView<float> contrast, ArrayView<float> rough, PbrMapArgs p)
        {
            float c = p.P2 > 0f ? 0.25f * XMath.Tanh(contrast[i] * p.P2 - 1f) : 0f;
            rough[i] = XMath.Clamp(p.P0 + c - 0.4f * (lum[i] - p.P1), 0f, 1f);
        }

        /// <summary>ao[i] = clamp(1 − P0·(max(0, fine[i] − h[i]) + max(0, coarse[i] − h[i])), 0, 1).</summary>
        public static void OcclusionKernel(Index1D i, ArrayView<float> h, ArrayView<float> fine, ArrayView<float> coarse, ArrayView<float> ao, PbrMapArgs p)
        {
            float v = h[i];
            float cavity = XMath.Max(0f, fine[i] - v) + XMath.Max(0f, coarse[i] - v);
            ao[i] = XMath.Clamp(1f - p.P0 * cavity, 0f, 1f);
        }

        /// <summary>rgba[i] = the four channels of <see cref="PbrPackArgs"/> as bytes.</summary>
        public static void PackKernel(Index1D i, ArrayView<float> r, ArrayView<float> g, ArrayView<float> b, ArrayView<float> a, ArrayView<int> rgba, PbrPackArgs p)
        {
            int cr = ToByte(p.UseR != 0 ? r[i] : p.R);
            int cg = ToByte(p.UseG != 0 ? g[i] : p.G);
            int cb = ToByte(p.UseB != 0 ? b[i] : p.B);
            float av = p.UseA != 0 ? (p.InvertA != 0 ? 1f - a[i] : a[i]) : p.A;
            rgba[i] = cr | (cg << 8) | (cb << 16) | (ToByte(av) << 24);
        }
    }
}
