using System.Linq;
using NUnit.Framework;
using Sd3Tex.Kernels;

namespace Sd3Tex.Tests.Kernels
{
    /// <summary>Every kernel of the product compiles for CUDA (PTX sm_70 … sm_90) and OpenCL (AMD and Intel GPUs, OpenCL C
    /// 2.0 and 3.0, and a minimal device) with ILGPU's backends, on a machine without any GPU.</summary>
    public sealed class KernelCatalogTests
    {
        [Test]
        public void EveryKernelIsListed()
        {
            Assert.That(KernelCatalog.UnlistedGenericKernels(), Is.Empty, "a generic kernel's class must list its instantiations in KernelSpecializations()");
            var names = KernelCatalog.Kernels().Select(k => k.Name).ToList();
            Assert.That(names, Does.Contain("Attention.FlashKernel").And.Contain("Norms.LayerNormModulateKernel").And.Contain("ShapeOps.PatchifyKernel"));
            Assert.That(names.Count(n => n.StartsWith("Gemm.GemmKernel<")), Is.EqualTo(9), "3 tiles × 3 weight types");
            Assert.That(names, Is.Unique);
        }

        [Test]
        public void EveryKernelCompilesForEveryTarget()
        {
            var results = KernelCatalog.CompileAll();
            TestContext.Progress.WriteLine(KernelCatalog.Table(results));
            var failures = results.Where(r => !r.Success).Select(r => $"{r.Kernel.Name} for {r.Target.Name}: {r.Error}").ToList();
            Assert.That(failures, Is.Empty);
            Assert.That(results.Count, Is.EqualTo(KernelCatalog.Kernels().Count * KernelTarget.All.Count()));
            foreach (var r in results.Where(r => r.Target.IsPtx))
            {
                Assert.That(r.Registers, Is.GreaterThan(0), r.Kernel.Name);
                // ILGPU emits PTX for the newest architecture its code generator knows up to the one asked for (sm_80 for
                // sm_86/89/90); the driver JIT-compiles that PTX for the actual GPU
                var target = System.Text.RegularExpressions.Regex.Match(r.Source, @"\.target sm_(\d+)");
                Assert.That(target.Success, Is.True, r.Kernel.Name);
                Assert.That(int.Parse(target.Groups[1].Value), Is.InRange(70, int.Parse(r.Target.Name.Split(' ')[1].Substring(3))), r.Kernel.Name);
                Assert.That(r.Source, Does.Contain(".version " + r.Target.Name.Split('(')[1].Replace("ISA ", "").TrimEnd(')')), r.Kernel.Name);
            }
            // the GEMM's tiles are static shared memory: 2 × 16 × (tile + 1) floats
            var tile64 = results.First(r => r.Target.IsPtx && r.Kernel.Name == "Gemm.GemmKernel<GemmTile64, Single, F32Decoder>");
            Assert.That(tile64.SharedBytes, Is.EqualTo(2 * 16 * 65 * 4));
            Assert.That(results.Where(r => !r.Target.IsPtx).All(r => r.Source.Contains("kernel void")), Is.True);
        }

        static void ManagedObjectKernel(ILGPU.Index1D i, ILGPU.ArrayView<int> a) => a[i] = new object().GetHashCode();

        [Test]
        public void AKernelThatCannotCompileIsReportedWithItsNameAndTheBackendsMessage()
        {
            var bad = new KernelEntry(typeof(KernelCatalogTests).GetMethod(nameof(ManagedObjectKernel), System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Static));
            var results = KernelCatalog.CompileAll(new[] { bad }, new[] { KernelTarget.Ptx[0], KernelTarget.OpenCL[0] });
            Assert.That(results.All(r => !r.Success), Is.True);
            Assert.That(results[0].Kernel.Name, Is.EqualTo("KernelCatalogTests.ManagedObjectKernel"));
            Assert.That(results[0].Error, Is.Not.Empty);
            Assert.That(KernelCatalog.Table(results), Does.Contain("FAILED"));
        }
    }
}
