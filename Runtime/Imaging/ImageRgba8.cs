using System;
using Sd3Tex.Vae;

namespace Sd3Tex.Imaging
{
    /// <summary>An 8-bit RGBA image, rows top to bottom, 4 bytes per pixel (R, G, B, A).</summary>
    public sealed class ImageRgba8
    {
        public int Width { get; }
        public int Height { get; }
        /// <summary>Width·Height·4 bytes, row-major from the top row.</summary>
        public byte[] Pixels { get; }

        public ImageRgba8(int width, int height, byte[] pixels = null)
        {
            if (width < 1 || height < 1) throw new ArgumentException($"image size {width}×{height} must be positive.");
            long n = (long)width * height * 4;
            if (n > int.MaxValue) throw new ArgumentException($"image {width}×{height} is too large.");
            if (pixels != null && pixels.LongLength != n) throw new ArgumentException($"{pixels.Length} bytes are not {width}×{height} RGBA.");
            Width = width; Height = height; Pixels = pixels ?? new byte[n];
        }

        /// <summary>Channel c (0 R, 1 G, 2 B, 3 A) of pixel (x, y).</summary>
        public byte this[int x, int y, int c]
        {
            get => Pixels[((long)y * Width + x) * 4 + c];
            set => Pixels[((long)y * Width + x) * 4 + c] = value;
        }

        /// <summary>True when every alpha is 255.</summary>
        public bool IsOpaque
        {
            get
            {
                for (int i = 3; i < Pixels.Length; i += 4) if (Pixels[i] != 255) return false;
                return true;
            }
        }

        /// <summary>
        /// Image <paramref name="index"/> of decoded float images [B, C, H, W] (nominally [-1, 1]), each value converted
        /// with <see cref="VaeImage.ToByte"/> (<c>trunc(255·clamp((x + 1)/2, 0, 1))</c>): 3 channels give RGB with
        /// alpha 255, 4 give RGBA, 1 gives grey.
        /// </summary>
        public static ImageRgba8 FromVaeImage(VaeImage image, int index = 0)
        {
            if (image == null) throw new ArgumentNullException(nameof(image));
            if (index < 0 || index >= image.Batch) throw new ArgumentOutOfRangeException(nameof(index));
            int c = image.Channels;
            if (c != 1 && c != 3 && c != 4) throw new ArgumentException($"{c}-channel images cannot become RGBA.");
            int w = image.Width, h = image.Height;
            long plane = (long)w * h, bo = index * plane * c;
            var r = new ImageRgba8(w, h);
            var d = image.Data;
            for (long i = 0; i < plane; i++)
            {
                long o = i * 4;
                byte red = VaeImage.ToByte(d[bo + i]);
                r.Pixels[o] = red;
                r.Pixels[o + 1] = c == 1 ? red : VaeImage.ToByte(d[bo + plane + i]);
                r.Pixels[o + 2] = c == 1 ? red : VaeImage.ToByte(d[bo + 2 * plane + i]);
                r.Pixels[o + 3] = c == 4 ? VaeImage.ToByte(d[bo + 3 * plane + i]) : (byte)255;
            }
            return r;
        }

        /// <summary>The pixels as planar bytes [channels, H, W] (channels 3: RGB, 4: RGBA), the layout of the fixtures'
        /// <c>image_uint8</c>.</summary>
        public byte[] ToPlanar(int channels = 3)
        {
            if (channels < 1 || channels > 4) throw new ArgumentOutOfRangeException(nameof(channels));
            long plane = (long)Width * Height;
            var r = new byte[plane * channels];
            for (long i = 0; i < plane; i++)
                for (int c = 0; c < channels; c++) r[c * plane + i] = Pixels[i * 4 + c];
            return r;
        }
    }
}
