using System;
using System.Collections.Generic;
using System.Linq;
using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using ILGPU.Runtime.Cuda;
using ILGPU.Runtime.OpenCL;

namespace Sd3Tex.Kernels
{
    /// <summary>The kinds of accelerator the kernels run on.</summary>
    public enum DeviceKind { Cpu, Cuda, OpenCL }

    /// <summary>A device could not be used; the message says why and what to do.</summary>
    public sealed class DeviceException : Exception
    {
        public DeviceException(string message, Exception inner = null) : base(message, inner) { }
    }

    /// <summary>
    /// One ILGPU context and accelerator. The automatic choice is CUDA, then OpenCL, then the managed CPU backend;
    /// a device string overrides it: <c>auto</c>, <c>cuda</c>, <c>cuda:1</c>, <c>opencl</c>, <c>opencl:0</c>, <c>cpu</c>
    /// (the managed CPU backend), <c>ilgpu-cpu</c> (ILGPU's CPU accelerator running the GPU kernels, for tests).
    /// <para>The managed CPU backend (<see cref="IsManaged"/>) keeps an ILGPU CPU accelerator for its buffers (host
    /// memory), but every op class runs its own multithreaded, vectorised C# path on them instead of launching the
    /// GPU-shaped kernels (<see cref="Sd3Tex.Kernels.Cpu"/>). The model code is the same for both.</para>
    /// ILGPU's CPU accelerator is created with 16 threads per group, on as many simulated multiprocessors as there are
    /// cores; kernels size their tiles from the accelerator's limits.
    /// </summary>
    public sealed class ComputeDevice : IDisposable
    {
        /// <summary>Threads per simulated warp and warps per group of the CPU device: 4 × 4 = 16 threads per group. Every
        /// simulated thread is an OS thread and every group barrier synchronises them all, so small groups are fastest
        /// (a tiny MMDiT forward: 2.6 s with 16 threads per group, 6 s with 64).</summary>
        public const int CpuWarpSize = 4, CpuWarpsPerGroup = 4;

        /// <summary>The device names <see cref="Open"/> accepts for the two CPU backends.</summary>
        public const string ManagedCpuName = "cpu", IlgpuCpuName = "ilgpu-cpu";

        public Context Context { get; }
        public Accelerator Accelerator { get; }
        public DeviceKind Kind { get; }
        /// <summary>True for the managed CPU backend: op classes run their C# paths (<see cref="Cpu.CpuBackend"/>) on
        /// the accelerator's host buffers instead of launching ILGPU kernels.</summary>
        public bool IsManaged { get; }
        /// <summary>Threads the managed backend uses (the logical cores; 0 on other devices).</summary>
        public int ManagedThreads { get; }
        public string Name => IsManaged ? "managed CPU backend" : Accelerator.Name;

        ComputeDevice(Context context, Accelerator accelerator, DeviceKind kind, bool managed = false)
        {
            Context = context; Accelerator = accelerator; Kind = kind; IsManaged = managed;
            ManagedThreads = managed ? Cpu.CpuBackend.DefaultThreads : 0;
        }

        /// <summary>A one-line description: kind, name, memory and group limits.</summary>
        public string Describe() => IsManaged
            ? $"Cpu managed CPU backend (host memory, {ManagedThreads} threads, {Cpu.CpuBackend.InstructionSet})"
            : $"{Kind} {Name} ({(Kind == DeviceKind.Cpu ? "host memory" : $"{Accelerator.MemorySize / (1024.0 * 1024 * 1024):0.0} GiB")}, " +
              $"{Accelerator.MaxNumThreadsPerGroup} threads/group, warp {Accelerator.WarpSize})";

        /// <summary>Device memory in use on the whole GPU now (total − free, as the driver reports it; other processes'
        /// allocations count too), for CUDA; null on devices that do not report it (the CPU backends: read the process's
        /// resident memory instead; OpenCL has no query).</summary>
        public long? DeviceMemoryInUse
        {
            get
            {
                if (Accelerator is CudaAccelerator cuda)
                {
                    try { return Accelerator.MemorySize - cuda.GetFreeMemory(); }
                    catch (Exception) { return null; }
                }
                return null;
            }
        }

        static Context CreateContext(bool cpu, bool cuda, bool opencl, int cpuWarpsPerGroup = CpuWarpsPerGroup)
        {
            return Context.Create(b =>
            {
                if (cpu) b.CPU(new CPUDevice(CpuWarpSize, cpuWarpsPerGroup, Math.Max(1, Environment.ProcessorCount)));
                if (cuda) b.Cuda();
                if (opencl) b.OpenCL();
                b.EnableAlgorithms();
                b.Optimize(OptimizationLevel.O2);
            });
        }

