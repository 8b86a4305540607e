using System;
using ILGPU.Runtime;
using ILGPU.Runtime.OpenCL;

namespace Sd3Tex.Kernels
{
    /// <summary>
    /// What a device's kernel compiler offers that a kernel variant may depend on. Kernels with variants choose one
    /// from this (for example <see cref="Attention.ChooseVariant"/>), and <see cref="KernelTarget.Features"/> states it
    /// for each compile target, so the choice made at run time is the one the catalog compiles and the tests build.
    /// </summary>
    public readonly struct DeviceFeatures : IEquatable<DeviceFeatures>
    {
        /// <summary>The backend.</summary>
        public DeviceKind Kind { get; }
        /// <summary>The OpenCL C version the kernels are built as (ILGPU's <c>-cl-std</c>), e.g. 2.0 or 3.0; 0.0 for CUDA and the CPU.</summary>
        public int OpenCLCMajor { get; }
        public int OpenCLCMinor { get; }
        /// <summary>
        /// Program-scope global variables: mandatory in OpenCL C 2.0, optional in 3.0
        /// (<c>__opencl_c_program_scope_global_variables</c>; PoCL's CPU device, for one, lacks it). ILGPU's OpenCL
        /// backend declares dynamic shared memory through such a variable, so a kernel with dynamic shared memory
        /// does not build without it. Always true for CUDA and the CPU, which have no such restriction.
        /// </summary>
        public bool ProgramScopeVariables { get; }

        DeviceFeatures(DeviceKind kind, int major, int minor, bool programScopeVariables)
        {
            Kind = kind; OpenCLCMajor = major; OpenCLCMinor = minor; ProgramScopeVariables = programScopeVariables;
        }

        /// <summary>A CUDA device (any architecture).</summary>
        public static DeviceFeatures Cuda => new DeviceFeatures(DeviceKind.Cuda, 0, 0, true);

        /// <summary>ILGPU's CPU accelerator.</summary>
        public static DeviceFeatures Cpu => new DeviceFeatures(DeviceKind.Cpu, 0, 0, true);

        /// <summary>An OpenCL device that builds kernels as OpenCL C <paramref name="major"/>.<paramref name="minor"/>.
        /// Before 3.0 program-scope variables are mandatory, so <paramref name="programScopeVariables"/> only matters
        /// for 3.0 and later.</summary>
        public static DeviceFeatures OpenCL(int major, int minor, bool programScopeVariables)
        {
            if (major < 1 || minor < 0) throw new ArgumentOutOfRangeException(nameof(major), $"OpenCL C {major}.{minor} is not a version.");
            return new DeviceFeatures(DeviceKind.OpenCL, major, minor, major < 3 || programScopeVariables);
        }

        /// <summary>The features of an open device (for OpenCL: the C version ILGPU builds with, and whether the
        /// device reports a non-zero CL_DEVICE_MAX_GLOBAL_VARIABLE_SIZE, which OpenCL 3.0 requires to be 0 exactly
        /// when program-scope variables are not supported).</summary>
        public static DeviceFeatures Of(ComputeDevice device)
        {
            if (device == null) throw new ArgumentNullException(nameof(device));
            return Of(device.Accelerator);
        }

        /// <summary>The features of an ILGPU accelerator (see <see cref="Of(ComputeDevice)"/>).</summary>
        public static DeviceFeatures Of(Accelerator accelerator)
        {
            switch (accelerator)
            {
                case null: throw new ArgumentNullException(nameof(accelerator));
                case CLAccelerator cl:
                {
                    var c = cl.CLStdVersion;
                    bool programScope = c.Major < 3;
                    if (!programScope && cl.Device.GetDeviceInfo(CLDeviceInfoType.CL_DEVICE_MAX_GLOBAL_VARIABLE_SIZE, out IntPtr size) == CLError.CL_SUCCESS)
                        programScope = size.ToInt64() > 0;
                    return OpenCL(c.Major, c.Minor, programScope);
                }
                default:
                    return accelerator.AcceleratorType == AcceleratorType.Cuda ? Cuda : Cpu;
            }
        }

        public bool Equals(DeviceFeatures other) =>
            Kind == other.Kind && OpenCLCMajor == other.OpenCLCMajor && OpenCLCMinor == other.OpenCLCMinor && ProgramScopeVariables == other.ProgramScopeVariables;

        public override bool Equals(object obj) => obj is DeviceFeatures f && Equals(f);

        public override int GetHashCode() => ((int)Kind * 397 ^ OpenCLCMajor * 31 ^ OpenCLCMinor) * 2 + (ProgramScopeVariables ? 1 : 0);

        /// <summary>e.g. "CUDA", "OpenCL C 3.0 without program-scope variables".</summary>
        public override string ToString()
        {
            switch (Kind)
            {
                case DeviceKind.Cuda: return "CUDA";
                case DeviceKind.Cpu: return "CPU";
                default:
                    return $"OpenCL C {OpenCLCMajor}.{OpenCLCMinor}" + (OpenCLCMajor >= 3
                        ? (ProgramScopeVariables ? " with program-scope variables" : " without program-scope variables")
                        : "");
            }
        }
    }
}
