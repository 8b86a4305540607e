using System;
using System.IO;
using Sd3Tex.Authoring;
using Sd3Tex.Baking;
using Sd3Tex.Generation;
using UnityEditor;
using UnityEngine;
using CoreManifest = Sd3Tex.Baking.BakeManifest;

namespace Sd3Tex.Editor
{
    /// <summary>
    /// Headless baking for CI:
    /// <c>Unity -batchmode -nographics -projectPath . -executeMethod Sd3Tex.Editor.BatchBake.Run -manifest Assets/Bake/Textures.asset [-shard 1/2] [-device cuda] -logFile -</c>.
    /// Exit code 0 when every texture was generated or up to date, 1 when any failed, 2 when the command line or the
    /// manifest is wrong. A bake that is stopped resumes on the next run.
    /// </summary>
    public static class BatchBake
    {
        public static void Run()
        {
            int code;
            try { code = Bake(Environment.GetCommandLineArgs()); }
            catch (Exception e) when (e is ArgumentException || e is BakeManifestException || e is FileNotFoundException || e is GenerationRequestException)
            {
                Debug.LogError("BatchBake: " + e.Message);
                code = 2;
            }
            catch (Exception e)
            {
                Debug.LogError("BatchBake failed: " + e);
                code = 1;
            }
            EditorApplication.Exit(code);
        }

        /// <summary>Bakes what the command line names; returns the exit code.</summary>
        public static int Bake(string[] commandLine)
        {
            var args = BatchBakeArgs.Parse(commandLine);
            CoreManifest manifest;
            GeneratorOptions generator = null;
            if (args.IsJson)
            {
                manifest = CoreManifest.Load(Path.GetFullPath(Path.Combine(ProjectPaths.Root, args.Manifest)));
            }
            else
            {
                var asset = AssetDatabase.LoadAssetAtPath<BakeManifest>(args.Manifest);
                if (asset == null)
                    throw new ArgumentException($"-manifest {args.Manifest}: no BakeManifest asset there. Give its project-relative path (Assets/.../Name.asset) or a .json manifest.");
                manifest = EditorBake.ToManifest(asset, out generator);
            }
            Debug.Log($"BatchBake: {manifest.Textures.Count} texture(s) into {manifest.OutputDirectory}" +
                      (args.ShardCount > 1 ? $", shard {args.ShardIndex + 1}/{args.ShardCount}" : ""));
            var report = EditorBake.RunNow(manifest, new BakeOptions { ShardIndex = args.ShardIndex, ShardCount = args.ShardCount, Device = args.Device, Generator = generator });
            string summary = EditorBake.Summarize(report);
            if (report.Success) Debug.Log("BatchBake: " + summary);
            else Debug.LogError("BatchBake: " + summary);
            return report.Success ? 0 : 1;
        }
    }
}
