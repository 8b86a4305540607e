namespace Sd3Tex.Kernels
{
    /// <summary>Plain C# reference of <see cref="FiniteCheck"/>.</summary>
    public static class NumericsReference
    {
        /// <summary>How many of x[0..n) are NaN or ±Inf.</summary>
        public static long CountNonFinite(float[] x, long n)
        {
            long bad = 0;
            for (long i = 0; i < n; i++)
                if (float.IsNaN(x[i]) || float.IsInfinity(x[i])) bad++;
            return bad;
        }
    }
}
