using System;
using System.Collections.Generic;
using System.Linq;
using System.Reflection;
using System.Text.RegularExpressions;
using ILGPU;
using ILGPU.Backends;
using ILGPU.Backends.EntryPoints;
using ILGPU.Backends.OpenCL;
using ILGPU.Backends.PTX;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;
using ILGPU.Runtime.OpenCL;

namespace Sd3Tex.Kernels
{
    /// <summary>One kernel entry point at one specialization (generic kernels appear once per instantiation the product uses).</summary>
    public sealed class KernelEntry
    {
        public MethodInfo Method { get; }
        /// <summary>True for kernels launched with an explicit KernelConfig (group size, shared memory); false for
        /// auto-grouped kernels whose first parameter is the thread index.</summary>
        public bool ExplicitlyGrouped { get; }
        public string Name { get; }

        public KernelEntry(MethodInfo method)
        {
            Method = method;
            var first = method.GetParameters().FirstOrDefault()?.ParameterType;
            ExplicitlyGrouped = !(first == typeof(Index1D) || first == typeof(Index2D) || first == typeof(Index3D) ||
                                  first == typeof(LongIndex1D) || first == typeof(LongIndex2D) || first == typeof(LongIndex3D));
            string args = method.IsGenericMethod ? "<" + string.Join(", ", method.GetGenericArguments().Select(a => a.Name)) + ">" : "";
            Name = $"{method.DeclaringType.Name}.{method.Name}{args}";
        }

        public override string ToString() => Name;
    }

    /// <summary>A backend configuration a kernel is compiled for: a CUDA architecture, or an OpenCL device class.</summary>
    public sealed class KernelTarget
    {
        public string Name { get; }
        public bool IsPtx { get; }
        internal readonly CudaArchitecture Architecture;
        internal readonly CudaInstructionSet InstructionSet;
        internal readonly CLCapabilityContext Capabilities;
        internal readonly CLDeviceVendor Vendor;
        internal readonly CLCVersion Version;
        /// <summary>What a device of this target offers; kernels with variants are compiled in the variant such a
        /// device runs (see <see cref="KernelCatalog.KernelsFor"/>).</summary>
        public DeviceFeatures Features { get; }

        KernelTarget(string name, CudaArchitecture arch, CudaInstructionSet isa)
        {
            Name = name; IsPtx = true; Architecture = arch; InstructionSet = isa; Features = DeviceFeatures.Cuda;
        }

        KernelTarget(string name, CLCapabilityContext caps, CLDeviceVendor vendor, CLCVersion version, bool programScopeVariables = true)
        {
            Name = name; Capabilities = caps; Vendor = vendor; Version = version;
            Features = DeviceFeatures.OpenCL(version.Major, version.Minor, programScopeVariables);
        }

        /// <summary>CUDA sm_70, sm_80, sm_86, sm_89 and sm_90, each with the PTX ISA its architecture first shipped with.</summary>
        public static IReadOnlyList<KernelTarget> Ptx { get; } = new[]
        {
            new KernelTarget("ptx sm_70 (ISA 6.0)", CudaArchitecture.SM_70, CudaInstructionSet.ISA_60),
            new KernelTarget("ptx sm_80 (ISA 7.0)", CudaArchitecture.SM_80, CudaInstructionSet.ISA_70),
            new KernelTarget("ptx sm_86 (ISA 7.1)", CudaArchitecture.SM_86, CudaInstructionSet.ISA_71),
            new KernelTarget("ptx sm_89 (ISA 7.8)", CudaArchitecture.SM_89, CudaInstructionSet.ISA_78),
            new KernelTarget("ptx sm_90 (ISA 7.8)", CudaArchitecture.SM_90, CudaInstructionSet.ISA_78),
        };

