using System;
using ILGPU;
using ILGPU.Runtime;
using NUnit.Framework;
using Sd3Tex.Kernels;

namespace Sd3Tex.Tests.Kernels
{
    [TestFixtureSource(typeof(DeviceTestBase), nameof(DeviceTestBase.Devices))]
    public sealed class ComputeDeviceTests : DeviceTestBase
    {
        public ComputeDeviceTests(string device) : base(device) { }

        static void AddOne(Index1D i, ArrayView<float> a) => a[i] += 1f;

        [Test]
        public void RunsAKernel()
        {
            var k = Device.Accelerator.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>>(AddOne);
            using var buf = Device.Accelerator.Allocate1D(new float[] { 1, 2, 3 });
            k((int)buf.Length, buf.View);
            Assert.That(buf.GetAsArray1D(), Is.EqualTo(new float[] { 2, 3, 4 }));
        }

        [Test]
        public void CpuGroupsHoldTheTiles()
        {
            if (Device.Kind != DeviceKind.Cpu) Assert.Pass("GPU limits are the hardware's");
            // both CPU backends: the managed one keeps ILGPU's CPU accelerator for its buffers (and any kernel)
            Assert.That(Device.Accelerator.MaxNumThreadsPerGroup, Is.EqualTo(ComputeDevice.CpuWarpSize * ComputeDevice.CpuWarpsPerGroup));
        }
    }

    public sealed class DeviceSelectionTests
    {
        [Test]
        public void UnknownDeviceNamesTheChoices()
        {
            var e = Assert.Throws<DeviceException>(() => ComputeDevice.Open("tpu"));
            Assert.That(e.Message, Does.Contain("cuda").And.Contain("opencl").And.Contain("cpu"));
        }

        [Test]
        public void BadIndexIsAClearError()
        {
            var e = Assert.Throws<DeviceException>(() => ComputeDevice.Open("cuda:x"));
            Assert.That(e.Message, Does.Contain("index"));
        }

        [Test]
        public void AutoAlwaysFindsADevice()
        {
            using var d = ComputeDevice.Open("auto");
            Assert.That(d.Describe(), Is.Not.Empty);
        }
    }
}
