using System;
using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;
using Sd3Tex.Authoring;
using Sd3Tex.Baking;
using Sd3Tex.Generation;
using UnityEditor;
using UnityEngine;
using CoreManifest = Sd3Tex.Baking.BakeManifest;

namespace Sd3Tex.Editor
{
    /// <summary>
    /// Bakes manifests in the editor with the engine-free <see cref="Baker"/> (so with <c>sd3tex bake</c>'s semantics:
    /// up-to-date textures are skipped, writes are atomic, failures do not stop the rest, an interrupted bake resumes)
    /// and imports every texture it writes with the package's import settings.
    /// </summary>
    public static class EditorBake
    {
        static readonly Dictionary<int, EditorJob> Running = new Dictionary<int, EditorJob>();
        static readonly Dictionary<int, string> LastReports = new Dictionary<int, string>();

        public static bool IsRunning(BakeManifest asset) => asset != null && Running.ContainsKey(asset.GetInstanceID());

        /// <summary>A one-line summary of the asset's last bake in this session, or null.</summary>
        public static string LastReport(BakeManifest asset) =>
            asset != null && LastReports.TryGetValue(asset.GetInstanceID(), out var r) ? r : null;

        public static void Cancel(BakeManifest asset)
        {
            if (asset != null && Running.TryGetValue(asset.GetInstanceID(), out var job)) job.Cancel();
        }

        /// <summary>The engine-free manifest and generator options of an asset (throws <see cref="BakeManifestException"/>
        /// saying what to fix).</summary>
        public static CoreManifest ToManifest(BakeManifest asset, out GeneratorOptions generator)
        {
            var settings = ProjectPaths.LoadSettings();
            var data = asset.ToData();
            generator = data.ToGeneratorOptions(ProjectPaths.Root, settings);
            return data.ToManifest(ProjectPaths.Root, settings);
        }

        /// <summary>Bakes the asset on a worker thread, with progress in the status bar and the Background Tasks window
        /// (where it can be cancelled), importing each texture as it is written.</summary>
        public static async void Start(BakeManifest asset, bool force)
        {
            if (asset == null || IsRunning(asset)) return;
            if (Sd3TexEditorLifecycle.Busy)
            {
                EditorUtility.DisplayDialog("Cannot bake " + asset.name, "A generation or another bake is running: wait for it, or cancel it in Window ▸ General ▸ Background Tasks, then bake.", "OK");
                return;
            }
            CoreManifest manifest;
            GeneratorOptions generator;
            try { manifest = ToManifest(asset, out generator); }
            catch (BakeManifestException e)
            {
                EditorUtility.DisplayDialog("Cannot bake " + asset.name, e.Message, "OK");
                return;
            }
            int id = asset.GetInstanceID();
            string name = asset.name;
            var mainThread = SynchronizationContext.Current;
            // the bake opens its own model: free the window's first so two models are never resident together
            GeneratorCache.Shared.Release();
            var job = EditorJob.Start("Bake " + name, $"{manifest.Textures.Count} texture(s) into {manifest.Output}");
            Running[id] = job;
            // no asset refresh while files are being written (a refresh could import a half-renamed temporary file)
            AssetDatabase.DisallowAutoRefresh();
            bool refreshAllowed = false;
            void AllowRefresh()
            {
                if (refreshAllowed) return;
                refreshAllowed = true;
                AssetDatabase.AllowAutoRefresh();
            }
            job.OnRelease = AllowRefresh;
            var options = new BakeOptions
            {
                Force = force, Generator = generator,
                OnItemDone = item => mainThread.Post(_ => ImportOutputs(item), null),
            };
            var progress = new BakeProgressReporter(job);
            try
            {
                var work = Task.Run(() => Baker.Run(manifest, options, progress, job.Token));
                job.Work = work;
                var report = await work;
                string summary = Summarize(report);
                LastReports[id] = summary;
                if (report.Success) Debug.Log($"Bake {name}: {summary}", asset);
                else Debug.LogWarning($"Bake {name}: {summary}", asset);
                job.Finish(report.Success ? Progress.Status.Succeeded : Progress.Status.Failed);
            }
            catch (OperationCanceledException)
            {
                LastReports[id] = "cancelled; bake again to resume (finished textures are skipped)";
                job.Finish(Progress.Status.Canceled);
            }
            catch (Exception e)
            {
                LastReports[id] = "failed: " + e.Message;
                Debug.LogError($"Bake {name} failed: {e.Message}", asset);
                job.Finish(Progress.Status.Failed);
            }
            finally
            {
                Running.Remove(id);
                AllowRefresh();
            }
        }

        /// <summary>Bakes on the calling (main) thread, importing as it goes: for batch mode.</summary>
        public static BakeReport RunNow(CoreManifest manifest, BakeOptions options)
        {
            var previous = options.OnItemDone;
            options.OnItemDone = item =>
            {
                Debug.Log($"  {item.Status.ToString().ToLowerInvariant()}: {item.Name}" + (item.Error != null ? " — " + item.Error : ""));
                ImportOutputs(item);
                previous?.Invoke(item);
            };
            return Baker.Run(manifest, options);
        }

        /// <summary>Imports a baked texture's PNGs that lie in Assets/, applying the import settings from their metadata.</summary>
        public static void ImportOutputs(BakeItemResult item)
        {
            if (item.Status != BakeItemStatus.Generated) return;
            foreach (var png in System.Linq.Enumerable.Concat(item.Outputs, item.MapOutputs))
            {
                string assetPath = ProjectPaths.ToAssetPath(png);
                if (assetPath != null) TextureAssets.Import(assetPath, TextureImportSpec.ForPng(png));
            }
        }

        public static string Summarize(BakeReport report)
        {
            string s = report.ToString();
            foreach (var item in report.Items)
                if (item.Status == BakeItemStatus.Failed) s += $"\n{item.Name}: {item.Error}";
            return s;
        }

        sealed class BakeProgressReporter : IProgress<BakeProgress>
        {
            readonly EditorJob _job;
            public BakeProgressReporter(EditorJob job) { _job = job; }

            public void Report(BakeProgress p)
            {
                string prefix = $"{p.Index + 1}/{p.Total} {p.Name}";
                if (p.Inner.HasValue)
                    _job.Report((float)((p.Index + p.Inner.Value.Fraction) / Math.Max(1, p.Total)), prefix + " · " + p.Inner.Value.Describe());
                else _job.Report((float)p.Index / Math.Max(1, p.Total), prefix);
            }
        }
    }
}