        /// <summary>
        /// OpenCL C for a typical AMD and a typical Intel GPU (fp16 and generic address space on), as OpenCL C 2.0 and 3.0
        /// (3.0 with program-scope variables, as those drivers have them), plus the weakest devices ILGPU can run on
        /// (generic address space only: no fp16, fp64, 64-bit atomics or sub-groups), as OpenCL C 2.0 and as 3.0
        /// without program-scope variables. The kernels need no optional feature, so those targets prove there is no
        /// hidden requirement; on the minimal C3.0 target the flash attention is its static-shared-memory variant.
        /// </summary>
        public static IReadOnlyList<KernelTarget> OpenCL { get; } = new[]
        {
            new KernelTarget("opencl amd C2.0", Caps(true), CLDeviceVendor.AMD, CLCVersion.CL20),
            new KernelTarget("opencl amd C3.0", Caps(true), CLDeviceVendor.AMD, CLCVersion.CL30),
            new KernelTarget("opencl intel C2.0", Caps(true), CLDeviceVendor.Intel, CLCVersion.CL20),
            new KernelTarget("opencl intel C3.0", Caps(true), CLDeviceVendor.Intel, CLCVersion.CL30),
            new KernelTarget("opencl minimal C2.0", Caps(false), CLDeviceVendor.Other, CLCVersion.CL20),
            new KernelTarget("opencl minimal C3.0", Caps(false), CLDeviceVendor.Other, CLCVersion.CL30, programScopeVariables: false),
        };

        static CLCapabilityContext Caps(bool typicalGpu) =>
            new CLCapabilityContext(float16: typicalGpu, float64: false, genericAddressSpace: true, int64_Atomics: typicalGpu, subGroups: typicalGpu);

        public static IEnumerable<KernelTarget> All => Ptx.Concat(OpenCL);

        public override string ToString() => Name;
    }

    /// <summary>The outcome of compiling one kernel for one target.</summary>
    public sealed class KernelCompileResult
    {
        public KernelEntry Kernel { get; internal set; }
        public KernelTarget Target { get; internal set; }
        public bool Success => Error == null;
        /// <summary>The backend's message when compilation failed.</summary>
        public string Error { get; internal set; }
        /// <summary>The generated PTX or OpenCL C.</summary>
        public string Source { get; internal set; }
        /// <summary>PTX virtual registers declared (all types), or -1 for OpenCL.</summary>
        public int Registers { get; internal set; } = -1;
        /// <summary>Static shared memory the PTX declares, in bytes (-1 for OpenCL).</summary>
        public int SharedBytes { get; internal set; } = -1;
        /// <summary>True when the kernel takes dynamic shared memory (sized at launch).</summary>
        public bool DynamicShared { get; internal set; }
    }

    /// <summary>
    /// Every kernel of the product and a compiler that builds them for CUDA (PTX) and OpenCL without any GPU: ILGPU's
    /// backends only emit text. Kernels are discovered by convention: static void methods of the
    /// <c>Sd3Tex.Kernels</c> namespace whose names end in <c>Kernel</c>. A generic kernel is listed through a static
    /// <c>KernelSpecializations()</c> method of its class returning the closed instantiations the product launches;
    /// a generic kernel without one is reported by <see cref="UnlistedGenericKernels"/> (and fails the tests).
    /// A class whose kernels come in variants for different device features declares a static
    /// <c>bool KernelUsed(MethodInfo kernel, DeviceFeatures features)</c>; a target compiles only the kernels its
    /// features use (<see cref="KernelsFor"/>), which are the ones such a device launches.
    /// </summary>
    public static class KernelCatalog
    {
        const BindingFlags All = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Static | BindingFlags.DeclaredOnly;

        static IEnumerable<Type> KernelTypes() =>
            typeof(KernelCatalog).Assembly.GetTypes().Where(t => t.Namespace == "Sd3Tex.Kernels" && !t.IsGenericTypeDefinition);

        static bool IsKernel(MethodInfo m) => m.Name.EndsWith("Kernel", StringComparison.Ordinal) && m.ReturnType == typeof(void) && !m.IsSpecialName;

