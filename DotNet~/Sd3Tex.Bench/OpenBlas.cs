using System;
using System.Runtime.InteropServices;

namespace Sd3Tex.Bench;

/// <summary>OpenBLAS's SGEMM through P/Invoke, for comparison only (optional at run time; never a dependency).
/// Set <c>OPENBLAS_CORETYPE=SkylakeX</c> in the environment on CPUs that Debian's OpenBLAS 0.3.21 does not recognise
/// (it then falls back to AVX2 kernels), and <c>OPENBLAS_NUM_THREADS</c> to compare at equal thread counts.</summary>
public static unsafe class OpenBlas
{
    delegate void Sgemm(int order, int transA, int transB, int m, int n, int k, float alpha, float* a, int lda,
                        float* b, int ldb, float beta, float* c, int ldc);

    static Sgemm _sgemm;
    static bool _tried;

    public static string Library { get; private set; }

    /// <summary>True when libopenblas could be loaded.</summary>
    public static bool Available
    {
        get
        {
            if (_tried) return _sgemm != null;
            _tried = true;
            foreach (var name in new[] { "libopenblas.so.0", "libopenblas.so", "libopenblas.dylib", "libopenblas.dll", "openblas" })
            {
                if (!NativeLibrary.TryLoad(name, out var h)) continue;
                if (!NativeLibrary.TryGetExport(h, "cblas_sgemm", out var f)) continue;
                _sgemm = Marshal.GetDelegateForFunctionPointer<Sgemm>(f);
                Library = name;
                return true;
            }
            return false;
        }
    }

    /// <summary>C[M,N] = A[M,K] · W[N,K]ᵀ (row-major, as our linear layers).</summary>
    public static void LinearF32(float* a, float* w, float* c, int m, int n, int k)
        => _sgemm(101 /* row major */, 111 /* no trans */, 112 /* trans */, m, n, k, 1f, a, k, w, k, 0f, c, n);
}
