using System;

namespace Sd3Tex.Imaging
{
    /// <summary>A float image: <see cref="Channels"/> interleaved values per pixel (1 grey, 3 RGB, 4 RGBA), rows top to
    /// bottom, nominally in [0, 1]. What 16-bit PNGs are read into and written from.</summary>
    public sealed class FloatImage
    {
        public int Width { get; }
        public int Height { get; }
        public int Channels { get; }
        /// <summary>Width·Height·Channels values, row-major from the top row, channels interleaved.</summary>
        public float[] Data { get; }

        public FloatImage(int width, int height, int channels, float[] data = null)
        {
            if (width < 1 || height < 1) throw new ArgumentException($"image size {width}×{height} must be positive.");
            if (channels < 1 || channels > 4) throw new ArgumentOutOfRangeException(nameof(channels), channels, "1 to 4 channels");
            long n = (long)width * height * channels;
            if (n > int.MaxValue) throw new ArgumentException($"image {width}×{height}×{channels} is too large.");
            if (data != null && data.LongLength != n) throw new ArgumentException($"{data.Length} values are not {width}×{height}×{channels}.");
            Width = width; Height = height; Channels = channels; Data = data ?? new float[n];
        }

        /// <summary>Channel c of pixel (x, y).</summary>
        public float this[int x, int y, int c]
        {
            get => Data[((long)y * Width + x) * Channels + c];
            set => Data[((long)y * Width + x) * Channels + c] = value;
        }

        /// <summary>A one-channel image of the plane [Height, Width].</summary>
        public static FloatImage Grey(int width, int height, float[] plane) => new FloatImage(width, height, 1, plane);

        /// <summary>Each value as a byte: round(255·clamp(v, 0, 1)).</summary>
        public static byte ToByte(float v) => v >= 1f ? (byte)255 : v > 0f ? (byte)(v * 255f + 0.5f) : (byte)0;

        /// <summary>Each value as 16 bits: round(65535·clamp(v, 0, 1)).</summary>
        public static ushort ToUShort(float v) => v >= 1f ? (ushort)65535 : v > 0f ? (ushort)(v * 65535f + 0.5f) : (ushort)0;

        /// <summary>The image as RGBA8 (grey becomes R = G = B; missing alpha 255).</summary>
        public ImageRgba8 ToRgba8()
        {
            var r = new ImageRgba8(Width, Height);
            long n = (long)Width * Height;
            for (long i = 0; i < n; i++)
            {
                long s = i * Channels, d = i * 4;
                if (Channels <= 2)
                {
                    byte g = ToByte(Data[s]);
                    r.Pixels[d] = r.Pixels[d + 1] = r.Pixels[d + 2] = g;
                    r.Pixels[d + 3] = Channels == 2 ? ToByte(Data[s + 1]) : (byte)255;
                }
                else
                {
                    r.Pixels[d] = ToByte(Data[s]);
                    r.Pixels[d + 1] = ToByte(Data[s + 1]);
                    r.Pixels[d + 2] = ToByte(Data[s + 2]);
                    r.Pixels[d + 3] = Channels == 4 ? ToByte(Data[s + 3]) : (byte)255;
                }
            }
            return r;
        }
    }
}
