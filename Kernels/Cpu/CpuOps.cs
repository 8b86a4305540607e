using System;
using System.Numerics;
using System.Runtime.CompilerServices;

namespace Sd3Tex.Kernels.Cpu
{
    /// <summary>
    /// The managed backend's small ops: norms, activations, the MMDiT's shape ops and position embeddings, the text
    /// encoders' gather and gated GELU, group norm, transpose and row softmax. Each one computes exactly what the
    /// ILGPU kernel of the same name does (see the op classes), parallel over rows and vectorised along them.
    /// Arguments are host pointers of the op classes' buffers; the op classes check shapes before calling.
    /// </summary>
    public static unsafe class CpuOps
    {
        // ---------------------------------------------------------------------------------------------------------
        // norms (rows: see RowNormParams)

        static long RowOffset(int row, int heads, int rowStride, int dim)
        {
            int outer = row / heads;
            return (long)outer * rowStride + (long)(row - outer * heads) * dim;
        }

        /// <summary>Mean and 1/√(var + eps) of n floats (two passes).</summary>
        static void MeanRstd(float* x, int n, float eps, out float mean, out float rstd)
        {
            mean = CpuBackend.Sum(x, n) / n;
            rstd = 1f / MathF.Sqrt(CpuBackend.SumSquaredDiff(x, n, mean) / n + eps);
        }

        /// <summary>y = LN(x)·(1 + scale[b]) + shift[b] per row, b = row / tokensPerBatch.</summary>
        public static void LayerNormModulate(float* x, float* shift, float* scale, float* y, int rows, int dim, int tokensPerBatch, int modStride, float eps)
        {
            CpuBackend.ForRange(rows, 8, (s, e) =>
            {
                int w = Vector<float>.Count;
                for (long r = s; r < e; r++)
                {
                    float* xr = x + r * dim, yr = y + r * dim;
                    long mo = (r / tokensPerBatch) * modStride;
                    float* sh = shift + mo, sc = scale + mo;
                    MeanRstd(xr, dim, eps, out float mean, out float rstd);
                    int i = 0;
                    if (Vector.IsHardwareAccelerated)
                    {
                        var mv = new Vector<float>(mean);
                        var rv = new Vector<float>(rstd);
                        for (; i + w <= dim; i += w)
                        {
                            var v = (Unsafe.ReadUnaligned<Vector<float>>(xr + i) - mv) * rv;
                            Unsafe.WriteUnaligned(yr + i, v * (Vector<float>.One + Unsafe.ReadUnaligned<Vector<float>>(sc + i)) + Unsafe.ReadUnaligned<Vector<float>>(sh + i));
                        }
                    }
                    for (; i < dim; i++) yr[i] = (xr[i] - mean) * rstd * (1f + sc[i]) + sh[i];
                }
            });
        }

        /// <summary>y = (x − mean)·rstd (·weight + bias when weight is not null) per row.</summary>
        public static void LayerNorm(float* x, float* weight, float* bias, float* y, int rows, int dim, float eps)
        {
            CpuBackend.ForRange(rows, 8, (s, e) =>
            {
                int w = Vector<float>.Count;
                for (long r = s; r < e; r++)
                {
                    float* xr = x + r * dim, yr = y + r * dim;
                    MeanRstd(xr, dim, eps, out float mean, out float rstd);
                    int i = 0;
                    if (Vector.IsHardwareAccelerated)
                    {
                        var mv = new Vector<float>(mean);
                        var rv = new Vector<float>(rstd);
                        for (; i + w <= dim; i += w)
                        {
                            var v = (Unsafe.ReadUnaligned<Vector<float>>(xr + i) - mv) * rv;
                            if (weight != null) v = v * Unsafe.ReadUnaligned<Vector<float>>(weight + i) + Unsafe.ReadUnaligned<Vector<float>>(bias + i);
                            Unsafe.WriteUnaligned(yr + i, v);
                        }
                    }
                    for (; i < dim; i++)
                    {
                        float v = (xr[i] - mean) * rstd;
                        yr[i] = weight != null ? v * weight[i] + bias[i] : v;
                    }
                }
            });
        }

