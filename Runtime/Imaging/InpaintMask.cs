using System;
using Sd3Tex.Vae;

namespace Sd3Tex.Imaging
{
    /// <summary>
    /// The inpainting mask at its three stages: the user's image (white = repaint, black = keep; grey repaints partly),
    /// the feathered pixel mask the final composite uses, and the latent-grid mask the sampler blends with.
    /// <para>Feathering is inward: <c>--mask-blur N</c> makes the repaint fade in over about N pixels inside the white
    /// area's edge (the mask is eroded by N/2 pixels, then blurred by a Gaussian of σ = N/4 cut at N/2), so a pixel the
    /// mask leaves black is never changed, blurred or not. Every sampler step replaces the latent outside the latent
    /// mask by the init latent noised to the step's sigma (the latent-grid mask is the pixel mask's maximum over each
    /// 8 × 8 cell, so every cell that holds a pixel to repaint is generated); after decoding, the image is composited
    /// with the feathered pixel mask, so outside the mask the result is the input's pixels exactly. The composite is
    /// what guarantees that: the VAE's round trip does not reproduce an image exactly (and with random test weights
    /// not at all).</para>
    /// </summary>
    public static class InpaintMask
    {
        /// <summary>A mask image as repaint weights [height·width] in [0, 1]: luminance (0.299 R + 0.587 G + 0.114 B) times
        /// alpha, so white paint on a transparent layer works too.</summary>
        public static float[] FromImage(ImageRgba8 mask)
        {
            if (mask == null) throw new ArgumentNullException(nameof(mask));
            var p = mask.Pixels;
            var m = new float[(long)mask.Width * mask.Height];
            for (long i = 0; i < m.LongLength; i++)
            {
                double lum = (0.299 * p[i * 4] + 0.587 * p[i * 4 + 1] + 0.114 * p[i * 4 + 2]) / 255.0;
                m[i] = (float)Math.Min(1.0, lum * p[i * 4 + 3] / 255.0);
            }
            return m;
        }

        /// <summary>The inward feathering of <paramref name="fade"/> pixels (0: the mask itself); along the
        /// <paramref name="wrap"/> axes it wraps around, elsewhere the border pixels extend.</summary>
        public static float[] Feather(float[] mask, int width, int height, int fade, SeamlessAxes wrap = SeamlessAxes.None)
        {
            if (mask == null) throw new ArgumentNullException(nameof(mask));
            if (fade < 0) throw new ArgumentOutOfRangeException(nameof(fade), fade, "the mask blur must not be negative.");
            if (fade == 0) return (float[])mask.Clone();
            int r = (fade + 1) / 2;
            double sigma = fade / 4.0;
            var kernel = new double[2 * r + 1];
            double sum = 0;
            for (int k = -r; k <= r; k++) sum += kernel[k + r] = Math.Exp(-0.5 * k * k / (sigma * sigma));
            for (int k = 0; k < kernel.Length; k++) kernel[k] /= sum;
            bool wx = (wrap & SeamlessAxes.X) != 0, wy = (wrap & SeamlessAxes.Y) != 0;
            // erosion: the minimum over a (2r + 1)² square, separably; then the Gaussian, separably
            var eroded = Pass(Pass(mask, width, height, r, true, wx, null), width, height, r, false, wy, null);
            return Pass(Pass(eroded, width, height, r, true, wx, kernel), width, height, r, false, wy, kernel);
        }

        /// <summary>One separable pass along x (<paramref name="alongX"/>) or y: the minimum over ±r when
        /// <paramref name="kernel"/> is null, else the weighted sum.</summary>
        static float[] Pass(float[] m, int width, int height, int r, bool alongX, bool wrap, double[] kernel)
        {
            var o = new float[m.Length];
            int n = alongX ? width : height;
            for (int y = 0; y < height; y++)
                for (int x = 0; x < width; x++)
                {
                    int at = alongX ? x : y;
                    double acc = kernel == null ? double.MaxValue : 0;
                    for (int k = -r; k <= r; k++)
                    {
                        int j = at + k;
                        j = wrap ? ((j % n) + n) % n : Math.Max(0, Math.Min(n - 1, j));
                        float v = alongX ? m[(long)y * width + j] : m[(long)j * width + x];
                        if (kernel == null) acc = Math.Min(acc, v);
                        else acc += kernel[k + r] * v;
                    }
                    o[(long)y * width + x] = (float)acc;
                }
            return o;
        }

