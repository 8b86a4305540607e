using System;
using System.IO;

namespace Sd3Tex.Text
{
    /// <summary>A tokenizer file (or folder) is missing. The message names it and says where to get it.</summary>
    public sealed class TokenizerFileNotFoundException : FileNotFoundException
    {
        /// <summary>Where the files come from, for the messages.</summary>
        public const string WhereToGetThem =
            "The tokenizer files are those of the Hugging Face repository stabilityai/stable-diffusion-3-medium-diffusers: "
            + "tokenizer/ (vocab.json, merges.txt: CLIP-L), tokenizer_2/ (the same files: CLIP-G) and tokenizer_3/ "
            + "(tokenizer.json or spiece.model: T5-XXL). Point at a diffusers model folder holding those subfolders, or at a "
            + "folder laid out as clip/vocab.json, clip/merges.txt and t5/tokenizer.json (or t5/spiece.model).";

        public TokenizerFileNotFoundException(string message, string fileName) : base(message, fileName) { }
    }

    /// <summary>A tokenizer file exists but cannot be used (malformed JSON, protobuf, merges, unsupported options).</summary>
    public sealed class TokenizerFormatException : IOException
    {
        /// <summary>The file at fault, when known.</summary>
        public string FilePath { get; }

        public TokenizerFormatException(string filePath, string message, Exception inner = null)
            : base(filePath == null ? message : $"{filePath}: {message}", inner) { FilePath = filePath; }
    }
}