        /// <summary>RMSNorm of every (row, head) vector of headDim floats at row·rowStride + offset + head·headDim
        /// (weight null: none). x and y may be the same.</summary>
        public static void RmsNormPerHead(float* x, float* weight, float* y, int rows, int heads, int headDim, int rowStride, int offset, float eps)
        {
            CpuBackend.ForRange((long)rows * heads, 32, (s, e) =>
            {
                int w = Vector<float>.Count;
                for (long v = s; v < e; v++)
                {
                    long o = RowOffset((int)v, heads, rowStride, headDim) + offset;
                    float* xr = x + o, yr = y + o;
                    float r = 1f / MathF.Sqrt(CpuBackend.Dot(xr, xr, headDim) / headDim + eps);
                    int i = 0;
                    if (Vector.IsHardwareAccelerated)
                    {
                        var rv = new Vector<float>(r);
                        for (; i + w <= headDim; i += w)
                        {
                            var t = Unsafe.ReadUnaligned<Vector<float>>(xr + i) * rv;
                            if (weight != null) t *= Unsafe.ReadUnaligned<Vector<float>>(weight + i);
                            Unsafe.WriteUnaligned(yr + i, t);
                        }
                    }
                    for (; i < headDim; i++)
                    {
                        float t = xr[i] * r;
                        yr[i] = weight != null ? t * weight[i] : t;
                    }
                }
            });
        }

        // ---------------------------------------------------------------------------------------------------------
        // element-wise

        /// <summary>output = residual + gate[b]·y over [rows, hidden], b = row / tokensPerBatch.</summary>
        public static void GatedResidual(float* residual, float* y, float* gate, float* output, int rows, int hidden, int tokensPerBatch, int gateStride)
        {
            CpuBackend.ForRange(rows, 8, (s, e) =>
            {
                int w = Vector<float>.Count;
                for (long r = s; r < e; r++)
                {
                    long o = r * hidden;
                    float* g = gate + (r / tokensPerBatch) * gateStride;
                    int i = 0;
                    if (Vector.IsHardwareAccelerated)
                        for (; i + w <= hidden; i += w)
                            Unsafe.WriteUnaligned(output + o + i, Unsafe.ReadUnaligned<Vector<float>>(residual + o + i) +
                                                                  Unsafe.ReadUnaligned<Vector<float>>(g + i) * Unsafe.ReadUnaligned<Vector<float>>(y + o + i));
                    for (; i < hidden; i++) output[o + i] = residual[o + i] + g[i] * y[o + i];
                }
            });
        }

        /// <summary>T5's gated GELU: y[r, j] = gelu_tanh(x[r, j]) · x[r, ff + j], x [rows, 2ff].</summary>
        public static void GatedGelu(float* x, float* y, int rows, int ff)
        {
            CpuBackend.ForRange(rows, 1, (s, e) =>
            {
                int w = Vector<float>.Count;
                for (long r = s; r < e; r++)
                {
                    float* xr = x + r * 2 * ff, yr = y + r * ff;
                    int j = 0;
                    if (Vector.IsHardwareAccelerated)
                        for (; j + w <= ff; j += w)
                            Unsafe.WriteUnaligned(yr + j, CpuBackend.Activate(Activation.GeluTanh, Unsafe.ReadUnaligned<Vector<float>>(xr + j)) *
                                                          Unsafe.ReadUnaligned<Vector<float>>(xr + ff + j));
                    for (; j < ff; j++) yr[j] = KernelMath.GeluTanh(xr[j]) * xr[ff + j];
                }
            });
        }

        /// <summary>output[r, :] = decode(table[ids[r], :]) (+ add[r % addRows, :]); ids outside the table read row 0.</summary>
        public static void Gather(int* ids, WeightPtr table, float* add, int addRows, float* output, int rows, int dim, int tableRows)
        {
            CpuBackend.ForRange(rows, 4, (s, e) =>
            {
                for (long r = s; r < e; r++)
                {
                    int id = ids[r];
                    if (id < 0 || id >= tableRows) id = 0;
                    float* o = output + r * dim;
                    if (table.Type == DType.F32) Buffer.MemoryCopy(table.F32 + (long)id * dim, o, (long)dim * 4, (long)dim * 4);
                    else CpuBackend.Decode(table.Type, table.Bits + (long)id * dim, o, dim);
                    if (addRows > 0)
                    {
                        float* a = add + (r % addRows) * dim;
                        for (int c = 0; c < dim; c++) o[c] += a[c];
                    }
                }
            });
        }

        // ---------------------------------------------------------------------------------------------------------
        // MMDiT shape ops