        /// <summary>The latent-grid mask [height/scale · width/scale]: each cell the maximum of its scale × scale pixels.</summary>
        public static float[] ToLatent(float[] mask, int width, int height, int scale)
        {
            int h = height / scale, w = width / scale;
            var l = new float[(long)h * w];
            for (int y = 0; y < height && y / scale < h; y++)
                for (int x = 0; x < width && x / scale < w; x++)
                {
                    long c = (long)(y / scale) * w + x / scale;
                    l[c] = Math.Max(l[c], mask[(long)y * width + x]);
                }
            return l;
        }

        /// <summary>x ← m·x + (1 − m)·keep per latent cell, for every channel of [channels, h, w] latents.</summary>
        public static void BlendLatent(float[] x, float[] keep, float[] latentMask)
        {
            long plane = latentMask.LongLength;
            for (long i = 0; i < x.LongLength; i++)
            {
                float m = latentMask[i % plane];
                x[i] = m * x[i] + (1f - m) * keep[i];
            }
        }

        /// <summary>
        /// The final composite of a decoded image [1, 3, H, W] with the init image (same size) by the feathered pixel mask:
        /// float pixels m·decoded + (1 − m)·input, and RGBA8 bytes in which every pixel of mask 0 is the input's bytes
        /// exactly (alpha 255).
        /// </summary>
        public static (VaeImage decoded, ImageRgba8 image) Composite(VaeImage decoded, ImageRgba8 init, float[] mask)
        {
            if (decoded == null || init == null || mask == null) throw new ArgumentNullException(decoded == null ? nameof(decoded) : init == null ? nameof(init) : nameof(mask));
            int w = decoded.Width, h = decoded.Height;
            if (decoded.Batch != 1 || decoded.Channels != 3 || init.Width != w || init.Height != h || mask.LongLength != (long)w * h)
                throw new ArgumentException($"the composite needs one 3-channel image, an init image and a mask of {w}×{h}.");
            long plane = (long)w * h;
            var d = decoded.Data;
            var blended = new float[d.Length];
            var image = new ImageRgba8(w, h);
            var src = init.Pixels;
            var dst = image.Pixels;
            for (long i = 0; i < plane; i++)
            {
                float m = mask[i];
                for (int c = 0; c < 3; c++)
                {
                    byte keep = src[i * 4 + c];
                    float v = m * d[c * plane + i] + (1f - m) * (2f * (keep / 255f) - 1f);
                    blended[c * plane + i] = v;
                    dst[i * 4 + c] = m <= 0f ? keep : VaeImage.ToByte(v);
                }
                dst[i * 4 + 3] = 255;
            }
            return (new VaeImage(blended, 1, 3, h, w), image);
        }

        /// <summary>
        /// The make-seamless mask of an image rolled by half on <paramref name="axes"/>: a band of
        /// <paramref name="band"/> pixels centred on each seam line (x = width/2, y = height/2; a cross for both axes),
        /// repainted fully over its middle half and fading linearly to 0 at its edges.
        /// </summary>
        public static float[] SeamBand(int width, int height, SeamlessAxes axes, int band)
        {
            if (band < 2) throw new ArgumentOutOfRangeException(nameof(band), band, "the seam band must be at least 2 pixels wide.");
            var m = new float[(long)width * height];
            double half = band / 2.0, core = band / 4.0;
            float Weight(int v, int n)
            {
                double dist = Math.Abs(v + 0.5 - n / 2.0);
                if (dist <= core) return 1f;
                if (dist >= half) return 0f;
                return (float)((half - dist) / (half - core));
            }
            for (int y = 0; y < height; y++)
                for (int x = 0; x < width; x++)
                {
                    float v = 0;
                    if ((axes & SeamlessAxes.X) != 0) v = Math.Max(v, Weight(x, width));
                    if ((axes & SeamlessAxes.Y) != 0) v = Math.Max(v, Weight(y, height));
                    m[(long)y * width + x] = v;
                }
            return m;
        }
    }
}
