using System;

namespace Sd3Tex.Sampling
{
    /// <summary>
    /// SD3's rectified-flow noise schedule (the reference's <c>ModelSamplingDiscreteFlow</c>): training sigmas
    /// shift(k/1000), k = 1..1000, with shift(t) = s·t / (1 + (s−1)·t).
    /// </summary>
    public sealed class FlowSchedule
    {
        public const int TrainingSteps = 1000;
        public float Shift { get; }
        public float SigmaMax => Sigma(TrainingSteps);
        public float SigmaMin => Sigma(1);

        public FlowSchedule(float shift = 3.0f)
        {
            if (!(shift > 0) || float.IsInfinity(shift)) throw new ArgumentOutOfRangeException(nameof(shift), shift, "shift must be a positive number (SD3 uses 3.0)");
            Shift = shift;
        }

        /// <summary>sigma of a timestep t ∈ [0, 1000]: shift(t / 1000), in float32 as the reference computes it.</summary>
        public float Sigma(float timestep)
        {
            float t = timestep / 1000f;
            if (Shift == 1f) return t;
            return Shift * t / (1f + (Shift - 1f) * t);
        }

        public static float Timestep(float sigma) => sigma * 1000f;

        /// <summary>
        /// The sampling sigmas for <paramref name="steps"/> steps: ts = linspace(1000·sigma_max, 1000·sigma_min, steps),
        /// sigmas = [shift(ts/1000) …, 0]. As in the reference, sigma_min is shifted twice (it is already a shifted
        /// value when fed to shift() again). A denoise strength below 1 keeps the last ⌊steps·denoise⌋ steps
        /// (the reference drops the first int(steps·(1−denoise)) sigmas).
        /// </summary>
        public float[] Sigmas(int steps, double denoise = 1.0)
        {
            if (steps < 1) throw new ArgumentOutOfRangeException(nameof(steps), steps, "steps must be at least 1");
            if (!(denoise > 0 && denoise <= 1)) throw new ArgumentOutOfRangeException(nameof(denoise), denoise, "denoise must be in (0, 1]");
            float start = Timestep(SigmaMax), end = Timestep(SigmaMin);
            var all = new float[steps + 1];
            for (int i = 0; i < steps; i++)
            {
                // torch.linspace: start + i·step, computed from the end for the upper half
                float ts = steps == 1 ? start : Linspace(start, end, steps, i);
                all[i] = Sigma(ts);
            }
            all[steps] = 0f;
            int skip = (int)(steps * (1 - denoise));
            if (skip <= 0) return all;
            var kept = new float[all.Length - skip];
            Array.Copy(all, skip, kept, 0, kept.Length);
            return kept;
        }

        static float Linspace(float start, float end, int steps, int i)
        {
            float step = (end - start) / (steps - 1);
            int half = steps / 2;
            return i < half ? start + step * i : end - step * (steps - 1 - i);
        }
    }
}
