using System;
using ILGPU;
using ILGPU.Runtime;
using Sd3Tex.Kernels;

namespace Sd3Tex.Bench;

/// <summary>
/// Each kernel alone at SD3-Medium's real shapes (llm.c's "kernel lab"): the op classes on the chosen device, with
/// random data. GEMM shapes are those of one CFG step at 512² (batch 2: 2 × 1024 image rows, 2 × 154 context rows),
/// weights F16 as in the checkpoint and F32; OpenBLAS SGEMM on the same F32 data in the same run when it loads.
/// </summary>
public static unsafe class KernelLab
{
    static readonly (string Name, int M, int N, int K)[] GemmShapes =
    {
        ("image qkv", 2048, 4608, 1536),
        ("image attn.proj", 2048, 1536, 1536),
        ("image mlp.fc1", 2048, 6144, 1536),
        ("image mlp.fc2", 2048, 1536, 6144),
        ("context qkv", 308, 4608, 1536),
        ("context_embedder", 308, 1536, 4096),
        ("adaLN modulation (2 rows)", 2, 9216, 1536),
    };

    static float[] Random(long n, int seed, float range = 1f)
    {
        var r = new Random(seed);
        var a = new float[n];
        for (long i = 0; i < n; i++) a[i] = (float)(r.NextDouble() * 2 - 1) * range;
        return a;
    }

    public static void Run(Program.Options o)
    {
        using var dev = ComputeDevice.Open(o.Device);
        string on = dev.IsManaged ? "managed" : dev.Kind.ToString();
        int reps = Math.Max(o.Repeats, 5);
        if (o.Lab.Contains("gemm")) Gemms(dev, on, reps);
        if (o.Lab.Contains("attention")) Attentions(dev, on, o.Repeats);
        if (o.Lab.Contains("norms")) NormsLab(dev, on, reps);
        if (o.Lab.Contains("conv")) Convs(dev, on, o.Repeats);
        if (o.Lab.Contains("elementwise")) Elementwise(reps);
        if (o.Lab.Contains("finite")) Finite(dev, on);
    }

    /// <summary>The per-step NaN / Inf check (FiniteCheck) on the transformer's output of one CFG step (batch 2,
    /// 16 channels, H/8 × W/8), as the generator runs it after every model call; compare with the step's time.</summary>
    static void Finite(ComputeDevice dev, string on)
    {
        using var check = new FiniteCheck(dev);
        foreach (int size in new[] { 512, 1024 })
        {
            int n = 2 * 16 * (size / 8) * (size / 8);
            using var x = dev.Accelerator.Allocate1D(Random(n, 13, 4f));
            Program.Row($"NaN/Inf check of the transformer output [2, 16, {size / 8}, {size / 8}] ({size}²), {on}", 200,
                        () => { if (check.CountNonFinite(x.View, n) != 0) throw new InvalidOperationException("finite data counted"); }, 0,
                        $"{n * 4 / 1e6:0.00} MB read, at most 1 KB read back");
        }
    }

