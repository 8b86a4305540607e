using System;
using System.Globalization;
using Sd3Tex.Kernels;
using Sd3Tex.Kernels.Reference;

namespace Sd3Tex.Bench;

/// <summary>
/// <c>--suite pbr</c>: deriving every material map (height, normal, roughness, occlusion, mask, metallic-smoothness)
/// from a synthetic tileable albedo, per <c>--pbr-sizes</c> on <c>--device</c> (default the managed CPU backend), and
/// on ILGPU's CPU accelerator at <c>--pbr-ilgpu-size</c> (it emulates GPU threads, so only a small size; 0 skips it).
/// Each row is one whole <see cref="Pbr.Derive"/>: upload, every kernel, download.
/// </summary>
public static class PbrBench
{
    public static void Run(Program.Options o)
    {
        foreach (int size in o.PbrSizes) Derive(o.Device, size, o.Repeats);
        if (o.PbrIlgpuSize > 0) Derive(ComputeDevice.IlgpuCpuName, o.PbrIlgpuSize, o.Repeats);
    }

    static void Derive(string deviceName, int size, int repeats)
    {
        var albedo = Albedo(size, size);
        bool reference = deviceName == "reference";
        using var device = reference ? null : ComputeDevice.Open(deviceName);
        var pbr = reference ? null : new Pbr(device);
        var settings = new PbrSettings();
        string name = reference ? "plain C# reference" : device.Name;
        Program.Row(string.Create(CultureInfo.InvariantCulture, $"PBR maps {size}² (all six), {name}"), repeats,
                    () => { if (pbr == null) PbrReference.Derive(albedo, size, size, settings); else pbr.Derive(albedo, size, size, settings); },
                    note: $"height blurs σ {string.Join("/", Pbr.HeightSigmas(size, size))}");
    }

    /// <summary>Integer frequencies plus noise: tiles, like a seamless texture.</summary>
    static int[] Albedo(int w, int h)
    {
        var r = new Random(1);
        var p = new int[w * h];
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
            {
                double u = 2 * Math.PI * x / w, v = 2 * Math.PI * y / h;
                double s = 0.5 + 0.2 * Math.Sin(8 * u) * Math.Cos(6 * v) + 0.15 * Math.Sin(3 * u + 20 * v) + 0.1 * (r.NextDouble() - 0.5);
                int c = (int)Math.Round(255 * Math.Clamp(s, 0, 1));
                p[y * w + x] = c | (Math.Clamp(c - 20, 0, 255) << 8) | (Math.Clamp(c - 40, 0, 255) << 16) | (255 << 24);
            }
        return p;
    }
}
