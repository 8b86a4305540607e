using System;

namespace Sd3Tex.Sampling
{
    /// <summary>
    /// Initial noise exactly as PyTorch's CPU generator makes it: <c>torch.Generator("cpu").manual_seed(seed)</c> then
    /// <c>torch.randn(shape, generator=g, dtype=torch.float32)</c>. The same seed thus starts from the same latent as
    /// diffusers or ComfyUI with a CPU generator.
    /// <para>PyTorch's CPU generator is MT19937 seeded with the low 32 bits of the seed. For a contiguous float tensor of
    /// 16 or more elements, randn first fills every element with a 24-bit uniform in [0, 1), then turns each block of 16
    /// into normals with Box–Muller (u1 = 1 − data[j], u2 = data[j + 8]; radius·cos into j, radius·sin into j + 8); when
    /// the size is not a multiple of 16, the last 16 elements are drawn again and transformed once more. Smaller
    /// tensors use the scalar path: a double-precision Box–Muller over 53-bit uniforms whose sine half is cached for the
    /// next element.</para>
    /// </summary>
    public sealed class TorchCpuNoise
    {
        readonly uint[] _mt = new uint[624];
        int _index;
        double? _cachedNormal;

        public TorchCpuNoise(ulong seed)
        {
            _mt[0] = (uint)seed;
            for (int i = 1; i < 624; i++) _mt[i] = 1812433253u * (_mt[i - 1] ^ (_mt[i - 1] >> 30)) + (uint)i;
            _index = 624;
        }

        /// <summary>The next 32-bit MT19937 output.</summary>
        public uint NextUInt32()
        {
            if (_index >= 624) Twist();
            uint y = _mt[_index++];
            y ^= y >> 11;
            y ^= (y << 7) & 0x9D2C5680u;
            y ^= (y << 15) & 0xEFC60000u;
            y ^= y >> 18;
            return y;
        }

        /// <summary>Two 32-bit outputs combined, the first as the high half (PyTorch's random64).</summary>
        public ulong NextUInt64()
        {
            ulong hi = NextUInt32(), lo = NextUInt32();
            return (hi << 32) | lo;
        }

        void Twist()
        {
            for (int i = 0; i < 624; i++)
            {
                uint y = (_mt[i] & 0x80000000u) | (_mt[(i + 1) % 624] & 0x7FFFFFFFu);
                uint v = _mt[(i + 397) % 624] ^ (y >> 1);
                if ((y & 1) != 0) v ^= 0x9908B0DFu;
                _mt[i] = v;
            }
            _index = 0;
        }

        /// <summary>A float uniform in [0, 1) from 24 random bits.</summary>
        float NextUniformFloat() => (NextUInt32() & 0xFFFFFF) * (1.0f / 16777216f);

        /// <summary>A double uniform in [0, 1) from 53 random bits.</summary>
        double NextUniformDouble() => (NextUInt64() & ((1UL << 53) - 1)) * (1.0 / 9007199254740992.0);

        /// <summary>Fills a fresh array of <paramref name="count"/> standard normals, as torch.randn does.</summary>
        public float[] Randn(long count)
        {
            if (count < 0 || count > int.MaxValue) throw new ArgumentOutOfRangeException(nameof(count));
            var data = new float[count];
            if (count >= 16)
            {
                for (int i = 0; i < count; i++) data[i] = NextUniformFloat();
                for (int i = 0; i + 16 <= count; i += 16) BoxMuller16(data, i);
                if (count % 16 != 0)
                {
                    int start = (int)count - 16;
                    for (int i = 0; i < 16; i++) data[start + i] = NextUniformFloat();
                    BoxMuller16(data, start);
                }
            }
            else
            {
                // each draw makes a pair: r·cos(θ) now, r·sin(θ) cached in the generator for the next element
                for (int i = 0; i < count; i++)
                {
                    if (_cachedNormal.HasValue)
                    {
                        data[i] = (float)_cachedNormal.Value;
                        _cachedNormal = null;
                        continue;
                    }
                    double u1 = NextUniformDouble(), u2 = NextUniformDouble();
                    double r = Math.Sqrt(-2.0 * Log1P(-u2));
                    double theta = 2.0 * Math.PI * u1;
                    _cachedNormal = r * Math.Sin(theta);
                    data[i] = (float)(r * Math.Cos(theta));
                }
            }
            return data;
        }

        static double Log1P(double x) => Math.Abs(x) < 1e-4 ? x - x * x / 2 + x * x * x / 3 : Math.Log(1 + x);

        // Box–Muller on 16 uniforms, in float as PyTorch's vectorised kernel computes it
        static void BoxMuller16(float[] d, int o)
        {
            const float twoPi = 6.2831854820251465f; // (float)(2π)
            for (int j = 0; j < 8; j++)
            {
                float u1 = 1f - d[o + j];
                float u2 = d[o + j + 8];
                float radius = (float)Math.Sqrt(-2f * (float)Math.Log(u1));
                float theta = twoPi * u2;
                d[o + j] = radius * (float)Math.Cos(theta);
                d[o + j + 8] = radius * (float)Math.Sin(theta);
            }
        }

        /// <summary>torch.randn(shape) for a seed.</summary>
        public static float[] Randn(ulong seed, params long[] shape)
        {
            long n = 1;
            foreach (var d in shape) n *= d;
            return new TorchCpuNoise(seed).Randn(n);
        }
    }
}