        /// <summary>x_embedder as a GEMM: the patches of latent [B, C, H, W] gathered into [B·T, C·p·p] rows, times
        /// weight [hidden, C·p·p] (as stored: [hidden, C, p, p]) plus bias.</summary>
        public static void Patchify(float* x, float* w, float* bias, float* tokens, int batch, int channels, int height, int width, int hidden, int patch)
        {
            int gh = height / patch, gw = width / patch, t = gh * gw, pp = patch * patch, k = channels * pp;
            long rows = (long)batch * t;
            using var cols = Scratch.Rent(rows * k);
            float* cp = cols.P;
            CpuBackend.ForRange(rows, 16, (s, e) =>
            {
                for (long r = s; r < e; r++)
                {
                    int b = (int)(r / t), tt = (int)(r - (long)b * t);
                    int i = tt / gw, j = tt - i * gw;
                    float* dst = cp + r * k;
                    for (int c = 0; c < channels; c++)
                        for (int py = 0; py < patch; py++)
                            for (int px = 0; px < patch; px++)
                                dst[c * pp + py * patch + px] = x[(((long)b * channels + c) * height + i * patch + py) * width + j * patch + px];
                }
            });
            CpuGemm.Linear(cp, k, WeightPtr.FromF32(w), bias, tokens, hidden, (int)rows, hidden, k, GemmEpilogue.None, null, null, 1, 0);
        }

        /// <summary>image[b, c, i·p+py, j·p+px] = tokens[b, i·gw + j, (py·p + px)·C + c].</summary>
        public static void Unpatchify(float* tokens, float* image, int batch, int channels, int height, int width, int patch)
        {
            int gh = height / patch, gw = width / patch, features = patch * patch * channels;
            CpuBackend.ForRange((long)batch * channels * height, 8, (s, e) =>
            {
                for (long row = s; row < e; row++)
                {
                    int y = (int)(row % height);
                    long bc = row / height;
                    int c = (int)(bc % channels), b = (int)(bc / channels);
                    int i = y / patch, py = y - i * patch;
                    float* dst = image + row * width;
                    for (int xx = 0; xx < width; xx++)
                    {
                        int j = xx / patch, px = xx - j * patch;
                        dst[xx] = tokens[((long)b * gh * gw + i * gw + j) * features + (py * patch + px) * channels + c];
                    }
                }
            });
        }

        /// <summary>The sinusoidal timestep features (cos first), in the kernel's float arithmetic.</summary>
        public static void TimestepEmbedding(float* timesteps, float* output, int batch, int dim, float negLogMaxPeriod, float scale)
        {
            int half = dim / 2;
            for (int b = 0; b < batch; b++)
                for (int i = 0; i < dim; i++)
                {
                    float v = 0f;
                    if (i < 2 * half)
                    {
                        int k = i < half ? i : i - half;
                        float e = negLogMaxPeriod * k;
                        float f = MathF.Exp(e / half);
                        float a = timesteps[b] * scale * f;
                        v = i < half ? MathF.Cos(a) : MathF.Sin(a);
                    }
                    output[b * dim + i] = v;
                }
        }

        /// <summary>dst[b, i·w + j, :] (+)= table[(top + i)·M + left + j, :].</summary>
        public static void Crop(float* dst, float* table, int batch, int gridH, int gridW, int hidden, int tableSize, int top, int left, bool accumulate)
        {
            long tokens = (long)gridH * gridW;
            CpuBackend.ForRange(batch * tokens, 16, (s, e) =>
            {
                for (long bt = s; bt < e; bt++)
                {
                    int t = (int)(bt % tokens);
                    int i = t / gridW, j = t - i * gridW;
                    float* src = table + ((long)(top + i) * tableSize + left + j) * hidden;
                    float* d = dst + bt * hidden;
                    if (accumulate) for (int c = 0; c < hidden; c++) d[c] += src[c];
                    else Buffer.MemoryCopy(src, d, (long)hidden * 4, (long)hidden * 4);
                }
            });
        }

        /// <summary>dst[b, i·w + j, c] (+)= the 2D sin-cos embedding of cell (top + i, left + j) (see PositionGrid).</summary>
        public static void SinCos(float* dst, int batch, int gridH, int gridW, int hidden, int top, int left, float step, float offset, bool accumulate)
        {
            long tokens = (long)gridH * gridW;
            int q = hidden / 4;
            CpuBackend.ForRange(batch * tokens, 16, (s, e) =>
            {
                for (long bt = s; bt < e; bt++)
                {
                    int t = (int)(bt % tokens);
                    int i = t / gridW, j = t - i * gridW;
                    float* d = dst + bt * hidden;
                    for (int c = 0; c < hidden; c++)
                    {
                        int block = c / q, k = c - block * q;
                        int cell = block < 2 ? left + j : top + i;
                        float pos = cell * step - offset;
                        float omega = MathF.Exp(-9.21034037198f * ((float)k / q));
                        float arg = pos * omega;
                        float v = (block & 1) == 0 ? MathF.Sin(arg) : MathF.Cos(arg);
                        d[c] = accumulate ? d[c] + v : v;
                    }
                }
            });
        }

