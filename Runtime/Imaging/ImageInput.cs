using System;
using System.Collections.Generic;
using System.IO;

namespace Sd3Tex.Imaging
{
    /// <summary>
    /// Reading the user's image files (init images, masks, the input of make-seamless). Every such read in the package
    /// goes through <see cref="Load"/>, so the decoder behind it can change in one place.
    /// </summary>
    public static class ImageInput
    {
        /// <summary>
        /// Reads an image file into RGBA8 (grey and RGB get alpha 255). Throws <see cref="IOException"/> naming the file
        /// and what is wrong (missing, unreadable, not an image this version decodes).
        /// </summary>
        public static ImageRgba8 Load(string path)
        {
            if (string.IsNullOrWhiteSpace(path)) throw new IOException("no image file named (an empty path).");
            if (!File.Exists(path)) throw new FileNotFoundException($"the image file \"{path}\" does not exist.", path);
            PngFile png;
            try { png = PngReader.Read(path); }
            catch (PngException e) { throw new IOException($"the image file \"{path}\" cannot be read: {e.Message}", e); }
            catch (UnauthorizedAccessException e) { throw new IOException($"the image file \"{path}\" cannot be opened: {e.Message}", e); }
            if (png.Image == null)
                throw new IOException($"the image file \"{path}\" is a PNG of bit depth {png.BitDepth}, color type {png.ColorType} (or interlaced), " +
                                      "which this version does not decode: save it as an 8-bit, non-interlaced PNG.");
            return png.Image;
        }

        /// <summary><see cref="Load"/>, with a failure added to <paramref name="problems"/> (as "the {what} …") instead of
        /// thrown, so that a request can report every problem at once. Null when it failed.</summary>
        public static ImageRgba8 TryLoad(string path, string what, List<string> problems)
        {
            try { return Load(path); }
            catch (IOException e)
            {
                problems.Add($"the {what} cannot be used: {e.Message}");
                return null;
            }
        }
    }
}
