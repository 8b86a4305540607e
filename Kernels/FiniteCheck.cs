using System;
using ILGPU;
using ILGPU.Runtime;

namespace Sd3Tex.Kernels
{
    /// <summary>A model output held NaN or ±Inf: <see cref="Count"/> of <see cref="Total"/> values of
    /// <see cref="Component"/>'s output are not finite.</summary>
    public sealed class NonFiniteValuesException : ArithmeticException
    {
        /// <summary>"transformer", "decoder", "CLIP-L", ... (who produced the values).</summary>
        public string Component { get; }
        public long Count { get; }
        public long Total { get; }

        public NonFiniteValuesException(string component, long count, long total)
            : base($"{count} of the {total} values the {component} produced are NaN or infinite.")
        {
            Component = component; Count = count; Total = total;
        }
    }

    /// <summary>
    /// Counts the values of a device buffer that are NaN or ±Inf (exponent bits all ones), with one small reduction
    /// on the device and a read-back of at most 1 KB: the generator runs it on the transformer's output after every
    /// sampler step, so a numeric failure (F16 overflow, a corrupt checkpoint) stops the generation instead of becoming
    /// a black image. Each of at most <see cref="MaxThreads"/> threads counts a grid-strided slice into its own slot (no
    /// atomics, no barriers: every backend compiles it, OpenCL C 2.0 and 3.0 included); the host adds the slots. The
    /// managed CPU backend runs a vectorised, multithreaded loop over the same memory. The reference is
    /// <see cref="NumericsReference.CountNonFinite"/>.
    /// </summary>
    public sealed class FiniteCheck : IDisposable
    {
        /// <summary>Threads (and partial counts read back): enough to stream the 0.5–2 MB outputs of a step.</summary>
        public const int MaxThreads = 256;

        readonly ComputeDevice _device;
        readonly int[] _host = new int[MaxThreads];
        MemoryBuffer1D<int, Stride1D.Dense> _partial;
        Action<Index1D, ArrayView<float>, ArrayView<int>, int, int> _kernel;

        public FiniteCheck(ComputeDevice device)
        {
            _device = device ?? throw new ArgumentNullException(nameof(device));
        }

        /// <summary>How many of x[0..n) are NaN or ±Inf. Waits for the work queued before it (the read-back syncs).</summary>
        public long CountNonFinite(ArrayView<float> x, long n)
        {
            if (n <= 0) return 0;
            if (x.Length < n) throw new ArgumentException($"x holds {x.Length} elements; {n} are to be checked.");
            if (n > int.MaxValue) throw new ArgumentException("a finite check over 2^31 elements: split the call.");
            if (_device.IsManaged)
            {
                unsafe { return Cpu.CpuBackend.CountNonFinite(Cpu.CpuBackend.Ptr(x), n); }
            }
            var acc = _device.Accelerator;
            _partial = _partial ?? acc.Allocate1D<int>(MaxThreads);
            _kernel = _kernel ?? acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<int>, int, int>(CountNonFiniteKernel);
            int threads = (int)Math.Min(n, MaxThreads);
            _kernel(threads, x, _partial.View, (int)n, threads);
            ((ArrayView<int>)_partial.View).SubView(0, threads).CopyToCPU(new Span<int>(_host, 0, threads));
            long bad = 0;
            for (int i = 0; i < threads; i++) bad += _host[i];
            return bad;
        }

        /// <summary>How many values of a host array are NaN or ±Inf (vectorised, multithreaded).</summary>
        public static unsafe long CountNonFinite(float[] x)
        {
            if (x == null || x.Length == 0) return 0;
            fixed (float* p = x) return Cpu.CpuBackend.CountNonFinite(p, x.Length);
        }

        /// <summary>Thread i counts x[j], j = i, i + stride, … &lt; n, whose exponent bits are all ones (NaN, ±Inf),
        /// into partial[i].</summary>
        public static void CountNonFiniteKernel(Index1D i, ArrayView<float> x, ArrayView<int> partial, int n, int stride)
        {
            int bad = 0;
            for (int j = i; j < n; j += stride)
                if ((Interop.FloatAsInt(x[j]) & 0x7F800000) == 0x7F800000) bad++;
            partial[i] = bad;
        }

        public void Dispose()
        {
            _partial?.Dispose();
            _partial = null;
        }
    }
}
