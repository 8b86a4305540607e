using System;
using Sd3Tex.Vae;

namespace Sd3Tex.Imaging
{
    /// <summary>
    /// How visible the seam is when an image is tiled: the mean absolute difference across the wrap-around edge (last
    /// column against first column, or last row against first row) divided by the mean absolute difference between
    /// interior neighbours along the same axis. About 1 for an image that tiles (the edge looks like any other pair of
    /// neighbouring columns); larger when the edges do not match. Over all channels (and images of a batch), both
    /// axes pooled when both are asked for; NaN for a flat image. One edge is a small sample of a noisy image, so
    /// expect a few percent of spread around 1 even for a perfect tile.
    /// </summary>
    public static class SeamMetric
    {
        /// <summary>The metric of decoded float images [B, channels, height, width] across the X edge (left/right), the
        /// Y edge (top/bottom) or both (the two pooled), over every image of the batch (differences pooled), or over
        /// image <paramref name="index"/> alone when it is not negative.</summary>
        public static double Measure(VaeImage image, SeamlessAxes axes, int index = -1)
        {
            if (image == null) throw new ArgumentNullException(nameof(image));
            int from = index < 0 ? 0 : index, to = index < 0 ? image.Batch : index + 1;
            if (from >= image.Batch) throw new ArgumentOutOfRangeException(nameof(index));
            int c = image.Channels, h = image.Height, w = image.Width;
            // the images of the batch stacked as channels: the sums pool over them
            return Measure((x, y, ch) => image.Data[((long)from * c + ch) * h * w + (long)y * w + x], w, h, (to - from) * c, axes);
        }

        /// <summary>The same for an RGBA8 image (R, G and B; alpha ignored).</summary>
        public static double Measure(ImageRgba8 image, SeamlessAxes axes)
        {
            if (image == null) throw new ArgumentNullException(nameof(image));
            return Measure((x, y, c) => image[x, y, c], image.Width, image.Height, 3, axes);
        }

        /// <summary>The metric of any image given by a sampler (x, y, channel) → value.</summary>
        public static double Measure(Func<int, int, int, double> at, int width, int height, int channels, SeamlessAxes axes)
        {
            if (axes == SeamlessAxes.None) throw new ArgumentException("name the axis (X, Y or Both) whose seam to measure.", nameof(axes));
            if (width < 3 || height < 3) throw new ArgumentException("the seam metric needs at least 3 × 3 pixels.");
            double edge = 0, interior = 0;
            long edgeN = 0, interiorN = 0;
            if ((axes & SeamlessAxes.X) != 0) Axis(at, width, height, channels, true, ref edge, ref edgeN, ref interior, ref interiorN);
            if ((axes & SeamlessAxes.Y) != 0) Axis(at, width, height, channels, false, ref edge, ref edgeN, ref interior, ref interiorN);
            return (edge / edgeN) / (interior / interiorN);
        }

        static void Axis(Func<int, int, int, double> at, int width, int height, int channels, bool alongX,
                         ref double edge, ref long edgeN, ref double interior, ref long interiorN)
        {
            int n = alongX ? width : height, m = alongX ? height : width;
            for (int c = 0; c < channels; c++)
                for (int j = 0; j < m; j++)
                {
                    double prev = alongX ? at(0, j, c) : at(j, 0, c), first = prev;
                    for (int i = 1; i < n; i++)
                    {
                        double cur = alongX ? at(i, j, c) : at(j, i, c);
                        interior += Math.Abs(cur - prev);
                        interiorN++;
                        prev = cur;
                    }
                    edge += Math.Abs(first - prev);
                    edgeN++;
                }
        }
    }
}
