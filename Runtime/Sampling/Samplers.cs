using System;
using System.Threading;

namespace Sd3Tex.Sampling
{
    /// <summary>The guided denoised prediction of latent x at noise level sigma.</summary>
    public delegate float[] Denoiser(float[] x, float sigma);

    /// <summary>The flow model on a batch: velocity for latents <paramref name="x"/> at timesteps (sigma·1000), one per item.</summary>
    public delegate float[] VelocityModel(float[] x, int batch, float[] timesteps);

    public enum SamplerKind { Euler, DpmPp2M }

    public static class SamplerNames
    {
        public static string Key(SamplerKind k) => k == SamplerKind.Euler ? "euler" : "dpmpp_2m";

        public static bool TryParse(string s, out SamplerKind k)
        {
            switch (s)
            {
                case "euler": k = SamplerKind.Euler; return true;
                case "dpmpp_2m": case "dpm++2m": k = SamplerKind.DpmPp2M; return true;
                default: k = SamplerKind.Euler; return false;
            }
        }
    }

    /// <summary>
    /// Classifier-free guidance as the reference's <c>CFGDenoiser</c>: the model runs ONCE on the batch [x ; x] with
    /// conditioning [cond ; uncond] (cond first); denoised = x − v·sigma per half; guided = neg + (pos − neg)·cfg.
    /// </summary>
    public static class Cfg
    {
        /// <param name="model">Evaluates the velocity on a batch of 2·<paramref name="batch"/> latents (conditioning bound by the caller).</param>
        public static Denoiser Guided(VelocityModel model, int batch, float cfgScale)
        {
            return (x, sigma) =>
            {
                int n = x.Length;
                var both = new float[2 * n];
                Array.Copy(x, 0, both, 0, n);
                Array.Copy(x, 0, both, n, n);
                var ts = new float[2 * batch];
                for (int i = 0; i < ts.Length; i++) ts[i] = FlowSchedule.Timestep(sigma);
                var v = model(both, 2 * batch, ts);
                var den = new float[n];
                for (int i = 0; i < n; i++)
                {
                    float pos = x[i] - v[i] * sigma;
                    float neg = x[i] - v[n + i] * sigma;
                    den[i] = neg + (pos - neg) * cfgScale;
                }
                return den;
            };
        }
    }

    /// <summary>Rectified-flow samplers of the reference (k-diffusion's <c>sample_euler</c> and <c>sample_dpmpp_2m</c>).</summary>
    public static class Samplers
    {
        /// <summary>x = sigma0·noise + (1 − sigma0)·latent (the flow's noise scaling; latent is zero for txt2img).</summary>
        public static float[] NoiseScaling(float sigma, float[] noise, float[] latent = null)
        {
            var x = new float[noise.Length];
            for (int i = 0; i < x.Length; i++) x[i] = sigma * noise[i] + (latent != null ? (1f - sigma) * latent[i] : 0f);
            return x;
        }

        /// <summary>
        /// Runs a sampler over <paramref name="sigmas"/> (length steps + 1, ending in 0) from x. <paramref name="onStep"/>
        /// receives (step index, latent after the step); cancellation is checked before every model evaluation.
        /// </summary>
        public static float[] Sample(SamplerKind kind, Denoiser denoise, float[] x, float[] sigmas,
                                     Action<int, float[]> onStep = null, CancellationToken cancel = default)
        {
            x = (float[])x.Clone();
            float[] oldDenoised = null;
            for (int i = 0; i < sigmas.Length - 1; i++)
            {
                cancel.ThrowIfCancellationRequested();
                float sigma = sigmas[i], next = sigmas[i + 1];
                var den = denoise(x, sigma);
                if (kind == SamplerKind.Euler)
                {
                    // d = (x − den) / sigma; x += d·(sigma_next − sigma)
                    float dt = next - sigma;
                    for (int j = 0; j < x.Length; j++) x[j] += (x[j] - den[j]) / sigma * dt;
                }
                else
                {
                    // DPM-Solver++(2M) with t = −log(sigma)
                    double t = -Math.Log(sigma);
                    if (next == 0f)
                    {
                        Array.Copy(den, x, x.Length);
                    }
                    else
                    {
                        double tNext = -Math.Log(next), h = tNext - t;
                        float ratio = next / sigma;
                        float em1 = (float)-ExpM1(-h);
                        if (oldDenoised == null)
                        {
                            for (int j = 0; j < x.Length; j++) x[j] = ratio * x[j] + em1 * den[j];
                        }
                        else
                        {
                            double tPrev = -Math.Log(sigmas[i - 1]);
                            double r = (t - tPrev) / h;
                            float a = (float)(1 + 1 / (2 * r)), b = (float)(1 / (2 * r));
                            for (int j = 0; j < x.Length; j++) x[j] = ratio * x[j] + em1 * (a * den[j] - b * oldDenoised[j]);
                        }
                    }
                    oldDenoised = den;
                }
                onStep?.Invoke(i, x);
            }
            return x;
        }

        static double ExpM1(double v) => Math.Abs(v) < 1e-5 ? v + v * v / 2 + v * v * v / 6 : Math.Exp(v) - 1;

        /// <summary>The VAE's input from a sampler-space latent: latent / 1.5305 + 0.0609 (SD3's scale and shift).</summary>
        public static float[] ToVaeInput(float[] latent)
        {
            var r = new float[latent.Length];
            for (int i = 0; i < r.Length; i++) r[i] = latent[i] / 1.5305f + 0.0609f;
            return r;
        }

        /// <summary>The sampler-space latent of the VAE encoder's mean: (mean − 0.0609) × 1.5305 (the reference's
        /// <c>SD3LatentFormat.process_in</c>; the inverse of <see cref="ToVaeInput"/>).</summary>
        public static float[] FromVaeOutput(float[] mean)
        {
            var r = new float[mean.Length];
            for (int i = 0; i < r.Length; i++) r[i] = (mean[i] - 0.0609f) * 1.5305f;
            return r;
        }
    }
}
