using System.Reflection;
using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Backends;
using ILGPU.Backends.EntryPoints;
using ILGPU.Backends.OpenCL;
using ILGPU.Backends.PTX;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using ILGPU.Runtime.Cuda;
using ILGPU.Runtime.OpenCL;

namespace Sd3Tex.Tests
{
    /// <summary>
    /// Compiles a kernel with ILGPU's PTX and OpenCL backends on any machine: the backends only emit text, no GPU or
    /// driver is involved. A kernel that uses something those backends reject (managed objects, doubles, dynamic
    /// shared allocations of non-constant size...) throws here, so the CPU-only CI still guards GPU portability.
    /// </summary>
    public static class CrossCompile
    {
        /// <summary>The PTX (sm_70) and OpenCL C 2.0 sources of a kernel; explicitlyGrouped for kernels taking a
        /// KernelConfig (LoadStreamKernel), otherwise the first parameter is the Index1D/2D/3D (auto-grouped).</summary>
        public static (string Ptx, string OpenCL) Both(MethodInfo kernel, bool explicitlyGrouped)
        {
            using (var context = Context.Create(b => b.CPU().EnableAlgorithms().Optimize(OptimizationLevel.O2)))
            {
                var entry = explicitlyGrouped
                    ? EntryPointDescription.FromExplicitlyGroupedKernel(kernel)
                    : EntryPointDescription.FromImplicitlyGroupedKernel(kernel);
                string ptx, cl;
                using (var backend = new PTXBackend(context, CudaArchitecture.SM_70, CudaInstructionSet.ISA_70, null))
                    ptx = ((PTXCompiledKernel)backend.Compile(entry, KernelSpecialization.Empty)).PTXAssembly;
                var caps = new CLCapabilityContext(float16: false, float64: false, genericAddressSpace: true,
                                                   int64_Atomics: false, subGroups: false);
                using (var backend = new CLBackend(context, caps, CLDeviceVendor.Other, CLCVersion.CL20))
                    cl = ((CLCompiledKernel)backend.Compile(entry, KernelSpecialization.Empty)).Source;
                return (ptx, cl);
            }
        }
    }
}
