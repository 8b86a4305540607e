using System.Collections.Generic;
using System.IO;
using System.Linq;
using Sd3Tex.Kernels;

namespace Sd3Tex.Cli;

/// <summary><c>sd3tex compile-kernels</c>: compiles every kernel for CUDA and OpenCL targets without a GPU.</summary>
public static class CompileKernelsCommand
{
    const string Help = """
        usage: sd3tex compile-kernels [--target ptx|opencl|all] [--output <dir>]

        Compiles every kernel of the product, at every specialization the model uses, with ILGPU's PTX backend
        (sm_70, sm_80, sm_86, sm_89, sm_90) and OpenCL backend (AMD and Intel GPUs as OpenCL C 2.0 and 3.0, and a
        minimal device as OpenCL C 2.0 and as 3.0 without program-scope variables). No GPU is needed. A kernel
        with variants is compiled, per target, in the variant such a device runs (the flash attention: dynamic
        shared memory, or static shared memory on OpenCL C 3.0 without program-scope variables); the table shows
        "–" where a target uses the other variant. Prints a table (PTX registers and shared memory, OpenCL source
        size) and exits with 1 if any kernel fails, naming it and giving the backend's message.

          --target   which backends (default all)
          --output   also write each generated source to <dir>/<target>/<kernel>.ptx|.cl
        """;

    public static int Run(string[] argv, TextWriter stdout, TextWriter stderr)
    {
        var args = new Args(argv, new HashSet<string> { "help" });
        if (args.Flag("help")) { stdout.WriteLine(Help); return 0; }
        string which = args.One("target", "all"), output = args.One("output");
        args.RejectUnknown();
        var targets = which switch
        {
            "ptx" => KernelTarget.Ptx,
            "opencl" => KernelTarget.OpenCL,
            "all" => KernelTarget.All.ToList(),
            _ => throw new UsageException($"--target must be ptx, opencl or all, not \"{which}\""),
        };
        var kernels = KernelCatalog.Kernels();
        var unlisted = KernelCatalog.UnlistedGenericKernels();
        foreach (var u in unlisted) stderr.WriteLine($"generic kernel without listed instantiations: {u}");
        var results = KernelCatalog.CompileAll(kernels, targets);
        stdout.Write(KernelCatalog.Table(results));
        if (output != null)
        {
            foreach (var r in results.Where(r => r.Success))
            {
                string dir = Path.Combine(output, r.Target.Name.Replace(' ', '_').Replace("(", "").Replace(")", ""));
                Directory.CreateDirectory(dir);
                string name = string.Concat(r.Kernel.Name.Select(c => char.IsLetterOrDigit(c) || c == '.' ? c : '_'));
                File.WriteAllText(Path.Combine(dir, name + (r.Target.IsPtx ? ".ptx" : ".cl")), r.Source);
            }
        }
        var failed = results.Where(r => !r.Success).ToList();
        foreach (var f in failed) stderr.WriteLine($"FAILED {f.Kernel.Name} for {f.Target.Name}: {f.Error}");
        foreach (var v in KernelCatalog.VariantSummary(results)) stdout.WriteLine($"variant {v}");
        stdout.WriteLine($"{results.Count - failed.Count} of {results.Count} kernel × target compilations succeeded ({kernels.Count} kernels, {targets.Count} targets; each target compiles the variants it runs).");
        return failed.Count > 0 || unlisted.Count > 0 ? 1 : 0;
    }
}