        // ---------------------------------------------------------------------------------------------------------
        // VAE: group norm, transpose, softmax

        /// <summary>stats[bg·2] = mean, stats[bg·2 + 1] = 1/√(var + eps) of each (batch, group) of x [B, C, HW].</summary>
        public static void GroupNormStatistics(float* x, float* stats, int batch, int channels, int hw, int groups, float eps)
        {
            int cpg = channels / groups;
            long n = (long)cpg * hw;
            CpuBackend.For(batch * groups, bg =>
            {
                int b = bg / groups, g = bg - b * groups;
                float* p = x + ((long)b * channels + (long)g * cpg) * hw;
                // chunked two-pass sums in double across chunks (each chunk's float vector sum stays short)
                const int chunk = 1 << 14;
                double sum = 0;
                for (long o = 0; o < n; o += chunk) sum += CpuBackend.Sum(p + o, (int)Math.Min(chunk, n - o));
                float mean = (float)(sum / n);
                double m2 = 0;
                for (long o = 0; o < n; o += chunk) m2 += CpuBackend.SumSquaredDiff(p + o, (int)Math.Min(chunk, n - o), mean);
                stats[bg * 2] = mean;
                stats[bg * 2 + 1] = 1f / MathF.Sqrt((float)(m2 / n) + eps);
            });
        }

        /// <summary>y = (x − mean)·rstd·gamma[c] + beta[c] (then SiLU) over x [B, C, HW].</summary>
        public static void GroupNormApply(float* x, float* stats, float* gamma, float* beta, float* y, int batch, int channels, int hw, int groups, bool silu)
        {
            int cpg = channels / groups;
            CpuBackend.ForRange((long)batch * channels, 1, (s, e) =>
            {
                int w = Vector<float>.Count;
                for (long bc = s; bc < e; bc++)
                {
                    int b = (int)(bc / channels), c = (int)(bc - (long)b * channels);
                    int bg = b * groups + c / cpg;
                    float a = stats[bg * 2 + 1] * gamma[c];
                    float mean = stats[bg * 2], k = beta[c];
                    float* xr = x + bc * hw, yr = y + bc * hw;
                    int i = 0;
                    if (Vector.IsHardwareAccelerated)
                    {
                        var av = new Vector<float>(a);
                        var kv = new Vector<float>(k);
                        var mv = new Vector<float>(mean);
                        for (; i + w <= hw; i += w)
                        {
                            var v = (Unsafe.ReadUnaligned<Vector<float>>(xr + i) - mv) * av + kv;
                            if (silu) v = CpuBackend.Activate(Activation.Silu, v);
                            Unsafe.WriteUnaligned(yr + i, v);
                        }
                    }
                    for (; i < hw; i++)
                    {
                        float v = (xr[i] - mean) * a + k;
                        yr[i] = silu ? KernelMath.Silu(v) : v;
                    }
                }
            });
        }

        /// <summary>[batch, rows, cols] → [batch, cols, rows], in 32 × 32 blocks.</summary>
        public static void Transpose(float* input, float* output, int batch, int rows, int cols)
        {
            const int T = 32;
            int rb = (rows + T - 1) / T, cb = (cols + T - 1) / T;
            CpuBackend.ForRange((long)batch * rb * cb, 4, (s, e) =>
            {
                for (long u = s; u < e; u++)
                {
                    int b = (int)(u / ((long)rb * cb));
                    int rem = (int)(u - (long)b * rb * cb);
                    int r0 = rem / cb * T, c0 = rem % cb * T;
                    float* src = input + (long)b * rows * cols;
                    float* dst = output + (long)b * rows * cols;
                    int r1 = Math.Min(rows, r0 + T), c1 = Math.Min(cols, c0 + T);
                    for (int r = r0; r < r1; r++)
                        for (int c = c0; c < c1; c++)
                            dst[(long)c * rows + r] = src[(long)r * cols + c];
                }
            });
        }

        /// <summary>Per row of cols scores, in place: exp(scale·(s − max)) / Σ.</summary>
        public static void RowSoftmax(float* s, int rows, int cols, float scale)
        {
            CpuBackend.ForRange(rows, 1, (a, e) =>
            {
                for (long r = a; r < e; r++)
                {
                    float* row = s + r * cols;
                    float m = CpuBackend.Max(row, cols);
                    float sum = CpuBackend.ExpSum(row, cols, scale, m * scale);
                    CpuBackend.Scale(row, cols, 1f / sum);
                }
            });
        }
    }
}
