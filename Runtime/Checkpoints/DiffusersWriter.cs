using System;
using System.Collections.Generic;

namespace Sd3Tex.Checkpoints
{
    /// <summary>Writes a diffusers folder (model_index.json, transformer/, text_encoder*/, vae/). (Being written.)</summary>
    public static class DiffusersWriter
    {
        public static List<string> Write(SortedDictionary<Component, List<TensorSource>> components, string folder)
            => throw new NotImplementedException("diffusers layout writing is not written yet");
    }
}
