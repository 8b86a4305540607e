using System;
using System.Linq;
using ILGPU;
using ILGPU.Runtime;
using NUnit.Framework;
using Sd3Tex.Imaging;
using Sd3Tex.Kernels;
using Sd3Tex.Kernels.Reference;
using Sd3Tex.Materials;
using Sd3Tex.Vae;

namespace Sd3Tex.Tests.Kernels
{
    /// <summary>The PBR ops and the whole derivation against <see cref="PbrReference"/> at several sizes (odd ones
    /// included), a height ramp's known normals in both conventions, tileability, value ranges and the packed maps.</summary>
    [TestFixtureSource(typeof(DeviceTestBase), nameof(DeviceTestBase.Devices))]
    public sealed class PbrTests : DeviceTestBase
    {
        public PbrTests(string device) : base(device) { }

        Pbr _ops;
        Pbr Ops => _ops ??= new Pbr(Device);

        MemoryBuffer1D<float, Stride1D.Dense> Upload(float[] a) => Device.Accelerator.Allocate1D(a);

        /// <summary>A tileable albedo: integer frequencies over the image plus per-pixel noise, in [0, 255].</summary>
        public static ImageRgba8 TileableAlbedo(int w, int h, int seed)
        {
            var r = new Random(seed);
            var img = new ImageRgba8(w, h);
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++)
                {
                    double u = 2 * Math.PI * x / w, v = 2 * Math.PI * y / h;
                    double bricks = 0.5 + 0.2 * Math.Sin(3 * u) * Math.Cos(2 * v) + 0.15 * Math.Sin(u + 4 * v) + 0.1 * (r.NextDouble() - 0.5);
                    img[x, y, 0] = (byte)Math.Round(255 * Math.Min(1, Math.Max(0, bricks * 1.1)));
                    img[x, y, 1] = (byte)Math.Round(255 * Math.Min(1, Math.Max(0, bricks * 0.9)));
                    img[x, y, 2] = (byte)Math.Round(255 * Math.Min(1, Math.Max(0, bricks * 0.7 + 0.05 * Math.Cos(5 * u))));
                    img[x, y, 3] = 255;
                }
            return img;
        }

        static int[] Packed(ImageRgba8 img)
        {
            var p = new int[img.Width * img.Height];
            Buffer.BlockCopy(img.Pixels, 0, p, 0, img.Pixels.Length);
            return p;
        }

        static float[] F(double[] d) => d.Select(v => (float)v).ToArray();

        [TestCase(17, 13, 2f)]
        [TestCase(32, 32, 5f)]
        [TestCase(40, 7, 3.5f)]
        public void LuminanceAndCircularBlurMatchTheReference(int w, int h, float sigma)
        {
            var rgba = Packed(TileableAlbedo(w, h, w));
            var lumRef = PbrReference.Luminance(rgba);
            using var rb = Device.Accelerator.Allocate1D(rgba);
            using var lum = Device.Accelerator.Allocate1D<float>(w * h);
            using var tmp = Device.Accelerator.Allocate1D<float>(w * h);
            using var o = Device.Accelerator.Allocate1D<float>(w * h);
            Ops.Luminance(rb.View, lum.View, w * h);
            Device.Accelerator.Synchronize();
            KernelAssert.Close(F(lumRef), lum.GetAsArray1D(), 1e-6, 0, "luminance");
            Ops.Blur(lum.View, tmp.View, o.View, w, h, sigma);
            Device.Accelerator.Synchronize();
            KernelAssert.Close(F(PbrReference.Blur(lumRef, w, h, sigma)), o.GetAsArray1D(), 2e-6, 0, "blur");
            var s = Ops.Stats(lum.View, w * h);
            var e = PbrReference.Stats(lumRef);
            Assert.That(s.Mean, Is.EqualTo(e.Mean).Within(1e-6), "mean");
            Assert.That(s.Std, Is.EqualTo(e.Std).Within(1e-5), "std");
            Assert.That(s.Min, Is.EqualTo(e.Min).Within(1e-6), "min");
            Assert.That(s.Max, Is.EqualTo(e.Max).Within(1e-6), "max");
        }

