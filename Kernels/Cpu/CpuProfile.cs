using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.Linq;
using System.Text;

namespace Sd3Tex.Kernels.Cpu
{
    /// <summary>
    /// Opt-in timing of the managed backend's ops (<c>SD3TEX_CPU_PROFILE=1</c>, or <see cref="Enabled"/>): for each op
    /// and shape, the calls, the wall time, the process's CPU time over those calls (so the cores' use: 2.0 on two
    /// busy cores) and, for the GEMMs and attention, GFLOP/s. A name in parentheses times a whole phase around
    /// ops (a transformer pass) and is left out of the ops' total and shares. <see cref="Report"/> gives one table, slowest first.
    /// Off, a scope costs one branch.
    /// </summary>
    public static class CpuProfile
    {
        sealed class Row
        {
            public long Calls, Ticks;
            public double Flop, CpuSeconds;
        }

        static readonly object Gate = new object();
        static readonly Dictionary<string, Row> Rows = new Dictionary<string, Row>();
        static Process _self;

        /// <summary>True while ops are timed; starts from <c>SD3TEX_CPU_PROFILE=1</c>.</summary>
        public static bool Enabled { get; set; } = Environment.GetEnvironmentVariable("SD3TEX_CPU_PROFILE") == "1";

        /// <summary>Times the work until <see cref="Scope.Dispose"/> under <paramref name="op"/> (a name and shape);
        /// <paramref name="flop"/> is the op's FLOP (2 per multiply-add), 0 when not counted.</summary>
        public static Scope Time(string op, double flop = 0) => Enabled ? new Scope(op, flop, Stopwatch.GetTimestamp(), CpuNow()) : default;

        /// <summary>One timed op.</summary>
        public readonly struct Scope : IDisposable
        {
            readonly string _op;
            readonly double _flop, _cpu0;
            readonly long _t0;

            internal Scope(string op, double flop, long t0, double cpu0) { _op = op; _flop = flop; _t0 = t0; _cpu0 = cpu0; }

            public void Dispose()
            {
                if (_op == null) return;
                long ticks = Stopwatch.GetTimestamp() - _t0;
                double cpu = CpuNow() - _cpu0;
                lock (Gate)
                {
                    if (!Rows.TryGetValue(_op, out var r)) Rows[_op] = r = new Row();
                    r.Calls++;
                    r.Ticks += ticks;
                    r.Flop += _flop;
                    r.CpuSeconds += cpu;
                }
            }
        }

        static double CpuNow()
        {
            var p = _self ??= Process.GetCurrentProcess();
            p.Refresh();
            return p.TotalProcessorTime.TotalSeconds;
        }

        /// <summary>Forgets every timing so far.</summary>
        public static void Reset()
        {
            lock (Gate) Rows.Clear();
        }

        /// <summary>The table of every op timed since the last <see cref="Reset"/>, slowest first (empty when none).</summary>
        public static string Report()
        {
            lock (Gate)
            {
                if (Rows.Count == 0) return "";
                // rows named "(...)" time a whole phase around ops (e.g. a transformer pass): not summed with the ops
                double total = Rows.Where(k => !k.Key.StartsWith("(")).Sum(k => k.Value.Ticks) / (double)Stopwatch.Frequency;
                var sb = new StringBuilder();
                sb.AppendLine(string.Format(CultureInfo.InvariantCulture, "managed CPU backend, ops timed: {0:F2} s wall", total));
                sb.AppendLine("| op | calls | wall s | share | cores busy | GFLOP/s |");
                sb.AppendLine("| --- | ---: | ---: | ---: | ---: | ---: |");
                foreach (var kv in Rows.OrderByDescending(k => k.Value.Ticks))
                {
                    var r = kv.Value;
                    double s = r.Ticks / (double)Stopwatch.Frequency;
                    sb.AppendLine(string.Format(CultureInfo.InvariantCulture, "| {0} | {1} | {2:F3} | {3:F1} % | {4:F2} | {5} |", kv.Key, r.Calls, s,
                        100 * s / Math.Max(1e-12, total), r.CpuSeconds / Math.Max(1e-12, s),
                        r.Flop > 0 ? (r.Flop / 1e9 / Math.Max(1e-12, s)).ToString("F1", CultureInfo.InvariantCulture) : ""));
                }
                return sb.ToString();
            }
        }
    }
}
