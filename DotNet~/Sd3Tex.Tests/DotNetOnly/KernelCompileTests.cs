using System.Linq;
using NUnit.Framework;
using Sd3Tex.Kernels;

namespace Sd3Tex.Tests.DotNetOnly;

/// <summary>
/// The OpenCL C that ILGPU generates for every kernel, built by a real OpenCL compiler when one can run here (PoCL
/// from Debian: `.ci/run` installs it). Without an OpenCL runtime the test is skipped and says why.
/// PoCL's CPU device has no generic address space, so ILGPU cannot run kernels on it, but its compiler builds the source.
/// As OpenCL C 2.0: the AMD, Intel and minimal targets. As OpenCL C 3.0: the minimal C3.0 target, which has no
/// program-scope variables (PoCL's CPU device lacks them too), so its flash attention is the static-shared-memory
/// variant; no kernel is left out of either build.
/// </summary>
public sealed class OpenCLBuildTests
{
    [Test]
    public void GeneratedOpenCLBuildsWithARealCompiler()
    {
        var (device, description, whyNot) = OpenCLCompiler.FirstDevice();
        if (device == System.IntPtr.Zero)
        {
            if (System.Environment.GetEnvironmentVariable("SD3TEX_REQUIRE_OPENCL") == "1") Assert.Fail("no OpenCL compiler: " + whyNot);
            Assert.Ignore("no OpenCL compiler: " + whyNot);
        }
        TestContext.Progress.WriteLine($"  OpenCL compiler: {description}");
        var results = KernelCatalog.CompileAll(targets: KernelTarget.OpenCL.Where(t => t.Name.Contains("C2.0")));
        Assert.That(results.Where(r => !r.Success).Select(r => $"{r.Kernel.Name} [{r.Target.Name}]: {r.Error}"), Is.Empty);
        var failures = new System.Collections.Generic.List<string>();
        var distinct = results.GroupBy(r => r.Source).Select(g => g.First()).ToList();
        foreach (var r in distinct)
        {
            string error = OpenCLCompiler.Build(device, r.Source, "-cl-std=CL2.0");
            if (error != null) failures.Add($"{r.Kernel.Name} [{r.Target.Name}]: {error.Substring(0, System.Math.Min(600, error.Length))}");
        }
        TestContext.Progress.WriteLine($"  built {distinct.Count - failures.Count} of {distinct.Count} distinct OpenCL C 2.0 sources ({results.Count} kernel × target pairs)");

        // OpenCL C 3.0 without program-scope variables: every kernel, the flash attention as its static variant
        var target30 = KernelTarget.OpenCL.Single(t => t.Name == "opencl minimal C3.0");
        Assert.That(target30.Features.ProgramScopeVariables, Is.False);
        var results30 = KernelCatalog.CompileAll(targets: new[] { target30 });
        Assert.That(results30.Where(r => !r.Success).Select(r => $"{r.Kernel.Name}: {r.Error}"), Is.Empty);
        foreach (var r in results30)
        {
            string error = OpenCLCompiler.Build(device, r.Source, "-cl-std=CL3.0");
            if (error != null) failures.Add($"{r.Kernel.Name} [{r.Target.Name}]: {error.Substring(0, System.Math.Min(600, error.Length))}");
        }
        var built30 = results30.Select(r => r.Kernel.Name).ToList();
        TestContext.Progress.WriteLine($"  built {results30.Count} OpenCL C 3.0 sources (no program-scope variables)");

        // the only kernel with dynamic shared memory is the flash attention, and the 3.0 build replaces it by the
        // static variant: nothing is left out
        var dynamicShared = KernelCatalog.CompileAll(targets: new[] { KernelTarget.Ptx[0] }).Where(r => r.DynamicShared).Select(r => r.Kernel.Name).ToList();
        Assert.That(dynamicShared, Is.EqualTo(new[] { "Attention.FlashKernel" }), "only the flash attention takes dynamic shared memory");
        var expected30 = KernelCatalog.Kernels().Select(k => k.Name).Where(n => n != "Attention.FlashKernel").ToList();
        Assert.That(built30, Is.EquivalentTo(expected30), "the 3.0 build has every kernel, with the static flash attention in place of the dynamic one");
        Assert.That(built30, Does.Contain("Attention.FlashStaticKernel"));
        Assert.That(failures, Is.Empty);
    }
}
