using System.Collections;
using System.Collections.Generic;
using NUnit.Framework;
using Sd3Tex.Kernels;

namespace Sd3Tex.Tests
{
    /// <summary>
    /// Base of every kernel test: a fixture written once runs on each accelerator present. Both CPU backends always
    /// ("cpu", the managed backend, and "ilgpu-cpu", ILGPU's CPU accelerator running the GPU kernels); CUDA or OpenCL
    /// when this machine has one (or only those named in SD3TEX_TEST_DEVICES, e.g. "cpu,ilgpu-cpu,cuda").
    /// Derive with <c>[TestFixtureSource(typeof(DeviceTestBase), nameof(Devices))]</c> and a constructor taking the name.
    /// </summary>
    public abstract class DeviceTestBase
    {
        static IReadOnlyList<string> _available;

        public static IEnumerable Devices
        {
            get
            {
                string env = System.Environment.GetEnvironmentVariable("SD3TEX_TEST_DEVICES");
                if (!string.IsNullOrEmpty(env)) return env.Split(',');
                return _available ??= ComputeDevice.Available();
            }
        }

        /// <summary>ILGPU's CPU accelerator with 256 threads per group, for tests of GPU-sized tiles.</summary>
        public const string WideCpu = "ilgpu-cpu-256";

        protected readonly string DeviceName;
        protected ComputeDevice Device { get; private set; }

        protected DeviceTestBase(string device) { DeviceName = device; }

        [OneTimeSetUp]
        public void OpenDevice() => Device = DeviceName == WideCpu ? ComputeDevice.CreateCpu(256) : ComputeDevice.Open(DeviceName);

        [OneTimeTearDown]
        public void CloseDevice() { Device?.Dispose(); Device = null; }
    }
}
