using System;
using System.Diagnostics;
using System.IO;
using NUnit.Framework;

namespace Sd3Tex.Tests.DotNetOnly;

/// <summary>The setup and no-GPU paths of DotNet~/gpu-check.sh and the argument checks of
/// DotNet~/Sd3Tex.Bench/compare-sdcpp.sh, run as a user runs them (bash, a fresh environment). Neither needs a GPU or
/// stable-diffusion.cpp for these paths, and each returns within a second.</summary>
public sealed class ScriptTests
{
    static string DotNetDir => Path.Combine(TestPaths.PackageRoot, "DotNet~");

    static (int Code, string Out, string Err) Bash(string script, string args, params (string Key, string Value)[] env)
    {
        var psi = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(script);
        foreach (var a in args.Split(' ', StringSplitOptions.RemoveEmptyEntries)) psi.ArgumentList.Add(a);
        foreach (var (k, v) in env) psi.Environment[k] = v;
        using var p = Process.Start(psi);
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        Assert.That(p.WaitForExit(60_000), Is.True, $"{script} {args} did not finish within a minute");
        return (p.ExitCode, stdout.Result, stderr.Result);
    }

    static string NoGpuSmi()
    {
        // a stand-in nvidia-smi that lists no GPU (exit 9, as the real one does without a driver)
        string path = Path.Combine(Path.GetTempPath(), "sd3tex-no-gpu-smi-" + Guid.NewGuid().ToString("N")[..8]);
        File.WriteAllText(path, "#!/bin/sh\necho 'NVIDIA-SMI has failed because it could not communicate with the NVIDIA driver.' >&2\nexit 9\n");
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        return path;
    }

    [Test]
    public void GpuCheckWithoutAGpuExitsAtOnceSayingSo()
    {
        string smi = NoGpuSmi();
        string outDir = Path.Combine(Path.GetTempPath(), "sd3tex-gpu-check-" + Guid.NewGuid().ToString("N")[..8]);
        try
        {
            var sw = Stopwatch.StartNew();
            var (code, _, err) = Bash(Path.Combine(DotNetDir, "gpu-check.sh"), "", ("GPU_CHECK_NVIDIA_SMI", smi), ("OUT", outDir));
            Assert.That(code, Is.EqualTo(3), err);
            Assert.That(err, Does.Contain("no NVIDIA GPU found").And.Contain("nothing to check"));
            Assert.That(sw.Elapsed.TotalSeconds, Is.LessThan(20), "it must exit at once, before building anything");
            Assert.That(Directory.Exists(outDir), Is.False, "nothing is written without a GPU");
        }
        finally { File.Delete(smi); if (Directory.Exists(outDir)) Directory.Delete(outDir, true); }
    }

    [Test]
    public void GpuCheckDryRunPrintsThePlanWithOrWithoutAGpu()
    {
        string smi = NoGpuSmi();
        try
        {
            var (code, stdout, err) = Bash(Path.Combine(DotNetDir, "gpu-check.sh"), "--dry-run", ("GPU_CHECK_NVIDIA_SMI", smi), ("OUT", "results-x"));
            Assert.That(code, Is.EqualTo(0), err);
            Assert.That(stdout, Does.Contain("no NVIDIA GPU here").And.Contain("SD3TEX_TEST_DEVICES=cuda dotnet test")
                                    .And.Contain("--device cuda --sizes 512,1024").And.Contain("results-x/gpu-check.md"));
            var bad = Bash(Path.Combine(DotNetDir, "gpu-check.sh"), "--bogus");
            Assert.That(bad.Code, Is.EqualTo(2));
            Assert.That(bad.Err, Does.Contain("unknown option --bogus"));
        }
        finally { File.Delete(smi); }
    }

    [Test]
    public void CompareSdcppRejectsAMissingSdCliWithItsBuildHint()
    {
        string script = Path.Combine(DotNetDir, "Sd3Tex.Bench", "compare-sdcpp.sh");
        var usage = Bash(script, "");
        Assert.That(usage.Code, Is.EqualTo(2));
        Assert.That(usage.Err, Does.Contain("compare-sdcpp.sh SD_CLI WEIGHTS_DIR"));
        var missing = Bash(script, "/nonexistent/sd-cli " + Path.GetTempPath());
        Assert.That(missing.Code, Is.EqualTo(2));
        Assert.That(missing.Err, Does.Contain("is not an executable file").And.Contain("build stable-diffusion.cpp"));
        var badSize = Bash(script, "/nonexistent/sd-cli " + Path.GetTempPath() + " --sizes 250");
        Assert.That(badSize.Code, Is.EqualTo(2));
        Assert.That(badSize.Err, Does.Contain("not a positive multiple of 16"));
    }
}
