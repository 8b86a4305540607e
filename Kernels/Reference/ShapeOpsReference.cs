using System;

namespace Sd3Tex.Kernels.Reference
{
    /// <summary>Plain C# patchify / unpatchify / timestep features, written to be read; <see cref="ShapeOps"/> is tested
    /// against it.</summary>
    public static class ShapeOpsReference
    {
        /// <summary>
        /// Conv2d(kernel = stride = p) then flatten(2).transpose(1, 2):
        /// latent [B, C, H, W], weight [hidden, C, p, p], bias [hidden] → tokens [B, (H/p)*(W/p), hidden].
        /// </summary>
        public static float[] Patchify(float[] latent, float[] weight, float[] bias, int batch, int channels, int height, int width, int hidden, int patch)
        {
            int gh = height / patch, gw = width / patch, T = gh * gw;
            var tokens = new float[batch * T * hidden];
            for (int b = 0; b < batch; b++)
                for (int i = 0; i < gh; i++)           // patch row
                    for (int j = 0; j < gw; j++)       // patch column
                        for (int o = 0; o < hidden; o++)
                        {
                            double acc = bias[o];
                            for (int c = 0; c < channels; c++)
                                for (int py = 0; py < patch; py++)
                                    for (int px = 0; px < patch; px++)
                                        acc += (double)weight[((o * channels + c) * patch + py) * patch + px]
                                               * latent[((b * channels + c) * height + i * patch + py) * width + j * patch + px];
                            tokens[(b * T + i * gw + j) * hidden + o] = (float)acc;
                        }
            return tokens;
        }

        /// <summary>
        /// unpatchify: tokens [B, T, p*p*C] viewed as [B, h, w, p, p, C], einsum "nhwpqc->nchpwq" → image [B, C, h*p, w*p].
        /// </summary>
        public static float[] Unpatchify(float[] tokens, int batch, int channels, int height, int width, int patch)
        {
            int gh = height / patch, gw = width / patch;
            var image = new float[batch * channels * height * width];
            for (int b = 0; b < batch; b++)
                for (int i = 0; i < gh; i++)
                    for (int j = 0; j < gw; j++)
                        for (int py = 0; py < patch; py++)
                            for (int px = 0; px < patch; px++)
                                for (int c = 0; c < channels; c++)
                                    image[((b * channels + c) * height + i * patch + py) * width + j * patch + px] =
                                        tokens[((b * gh + i) * gw + j) * patch * patch * channels + (py * patch + px) * channels + c];
            return image;
        }

        /// <summary>
        /// TimestepEmbedder.timestep_embedding: t [B] → [B, dim]: half = dim/2, freqs_i = exp(-ln(max_period) * i / half),
        /// args = t * freqs, [cos(args) | sin(args)] (cos FIRST), zero-padded to dim when odd. float32 like torch's.
        /// </summary>
        public static float[] TimestepEmbedding(float[] t, int dim = 256, float maxPeriod = 10000f)
        {
            int half = dim / 2;
            var freqs = new float[half];
            float negLog = (float)-Math.Log(maxPeriod);
            for (int i = 0; i < half; i++) freqs[i] = MathF.Exp(negLog * i / half);
            var r = new float[t.Length * dim];
            for (int b = 0; b < t.Length; b++)
                for (int i = 0; i < half; i++)
                {
                    float a = t[b] * freqs[i];
                    r[b * dim + i] = MathF.Cos(a);
                    r[b * dim + half + i] = MathF.Sin(a);
                }
            return r;
        }
    }
}
