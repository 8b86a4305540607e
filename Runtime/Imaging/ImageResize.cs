using System;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;
using SixLabors.ImageSharp.Processing;

namespace Sd3Tex.Imaging
{
    /// <summary>
    /// Resampling an RGBA8 image to another size with ImageSharp's Lanczos-3 resampler (widened by the scale when
    /// shrinking, so it antialiases), as PIL's <c>Image.resize(..., LANCZOS)</c> that the reference's <c>sd3_infer.py</c>
    /// applies to init images. The image is stretched to the new size (no crop, aspect ratio not kept).
    /// </summary>
    public static class ImageResize
    {
        /// <summary>The image at <paramref name="width"/> × <paramref name="height"/> (the image itself when it already has that size).</summary>
        public static ImageRgba8 Lanczos3(ImageRgba8 image, int width, int height)
        {
            if (image == null) throw new ArgumentNullException(nameof(image));
            if (width < 1 || height < 1) throw new ArgumentException($"size {width}×{height} must be positive.");
            if (image.Width == width && image.Height == height) return image;
            using (var img = Image.LoadPixelData<Rgba32>(image.Pixels, image.Width, image.Height))
            {
                img.Mutate(x => x.Resize(new ResizeOptions { Size = new Size(width, height), Mode = ResizeMode.Stretch, Sampler = KnownResamplers.Lanczos3 }));
                var result = new ImageRgba8(width, height);
                img.CopyPixelDataTo(result.Pixels);
                return result;
            }
        }
    }
}
