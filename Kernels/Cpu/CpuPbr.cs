using System;
using System.Numerics;
using System.Runtime.CompilerServices;

namespace Sd3Tex.Kernels.Cpu
{
    /// <summary>
    /// The managed CPU backend's PBR ops (<see cref="Pbr"/> calls them when <see cref="ComputeDevice.IsManaged"/>): the
    /// same definitions as the kernels, parallel over rows and vectorised over x. The circular blur copies each row with
    /// its wrapped margins once (rows) and reads whole wrapped rows (columns), so the inner loops have no modulo.
    /// </summary>
    public static unsafe class CpuPbr
    {
        static int Wrap(int i, int n)
        {
            int r = i % n;
            return r < 0 ? r + n : r;
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        static int ToByte(float v) => v >= 1f ? 255 : v > 0f ? (int)(v * 255f + 0.5f) : 0;

        public static void Luminance(int* rgba, float* lum, int n) => CpuBackend.ForRange(n, 4096, (s, e) =>
        {
            for (long i = s; i < e; i++)
            {
                int v = rgba[i];
                lum[i] = (0.2126f * (v & 0xFF) + 0.7152f * ((v >> 8) & 0xFF) + 0.0722f * ((v >> 16) & 0xFF)) * (1f / 255f);
            }
        });

        /// <summary>Rows then columns, circular, through tmp; dst may be src.</summary>
        public static void Blur(float* src, float* tmp, float* dst, int width, int height, float* weights, int radius)
        {
            var w = new float[radius + 1];
            for (int j = 0; j <= radius; j++) w[j] = weights[j];
            int vw = Vector<float>.Count;
            CpuBackend.For(height, y =>
            {
                var pad = new float[width + 2 * radius];
                float* row = src + (long)y * width, o = tmp + (long)y * width;
                for (int k = 0; k < pad.Length; k++) pad[k] = row[Wrap(k - radius, width)];
                fixed (float* p = pad)
                {
                    float* c = p + radius;
                    int x = 0;
                    if (Vector.IsHardwareAccelerated)
                        for (; x + vw <= width; x += vw)
                        {
                            var acc = new Vector<float>(w[0]) * Unsafe.ReadUnaligned<Vector<float>>(c + x);
                            for (int j = 1; j <= radius; j++)
                                acc += new Vector<float>(w[j]) * (Unsafe.ReadUnaligned<Vector<float>>(c + x - j) + Unsafe.ReadUnaligned<Vector<float>>(c + x + j));
                            Unsafe.WriteUnaligned(o + x, acc);
                        }
                    for (; x < width; x++)
                    {
                        float acc = w[0] * c[x];
                        for (int j = 1; j <= radius; j++) acc += w[j] * (c[x - j] + c[x + j]);
                        o[x] = acc;
                    }
                }
            });
            CpuBackend.For(height, y =>
            {
                float* o = dst + (long)y * width, center = tmp + (long)y * width;
                int x = 0;
                if (Vector.IsHardwareAccelerated)
                    for (; x + vw <= width; x += vw)
                    {
                        var acc = new Vector<float>(w[0]) * Unsafe.ReadUnaligned<Vector<float>>(center + x);
                        for (int j = 1; j <= radius; j++)
                        {
                            float* up = tmp + (long)Wrap(y - j, height) * width, down = tmp + (long)Wrap(y + j, height) * width;
                            acc += new Vector<float>(w[j]) * (Unsafe.ReadUnaligned<Vector<float>>(up + x) + Unsafe.ReadUnaligned<Vector<float>>(down + x));
                        }
                        Unsafe.WriteUnaligned(o + x, acc);
                    }
                for (; x < width; x++)
                {
                    float acc = w[0] * center[x];
                    for (int j = 1; j <= radius; j++)
                        acc += w[j] * (tmp[(long)Wrap(y - j, height) * width + x] + tmp[(long)Wrap(y + j, height) * width + x]);
                    o[x] = acc;
                }
            });
        }

        public static void Stats(float* x, float* partial, int n, int chunk, int chunks) => CpuBackend.For(chunks, c =>
        {
            int from = c * chunk, to = Math.Min(n, from + chunk);
            float sum = 0f, sq = 0f, min = float.MaxValue, max = -float.MaxValue;
            for (int k = from; k < to; k++)
            {
                float v = x[k];
                sum += v;
                sq += v * v;
                if (v < min) min = v;
                if (v > max) max = v;
            }
            partial[c * 4] = sum;
            partial[c * 4 + 1] = sq;
            partial[c * 4 + 2] = min;
            partial[c * 4 + 3] = max;
        });

        public static void Band(float* acc, float* a, float* b, int n, float weight) => CpuBackend.ForRange(n, 4096, (s, e) =>
        {
            for (long i = s; i < e; i++) acc[i] += weight * (a[i] - b[i]);
        });

        public static void Normalise(float* x, int n, float lo, float scale) => CpuBackend.ForRange(n, 4096, (s, e) =>
        {
            for (long i = s; i < e; i++) x[i] = scale == 0f ? 0.5f : Math.Min(1f, Math.Max(0f, (x[i] - lo) * scale));
        });

        public static void Square(float* x, int n) => CpuBackend.ForRange(n, 4096, (s, e) =>
        {
            for (long i = s; i < e; i++) x[i] *= x[i];
        });

        public static void LocalStd(float* mean, float* meanSq, float* std, int n) => CpuBackend.ForRange(n, 4096, (s, e) =>
        {
            for (long i = s; i < e; i++) std[i] = (float)Math.Sqrt(Math.Max(0f, meanSq[i] - mean[i] * mean[i]));
        });

        public static void Normal(float* h, int* normal, PbrNormalArgs p)
        {
            int w = p.Width;
            CpuBackend.For(p.Height, y =>
            {
                float* ru = h + (long)Wrap(y - 1, p.Height) * w, rc = h + (long)y * w, rd = h + (long)Wrap(y + 1, p.Height) * w;
                for (int x = 0; x < w; x++)
                {
                    int xl = x == 0 ? w - 1 : x - 1, xr = x == w - 1 ? 0 : x + 1;
                    float dx = 0.5f * (p.Side * (ru[xr] - ru[xl]) + p.Center * (rc[xr] - rc[xl]) + p.Side * (rd[xr] - rd[xl]));
                    float dy = 0.5f * (p.Side * (rd[xl] - ru[xl]) + p.Center * (rd[x] - ru[x]) + p.Side * (rd[xr] - ru[xr]));
                    float nx = -p.Strength * dx, ny = p.YSign * p.Strength * dy;
                    float inv = 1f / (float)Math.Sqrt(nx * nx + ny * ny + 1f);
                    normal[(long)y * w + x] = ToByte(nx * inv * 0.5f + 0.5f) | (ToByte(ny * inv * 0.5f + 0.5f) << 8) |
                                              (ToByte(inv * 0.5f + 0.5f) << 16) | (255 << 24);
                }
            });
        }

        public static void Roughness(float* lum, float* contrast, float* rough, PbrMapArgs p) => CpuBackend.ForRange(p.N, 4096, (s, e) =>
        {
            for (long i = s; i < e; i++)
            {
                float c = p.P2 > 0f ? 0.25f * (float)Math.Tanh(contrast[i] * p.P2 - 1f) : 0f;
                rough[i] = Math.Min(1f, Math.Max(0f, p.P0 + c - 0.4f * (lum[i] - p.P1)));
            }
        });

        public static void Occlusion(float* h, float* fine, float* coarse, float* ao, PbrMapArgs p) => CpuBackend.ForRange(p.N, 4096, (s, e) =>
        {
            for (long i = s; i < e; i++)
            {
                float v = h[i];
                float cavity = Math.Max(0f, fine[i] - v) + Math.Max(0f, coarse[i] - v);
                ao[i] = Math.Min(1f, Math.Max(0f, 1f - p.P0 * cavity));
            }
        });

        public static void Pack(float* r, float* g, float* b, float* a, int* rgba, PbrPackArgs p) => CpuBackend.ForRange(p.N, 4096, (s, e) =>
        {
            for (long i = s; i < e; i++)
            {
                float av = p.UseA != 0 ? (p.InvertA != 0 ? 1f - a[i] : a[i]) : p.A;
                rgba[i] = ToByte(p.UseR != 0 ? r[i] : p.R) | (ToByte(p.UseG != 0 ? g[i] : p.G) << 8) |
                          (ToByte(p.UseB != 0 ? b[i] : p.B) << 16) | (ToByte(av) << 24);
            }
        });
    }
}
