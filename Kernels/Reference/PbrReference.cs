using System;

namespace Sd3Tex.Kernels.Reference
{
    /// <summary>
    /// Plain C# PBR derivation, written to be read (double precision, one loop per formula); <see cref="Pbr"/> is tested
    /// against it. Every neighbourhood wraps around the image's edges. Planes are [height, width], row-major from the
    /// top row; packed maps are RGBA bytes in an int, R lowest.
    /// </summary>
    public static class PbrReference
    {
        static int Wrap(int i, int n) => ((i % n) + n) % n;

        /// <summary>round(255·clamp(v, 0, 1)).</summary>
        public static int ToByte(double v) => v >= 1 ? 255 : v > 0 ? (int)(v * 255 + 0.5) : 0;

        static int PackRgba(int r, int g, int b, int a) => r | (g << 8) | (b << 16) | (a << 24);

        /// <summary>Rec. 709 luminance of the stored (sRGB-encoded) values, in [0, 1].</summary>
        public static double[] Luminance(int[] rgba)
        {
            var l = new double[rgba.Length];
            for (int i = 0; i < rgba.Length; i++)
            {
                int v = rgba[i];
                l[i] = (0.2126 * (v & 0xFF) + 0.7152 * ((v >> 8) & 0xFF) + 0.0722 * ((v >> 16) & 0xFF)) / 255.0;
            }
            return l;
        }

        /// <summary>A circular Gaussian blur of σ with <see cref="Pbr.GaussianWeights"/>' taps: rows, then columns.</summary>
        public static double[] Blur(double[] x, int width, int height, double sigma)
        {
            var w = Pbr.GaussianWeights(sigma);
            int r = w.Length - 1;
            var rows = new double[x.Length];
            for (int y = 0; y < height; y++)
                for (int i = 0; i < width; i++)
                {
                    double acc = 0;
                    for (int j = -r; j <= r; j++) acc += w[Math.Abs(j)] * x[y * width + Wrap(i + j, width)];
                    rows[y * width + i] = acc;
                }
            var o = new double[x.Length];
            for (int y = 0; y < height; y++)
                for (int i = 0; i < width; i++)
                {
                    double acc = 0;
                    for (int j = -r; j <= r; j++) acc += w[Math.Abs(j)] * rows[Wrap(y + j, height) * width + i];
                    o[y * width + i] = acc;
                }
            return o;
        }

        /// <summary>Mean, standard deviation, min and max.</summary>
        public static PbrStats Stats(double[] x)
        {
            double sum = 0, sq = 0, min = double.PositiveInfinity, max = double.NegativeInfinity;
            foreach (var v in x) { sum += v; sq += v * v; min = Math.Min(min, v); max = Math.Max(max, v); }
            double mean = sum / x.Length;
            return new PbrStats { Mean = mean, Std = Math.Sqrt(Math.Max(0, sq / x.Length - mean * mean)), Min = min, Max = max };
        }

        /// <summary>The height: Σ_k w_k (B_k − B_{k+1}) over the blurs B at <see cref="Pbr.HeightSigmas"/> (B_0 = the
        /// luminance; each blur reached from the one before by <see cref="Pbr.HeightBlurSteps"/>, the variances adding
        /// up), mapped to [0, 1] over <see cref="Pbr.HeightRange"/>.</summary>
        public static double[] HeightMap(double[] lum, int width, int height)
        {
            var h = new double[lum.Length];
            var steps = Pbr.HeightBlurSteps(width, height);
            var prev = lum;
            for (int k = 0; k < steps.Count; k++)
            {
                var next = Blur(prev, width, height, steps[k]);
                for (int i = 0; i < h.Length; i++) h[i] += Pbr.BandWeight(k) * (prev[i] - next[i]);
                prev = next;
            }
            var (lo, hi) = Pbr.HeightRange(Stats(h));
            for (int i = 0; i < h.Length; i++) h[i] = hi - lo > 1e-12 ? Math.Min(1, Math.Max(0, (h[i] - lo) / (hi - lo))) : 0.5;
            return h;
        }

