using System;
using System.Diagnostics;

namespace Sd3Tex.Kernels
{
    /// <summary>
    /// Compiles every kernel family the models use on a device, so that the first-run compile cost is paid (and can be
    /// shown) as its own stage. ILGPU keeps compiled kernels in the device's context, so the models' own op instances
    /// created afterwards load them from that cache.
    /// </summary>
    public static class KernelWarmup
    {
        /// <summary>Loads (compiles) the kernels of every op family on <paramref name="device"/>; returns the time taken.</summary>
        public static TimeSpan CompileModelKernels(ComputeDevice device)
        {
            if (device == null) throw new ArgumentNullException(nameof(device));
            var sw = Stopwatch.StartNew();
            new Gemm(device);
            new Norms(device);
            new Activations(device);
            new Attention(device);
            new ShapeOps(device);
            new PositionGrid(device);
            new TextEncoderOps(device);
            var conv = new Conv2d(device);
            new GroupNorm(device);
            new SpatialAttention(device, conv);
            new FiniteCheck(device);
            return sw.Elapsed;
        }
    }
}
