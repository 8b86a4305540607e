using System;

namespace Sd3Tex.Checkpoints
{
    /// <summary>A checkpoint could not be used. The message names the file and the problem, and says what to do.</summary>
    public class CheckpointException : Exception
    {
        /// <summary>The file (or folder) at fault, when there is one.</summary>
        public string FilePath { get; }

        public CheckpointException(string filePath, string message, Exception inner = null)
            : base(filePath == null ? message : $"{filePath}: {message}", inner) { FilePath = filePath; }
    }

    /// <summary>A safetensors file is malformed: truncated, bad header, bad dtype, sizes or offsets.</summary>
    public sealed class CheckpointFormatException : CheckpointException
    {
        public CheckpointFormatException(string filePath, string message, Exception inner = null)
            : base(filePath, message, inner) { }
    }
}
