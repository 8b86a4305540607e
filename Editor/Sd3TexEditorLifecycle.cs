using System;
using System.Collections.Generic;
using System.IO;
using System.Threading;
using System.Threading.Tasks;
using Sd3Tex.Authoring;
using Sd3Tex.Generation;
using UnityEditor;
using UnityEngine;

namespace Sd3Tex.Editor
{
    /// <summary>Where the editor keeps the package's files in a project.</summary>
    public static class ProjectPaths
    {
        /// <summary>The project folder (the one holding Assets/).</summary>
        public static string Root => Path.GetDirectoryName(Application.dataPath);
        public static string Settings => Path.Combine(Root, ModelSettings.ProjectRelativePath);
        public static string History => Path.Combine(Root, GenerationHistory.DefaultRelativePath);

        /// <summary>The project's model settings; a damaged file is reported and gives the defaults.</summary>
        public static ModelSettings LoadSettings()
        {
            var s = ModelSettings.Load(Settings, out string problem);
            if (problem != null) Debug.LogWarning("SD3 Texture Generator: " + problem);
            return s;
        }

        /// <summary>An absolute path as a project-relative asset path ("Assets/..."), or null when it is not in Assets/.</summary>
        public static string ToAssetPath(string absolute)
        {
            string rel = ModelSettings.MakeRelative(Root, absolute);
            return rel != absolute && (rel == "Assets" || rel.StartsWith("Assets/", StringComparison.Ordinal)) ? rel : null;
        }
    }

    /// <summary>
    /// A background task shown in the status bar and the Background Tasks window (Unity's Progress API), with a
    /// cancellation token that the Cancel button there, the window and editor shutdown all trigger.
    /// </summary>
    public sealed class EditorJob
    {
        readonly CancellationTokenSource _cancel = new CancellationTokenSource();
        int _finished;
        // set when Unity's Cancel button closed the progress item itself (the callback returned true)
        int _progressClosed;

        public int ProgressId { get; }
        public CancellationToken Token => _cancel.Token;
        public bool IsCancellationRequested => _cancel.IsCancellationRequested;
        /// <summary>The worker-thread part of the job, awaited on shutdown so no GPU work outlives the domain.</summary>
        public Task Work { get; set; }
        /// <summary>Runs on the main thread when the editor releases everything (domain reload, quit).</summary>
        public Action OnRelease { get; set; }

        EditorJob(string name, string description)
        {
            ProgressId = Progress.Start(name, description);
            Progress.SetTimeDisplayMode(ProgressId, Progress.TimeDisplayMode.ShowRemainingTime);
            Progress.RegisterCancelCallback(ProgressId, () =>
            {
                Cancel();
                Interlocked.Exchange(ref _progressClosed, 1);
                return true;
            });
            Sd3TexEditorLifecycle.Register(this);
        }

        public static EditorJob Start(string name, string description) => new EditorJob(name, description);

        /// <summary>Reports a generation's progress (thread-safe: Unity marks these Progress calls so).</summary>
        public void Report(GenerationProgress p, string prefix = null)
        {
            if (Volatile.Read(ref _finished) != 0 || Volatile.Read(ref _progressClosed) != 0) return;
            Progress.Report(ProgressId, (float)p.Fraction, prefix == null ? p.Describe() : prefix + " · " + p.Describe());
            if (p.Eta.HasValue) Progress.SetRemainingTime(ProgressId, (long)Math.Ceiling(p.Eta.Value.TotalSeconds));
        }

        public void Report(float fraction, string description)
        {
            if (Volatile.Read(ref _finished) == 0 && Volatile.Read(ref _progressClosed) == 0) Progress.Report(ProgressId, fraction, description);
        }

        public void Cancel()
        {
            try { _cancel.Cancel(); }
            catch (ObjectDisposedException) { }
        }

        public void Finish(Progress.Status status)
        {
            if (Interlocked.Exchange(ref _finished, 1) != 0) return;
            if (Volatile.Read(ref _progressClosed) == 0) Progress.Finish(ProgressId, status);
            Sd3TexEditorLifecycle.Unregister(this);
        }
    }

    /// <summary>
    /// Frees the ILGPU context and device memory before a domain reload (script changes, entering play mode with
    /// domain reload on) and when the editor quits. Jobs in flight are cancelled first and waited for (a generation
    /// stops within one sampler step), so no kernel runs while the domain goes away.
    /// </summary>
    [InitializeOnLoad]
    public static class Sd3TexEditorLifecycle
    {
        static readonly List<EditorJob> Jobs = new List<EditorJob>();
        static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

        static Sd3TexEditorLifecycle()
        {
            // the tokenizers bundled with the package sit in its Tokenizers~ folder, wherever the Package Manager put it
            Sd3Tex.Text.PackageTokenizers.PackageRoot = UnityEditor.PackageManager.PackageInfo.FindForAssembly(typeof(Sd3TexEditorLifecycle).Assembly)?.resolvedPath;
            AssemblyReloadEvents.beforeAssemblyReload += ReleaseAll;
            EditorApplication.quitting += ReleaseAll;
        }

        /// <summary>True while a generation or bake runs in this editor.</summary>
        public static bool Busy
        {
            get { lock (Jobs) return Jobs.Count > 0; }
        }

        internal static void Register(EditorJob job)
        {
            lock (Jobs) Jobs.Add(job);
        }

        internal static void Unregister(EditorJob job)
        {
            lock (Jobs) Jobs.Remove(job);
        }

        /// <summary>Cancels every job, waits for their worker threads, and frees every model and device.</summary>
        public static void ReleaseAll()
        {
            List<EditorJob> jobs;
            lock (Jobs) jobs = new List<EditorJob>(Jobs);
            var work = new List<Task>();
            foreach (var job in jobs)
            {
                job.Cancel();
                if (job.Work != null) work.Add(job.Work);
            }
            try
            {
                if (work.Count > 0 && !Task.WaitAll(work.ToArray(), Patience))
                    Debug.LogWarning($"SD3 Texture Generator: {work.Count} job(s) did not stop within {Patience.TotalSeconds:0} s of being cancelled.");
            }
            catch (AggregateException) { /* cancelled or failed: either way it stopped */ }
            foreach (var job in jobs)
            {
                try { job.OnRelease?.Invoke(); }
                catch (Exception e) { Debug.LogException(e); }
                job.Finish(Progress.Status.Canceled);
            }
            if (!GeneratorCache.Shared.Release(Patience))
                Debug.LogWarning("SD3 Texture Generator: a model was still loading when the editor released it; it is freed as soon as the load stops.");
        }
    }
}