        /// <summary>The CPU accelerator (always available; slow, used by tests and as the last resort).
        /// <paramref name="threadsPerGroup"/> (a multiple of 4) widens the groups, e.g. to test GPU-sized tiles on the CPU.</summary>
        public static ComputeDevice CreateCpu(int threadsPerGroup = CpuWarpSize * CpuWarpsPerGroup)
        {
            if (threadsPerGroup < CpuWarpSize || threadsPerGroup % CpuWarpSize != 0)
                throw new ArgumentOutOfRangeException(nameof(threadsPerGroup), threadsPerGroup, $"a positive multiple of {CpuWarpSize}");
            var ctx = CreateContext(true, false, false, threadsPerGroup / CpuWarpSize);
            try { return new ComputeDevice(ctx, ctx.GetCPUDevice(0).CreateCPUAccelerator(ctx, CPUAcceleratorMode.Parallel), DeviceKind.Cpu); }
            catch { ctx.Dispose(); throw; }
        }

        /// <summary>The managed CPU backend: multithreaded, vectorised C# ops on host buffers (what <c>cpu</c> and the
        /// <c>auto</c> fallback open).</summary>
        public static ComputeDevice CreateManagedCpu()
        {
            var ctx = CreateContext(true, false, false);
            try { return new ComputeDevice(ctx, ctx.GetCPUDevice(0).CreateCPUAccelerator(ctx, CPUAcceleratorMode.Parallel), DeviceKind.Cpu, managed: true); }
            catch { ctx.Dispose(); throw; }
        }

        /// <summary>Opens the device a string names (see the class summary). Throws <see cref="DeviceException"/>.</summary>
        public static ComputeDevice Open(string spec = "auto")
        {
            spec = string.IsNullOrWhiteSpace(spec) ? "auto" : spec.Trim().ToLowerInvariant();
            string kind = spec;
            int index = -1;
            int colon = spec.IndexOf(':');
            if (colon > 0)
            {
                kind = spec.Substring(0, colon);
                if (!int.TryParse(spec.Substring(colon + 1), out index) || index < 0)
                    throw new DeviceException($"device \"{spec}\": the index after ':' must be a non-negative integer.");
            }
            switch (kind)
            {
                case ManagedCpuName: return CreateManagedCpu();
                case IlgpuCpuName: return CreateCpu();
                case "cuda": return OpenGpu(DeviceKind.Cuda, Math.Max(0, index));
                case "opencl": case "cl": return OpenGpu(DeviceKind.OpenCL, Math.Max(0, index));
                case "auto":
                    foreach (var k in new[] { DeviceKind.Cuda, DeviceKind.OpenCL })
                    {
                        try { return OpenGpu(k, 0); }
                        catch (DeviceException) { }
                    }
                    return CreateManagedCpu();
                default:
                    throw new DeviceException($"unknown device \"{spec}\". Use auto, cuda, cuda:N, opencl, opencl:N, cpu (the managed CPU " +
                                              "backend) or ilgpu-cpu (ILGPU's CPU accelerator).");
            }
        }

        static ComputeDevice OpenGpu(DeviceKind kind, int index)
        {
            Context ctx = null;
            try
            {
                ctx = CreateContext(false, kind == DeviceKind.Cuda, kind == DeviceKind.OpenCL);
                if (kind == DeviceKind.Cuda)
                {
                    var devices = ctx.GetCudaDevices();
                    if (devices.Count == 0) throw new DeviceException("no CUDA device found (no NVIDIA GPU, or no NVIDIA driver installed).");
                    if (index >= devices.Count) throw new DeviceException($"cuda:{index} does not exist; {devices.Count} CUDA device(s) found.");
                    return new ComputeDevice(ctx, ctx.CreateCudaAccelerator(index), kind);
                }
                var cl = ctx.GetCLDevices();
                if (cl.Count == 0)
                    throw new DeviceException("no usable OpenCL device found. ILGPU's OpenCL backend needs OpenCL 2.0 or later with generic " +
                                              "address space support (AMD and Intel GPUs); NVIDIA's OpenCL and PoCL's CPU device lack it. " +
                                              "NVIDIA cards use CUDA.");
                if (index >= cl.Count) throw new DeviceException($"opencl:{index} does not exist; {cl.Count} OpenCL device(s) found.");
                return new ComputeDevice(ctx, ctx.CreateCLAccelerator(index), kind);
            }
            catch (DeviceException) { ctx?.Dispose(); throw; }
            catch (Exception e)
            {
                ctx?.Dispose();
                throw new DeviceException($"{kind} could not be initialised: {e.Message}", e);
            }
        }

        /// <summary>Every device kind that can be opened on this machine (both CPU backends always).</summary>
        public static IReadOnlyList<string> Available()
        {
            var r = new List<string> { ManagedCpuName, IlgpuCpuName };
            foreach (var k in new[] { DeviceKind.Cuda, DeviceKind.OpenCL })
            {
                try { using (OpenGpu(k, 0)) r.Add(k == DeviceKind.Cuda ? "cuda" : "opencl"); }
                catch (DeviceException) { }
            }
            return r;
        }

        public void Dispose()
        {
            Accelerator.Dispose();
            Context.Dispose();
        }

        public override string ToString() => Describe();
    }
}