        /// <summary>The unit normal of each pixel: n = normalize(−s·∂h/∂x, ±s·∂h/∂y, 1), y the row (+: OpenGL).</summary>
        public static double[] Normals(double[] h, int width, int height, double strength, bool directX, NormalFilter filter)
        {
            var (side, center) = Pbr.FilterWeights(filter);
            double H(int x, int y) => h[Wrap(y, height) * width + Wrap(x, width)];
            var n = new double[h.Length * 3];
            for (int y = 0; y < height; y++)
                for (int x = 0; x < width; x++)
                {
                    double dx = 0, dy = 0;
                    for (int j = -1; j <= 1; j++)
                    {
                        double s = j == 0 ? center : side;
                        dx += s * (H(x + 1, y + j) - H(x - 1, y + j)) / 2;
                        dy += s * (H(x + j, y + 1) - H(x + j, y - 1)) / 2;
                    }
                    double nx = -strength * dx, ny = (directX ? -1 : 1) * strength * dy, len = Math.Sqrt(nx * nx + ny * ny + 1);
                    int i = (y * width + x) * 3;
                    n[i] = nx / len; n[i + 1] = ny / len; n[i + 2] = 1 / len;
                }
            return n;
        }

        /// <summary>Roughness from the local contrast c (std of the luminance in a σ = 2 window) and the luminance.</summary>
        public static double[] Roughness(double[] lum, int width, int height, double baseRoughness)
        {
            var mean = Blur(lum, width, height, Pbr.ContrastSigma);
            var sq = new double[lum.Length];
            for (int i = 0; i < sq.Length; i++) sq[i] = lum[i] * lum[i];
            var meanSq = Blur(sq, width, height, Pbr.ContrastSigma);
            var c = new double[lum.Length];
            for (int i = 0; i < c.Length; i++) c[i] = Math.Sqrt(Math.Max(0, meanSq[i] - mean[i] * mean[i]));
            double meanLum = Stats(lum).Mean, meanC = Stats(c).Mean;
            var r = new double[lum.Length];
            for (int i = 0; i < r.Length; i++)
            {
                double contrast = meanC > 1e-6 ? 0.25 * Math.Tanh(c[i] / meanC - 1) : 0;
                r[i] = Math.Min(1, Math.Max(0, baseRoughness + contrast - 0.4 * (lum[i] - meanLum)));
            }
            return r;
        }

        /// <summary>Occlusion: 1 − strength·(cavity at σ = 2 + cavity at <see cref="Pbr.OcclusionSigma"/>), a cavity
        /// being how far a pixel lies below its blurred neighbourhood.</summary>
        public static double[] Occlusion(double[] h, int width, int height, double strength)
        {
            var fine = Blur(h, width, height, 2);
            var coarse = Blur(h, width, height, Pbr.OcclusionSigma(width, height));
            var ao = new double[h.Length];
            for (int i = 0; i < ao.Length; i++)
                ao[i] = Math.Min(1, Math.Max(0, 1 - strength * (Math.Max(0, fine[i] - h[i]) + Math.Max(0, coarse[i] - h[i]))));
            return ao;
        }

        /// <summary>Every map, as <see cref="Pbr.Derive"/> computes them.</summary>
        public static PbrOutput Derive(int[] rgba, int width, int height, PbrSettings settings = null)
        {
            settings = settings ?? new PbrSettings();
            int n = width * height;
            var lum = Luminance(rgba);
            var h = HeightMap(lum, width, height);
            var normals = Normals(h, width, height, settings.Strength, settings.DirectX, settings.Filter);
            var rough = Roughness(lum, width, height, settings.RoughnessBase);
            var ao = Occlusion(h, width, height, settings.AoStrength);
            var o = new PbrOutput
            {
                Width = width, Height = height, HeightMap = new float[n], Normal = new int[n], Roughness = new float[n], Occlusion = new float[n],
                Mask = new int[n], MetallicSmoothness = new int[n],
            };
            for (int i = 0; i < n; i++)
            {
                o.HeightMap[i] = (float)h[i];
                o.Normal[i] = PackRgba(ToByte(normals[i * 3] * 0.5 + 0.5), ToByte(normals[i * 3 + 1] * 0.5 + 0.5), ToByte(normals[i * 3 + 2] * 0.5 + 0.5), 255);
                o.Roughness[i] = (float)rough[i];
                o.Occlusion[i] = (float)ao[i];
                int smooth = ToByte(1 - rough[i]);
                o.Mask[i] = PackRgba(0, ToByte(ao[i]), 0, smooth);
                o.MetallicSmoothness[i] = PackRgba(0, 0, 0, smooth);
            }
            return o;
        }
    }
}