        /// <summary>Every kernel entry point at every specialization the product uses.</summary>
        public static IReadOnlyList<KernelEntry> Kernels()
        {
            var r = new List<KernelEntry>();
            foreach (var t in KernelTypes())
            {
                foreach (var m in t.GetMethods(All).Where(IsKernel))
                    if (!m.IsGenericMethodDefinition) r.Add(new KernelEntry(m));
                var spec = t.GetMethod("KernelSpecializations", All, null, Type.EmptyTypes, null);
                if (spec != null)
                    foreach (var m in (IEnumerable<MethodInfo>)spec.Invoke(null, null)) r.Add(new KernelEntry(m));
            }
            return r.OrderBy(e => e.Name, StringComparer.Ordinal).ToList();
        }

        /// <summary>Whether a device with these features launches this kernel: its class's <c>KernelUsed</c> decides
        /// when it has one (kernel variants); otherwise every device does.</summary>
        public static bool IsUsedOn(KernelEntry kernel, DeviceFeatures features)
        {
            if (kernel == null) throw new ArgumentNullException(nameof(kernel));
            var used = kernel.Method.DeclaringType?.GetMethod("KernelUsed", All, null, new[] { typeof(MethodInfo), typeof(DeviceFeatures) }, null);
            if (used == null || used.ReturnType != typeof(bool)) return true;
            var method = kernel.Method.IsGenericMethod ? kernel.Method.GetGenericMethodDefinition() : kernel.Method;
            return (bool)used.Invoke(null, new object[] { method, features });
        }

        /// <summary>The kernels a device of this target launches (every kernel, with each variant kernel only on the
        /// targets whose features choose it).</summary>
        public static IReadOnlyList<KernelEntry> KernelsFor(KernelTarget target, IEnumerable<KernelEntry> kernels = null) =>
            (kernels ?? Kernels()).Where(k => IsUsedOn(k, target.Features)).ToList();

        /// <summary>Generic kernels whose class does not list its instantiations.</summary>
        public static IReadOnlyList<string> UnlistedGenericKernels()
        {
            var listed = new HashSet<MethodInfo>(Kernels().Where(k => k.Method.IsGenericMethod).Select(k => k.Method.GetGenericMethodDefinition()));
            return KernelTypes().SelectMany(t => t.GetMethods(All)).Where(m => IsKernel(m) && m.IsGenericMethodDefinition && !listed.Contains(m))
                .Select(m => $"{m.DeclaringType.Name}.{m.Name}").ToList();
        }

        static Context NewContext() => Context.Create(b => b.EnableAlgorithms().Optimize(OptimizationLevel.O2));

        /// <summary>Compiles every kernel for every target, each target only the kernels it uses (<see cref="KernelsFor"/>:
        /// a variant kernel only where it is chosen). Never throws for a kernel: failures are results.</summary>
        public static List<KernelCompileResult> CompileAll(IEnumerable<KernelEntry> kernels = null, IEnumerable<KernelTarget> targets = null)
        {
            var ks = (kernels ?? Kernels()).ToList();
            var ts = (targets ?? KernelTarget.All).ToList();
            var results = new List<KernelCompileResult>();
            using (var context = NewContext())
            {
                foreach (var target in ts)
                {
                    using (var backend = CreateBackend(context, target))
                        foreach (var k in KernelsFor(target, ks)) results.Add(Compile(backend, k, target));
                }
            }
            return results;
        }

        static Backend CreateBackend(Context context, KernelTarget t) => t.IsPtx
            ? (Backend)new PTXBackend(context, t.Architecture, t.InstructionSet, null)
            : new CLBackend(context, t.Capabilities, t.Vendor, t.Version);

        static KernelCompileResult Compile(Backend backend, KernelEntry k, KernelTarget target)
        {
            var r = new KernelCompileResult { Kernel = k, Target = target };
            try
            {
                var entry = k.ExplicitlyGrouped
                    ? EntryPointDescription.FromExplicitlyGroupedKernel(k.Method)
                    : EntryPointDescription.FromImplicitlyGroupedKernel(k.Method);
                var compiled = backend.Compile(entry, KernelSpecialization.Empty);
                if (compiled is PTXCompiledKernel ptx)
                {
                    r.Source = ptx.PTXAssembly;
                    AnalysePtx(r);
                }
                else r.Source = ((CLCompiledKernel)compiled).Source;
            }
            catch (Exception e)
            {
                r.Error = e.GetType().Name + ": " + (e.InnerException != null ? e.Message + " — " + e.InnerException.Message : e.Message);
            }
            return r;
        }

