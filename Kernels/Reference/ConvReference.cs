using System;
using System.Threading.Tasks;

namespace Sd3Tex.Kernels
{
    /// <summary>
    /// Plain C# convolution (stride 1, and the encoder's stride-2 downsample), group norm and spatial attention on NCHW
    /// float arrays: the readable references for
    /// <see cref="Conv2d"/>, <see cref="GroupNorm"/> and <see cref="SpatialAttention"/>, and the building blocks of
    /// the reference VAE decoder. Sums in double; output channels run in parallel (each one is computed exactly as in
    /// a sequential loop, so results do not depend on the thread count).
    /// </summary>
    public static class ConvReference
    {
        /// <summary>A padded coordinate along one axis: in range, wrapped (circular), or −1 for a zero sample.</summary>
        static int Coord(int v, int size, PadMode mode)
        {
            if (v >= 0 && v < size) return v;
            if (mode == PadMode.Zeros) return -1;
            return ((v % size) + size) % size;
        }

        /// <summary>
        /// <c>out[b, co, y, x] = bias[co] + Σ W[co, ci, ky, kx] · up(in)[b, ci, y + ky − k/2, x + kx − k/2]</c> with
        /// padding per axis, where <c>up</c> is the identity or nearest ×2 upsampling; input [B, Cin, H, W], weight
        /// [Cout, Cin, k, k] (k odd), bias [Cout] or null. Returns [B, Cout, H', W'] (H' = 2H when upsampling).
        /// </summary>
        public static float[] Conv2d(float[] input, int batch, int cin, int h, int w, float[] weight, float[] bias, int cout, int k,
                                     bool upsample = false, PadMode padX = PadMode.Zeros, PadMode padY = PadMode.Zeros)
        {
            int oh = upsample ? 2 * h : h, ow = upsample ? 2 * w : w, pad = k / 2;
            var output = new float[(long)batch * cout * oh * ow];
            Parallel.For(0, batch * cout, bc =>
            {
                int b = bc / cout, co = bc % cout;
                var acc = new double[oh * ow];
                for (int ci = 0; ci < cin; ci++)
                    for (int ky = 0; ky < k; ky++)
                        for (int kx = 0; kx < k; kx++)
                        {
                            double wv = weight[((co * cin + ci) * k + ky) * k + kx];
                            for (int y = 0; y < oh; y++)
                            {
                                int iy = Coord(y + ky - pad, oh, padY);
                                if (iy < 0) continue;
                                if (upsample) iy >>= 1;
                                long row = (((long)b * cin + ci) * h + iy) * w;
                                for (int x = 0; x < ow; x++)
                                {
                                    int ix = Coord(x + kx - pad, ow, padX);
                                    if (ix < 0) continue;
                                    if (upsample) ix >>= 1;
                                    acc[y * ow + x] += wv * input[row + ix];
                                }
                            }
                        }
                long o = ((long)b * cout + co) * oh * ow;
                double bv = bias != null ? bias[co] : 0;
                for (int i = 0; i < oh * ow; i++) output[o + i] = (float)(acc[i] + bv);
            });
            return output;
        }

        /// <summary>
        /// The VAE encoder's downsample as the reference writes it (<c>sd3_impls.py</c> Downsample): pad the input by one
        /// column on the right and one row at the bottom (zeros; with circular padding the first column / row, so the
        /// image stays on the torus), then a 3 × 3 convolution with stride 2 and no padding. Input [B, Cin, H, W];
        /// returns [B, Cout, (H − 2) / 2 + 1, (W − 2) / 2 + 1] = [B, Cout, H / 2, W / 2].
        /// </summary>
        public static float[] Downsample2d(float[] input, int batch, int cin, int h, int w, float[] weight, float[] bias, int cout,
                                           PadMode padX = PadMode.Zeros, PadMode padY = PadMode.Zeros)
        {
            // the padded image, written out: [B, Cin, H + 1, W + 1]
            int ph = h + 1, pw = w + 1;
            var padded = new float[(long)batch * cin * ph * pw];
            for (int bc = 0; bc < batch * cin; bc++)
                for (int y = 0; y < ph; y++)
                {
                    int sy = y < h ? y : padY == PadMode.Circular ? 0 : -1;
                    for (int x = 0; x < pw; x++)
                    {
                        int sx = x < w ? x : padX == PadMode.Circular ? 0 : -1;
                        padded[((long)bc * ph + y) * pw + x] = sy < 0 || sx < 0 ? 0f : input[((long)bc * h + sy) * w + sx];
                    }
                }
            int oh = (ph - 3) / 2 + 1, ow = (pw - 3) / 2 + 1;
            var output = new float[(long)batch * cout * oh * ow];
            Parallel.For(0, batch * cout, bc =>
            {
                int b = bc / cout, co = bc % cout;
                for (int y = 0; y < oh; y++)
                    for (int x = 0; x < ow; x++)
                    {
                        double acc = bias != null ? bias[co] : 0;
                        for (int ci = 0; ci < cin; ci++)
                            for (int ky = 0; ky < 3; ky++)
                                for (int kx = 0; kx < 3; kx++)
                                    acc += (double)weight[((co * cin + ci) * 3 + ky) * 3 + kx] * padded[(((long)b * cin + ci) * ph + 2 * y + ky) * pw + 2 * x + kx];
                        output[(((long)b * cout + co) * oh + y) * ow + x] = (float)acc;
                    }
            });
            return output;
        }

