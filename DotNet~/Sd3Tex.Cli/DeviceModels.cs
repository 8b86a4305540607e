using System.Collections.Generic;
using System.IO;
using Sd3Tex.Checkpoints;
using Sd3Tex.Kernels;
using Sd3Tex.Models;

namespace Sd3Tex.Cli;

/// <summary>The accelerated model on the device a --device option names.</summary>
static class DeviceModels
{
    public static IMmditModel OpenMmdit(IReadOnlyDictionary<string, Weight> weights, string device, TextWriter log)
    {
        var dev = ComputeDevice.Open(device);
        log.WriteLine("device: " + dev.Describe());
        try { return new DeviceMmdit(weights, dev, ownsDevice: true); }
        catch { dev.Dispose(); throw; }
    }
}