        static readonly Regex RegDecl = new Regex(@"\.reg\s+\.\w+\s+%\w+<(\d+)>", RegexOptions.Compiled);
        static readonly Regex SharedDecl = new Regex(@"^\s*(?:\.extern\s+)?\.shared\s+[^\[;]*\[(\d*)\]", RegexOptions.Compiled | RegexOptions.Multiline);

        /// <summary>Registers and shared memory as the PTX states them: the sum of `.reg` declarations, and the bytes of
        /// `.shared` arrays (an `.extern .shared` array without a size is dynamic).</summary>
        static void AnalysePtx(KernelCompileResult r)
        {
            int regs = 0;
            foreach (Match m in RegDecl.Matches(r.Source)) regs += int.Parse(m.Groups[1].Value);
            r.Registers = regs;
            int shared = 0;
            foreach (Match m in SharedDecl.Matches(r.Source))
                if (m.Groups[1].Value.Length > 0) shared += int.Parse(m.Groups[1].Value);
            r.SharedBytes = shared;
            r.DynamicShared = Regex.IsMatch(r.Source, @"\.extern\s+\.shared");
        }

        /// <summary>One line per kernel variant in these results (a kernel compiled for some of the targets only): the
        /// targets it is used on, with their features, e.g. "Attention.FlashStaticKernel: opencl minimal C3.0 (OpenCL C
        /// 3.0 without program-scope variables)"; empty when every kernel was compiled for every target.</summary>
        public static IReadOnlyList<string> VariantSummary(IReadOnlyList<KernelCompileResult> results)
        {
            var targets = results.Select(r => r.Target).Distinct().ToList();
            var lines = new List<string>();
            foreach (var group in results.GroupBy(r => r.Kernel.Name))
            {
                var on = group.Select(r => r.Target).Distinct().ToList();
                if (on.Count == targets.Count) continue;
                var off = targets.Where(t => !on.Contains(t)).ToList();
                string where = on.Count <= off.Count
                    ? string.Join(", ", on.Select(t => $"{t.Name} ({t.Features})"))
                    : "every target but " + string.Join(", ", off.Select(t => $"{t.Name} ({t.Features})"));
                lines.Add($"{group.Key}: {where}");
            }
            return lines;
        }

        /// <summary>A Markdown table: one row per kernel, one column per target (PTX: registers/shared bytes; OpenCL:
        /// source size; "–": the target uses another variant of the kernel).</summary>
        public static string Table(IReadOnlyList<KernelCompileResult> results)
        {
            var targets = results.Select(r => r.Target).Distinct().ToList();
            var sb = new System.Text.StringBuilder();
            sb.Append("| kernel | ").Append(string.Join(" | ", targets.Select(t => t.Name))).AppendLine(" |");
            sb.Append("| --- |").Append(string.Concat(targets.Select(_ => " --- |"))).AppendLine();
            foreach (var group in results.GroupBy(r => r.Kernel.Name).OrderBy(g => g.Key, StringComparer.Ordinal))
            {
                sb.Append("| ").Append(group.Key);
                foreach (var t in targets)
                {
                    var r = group.FirstOrDefault(x => x.Target == t);
                    string cell = r == null ? "–" : !r.Success ? "FAILED" : t.IsPtx
                        ? $"{r.Registers} regs, {(r.DynamicShared ? "dyn + " : "")}{r.SharedBytes} B shared"
                        : $"{r.Source.Length / 1024.0:0.0} KB";
                    sb.Append(" | ").Append(cell);
                }
                sb.AppendLine(" |");
            }
            return sb.ToString();
        }
    }
}