    /// <summary>The managed backend's hand-written vector loops against System.Numerics.Tensors' TensorPrimitives on
    /// the same data, one thread: row reductions of the norms (1536 floats, 2048 rows), softmax rows (4096 scores,
    /// exp with the max subtracted, then the sum), and the activations over an MLP's output (2048 × 6144).</summary>
    static void Elementwise(int reps)
    {
        const int dim = 1536, rows = 2048, scoreCols = 4096, scoreRows = 256;
        var x = Random((long)rows * dim, 21);
        var s = Random((long)scoreRows * scoreCols, 22, 8f);
        var big = Random(2048L * 6144, 23, 4f);
        var y = new float[big.Length];
        var work = new float[s.Length];
        float sink = 0;
        fixed (float* px = x, ps = s, pb = big, py = y, pw = work)
        {
            float* xp = px, sp = ps, bp = pb, yp = py, wp = pw;
            void Pair(string what, Action ours, Action tp, double bytes)
            {
                var a = Program.Row($"{what}: hand-written (Vector<float>{(Sd3Tex.Kernels.Cpu.CpuBackend.HasAvx512 ? ", AVX-512 where used" : "")})", reps, ours, 0, $"{bytes / 1e6:0} MB");
                var b = Program.Row($"{what}: TensorPrimitives", reps, tp, 0, $"{bytes / 1e6:0} MB");
                Console.WriteLine(string.Create(System.Globalization.CultureInfo.InvariantCulture,
                    $"| {what}: TensorPrimitives / hand-written time | {b[b.Length / 2] / a[a.Length / 2] * 100:0} % | | | below 100 % = TensorPrimitives faster |"));
            }
            Pair($"row sum + sum of squared deviations ({rows} rows of {dim})", () =>
            {
                for (int r = 0; r < rows; r++) { float m = Sd3Tex.Kernels.Cpu.CpuBackend.Sum(xp + r * dim, dim) / dim; sink += Sd3Tex.Kernels.Cpu.CpuBackend.SumSquaredDiff(xp + r * dim, dim, m); }
            }, () =>
            {
                for (int r = 0; r < rows; r++)
                {
                    var row = new ReadOnlySpan<float>(xp + r * dim, dim);
                    float m = System.Numerics.Tensors.TensorPrimitives.Sum(row) / dim;
                    var t = new Span<float>(wp, dim);
                    System.Numerics.Tensors.TensorPrimitives.Subtract(row, m, t);
                    sink += System.Numerics.Tensors.TensorPrimitives.SumOfSquares((ReadOnlySpan<float>)t);
                }
            }, rows * dim * 4.0);
            Pair($"dot products (RMS norms; {rows} rows of {dim})", () =>
            {
                for (int r = 0; r < rows; r++) sink += Sd3Tex.Kernels.Cpu.CpuBackend.Dot(xp + r * dim, xp + r * dim, dim);
            }, () =>
            {
                for (int r = 0; r < rows; r++) { var row = new ReadOnlySpan<float>(xp + r * dim, dim); sink += System.Numerics.Tensors.TensorPrimitives.Dot(row, row); }
            }, rows * dim * 4.0);
            Pair($"softmax rows: max, exp(x − max), sum ({scoreRows} rows of {scoreCols})", () =>
            {
                Buffer.MemoryCopy(sp, wp, s.Length * 4L, s.Length * 4L);
                for (int r = 0; r < scoreRows; r++)
                {
                    float* row = wp + r * scoreCols;
                    float m = Sd3Tex.Kernels.Cpu.CpuBackend.Max(row, scoreCols);
                    sink += Sd3Tex.Kernels.Cpu.CpuBackend.ExpSum(row, scoreCols, 1f, m);
                }
            }, () =>
            {
                Buffer.MemoryCopy(sp, wp, s.Length * 4L, s.Length * 4L);
                for (int r = 0; r < scoreRows; r++)
                {
                    var row = new Span<float>(wp + r * scoreCols, scoreCols);
                    float m = System.Numerics.Tensors.TensorPrimitives.Max((ReadOnlySpan<float>)row);
                    System.Numerics.Tensors.TensorPrimitives.Subtract(row, m, row);
                    System.Numerics.Tensors.TensorPrimitives.Exp(row, row);
                    sink += System.Numerics.Tensors.TensorPrimitives.Sum((ReadOnlySpan<float>)row);
                }
            }, s.Length * 8.0);
            int n = big.Length;
            Pair("SiLU over 2048 × 6144", () => Sd3Tex.Kernels.Cpu.CpuBackend.Activate(Activation.Silu, bp, yp, n), () =>
            {
                // x·σ(x): two passes
                var src = new ReadOnlySpan<float>(bp, n); var dst = new Span<float>(yp, n);
                System.Numerics.Tensors.TensorPrimitives.Sigmoid(src, dst);
                System.Numerics.Tensors.TensorPrimitives.Multiply(src, (ReadOnlySpan<float>)dst, dst);
            }, n * 8.0);
            Pair("GELU (tanh) over 2048 × 6144", () => Sd3Tex.Kernels.Cpu.CpuBackend.Activate(Activation.GeluTanh, bp, yp, n), () =>
            {
                // 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))): x³, fused multiply-add, tanh, then the product
                var src = new ReadOnlySpan<float>(bp, n); var dst = new Span<float>(yp, n);
                System.Numerics.Tensors.TensorPrimitives.Multiply(src, src, dst);
                System.Numerics.Tensors.TensorPrimitives.Multiply((ReadOnlySpan<float>)dst, src, dst);
                System.Numerics.Tensors.TensorPrimitives.FusedMultiplyAdd((ReadOnlySpan<float>)dst, 0.044715f, src, dst);
                System.Numerics.Tensors.TensorPrimitives.Multiply((ReadOnlySpan<float>)dst, KernelMath.SqrtTwoOverPi, dst);
                System.Numerics.Tensors.TensorPrimitives.Tanh((ReadOnlySpan<float>)dst, dst);
                System.Numerics.Tensors.TensorPrimitives.FusedMultiplyAdd((ReadOnlySpan<float>)dst, src, src, dst);
                System.Numerics.Tensors.TensorPrimitives.Multiply((ReadOnlySpan<float>)dst, 0.5f, dst);
            }, n * 8.0);
        }
        if (sink == 1234.5f) Console.WriteLine();
    }