        /// <summary>
        /// GroupNorm over NCHW x [B, C, H, W]: each (batch, group of C/groups channels) is normalised with its mean and
        /// biased variance (two-pass), then <c>· gamma[c] + beta[c]</c>, then SiLU when <paramref name="silu"/>.
        /// </summary>
        public static float[] GroupNorm(float[] x, int batch, int channels, int hw, int groups, float[] gamma, float[] beta,
                                        double eps = 1e-6, bool silu = false)
            => GroupNormApply(x, GroupNormStatistics(x, batch, channels, hw, groups, eps), batch, channels, hw, groups, gamma, beta, silu);

        /// <summary>The statistics of every (batch, group): <c>[(b·groups + g)·2 + 0/1]</c> = mean, 1/√(var + eps).</summary>
        public static double[] GroupNormStatistics(float[] x, int batch, int channels, int hw, int groups, double eps = 1e-6)
        {
            if (channels % groups != 0) throw new ArgumentException($"{channels} channels do not split into {groups} groups.");
            int cpg = channels / groups;
            var stats = new double[batch * groups * 2];
            Parallel.For(0, batch * groups, bg =>
            {
                int b = bg / groups, g = bg % groups;
                long start = ((long)b * channels + g * cpg) * hw, n = (long)cpg * hw;
                double mean = 0, var = 0;
                for (long i = 0; i < n; i++) mean += x[start + i];
                mean /= n;
                for (long i = 0; i < n; i++) { double d = x[start + i] - mean; var += d * d; }
                var /= n;
                stats[bg * 2] = mean;
                stats[bg * 2 + 1] = 1 / Math.Sqrt(var + eps);
            });
            return stats;
        }

        /// <summary>The normalisation with given statistics (see <see cref="GroupNormStatistics"/>).</summary>
        public static float[] GroupNormApply(float[] x, double[] stats, int batch, int channels, int hw, int groups, float[] gamma, float[] beta,
                                             bool silu = false)
        {
            int cpg = channels / groups;
            var y = new float[x.Length];
            Parallel.For(0, batch * channels, bc =>
            {
                int b = bc / channels, ch = bc % channels, bg = b * groups + ch / cpg;
                double mean = stats[bg * 2], rstd = stats[bg * 2 + 1];
                long o = (long)bc * hw;
                for (int i = 0; i < hw; i++)
                {
                    double v = (x[o + i] - mean) * rstd * gamma[ch] + beta[ch];
                    if (silu) v = v / (1 + Math.Exp(-v));
                    y[o + i] = (float)v;
                }
            });
            return y;
        }

        /// <summary>
        /// Single-head attention over the positions of NCHW tensors q, k, v [B, C, T] (T = H·W):
        /// <c>out[b, :, i] = Σ_j softmax_j(scale · q[b, :, i]·k[b, :, j]) · v[b, :, j]</c>. Returns [B, C, T].
        /// </summary>
        public static float[] SpatialAttention(float[] q, float[] k, float[] v, int batch, int channels, int tokens, double scale)
        {
            var o = new float[(long)batch * channels * tokens];
            Parallel.For(0, batch * tokens, bi =>
            {
                int b = bi / tokens, i = bi % tokens;
                long bo = (long)b * channels * tokens;
                var s = new double[tokens];
                double max = double.NegativeInfinity;
                for (int j = 0; j < tokens; j++)
                {
                    double acc = 0;
                    for (int c = 0; c < channels; c++) acc += (double)q[bo + (long)c * tokens + i] * k[bo + (long)c * tokens + j];
                    s[j] = acc * scale;
                    if (s[j] > max) max = s[j];
                }
                double sum = 0;
                for (int j = 0; j < tokens; j++) { s[j] = Math.Exp(s[j] - max); sum += s[j]; }
                for (int c = 0; c < channels; c++)
                {
                    double acc = 0;
                    for (int j = 0; j < tokens; j++) acc += s[j] * v[bo + (long)c * tokens + j];
                    o[bo + (long)c * tokens + i] = (float)(acc / sum);
                }
            });
            return o;
        }
    }
}
