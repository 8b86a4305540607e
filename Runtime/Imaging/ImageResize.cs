using System;

namespace Sd3Tex.Imaging
{
    /// <summary>
    /// Resampling an RGBA8 image to another size with a separable Lanczos-3 filter widened by the scale when shrinking
    /// (antialiased), as PIL's <c>Image.resize(..., LANCZOS)</c> that the reference's <c>sd3_infer.py</c> applies to init
    /// images. The image is stretched to the new size (no crop, aspect ratio not kept); the four channels are filtered
    /// alike (alpha is not premultiplied), rounded and clamped.
    /// </summary>
    public static class ImageResize
    {
        const double Support = 3;

        /// <summary>The image at <paramref name="width"/> × <paramref name="height"/> (the image itself when it already has that size).</summary>
        public static ImageRgba8 Lanczos3(ImageRgba8 image, int width, int height)
        {
            if (image == null) throw new ArgumentNullException(nameof(image));
            if (width < 1 || height < 1) throw new ArgumentException($"size {width}×{height} must be positive.");
            if (image.Width == width && image.Height == height) return image;
            int sw = image.Width, sh = image.Height;
            // horizontal pass: [sh, width, 4] floats, then vertical: [height, width, 4]
            var (xi, xw) = Weights(sw, width);
            var (yi, yw) = Weights(sh, height);
            var tmp = new float[(long)sh * width * 4];
            var src = image.Pixels;
            for (int y = 0; y < sh; y++)
                for (int x = 0; x < width; x++)
                {
                    var idx = xi[x]; var wts = xw[x];
                    double r = 0, g = 0, b = 0, a = 0;
                    for (int k = 0; k < idx.Length; k++)
                    {
                        long o = ((long)y * sw + idx[k]) * 4;
                        double w = wts[k];
                        r += w * src[o]; g += w * src[o + 1]; b += w * src[o + 2]; a += w * src[o + 3];
                    }
                    long t = ((long)y * width + x) * 4;
                    tmp[t] = (float)r; tmp[t + 1] = (float)g; tmp[t + 2] = (float)b; tmp[t + 3] = (float)a;
                }
            var result = new ImageRgba8(width, height);
            var dst = result.Pixels;
            for (int y = 0; y < height; y++)
            {
                var idx = yi[y]; var wts = yw[y];
                for (int x = 0; x < width; x++)
                    for (int c = 0; c < 4; c++)
                    {
                        double v = 0;
                        for (int k = 0; k < idx.Length; k++) v += wts[k] * tmp[((long)idx[k] * width + x) * 4 + c];
                        dst[((long)y * width + x) * 4 + c] = (byte)Math.Max(0, Math.Min(255, Math.Round(v)));
                    }
            }
            return result;
        }

        /// <summary>Per output sample: the source samples it reads and their normalised weights.</summary>
        static (int[][] index, double[][] weight) Weights(int from, int to)
        {
            double scale = (double)from / to, filterScale = Math.Max(1, scale), support = Support * filterScale;
            var index = new int[to][];
            var weight = new double[to][];
            for (int i = 0; i < to; i++)
            {
                double center = (i + 0.5) * scale;
                int lo = Math.Max(0, (int)Math.Floor(center - support)), hi = Math.Min(from, (int)Math.Ceiling(center + support));
                var ix = new int[hi - lo];
                var w = new double[hi - lo];
                double sum = 0;
                for (int j = lo; j < hi; j++)
                {
                    double v = Lanczos((j + 0.5 - center) / filterScale);
                    ix[j - lo] = j;
                    w[j - lo] = v;
                    sum += v;
                }
                if (sum != 0) for (int k = 0; k < w.Length; k++) w[k] /= sum;
                index[i] = ix;
                weight[i] = w;
            }
            return (index, weight);
        }

        static double Lanczos(double x)
        {
            x = Math.Abs(x);
            if (x >= Support) return 0;
            if (x < 1e-12) return 1;
            double px = Math.PI * x;
            return Support * Math.Sin(px) * Math.Sin(px / Support) / (px * px);
        }
    }
}