    static void Gemms(ComputeDevice dev, string on, int reps)
    {
        var acc = dev.Accelerator;
        var gemm = new Gemm(dev);
        bool blas = OpenBlas.Available;
        if (!blas) Console.WriteLine("| OpenBLAS not found (install libopenblas0-pthread to compare) | | | | |");
        foreach (var (name, m, n, k) in GemmShapes)
        {
            double flops = 2.0 * m * n * k;
            var a = Random((long)m * k, 1);
            var w = Random((long)n * k, 2, 1f / MathF.Sqrt(k));
            var bits = new ushort[w.Length];
            for (int i = 0; i < w.Length; i++) bits[i] = DTypes.FloatToHalf(w[i]);
            using var da = acc.Allocate1D(a);
            using var dw = acc.Allocate1D(w);
            using var db = acc.Allocate1D(bits);
            using var dc = acc.Allocate1D<float>((long)m * n);
            string shape = $"M {m} N {n} K {k}";
            var f16 = Program.Row($"GEMM {name}, F16 weights, {on}", reps, () => { gemm.Linear(da.View, WeightView.FromF16(db.View), default, dc.View, m, n, k); acc.Synchronize(); }, flops, shape);
            double f16Cpu = Program.LastCpuMs;
            var f32 = Program.Row($"GEMM {name}, F32 weights, {on}", reps, () => { gemm.Linear(da.View, WeightView.FromF32(dw.View), default, dc.View, m, n, k); acc.Synchronize(); }, flops, shape);
            double f32Cpu = Program.LastCpuMs;
            if (blas)
            {
                var c = new float[(long)m * n];
                var ob = Program.Row($"GEMM {name}, OpenBLAS SGEMM (F32)", reps, () =>
                {
                    fixed (float* pa = a, pw = w, pc = c) OpenBlas.LinearF32(pa, pw, pc, m, n, k);
                }, flops, shape);
                double obCpu = Program.LastCpuMs;
                double ratio = ob[ob.Length / 2] / f16[f16.Length / 2];
                Console.WriteLine(string.Create(System.Globalization.CultureInfo.InvariantCulture,
                    $"| GEMM {name}: ours (F16) / OpenBLAS speed | {ratio * 100:0} % | | | F32 weights: {ob[ob.Length / 2] / f32[f32.Length / 2] * 100:0} %; by CPU time F16 {obCpu / f16Cpu * 100:0} %, F32 {obCpu / f32Cpu * 100:0} % |"));
            }
        }
    }

