using System.Linq;
using NUnit.Framework;
using Sd3Tex.Kernels;

namespace Sd3Tex.Tests.DotNetOnly;

/// <summary>
/// The OpenCL C 2.0 that ILGPU generates for every kernel (AMD and Intel flavours), built by a real OpenCL compiler when
/// one can run here (PoCL from Debian: `.ci/run` installs it). Without an OpenCL runtime the test is skipped and says why.
/// PoCL's CPU device has no generic address space, so ILGPU cannot run kernels on it, but its compiler builds the source.
/// As OpenCL C 3.0 every kernel without dynamic shared memory is built too; the kernels that take dynamic shared memory
/// (the flash attention) are left out there: ILGPU declares it through program-scope variables, an optional 3.0 feature
/// PoCL's device lacks (see the README's device notes).
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

        var dynamicShared = KernelCatalog.CompileAll(targets: new[] { KernelTarget.Ptx[0] }).Where(r => r.DynamicShared).Select(r => r.Kernel.Name).ToList();
        var kernels30 = KernelCatalog.Kernels().Where(k => !dynamicShared.Contains(k.Name)).ToList();
        var results30 = KernelCatalog.CompileAll(kernels30, KernelTarget.OpenCL.Where(t => t.Name == "opencl amd C3.0"));
        foreach (var r in results30)
        {
            string error = OpenCLCompiler.Build(device, r.Source, "-cl-std=CL3.0");
            if (error != null) failures.Add($"{r.Kernel.Name} [{r.Target.Name}]: {error.Substring(0, System.Math.Min(600, error.Length))}");
        }
        TestContext.Progress.WriteLine($"  built {results30.Count} OpenCL C 3.0 sources; left out (dynamic shared memory): {string.Join(", ", dynamicShared)}");
        Assert.That(dynamicShared, Is.EqualTo(new[] { "Attention.FlashKernel" }), "only the flash attention takes dynamic shared memory");
        Assert.That(failures, Is.Empty);
    }
}
