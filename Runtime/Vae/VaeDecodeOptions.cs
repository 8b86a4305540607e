using System;
using Sd3Tex.Kernels;
using Sd3Tex.Models;

namespace Sd3Tex.Vae
{
    /// <summary>The axes along which a decoded image tiles seamlessly (every convolution pads circularly).</summary>
    [Flags]
    public enum SeamlessAxes
    {
        None = 0,
        /// <summary>Left and right edges meet.</summary>
        X = 1,
        /// <summary>Top and bottom edges meet.</summary>
        Y = 2,
        Both = X | Y,
    }

    public static class SeamlessAxesNames
    {
        /// <summary>Parses <c>none</c>, <c>x</c>, <c>y</c>, <c>xy</c> (or <c>yx</c>, <c>both</c>), case-insensitively.</summary>
        public static bool TryParse(string text, out SeamlessAxes axes)
        {
            switch ((text ?? "").Trim().ToLowerInvariant())
            {
                case "": case "none": axes = SeamlessAxes.None; return true;
                case "x": axes = SeamlessAxes.X; return true;
                case "y": axes = SeamlessAxes.Y; return true;
                case "xy": case "yx": case "both": axes = SeamlessAxes.Both; return true;
                default: axes = SeamlessAxes.None; return false;
            }
        }

        public static string Name(SeamlessAxes axes)
        {
            switch (axes)
            {
                case SeamlessAxes.X: return "x";
                case SeamlessAxes.Y: return "y";
                case SeamlessAxes.Both: return "xy";
                default: return "none";
            }
        }

        public static PadMode PadX(this SeamlessAxes axes) => (axes & SeamlessAxes.X) != 0 ? PadMode.Circular : PadMode.Zeros;
        public static PadMode PadY(this SeamlessAxes axes) => (axes & SeamlessAxes.Y) != 0 ? PadMode.Circular : PadMode.Zeros;
    }

    /// <summary>How <see cref="VaeTiling.Decode"/> decodes: seamless axes, tiling and the memory budget.</summary>
    public sealed class VaeDecodeOptions
    {
        /// <summary>Axes along which every convolution pads circularly, so that the image tiles (also when decoding in
        /// tiles: tiles at a seamless border wrap around).</summary>
        public SeamlessAxes Seamless { get; set; }

        /// <summary>Tile edge in latent cells (8 pixels each in SD3); 0 = automatic: the whole image when it fits the
        /// memory budget, otherwise the largest tile that does.</summary>
        public int TileSize { get; set; }

        /// <summary>Latent cells shared by neighbouring tiles and blended linearly; 0 = <see cref="VaeMemoryPlanner.DefaultOverlap"/>.</summary>
        public int TileOverlap { get; set; }

        /// <summary>Bytes of device memory the decoder may use (weights included); 0 = the decoder's default (free
        /// memory of a GPU, a large constant for the CPU accelerator and the reference).</summary>
        public long MemoryBudget { get; set; }

        public VaeDecodeOptions Clone() => (VaeDecodeOptions)MemberwiseClone();
    }

    /// <summary>A VAE decoder that decodes whole (un-scaled) latents; tiling, blending and un-scaling are
    /// <see cref="VaeTiling"/>'s. Implemented by <see cref="VaeDecoder"/> (device) and
    /// <see cref="Reference.ReferenceVae"/> (plain C#).</summary>
    public interface IVaeDecoder : IDisposable
    {
        VaeConfig Config { get; }

        /// <summary>Bytes the weights occupy where the decoder runs.</summary>
        long WeightBytes { get; }

        /// <summary>The memory budget used when the options give none.</summary>
        long DefaultMemoryBudget { get; }

        /// <summary>
        /// Decodes VAE-space latents <paramref name="vaeInput"/> [batch, LatentChannels, height, width] (already
        /// un-scaled: latent / 1.5305 + 0.0609) into images [batch, OutChannels, height·Scale, width·Scale], every
        /// convolution padding as given per axis.
        /// </summary>
        float[] DecodeRaw(float[] vaeInput, int batch, int height, int width, PadMode padX, PadMode padY);
    }

    /// <summary>Decoded float images [Batch, Channels, Height, Width] (NCHW, nominally in [-1, 1]).</summary>
    public sealed class VaeImage
    {
        public float[] Data { get; }
        public int Batch { get; }
        public int Channels { get; }
        public int Height { get; }
        public int Width { get; }

        public VaeImage(float[] data, int batch, int channels, int height, int width)
        {
            if (data == null) throw new ArgumentNullException(nameof(data));
            if ((long)batch * channels * height * width != data.LongLength)
                throw new ArgumentException($"{data.Length} values are not [{batch}, {channels}, {height}, {width}].");
            Data = data; Batch = batch; Channels = channels; Height = height; Width = width;
        }

        public long[] Shape => new long[] { Batch, Channels, Height, Width };

        /// <summary>One value as a byte: <c>trunc(255 · clamp((x + 1) / 2, 0, 1))</c> in float arithmetic (numpy's
        /// <c>astype(uint8)</c> truncates).</summary>
        public static byte ToByte(float x)
        {
            float v = (x + 1f) / 2f;
            if (!(v > 0f)) v = 0f; // NaN too
            if (v > 1f) v = 1f;
            return (byte)(v * 255f);
        }

        /// <summary>The whole image as bytes (same NCHW layout), see <see cref="ToByte"/>.</summary>
        public byte[] ToUint8()
        {
            var r = new byte[Data.Length];
            for (int i = 0; i < r.Length; i++) r[i] = ToByte(Data[i]);
            return r;
        }

        /// <summary>Image <paramref name="index"/> of the batch as its own [1, C, H, W] image.</summary>
        public VaeImage Item(int index)
        {
            if (index < 0 || index >= Batch) throw new ArgumentOutOfRangeException(nameof(index));
            long n = (long)Channels * Height * Width;
            var d = new float[n];
            Array.Copy(Data, index * n, d, 0, n);
            return new VaeImage(d, 1, Channels, Height, Width);
        }
    }
}
