using System;
using System.Collections.Generic;
using Sd3Tex.Baking;

namespace Sd3Tex.Authoring
{
    /// <summary>
    /// The options of the batch-mode bake (<c>Unity -batchmode -executeMethod Sd3Tex.Editor.BatchBake.Run -manifest
    /// Assets/Bake/Textures.asset [-shard i/n] [-device d] -quit</c>), read from the whole command line, Unity's own
    /// options included (they are skipped).
    /// </summary>
    public sealed class BatchBakeArgs
    {
        /// <summary>The manifest: a BakeManifest asset path (.asset) or a JSON manifest file (.json).</summary>
        public string Manifest { get; private set; }
        /// <summary>0-based shard index; the command line writes it 1-based, as <c>sd3tex bake --shard i/n</c> does.</summary>
        public int ShardIndex { get; private set; }
        public int ShardCount { get; private set; } = 1;
        /// <summary>Overrides the manifest's device; null keeps it.</summary>
        public string Device { get; private set; }

        public bool IsJson => Manifest != null && Manifest.EndsWith(".json", StringComparison.OrdinalIgnoreCase);

        public const string Usage = "Unity -batchmode -projectPath <project> -executeMethod Sd3Tex.Editor.BatchBake.Run " +
                                    "-manifest <Assets/.../Manifest.asset | manifest.json> [-shard <i>/<n>] [-device auto|cuda|opencl|cpu] -quit";

        /// <summary>Parses the command line; throws <see cref="ArgumentException"/> saying what is wrong and the usage.</summary>
        public static BatchBakeArgs Parse(IReadOnlyList<string> args)
        {
            if (args == null) throw new ArgumentNullException(nameof(args));
            var r = new BatchBakeArgs();
            for (int i = 0; i < args.Count; i++)
            {
                string a = args[i];
                switch (a)
                {
                    case "-manifest": r.Manifest = Value(args, ref i, a); break;
                    case "-shard":
                        string s = Value(args, ref i, a);
                        try { BakeShard.Parse(s, out int index, out int count); r.ShardIndex = index; r.ShardCount = count; }
                        catch (FormatException e) { throw new ArgumentException($"-shard {s}: {e.Message}\nUsage: {Usage}", e); }
                        break;
                    case "-device": r.Device = Value(args, ref i, a); break;
                }
            }
            if (string.IsNullOrWhiteSpace(r.Manifest))
                throw new ArgumentException($"no -manifest given: name the BakeManifest asset (Assets/.../X.asset) or a JSON manifest.\nUsage: {Usage}");
            return r;
        }

        static string Value(IReadOnlyList<string> args, ref int i, string option)
        {
            if (i + 1 >= args.Count || args[i + 1].StartsWith("-", StringComparison.Ordinal) && args[i + 1].Length > 1 && !char.IsDigit(args[i + 1][1]))
                throw new ArgumentException($"{option} needs a value.\nUsage: {Usage}");
            return args[++i];
        }
    }
}