        [TestCase(17, 13)]
        [TestCase(33, 20)]
        [TestCase(64, 48)]
        public void DerivationMatchesTheReference(int w, int h)
        {
            var rgba = Packed(TileableAlbedo(w, h, 3 + w));
            var settings = new PbrSettings { Strength = 4f };
            var expected = PbrReference.Derive(rgba, w, h, settings);
            var actual = Ops.Derive(rgba, w, h, settings);
            KernelAssert.Close(expected.HeightMap, actual.HeightMap, 1e-4, 0, "height");
            KernelAssert.Close(expected.Roughness, actual.Roughness, 1e-4, 0, "roughness");
            KernelAssert.Close(expected.Occlusion, actual.Occlusion, 2e-4, 0, "occlusion");
            // bytes: one level apart at most where a value falls on a rounding boundary
            foreach (var (name, e, a) in new[] { ("normal", expected.Normal, actual.Normal), ("mask", expected.Mask, actual.Mask), ("metallic", expected.MetallicSmoothness, actual.MetallicSmoothness) })
                for (int i = 0; i < e.Length; i++)
                    for (int c = 0; c < 4; c++)
                        Assert.That(Math.Abs(((e[i] >> (8 * c)) & 0xFF) - ((a[i] >> (8 * c)) & 0xFF)), Is.LessThanOrEqualTo(1), $"{name} pixel {i} channel {c}");
        }

        [Test]
        public void AHeightRampGivesTheKnownNormalInBothConventions([Values(NormalFilter.Scharr, NormalFilter.Sobel)] NormalFilter filter)
        {
            // h = 0.01·row: rising towards the bottom of the image, so the surface faces up the image (+V): OpenGL green
            // above 0.5, DirectX below; h = 0.01·column: the normal leans left (red below 0.5). Interior pixels only (the
            // ramp jumps where it wraps around).
            const int w = 9, h = 11;
            const float a = 0.01f, s = 20f;
            foreach (bool alongRows in new[] { true, false })
            {
                var height = new float[w * h];
                for (int y = 0; y < h; y++)
                    for (int x = 0; x < w; x++) height[y * w + x] = a * (alongRows ? y : x);
                using var hb = Upload(height);
                using var nb = Device.Accelerator.Allocate1D<int>(w * h);
                foreach (bool directX in new[] { false, true })
                {
                    Ops.Normal(hb.View, nb.View, w, h, s, directX, filter);
                    Device.Accelerator.Synchronize();
                    var n = nb.GetAsArray1D();
                    double slope = s * a, len = Math.Sqrt(1 + slope * slope);
                    double ex = alongRows ? 0 : -slope / len, ey = alongRows ? (directX ? -slope : slope) / len : 0, ez = 1 / len;
                    for (int y = 1; y < h - 1; y++)
                        for (int x = 1; x < w - 1; x++)
                        {
                            int v = n[y * w + x];
                            string at = $"{(alongRows ? "row" : "column")} ramp, {(directX ? "DirectX" : "OpenGL")}, ({x}, {y})";
                            Assert.That(v & 0xFF, Is.EqualTo(PbrReference.ToByte(ex * 0.5 + 0.5)).Within(1), at + " red");
                            Assert.That((v >> 8) & 0xFF, Is.EqualTo(PbrReference.ToByte(ey * 0.5 + 0.5)).Within(1), at + " green");
                            Assert.That((v >> 16) & 0xFF, Is.EqualTo(PbrReference.ToByte(ez * 0.5 + 0.5)).Within(1), at + " blue");
                            Assert.That((v >> 24) & 0xFF, Is.EqualTo(255), at + " alpha");
                        }
                    int mid = n[(h / 2) * w + w / 2];
                    if (alongRows) Assert.That((mid >> 8) & 0xFF, directX ? Is.LessThan(128) : Is.GreaterThan(128), "green says which way is up");
                }
            }
        }

