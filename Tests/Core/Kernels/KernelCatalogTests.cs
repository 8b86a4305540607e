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
            Assert.That(results.Count, Is.EqualTo(KernelTarget.All.Sum(t => KernelCatalog.KernelsFor(t).Count)));
            // every target compiles exactly one flash attention variant, the one its devices run
            foreach (var t in KernelTarget.All)
            {
                var flash = results.Where(r => r.Target == t && r.Kernel.Name.StartsWith("Attention.Flash")).Select(r => r.Kernel.Name).ToList();
                string expected = Attention.ChooseVariant(t.Features) == FlashVariant.StaticShared ? "Attention.FlashStaticKernel" : "Attention.FlashKernel";
                Assert.That(flash, Is.EqualTo(new[] { expected }), t.Name);
            }
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

        [Test]
        public void VariantKernelsAreCompiledWhereTheirDevicesRunThem()
        {
            Assert.That(KernelCatalog.Kernels().Select(k => k.Name), Does.Contain("Attention.FlashStaticKernel"));
            Assert.That(KernelTarget.Ptx.All(t => t.Features.Equals(DeviceFeatures.Cuda)), Is.True);
            var byName = KernelTarget.OpenCL.ToDictionary(t => t.Name);
            Assert.That(byName["opencl amd C2.0"].Features, Is.EqualTo(DeviceFeatures.OpenCL(2, 0, true)));
            Assert.That(byName["opencl intel C3.0"].Features, Is.EqualTo(DeviceFeatures.OpenCL(3, 0, true)));
            Assert.That(byName["opencl minimal C3.0"].Features, Is.EqualTo(DeviceFeatures.OpenCL(3, 0, false)));

            var names = new System.Func<KernelTarget, System.Collections.Generic.List<string>>(t => KernelCatalog.KernelsFor(t).Select(k => k.Name).ToList());
            foreach (var t in KernelTarget.All.Where(t => t.Name != "opencl minimal C3.0"))
            {
                Assert.That(names(t), Does.Contain("Attention.FlashKernel").And.Not.Contain("Attention.FlashStaticKernel"), t.Name);
                Assert.That(names(t).Count, Is.EqualTo(KernelCatalog.Kernels().Count - 1), t.Name);
            }
            var minimal30 = names(byName["opencl minimal C3.0"]);
            Assert.That(minimal30, Does.Contain("Attention.FlashStaticKernel").And.Not.Contain("Attention.FlashKernel"));
            Assert.That(minimal30, Does.Contain("Attention.HeadRmsNormKernel").And.Contain("Gemm.GemmKernel<GemmTile64, Single, F32Decoder>"));
            Assert.That(minimal30.Count, Is.EqualTo(KernelCatalog.Kernels().Count - 1));

            // the static variant declares its tile block in the kernel: a fixed PTX size, no dynamic shared memory
            var flashStatic = KernelCatalog.Kernels().Where(k => k.Name == "Attention.FlashStaticKernel");
            var ptx = KernelCatalog.CompileAll(flashStatic, new[] { KernelTarget.Ptx[0] });
            Assert.That(ptx, Is.Empty, "CUDA runs the dynamic variant, so the PTX targets do not compile the static one");
            var cl = KernelCatalog.CompileAll(flashStatic, new[] { byName["opencl minimal C3.0"] }).Single();
            Assert.That(cl.Success, Is.True, cl.Error);
            Assert.That(cl.Source, Does.Contain("local float").And.Contain("[" + Attention.StaticSharedFloats + "]"));
            Assert.That(cl.Source, Does.Not.Contain("dynamic_shared_memory"));
            var dyn = KernelCatalog.CompileAll(KernelCatalog.Kernels().Where(k => k.Name == "Attention.FlashKernel"), new[] { byName["opencl amd C3.0"] }).Single();
            Assert.That(dyn.Source, Does.Contain("dynamic_shared_memory"), "the dynamic variant takes its shared memory as a kernel argument");
        }

        [Test]
        public void AClassWithoutVariantsIsUsedEverywhere()
        {
            var bad = new KernelEntry(typeof(KernelCatalogTests).GetMethod(nameof(ManagedObjectKernel), System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Static));
            Assert.That(KernelTarget.All.All(t => KernelCatalog.IsUsedOn(bad, t.Features)), Is.True);
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
