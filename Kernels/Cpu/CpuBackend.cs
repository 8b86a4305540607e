using System;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Threading.Tasks;
using ILGPU;
using ILGPU.Runtime;
#if NET8_0_OR_GREATER
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
#endif

namespace Sd3Tex.Kernels.Cpu
{
    /// <summary>
    /// Shared pieces of the managed CPU backend: host pointers of ILGPU CPU buffers, the thread count and parallel
    /// loop, and vectorised scalar maths (F16/BF16 → F32, exp). The op classes call the <c>Cpu*</c> classes of this
    /// namespace when <see cref="ComputeDevice.IsManaged"/>; the buffers are the same <see cref="ArrayView{T}"/>s the
    /// ILGPU kernels take (ILGPU's CPU accelerator keeps them in host memory), so the model code does not change.
    /// <para>Vectorisation: <see cref="Vector{T}"/> everywhere (also .NET Standard 2.1 / Unity), and AVX-512 intrinsics
    /// for the GEMM micro-kernel under <c>NET8_0_OR_GREATER</c>.</para>
    /// </summary>
    public static unsafe class CpuBackend
    {
        static int _threads;

        /// <summary>Threads the backend uses: the logical cores, or <c>SD3TEX_CPU_THREADS</c> when set.</summary>
        public static int DefaultThreads
        {
            get
            {
                if (_threads > 0) return _threads;
                int n = Environment.ProcessorCount;
                var env = Environment.GetEnvironmentVariable("SD3TEX_CPU_THREADS");
                if (!string.IsNullOrEmpty(env) && int.TryParse(env, out int e) && e > 0) n = e;
                return _threads = Math.Max(1, n);
            }
        }

        /// <summary>The widest instruction set the backend's hot loops use on this machine.</summary>
        public static string InstructionSet
        {
            get
            {
#if NET8_0_OR_GREATER
                if (Avx512F.IsSupported) return "AVX-512";
                if (Fma.IsSupported) return "AVX2+FMA";
#endif
                return $"Vector<float> of {Vector<float>.Count}";
            }
        }

        /// <summary>True when the AVX-512 micro-kernels run.</summary>
        public static bool HasAvx512
        {
            get
            {
#if NET8_0_OR_GREATER
                return Avx512F.IsSupported;
#else
                return false;
#endif
            }
        }

        /// <summary>The host address of a CPU-accelerator view (null for an empty or invalid view).</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static float* Ptr(ArrayView<float> v) => v.IsValid && v.Length > 0 ? (float*)v.LoadEffectiveAddressAsPtr() : null;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static ushort* Ptr(ArrayView<ushort> v) => v.IsValid && v.Length > 0 ? (ushort*)v.LoadEffectiveAddressAsPtr() : null;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static int* Ptr(ArrayView<int> v) => v.IsValid && v.Length > 0 ? (int*)v.LoadEffectiveAddressAsPtr() : null;

        /// <summary>Runs body(i) for i in [0, count) on up to <see cref="DefaultThreads"/> threads (inline when one
        /// item or one thread).</summary>
        public static void For(int count, Action<int> body)
        {
            if (count <= 0) return;
            int threads = DefaultThreads;
            if (count == 1 || threads == 1)
            {
                for (int i = 0; i < count; i++) body(i);
                return;
            }
            Parallel.For(0, count, new ParallelOptions { MaxDegreeOfParallelism = threads }, body);
        }

        /// <summary>Splits [0, n) into about <paramref name="perThread"/> chunks per thread (each at least
        /// <paramref name="minChunk"/>) and runs body(start, end) on each.</summary>
        public static void ForRange(long n, long minChunk, Action<long, long> body, int perThread = 4)
        {
            if (n <= 0) return;
            long chunks = Math.Max(1, Math.Min((long)DefaultThreads * perThread, n / Math.Max(1, minChunk)));
            long size = (n + chunks - 1) / chunks;
            int count = (int)((n + size - 1) / size);
            For(count, c => body(c * size, Math.Min(n, (c + 1) * size)));
        }

        /// <summary>How many of x[0..n) are NaN or ±Inf (exponent bits all ones): vectorised, chunks on all threads.</summary>
        public static long CountNonFinite(float* x, long n)
        {
            if (x == null || n <= 0) return 0;
            long total = 0;
            ForRange(n, 1 << 16, (s, e) =>
            {
                long bad = CountNonFiniteRange(x, s, e);
                if (bad > 0) System.Threading.Interlocked.Add(ref total, bad);
            });
            return total;
        }

