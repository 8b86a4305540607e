using System;
using System.Diagnostics;
using System.Globalization;
using System.Linq;

namespace Sd3Tex.Bench;

/// <summary>
/// The benchmark harness. It prints a Markdown table (median and min–max over repeats) that the README quotes.
/// Speed is measured here, never asserted in tests. Figures so far: weight conversion to F32, the loader's hot loop.
/// </summary>
public static class Program
{
    public static int Main(string[] args)
    {
        int repeats = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 7;
        Console.WriteLine($"machine: {Environment.ProcessorCount} logical cores, {System.Runtime.InteropServices.RuntimeInformation.OSDescription}, .NET {Environment.Version}");
        Console.WriteLine();
        Console.WriteLine("| figure | median | min–max | throughput |");
        Console.WriteLine("| --- | --- | --- | --- |");
        const int n = 16 << 20; // 16 M elements
        var rng = new Random(1);
        var f16 = new ushort[n]; var bf16 = new ushort[n]; var f8 = new byte[n];
        for (int i = 0; i < n; i++)
        {
            float v = (float)(rng.NextDouble() * 2 - 1);
            f16[i] = DTypes.FloatToHalf(v); bf16[i] = DTypes.FloatToBFloat16(v); f8[i] = (byte)rng.Next(0, 256);
        }
        var dst = new float[n];
        Row("F16 -> F32, 16 M elements", repeats, n, () => { for (int i = 0; i < n; i++) dst[i] = DTypes.HalfToFloat(f16[i]); });
        Row("BF16 -> F32, 16 M elements", repeats, n, () => { for (int i = 0; i < n; i++) dst[i] = DTypes.BFloat16ToFloat(bf16[i]); });
        Row("F8_E4M3 -> F32, 16 M elements", repeats, n, () => { for (int i = 0; i < n; i++) dst[i] = DTypes.F8E4M3ToFloat(f8[i]); });
        return 0;
    }

    static void Row(string name, int repeats, long elements, Action body)
    {
        body(); // warm-up (JIT)
        var ms = new double[repeats];
        for (int r = 0; r < repeats; r++)
        {
            var sw = Stopwatch.StartNew();
            body();
            ms[r] = sw.Elapsed.TotalMilliseconds;
        }
        Array.Sort(ms);
        double median = ms[repeats / 2];
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"| {name} | {median:0.0} ms | {ms.First():0.0}–{ms.Last():0.0} ms | {elements / median / 1e6:0.00} G elements/s |"));
    }
}