        [Test]
        public void ATileableAlbedoGivesTileableMaps()
        {
            const int w = 64, h = 56;
            var albedo = TileableAlbedo(w, h, 11);
            var maps = PbrMaps.Derive(albedo, new PbrOptions(), Device);
            double seam = SeamMetric.Measure(albedo, SeamlessAxes.Both);
            foreach (var kind in PbrMapNames.Each(PbrMapKinds.Height | PbrMapKinds.Normal | PbrMapKinds.Roughness | PbrMapKinds.Occlusion))
            {
                var img = maps.Image(kind);
                double m = SeamMetric.Measure(img, SeamlessAxes.Both);
                TestContext.WriteLine($"{DeviceName}: seam metric albedo {seam:0.000}, {PbrMapNames.Key(kind)} {m:0.000}");
                // "no worse" within the metric's own spread: one edge is a small sample (SeamMetric: a few percent around
                // 1 for a perfect tile); the shift test below shows the maps tile exactly
                Assert.That(m, Is.LessThanOrEqualTo(Math.Max(seam, 1.0) + 0.05), $"{PbrMapNames.Key(kind)}: seam no worse than the albedo's");
            }
            // circular sampling: shifting the albedo shifts every map by the same amount
            const int dx = 13, dy = 7;
            var shifted = new ImageRgba8(w, h);
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++)
                    for (int c = 0; c < 4; c++) shifted[(x + dx) % w, (y + dy) % h, c] = albedo[x, y, c];
            var moved = PbrMaps.Derive(shifted, new PbrOptions(), Device);
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++)
                {
                    Assert.That(moved.HeightMap[(x + dx) % w, (y + dy) % h, 0], Is.EqualTo(maps.HeightMap[x, y, 0]).Within(1e-4), $"height ({x}, {y})");
                    for (int c = 0; c < 3; c++)
                        Assert.That(moved.Normal[(x + dx) % w, (y + dy) % h, c], Is.EqualTo(maps.Normal[x, y, c]).Within(1), $"normal ({x}, {y})");
                }
        }

        [Test]
        public void MapsHaveTheirRangesAndThePackedMapsTheirChannels()
        {
            const int w = 31, h = 22;
            var maps = PbrMaps.Derive(TileableAlbedo(w, h, 5), new PbrOptions(), Device);
            var height = maps.HeightMap.Data;
            Assert.That(height.Min(), Is.EqualTo(0f).Within(1e-6), "height reaches 0");
            Assert.That(height.Max(), Is.EqualTo(1f).Within(1e-6), "height reaches 1");
            Assert.That(maps.Roughness.Data.All(v => v >= 0 && v <= 1), Is.True, "roughness in [0, 1]");
            Assert.That(maps.Occlusion.Data.All(v => v >= 0 && v <= 1), Is.True, "occlusion in [0, 1]");
            Assert.That(maps.Occlusion.Data.Min(), Is.LessThan(0.95f), "cavities are darkened");
            Assert.That(maps.Roughness.Data.Max() - maps.Roughness.Data.Min(), Is.GreaterThan(0.05f), "roughness varies");
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++)
                {
                    byte smooth = FloatImage.ToByte(1f - maps.Roughness[x, y, 0]);
                    Assert.That(Enumerable.Range(0, 4).Select(c => (int)maps.Mask[x, y, c]),
                                Is.EqualTo(new[] { 0, FloatImage.ToByte(maps.Occlusion[x, y, 0]), 0, smooth }).AsCollection.Within(1), $"mask ({x}, {y}): metallic, AO, detail, smoothness");
                    Assert.That(Enumerable.Range(0, 4).Select(c => (int)maps.MetallicSmoothness[x, y, c]),
                                Is.EqualTo(new[] { 0, 0, 0, smooth }).AsCollection.Within(1), $"metallic-smoothness ({x}, {y})");
                    // unit normals facing out of the surface
                    double nx = maps.Normal[x, y, 0] / 127.5 - 1, ny = maps.Normal[x, y, 1] / 127.5 - 1, nz = maps.Normal[x, y, 2] / 127.5 - 1;
                    Assert.That(Math.Sqrt(nx * nx + ny * ny + nz * nz), Is.EqualTo(1.0).Within(0.015), $"normal ({x}, {y}) length");
                    Assert.That(nz, Is.GreaterThan(0), $"normal ({x}, {y}) faces out");
                }
        }
    }
}
