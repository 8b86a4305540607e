using System;

namespace Sd3Tex.Kernels.Cpu
{
    /// <summary>
    /// The managed backend's 2-D convolution as an implicit GEMM: <c>out[b, co, pixels] = W[co, K] · patches[K, pixels]</c>
    /// with K = (ci, ky, kx). A is the weight matrix (as stored, row-major [Cout, Cin·k·k]; 16-bit decoded while
    /// packing, once per call); B is never materialised: each thread packs one panel of <see cref="CpuGemm.NR"/>
    /// consecutive output pixels of one output row straight from the input (the interior rows of each (ci, ky, kx)
    /// are contiguous copies; borders go through the zero or circular padding, and the nearest ×2 upsampling maps
    /// pixel x to input x / 2; the encoder's stride-2 downsample samples 2x + kx with one padded column and row after
    /// the last), then multiplies it with every A micro-panel. Output rows are NCHW, so the tiles'
    /// vectors run along the pixels. Same arithmetic as <see cref="Conv2d"/>'s kernels (see <see cref="ConvReference"/>).
    /// </summary>
    public static unsafe class CpuConv
    {
        const int MR = CpuGemm.MR, NR = CpuGemm.NR;

        static int Coord(int v, int size, PadMode mode)
        {
            if (v >= 0 && v < size) return v;
            if (mode == PadMode.Zeros) return -1;
            return ((v % size) + size) % size;
        }

        /// <summary>The convolution (see <see cref="Conv2d.Run"/>): input [B, Cin, H, W], weight [Cout, Cin, k, k],
        /// bias [Cout] or null, residual [B, Cout, OH, OW] or null (may be the output), output [B, Cout, OH, OW].
        /// <paramref name="stride"/> 2 is the downsample (3 × 3, no padding before, OH = H / 2; see <see cref="Conv2d.Downsample"/>).</summary>
        public static void Run(float* input, WeightPtr weight, float* bias, float* residual, float* output,
                               int batch, int cin, int cout, int inH, int inW, int kernel, bool upsample, PadMode padX, PadMode padY, int stride = 1)
        {
            int oh = stride == 2 ? inH / 2 : upsample ? 2 * inH : inH, ow = stride == 2 ? inW / 2 : upsample ? 2 * inW : inW;
            int pad = stride == 2 ? 0 : kernel / 2;
            int K = cin * kernel * kernel;
            int mTiles = (cout + MR - 1) / MR;
            int xPanels = (ow + NR - 1) / NR;
            using var aPack = Scratch.Rent((long)mTiles * K * MR);
            float* ap = aPack.P;
            CpuBackend.For(mTiles, t =>
            {
                float* tmp = ThreadScratch.Get(K);
                CpuGemm.PackA(weight, K, t * MR, Math.Min(MR, cout - t * MR), 0, K, ap + (long)t * K * MR, tmp);
            });
            long hw = (long)oh * ow;
            CpuBackend.For(batch * oh * xPanels, unit =>
            {
                int xp = unit % xPanels, by = unit / xPanels;
                int y = by % oh, b = by / oh;
                int x0 = xp * NR, cols = Math.Min(NR, ow - x0);
                float* bp = ThreadScratch.Get((long)K * NR + MR * NR + 3 * NR);
                float* tile = bp + (long)K * NR;
                int* idx = (int*)(tile + MR * NR);
                PackPatches(input + (long)b * cin * inH * inW, cin, inH, inW, kernel, pad, upsample, stride, padX, padY, y, x0, cols, bp, idx);
                long o = (long)b * cout * hw + (long)y * ow + x0;
                for (int t = 0; t < mTiles; t++)
                {
                    int m0 = t * MR, rows = Math.Min(MR, cout - m0);
                    CpuGemm.Micro(K, ap + (long)t * K * MR, bp, tile, NR, false);
                    for (int i = 0; i < rows; i++)
                    {
                        int co = m0 + i;
                        float bv = bias != null ? bias[co] : 0f;
                        float* dst = output + o + co * hw;
                        float* src = tile + i * NR;
                        if (residual != null)
                        {
                            float* res = residual + o + co * hw;
                            for (int j = 0; j < cols; j++) dst[j] = src[j] + bv + res[j];
                        }
                        else for (int j = 0; j < cols; j++) dst[j] = src[j] + bv;
                    }
                }
            });
        }

        /// <summary>dst[k·NR + j] = up(in)[ci, y·s + ky − pad, (x0 + j)·s + kx − pad] (padded; s the stride) for
        /// k = (ci·kernel + ky)·kernel + kx, j &lt; cols; zero for j ≥ cols. <paramref name="idx"/> is scratch for kernel · NR
        /// source columns.</summary>
        static void PackPatches(float* img, int cin, int inH, int inW, int kernel, int pad, bool upsample, int stride,
                                PadMode padX, PadMode padY, int y, int x0, int cols, float* dst, int* idx)
        {
            int sh = upsample ? 2 * inH : inH, sw = upsample ? 2 * inW : inW; // the sampled image
            // source column of each (kx, j), −1 for a zero sample; the contiguous run where no padding applies
            int* lo = stackalloc int[kernel];
            int* hi = stackalloc int[kernel];
            for (int kx = 0; kx < kernel; kx++)
            {
                lo[kx] = NR; hi[kx] = NR;
                for (int j = 0; j < NR; j++)
                {
                    int ix = j < cols ? Coord((x0 + j) * stride + kx - pad, sw, padX) : -1;
                    if (ix >= 0 && upsample) ix >>= 1;
                    idx[kx * NR + j] = ix;
                }
                if (!upsample && stride == 1)
                {
                    // j in [lo, hi): x0 + j + kx − pad inside [0, sw) and j < cols
                    int a = Math.Max(0, pad - kx - x0), e = Math.Min(cols, sw + pad - kx - x0);
                    if (e > a) { lo[kx] = a; hi[kx] = e; }
                }
            }
            int k = 0;
            for (int ci = 0; ci < cin; ci++)
            {
                float* plane = img + (long)ci * inH * inW;
                for (int ky = 0; ky < kernel; ky++)
                {
                    int iy = Coord(y * stride + ky - pad, sh, padY);
                    if (iy >= 0 && upsample) iy >>= 1;
                    if (iy < 0)
                    {
                        for (int kx = 0; kx < kernel; kx++, k++)
                            for (int j = 0; j < NR; j++) dst[k * NR + j] = 0f;
                        continue;
                    }
                    float* row = plane + (long)iy * inW;
                    for (int kx = 0; kx < kernel; kx++, k++)
                    {
                        float* d = dst + (long)k * NR;
                        int* ix = idx + kx * NR;
                        int a = lo[kx], e = hi[kx];
                        for (int j = 0; j < a; j++) d[j] = ix[j] >= 0 ? row[ix[j]] : 0f;
                        if (e > a) Buffer.MemoryCopy(row + x0 + a + kx - pad, d + a, (long)(e - a) * 4, (long)(e - a) * 4);
                        for (int j = Math.Max(a, e); j < NR; j++) d[j] = ix[j] >= 0 ? row[ix[j]] : 0f;
                    }
                }
            }
        }
    }
}