    static void Attentions(ComputeDevice dev, string on, int reps)
    {
        var acc = dev.Accelerator;
        var attn = new Attention(dev);
        const int batch = 2, heads = 24, d = 64, tc = 154;
        foreach (int tx in new[] { 1024, 4096 })
        {
            int T = tc + tx, row = 3 * heads * d;
            using var cq = acc.Allocate1D(Random((long)batch * tc * row, 3));
            using var xq = acc.Allocate1D(Random((long)batch * tx * row, 4));
            using var co = acc.Allocate1D<float>((long)batch * tc * heads * d);
            using var xo = acc.Allocate1D<float>((long)batch * tx * heads * d);
            double flops = 4.0 * batch * heads * (double)T * T * d;
            int r = tx > 2000 ? Math.Max(1, reps - 1) : reps;
            void Once() { attn.JointAttention(cq.View, co.View, tc, xq.View, xo.View, tx, batch, heads, d); acc.Synchronize(); }
            if (dev.IsManaged && Sd3Tex.Kernels.Cpu.CpuAttention.FusedApplies(d))
            {
                // the variants against each other: the general tiled path first, then the fused one (the default)
                Sd3Tex.Kernels.Cpu.CpuAttention.DisableFused = true;
                Once();
                var tiled = co.GetAsArray1D();
                Program.Row($"joint attention {T} tokens ({tc} + {tx}), 24 heads of 64, batch 2, {on}, tiled (general path)", r, Once, flops, "4·B·H·T²·D FLOP");
                Sd3Tex.Kernels.Cpu.CpuAttention.DisableFused = false;
                Once();
                var fused = co.GetAsArray1D();
                double err = 0;
                for (int i = 0; i < fused.Length; i++) err = Math.Max(err, Math.Abs(fused[i] - tiled[i]));
                Program.Row($"joint attention {T} tokens ({tc} + {tx}), 24 heads of 64, batch 2, {on}, fused (default)", r, Once, flops,
                            string.Create(System.Globalization.CultureInfo.InvariantCulture, $"4·B·H·T²·D FLOP; max |fused − tiled| {err:0.0e0}"));
            }
            else Program.Row($"joint attention {T} tokens ({tc} + {tx}), 24 heads of 64, batch 2, {on}", r, Once, flops, "flash style, 4·B·H·T²·D FLOP");
        }
    }

    static void NormsLab(ComputeDevice dev, string on, int reps)
    {
        var acc = dev.Accelerator;
        var norms = new Norms(dev);
        int rows = 2048, dim = 1536;
        using var x = acc.Allocate1D(Random((long)rows * dim, 5));
        using var y = acc.Allocate1D<float>((long)rows * dim);
        using var mod = acc.Allocate1D(Random(2L * 6 * dim, 6, 0.1f));
        Program.Row($"adaLN LayerNorm-modulate [{rows}, {dim}], {on}", reps,
            () => { norms.LayerNormModulate(x.View, mod.View, mod.View.SubView(dim, mod.View.Length - dim), y.View, rows, dim, 1024, 6 * dim); acc.Synchronize(); },
            0, $"{2.0 * rows * dim * 4 / 1e6:0} MB read+written");
        using var gn = new GroupNorm(dev);
        foreach (var (c, hw) in new[] { (512, 128 * 128), (128, 512 * 512) })
        {
            using var gx = acc.Allocate1D(Random((long)c * hw, 7));
            using var gy = acc.Allocate1D<float>((long)c * hw);
            using var gamma = acc.Allocate1D(Random(c, 8));
            using var beta = acc.Allocate1D(Random(c, 9));
            Program.Row($"GroupNorm + SiLU [{c}, {(int)Math.Sqrt(hw)}²], 32 groups, {on}", reps,
                () => { gn.Run(gx.View, gamma.View, beta.View, gy.View, 1, c, hw, 32, 1e-6f, true); acc.Synchronize(); }, 0, $"{2.0 * c * hw * 4 / 1e6:0} MB read+written");
        }
    }

    static void Convs(ComputeDevice dev, string on, int reps)
    {
        var acc = dev.Accelerator;
        var conv = new Conv2d(dev);
        foreach (var (cin, cout, size, up) in new[] { (512, 512, 64, false), (256, 256, 256, false), (128, 128, 512, false), (256, 256, 256, true) })
        {
            int ih = size, oh = up ? 2 * size : size;
            using var x = acc.Allocate1D(Random((long)cin * ih * ih, 10));
            var w = Random((long)cout * cin * 9, 11, 0.05f);
            var bits = new ushort[w.Length];
            for (int i = 0; i < w.Length; i++) bits[i] = DTypes.FloatToHalf(w[i]);
            using var wb = acc.Allocate1D(bits);
            using var bias = acc.Allocate1D(Random(cout, 12));
            using var y = acc.Allocate1D<float>((long)cout * oh * oh);
            double flops = 2.0 * cout * cin * 9 * oh * oh;
            Program.Row($"conv 3×3 {cin}→{cout} {(up ? $"upsample {ih}²→{oh}²" : $"at {oh}²")}, F16 weights, {on}", reps,
                () => { conv.Run(x.View, WeightView.FromF16(wb.View), bias.View, default, y.View, 1, cin, cout, ih, ih, 3, up); acc.Synchronize(); },
                flops, "implicit GEMM");
        }
    }
}
