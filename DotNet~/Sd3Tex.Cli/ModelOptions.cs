using System;
using System.Collections.Generic;
using System.IO;
using Sd3Tex.Checkpoints;
using Sd3Tex.Models;
using Sd3Tex.Reference;

namespace Sd3Tex.Cli;

/// <summary>Opening the MMDiT named by --weights on the device named by --device.</summary>
public static class ModelOptions
{
    public const string DeviceHelp = "--device D   auto (CUDA, then OpenCL, then the managed CPU backend), cuda[:N], opencl[:N],\n" +
                                     "               cpu (the managed CPU backend: multithreaded, AVX-512/AVX2 C#; SD3TEX_CPU_THREADS sets the threads),\n" +
                                     "               ilgpu-cpu (ILGPU's CPU accelerator running the GPU kernels: slow, for tests),\n" +
                                     "               or reference (the plain C# reference implementation: slow, for checking)";

    public static IMmditModel OpenMmdit(Checkpoint ck, string device, TextWriter log)
    {
        var weights = ck.ComponentWeights(Component.Mmdit);
        if (weights.Count == 0)
            throw new CheckpointException(null, "the --weights hold no MMDiT (no model.diffusion_model.* / transformer tensors). Add the diffusion model file.");
        var report = CheckpointReport.Build(ck)[Component.Mmdit];
        if (report.Error != null) throw new CheckpointException(null, report.Error);
        if (!report.Check.IsComplete)
            throw new CheckpointException(null, $"the MMDiT is incomplete: {report.Check.Missing.Count} missing and {report.Check.WrongShape.Count} wrongly shaped tensors " +
                                                $"(first: {string.Join(", ", report.Check.Missing)}{string.Join(", ", report.Check.WrongShape)}). Run `sd3tex inspect` for details.");
        switch ((device ?? "auto").ToLowerInvariant())
        {
            case "reference":
                log.WriteLine("device: plain C# reference");
                return new ReferenceMmdit(weights);
            default:
                return DeviceModels.OpenMmdit(weights, device, log);
        }
    }
}
