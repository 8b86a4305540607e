using System.Collections.Generic;

namespace Sd3Tex.Text
{
    /// <summary>A prompt as SD3's three text encoders take it (see <see cref="Sd3Tokenizer.Tokenize"/>).</summary>
    public sealed class TokenizedPrompt
    {
        /// <summary>77 ids for CLIP-L: 49406, the prompt's tokens, 49407, padded with 49407.</summary>
        public long[] ClipL { get; }
        /// <summary>77 ids for CLIP-G: as <see cref="ClipL"/> but padded with 0.</summary>
        public long[] ClipG { get; }
        /// <summary>T5-XXL ids: the tokens of the first 226 characters, then 1 (&lt;/s&gt;), padded with 0 to at least 77.</summary>
        public long[] T5 { get; }
        /// <summary>Prompt tokens CLIP would have had (start/end/padding excluded).</summary>
        public int ClipTokenCount { get; }
        /// <summary>Prompt tokens that fell beyond CLIP's first 77-token window and are not seen by CLIP-L/CLIP-G.</summary>
        public int DroppedClipTokens { get; }
        /// <summary>Characters (code points) beyond the 226 that T5 reads.</summary>
        public int DroppedT5Characters { get; }
        /// <summary>Human-readable notes about what was dropped; empty when nothing was.</summary>
        public IReadOnlyList<string> Warnings { get; }

        public TokenizedPrompt(long[] clipL, long[] clipG, long[] t5, int clipTokenCount, int droppedClipTokens, int droppedT5Characters,
            IReadOnlyList<string> warnings)
        {
            ClipL = clipL;
            ClipG = clipG;
            T5 = t5;
            ClipTokenCount = clipTokenCount;
            DroppedClipTokens = droppedClipTokens;
            DroppedT5Characters = droppedT5Characters;
            Warnings = warnings ?? new string[0];
        }
    }
}