        static long CountNonFiniteRange(float* x, long s, long e)
        {
            long i = s, bad = 0;
            int w = Vector<int>.Count;
            if (Vector.IsHardwareAccelerated)
            {
                var mask = new Vector<int>(0x7F800000);
                var acc = Vector<int>.Zero;
                int inAcc = 0;
                for (; i + w <= e; i += w)
                {
                    var v = Unsafe.ReadUnaligned<Vector<int>>(x + i) & mask;
                    acc += Vector.Equals(v, mask); // -1 per non-finite lane
                    if (++inAcc == int.MaxValue) { bad -= Vector.Dot(acc, Vector<int>.One); acc = Vector<int>.Zero; inAcc = 0; }
                }
                bad -= Vector.Dot(acc, Vector<int>.One);
            }
            for (; i < e; i++)
                if ((*(int*)(x + i) & 0x7F800000) == 0x7F800000) bad++;
            return bad;
        }

        // ---------------------------------------------------------------------------------------------------------
        // weight decoding

        /// <summary>dst[i] = decode(src[i]) for i &lt; n; <paramref name="type"/> is F16 or BF16.</summary>
        public static void Decode(DType type, ushort* src, float* dst, int n)
        {
            if (type == DType.BF16) DecodeBF16(src, dst, n);
            else DecodeF16(src, dst, n);
        }

        /// <summary>IEEE binary16 → float, exact (subnormals by a float multiply, infinities and NaN by a select).</summary>
        public static void DecodeF16(ushort* src, float* dst, int n)
        {
            int i = 0;
#if NET8_0_OR_GREATER
            if (Avx512F.IsSupported) for (; i + 16 <= n; i += 16) Decode16(DType.F16, src + i).Store(dst + i);
#endif
            int w = Vector<ushort>.Count;
            if (Vector.IsHardwareAccelerated)
            {
                var magic = new Vector<float>(5.192296858534828e33f); // 2^112
                var m7fff = new Vector<uint>(0x7FFFu);
                var m7c00 = new Vector<uint>(0x7C00u);
                var m8000 = new Vector<uint>(0x8000u);
                var infExp = new Vector<uint>(0x7F800000u);
                for (; i + w <= n; i += w)
                {
                    var h = Unsafe.ReadUnaligned<Vector<ushort>>(src + i);
                    Vector.Widen(h, out Vector<uint> lo, out Vector<uint> hi);
                    Unsafe.WriteUnaligned(dst + i, HalfBits(lo, magic, m7fff, m7c00, m8000, infExp));
                    Unsafe.WriteUnaligned(dst + i + w / 2, HalfBits(hi, magic, m7fff, m7c00, m8000, infExp));
                }
            }
            for (; i < n; i++) dst[i] = KernelMath.HalfToFloat(src[i]);
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        static Vector<float> HalfBits(Vector<uint> h, Vector<float> magic, Vector<uint> m7fff, Vector<uint> m7c00, Vector<uint> m8000, Vector<uint> infExp)
        {
            var em = (h & m7fff) * new Vector<uint>(8192u);                 // << 13
            var f = Vector.AsVectorUInt32(Vector.AsVectorSingle(em) * magic);
            var special = Vector.Equals(h & m7c00, m7c00);                   // inf / NaN
            f = Vector.ConditionalSelect(special, em | infExp, f);
            return Vector.AsVectorSingle(f | ((h & m8000) * new Vector<uint>(65536u)));
        }

        /// <summary>bfloat16 → float (exact).</summary>
        public static void DecodeBF16(ushort* src, float* dst, int n)
        {
            int i = 0;
#if NET8_0_OR_GREATER
            if (Avx512F.IsSupported) for (; i + 16 <= n; i += 16) Decode16(DType.BF16, src + i).Store(dst + i);
#endif
            int w = Vector<ushort>.Count;
            if (Vector.IsHardwareAccelerated)
            {
                for (; i + w <= n; i += w)
                {
                    var h = Unsafe.ReadUnaligned<Vector<ushort>>(src + i);
                    Vector.Widen(h, out Vector<uint> lo, out Vector<uint> hi);
                    Unsafe.WriteUnaligned(dst + i, Vector.AsVectorSingle(lo * new Vector<uint>(65536u)));
                    Unsafe.WriteUnaligned(dst + i + w / 2, Vector.AsVectorSingle(hi * new Vector<uint>(65536u)));
                }
            }
            for (; i < n; i++) dst[i] = KernelMath.BFloat16ToFloat(src[i]);
        }

#if NET8_0_OR_GREATER
        /// <summary>16 consecutive 16-bit values (F16 or BF16) as floats in one AVX-512 register, exactly as
        /// <see cref="HalfBits"/> (BF16 shifted up): the packing and matrix-vector loops decode in registers with it.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        internal static Vector512<float> Decode16(DType type, ushort* src)
        {
            var h = Avx512F.ConvertToVector512UInt32(Vector256.Load(src));
            if (type == DType.BF16) return Avx512F.ShiftLeftLogical(h, 16).AsSingle();
            var em = Avx512F.ShiftLeftLogical(h & Vector512.Create(0x7FFFu), 13);                 // << 13
            var f = (em.AsSingle() * Vector512.Create(5.192296858534828e33f)).AsUInt32();        // · 2^112
            var m7c00 = Vector512.Create(0x7C00u);
            f = Vector512.ConditionalSelect(Vector512.Equals(h & m7c00, m7c00), em | Vector512.Create(0x7F800000u), f); // inf / NaN
            return (f | Avx512F.ShiftLeftLogical(h & Vector512.Create(0x8000u), 16)).AsSingle();
        }
#endif

        // ---------------------------------------------------------------------------------------------------------
        // exp and the activations

        /// <summary>e^x per lane, relative error below 2e-7 over the float range (Cody–Waite reduction, degree-6
        /// polynomial, 2^n by exponent arithmetic); underflows to 0 below −87.3, saturates to +inf above 88.7.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector<float> Exp(Vector<float> x)
        {
            var tiny = Vector.LessThan(x, new Vector<float>(-87.3f)); // also −inf: exactly 0
            x = Vector.Min(Vector.Max(x, new Vector<float>(-87.3f)), new Vector<float>(88.7f));
            var round = new Vector<float>(12582912f); // 1.5 · 2^23: adding it rounds to an integer
            var n = (x * new Vector<float>(1.44269504088896341f) + round) - round;
            var r = x - n * new Vector<float>(0.693359375f);
            r = r - n * new Vector<float>(-2.12194440e-4f);
            var p = new Vector<float>(1.9875691500e-4f);
            p = p * r + new Vector<float>(1.3981999507e-3f);
            p = p * r + new Vector<float>(8.3334519073e-3f);
            p = p * r + new Vector<float>(4.1665795894e-2f);
            p = p * r + new Vector<float>(1.6666665459e-1f);
            p = p * r + new Vector<float>(5.0000001201e-1f);
            p = p * r * r + r + Vector<float>.One;
            // 2^n in two halves so that n = 128 (x near 88.7) stays finite before the product
            var ni = Vector.ConvertToInt32(n);
            var half = Vector.ConvertToInt32(n * new Vector<float>(0.5f));
            var s1 = Vector.AsVectorSingle((half + new Vector<int>(127)) * new Vector<int>(8388608));
            var s2 = Vector.AsVectorSingle((ni - half + new Vector<int>(127)) * new Vector<int>(8388608));
            return Vector.ConditionalSelect(tiny, Vector<float>.Zero, p * s1 * s2);
        }

        /// <summary>y[i] = f(x[i]) for an <see cref="Activation"/>, vectorised (x and y may be the same).</summary>
        public static void Activate(Activation f, float* x, float* y, long n)
        {
            ForRange(n, 16384, (s, e) => ActivateRange(f, x, y, s, e));
        }

        static void ActivateRange(Activation f, float* x, float* y, long s, long e)
        {
            long i = s;
            int w = Vector<float>.Count;
            if (Vector.IsHardwareAccelerated && f != Activation.GeluErf)
            {
                for (; i + w <= e; i += w)
                {
                    var v = Unsafe.ReadUnaligned<Vector<float>>(x + i);
                    Unsafe.WriteUnaligned(y + i, Activate(f, v));
                }
            }
            for (; i < e; i++) y[i] = ActivateScalar(f, x[i]);
        }

        /// <summary>One activation of a vector (not GeluErf: that one is scalar, see <see cref="ActivateScalar"/>).</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector<float> Activate(Activation f, Vector<float> v)
        {
            switch (f)
            {
                case Activation.Silu: return v / (Vector<float>.One + Exp(-v));
                case Activation.QuickGelu: return v / (Vector<float>.One + Exp(v * new Vector<float>(-1.702f)));
                default:
                {
                    var u = new Vector<float>(KernelMath.SqrtTwoOverPi) * (v + new Vector<float>(0.044715f) * v * v * v);
                    return v / (Vector<float>.One + Exp(u * new Vector<float>(-2f)));
                }
            }
        }

        /// <summary>The scalar activations (the same functions as the kernels').</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static float ActivateScalar(Activation f, float v)
        {
            switch (f)
            {
                case Activation.Silu: return v / (1f + MathF.Exp(-v));
                case Activation.QuickGelu: return v / (1f + MathF.Exp(-1.702f * v));
                case Activation.GeluErf: return KernelMath.GeluErf(v);
                default: return KernelMath.GeluTanh(v);
            }
        }

        /// <summary>Σ x[i]·y[i] over n floats.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static float Dot(float* x, float* y, int n)
        {
            int i = 0, w = Vector<float>.Count;
            float s = 0f;
            if (Vector.IsHardwareAccelerated && n >= w)
            {
                var a0 = Vector<float>.Zero;
                var a1 = Vector<float>.Zero;
                for (; i + 2 * w <= n; i += 2 * w)
                {
                    a0 += Unsafe.ReadUnaligned<Vector<float>>(x + i) * Unsafe.ReadUnaligned<Vector<float>>(y + i);
                    a1 += Unsafe.ReadUnaligned<Vector<float>>(x + i + w) * Unsafe.ReadUnaligned<Vector<float>>(y + i + w);
                }
                for (; i + w <= n; i += w) a0 += Unsafe.ReadUnaligned<Vector<float>>(x + i) * Unsafe.ReadUnaligned<Vector<float>>(y + i);
                s = Vector.Dot(a0 + a1, Vector<float>.One);
            }
            for (; i < n; i++) s += x[i] * y[i];
            return s;
        }

        /// <summary>Σ x[i] over n floats.</summary>
        public static float Sum(float* x, int n)
        {
            int i = 0, w = Vector<float>.Count;
            float s = 0f;
            if (Vector.IsHardwareAccelerated && n >= w)
            {
                var a = Vector<float>.Zero;
                for (; i + w <= n; i += w) a += Unsafe.ReadUnaligned<Vector<float>>(x + i);
                s = Vector.Dot(a, Vector<float>.One);
            }
            for (; i < n; i++) s += x[i];
            return s;
        }

        /// <summary>Σ (x[i] − c)² over n floats.</summary>
        public static float SumSquaredDiff(float* x, int n, float c)
        {
            int i = 0, w = Vector<float>.Count;
            float s = 0f;
            if (Vector.IsHardwareAccelerated && n >= w)
            {
                var a = Vector<float>.Zero;
                var cv = new Vector<float>(c);
                for (; i + w <= n; i += w)
                {
                    var d = Unsafe.ReadUnaligned<Vector<float>>(x + i) - cv;
                    a += d * d;
                }
                s = Vector.Dot(a, Vector<float>.One);
            }
            for (; i < n; i++)
            {
                float d = x[i] - c;
                s += d * d;
            }
            return s;
        }

        /// <summary>max x[i] over n ≥ 1 floats.</summary>
        public static float Max(float* x, int n)
        {
            int i = 0, w = Vector<float>.Count;
            float m = float.NegativeInfinity;
            if (Vector.IsHardwareAccelerated && n >= w)
            {
                var a = new Vector<float>(float.NegativeInfinity);
                for (; i + w <= n; i += w) a = Vector.Max(a, Unsafe.ReadUnaligned<Vector<float>>(x + i));
                for (int j = 0; j < w; j++) m = Math.Max(m, a[j]);
            }
            for (; i < n; i++) m = Math.Max(m, x[i]);
            return m;
        }

        /// <summary>x[i] = exp(x[i]·scale − shift) in place; returns the sum (−inf inputs give 0).</summary>
        public static float ExpSum(float* x, int n, float scale, float shift)
        {
            int i = 0, w = Vector<float>.Count;
            float s = 0f;
            if (Vector.IsHardwareAccelerated && n >= w)
            {
                var a = Vector<float>.Zero;
                var sc = new Vector<float>(scale);
                var sh = new Vector<float>(shift);
                for (; i + w <= n; i += w)
                {
                    var e = Exp(Unsafe.ReadUnaligned<Vector<float>>(x + i) * sc - sh);
                    Unsafe.WriteUnaligned(x + i, e);
                    a += e;
                }
                s = Vector.Dot(a, Vector<float>.One);
            }
            for (; i < n; i++)
            {
                float e = MathF.Exp(x[i] * scale - shift);
                x[i] = e;
                s += e;
            }
            return s;
        }

        /// <summary>x[i] *= s over n floats.</summary>
        public static void Scale(float* x, int n, float s)
        {
            int i = 0, w = Vector<float>.Count;
            if (Vector.IsHardwareAccelerated)
            {
                var sv = new Vector<float>(s);
                for (; i + w <= n; i += w) Unsafe.WriteUnaligned(x + i, Unsafe.ReadUnaligned<Vector<float>>(x + i) * sv);
            }
            for (; i < n; i++) x[i] *= s;
        }
    }
}
