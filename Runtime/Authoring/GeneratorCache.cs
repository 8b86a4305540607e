using System;
using System.Collections.Generic;
using System.Globalization;
using System.Text;
using System.Threading;
using System.Threading.Tasks;
using Sd3Tex.Generation;

namespace Sd3Tex.Authoring
{
    /// <summary>
    /// One open <see cref="TextureGenerator"/> shared by everything that asks for the same model: the editor window,
    /// runtime components and bakes. A model is opened once; asking for another model (different options) loads it
    /// after the requests still running on the old one have finished, then frees the old one, so two multi-GB models
    /// are never resident at once on purpose. <see cref="Release"/> cancels everything and frees the device (the
    /// editor calls it before a domain reload and on quit).
    /// </summary>
    public sealed class GeneratorCache
    {
        /// <summary>The process-wide cache.</summary>
        public static GeneratorCache Shared { get; } = new GeneratorCache();

        sealed class Entry
        {
            public string Key;
            public Task<TextureGenerator> Opening;
            public CancellationTokenSource Cancel;
            public int Active;
            public bool Retired;
            public readonly TaskCompletionSource<bool> Idle = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
            public Task Freed;
        }

        readonly object _lock = new object();
        readonly List<Entry> _live = new List<Entry>();
        Entry _current;
        CancellationTokenSource _lifetime = new CancellationTokenSource();

        /// <summary>The identity of a model and how it runs: equal keys share a generator.</summary>
        public static string KeyOf(GeneratorOptions options)
        {
            if (options == null) throw new ArgumentNullException(nameof(options));
            var inv = CultureInfo.InvariantCulture;
            var sb = new StringBuilder();
            foreach (var w in options.Weights ?? new List<string>()) sb.Append("w=").Append(w).Append('\n');
            if (!string.IsNullOrWhiteSpace(options.Model)) sb.Append("model=").Append(options.Model.Trim()).Append('\n');
            sb.Append("t=").Append(options.Tokenizers ?? "").Append('\n');
            sb.Append("d=").Append((options.Device ?? "auto").Trim().ToLowerInvariant()).Append('\n');
            sb.Append("h=").Append(options.ClipLHeads?.ToString(inv) ?? "").Append(',').Append(options.ClipGHeads?.ToString(inv) ?? "").Append('\n');
            sb.Append("m=").Append(options.MemoryBudget.ToString(inv)).Append(" r=").Append(options.Residency.ToString())
              .Append(" v=").Append(options.VaeTileSize.ToString(inv)).Append(" l=").Append(options.AllowLargeGrid ? "1" : "0");
            return sb.ToString();
        }

        /// <summary>The generator for <paramref name="options"/>, opened once and shared. Do not dispose it: the cache
        /// owns it. <paramref name="progress"/> hears about loading when this call starts the open.
        /// <paramref name="cancel"/> stops this caller's wait, not the shared open.</summary>
        public Task<TextureGenerator> OpenAsync(GeneratorOptions options, IProgress<GenerationProgress> progress = null, CancellationToken cancel = default)
        {
            Entry e;
            lock (_lock) e = GetOrStart(options, progress);
            return WaitOrCancel(e.Opening, cancel);
        }

        /// <summary>The generator for <paramref name="options"/> when it is already open, else null (for status lines).</summary>
        public TextureGenerator TryGetOpen(GeneratorOptions options)
        {
            string key = KeyOf(options);
            lock (_lock)
            {
                var e = _current;
                if (e == null || e.Key != key || e.Opening.Status != TaskStatus.RanToCompletion) return null;
                return e.Opening.Result;
            }
        }

        /// <summary>Opens (or reuses) the model and generates <paramref name="request"/> on a worker thread.</summary>
        public Task<GenerationResult> GenerateAsync(GeneratorOptions options, GenerationRequest request, IProgress<GenerationProgress> progress = null,
                                                    CancellationToken cancel = default)
        {
            if (request == null) throw new ArgumentNullException(nameof(request));
            return RunAsync(options, progress, cancel, g => g.GenerateAsync(request, progress, cancel));
        }

        /// <summary>Opens (or reuses) the model and runs make-seamless (<see cref="TextureGenerator.MakeSeamless"/>) on a worker thread.</summary>
        public Task<MakeSeamlessResult> MakeSeamlessAsync(GeneratorOptions options, MakeSeamlessRequest request, IProgress<GenerationProgress> progress = null,
                                                          CancellationToken cancel = default)
        {
            if (request == null) throw new ArgumentNullException(nameof(request));
            return RunAsync(options, progress, cancel, g => g.MakeSeamlessAsync(request, progress, cancel));
        }

        async Task<T> RunAsync<T>(GeneratorOptions options, IProgress<GenerationProgress> progress, CancellationToken cancel, Func<TextureGenerator, Task<T>> work)
        {
            Entry e;
            lock (_lock)
            {
                e = GetOrStart(options, progress);
                e.Active++;
            }
            try
            {
                var generator = await WaitOrCancel(e.Opening, cancel).ConfigureAwait(false);
                cancel.ThrowIfCancellationRequested();
                return await work(generator).ConfigureAwait(false);
            }
            catch (ObjectDisposedException) when (e.Retired)
            {
                throw new OperationCanceledException("the model was released (domain reload, quit, or another model was loaded) while this request waited for it.");
            }
            finally
            {
                lock (_lock)
                {
                    e.Active--;
                    if (e.Retired && e.Active == 0) e.Idle.TrySetResult(true);
                }
            }
        }

        Entry GetOrStart(GeneratorOptions options, IProgress<GenerationProgress> progress)
        {
            if (options == null) throw new ArgumentNullException(nameof(options));
            string key = KeyOf(options);
            var cur = _current;
            if (cur != null && cur.Key == key && !cur.Opening.IsFaulted && !cur.Opening.IsCanceled) return cur;
            Task previousFreed = cur != null ? Retire(cur) : Task.CompletedTask;
            var opts = options.Clone();
            var e = new Entry { Key = key, Cancel = CancellationTokenSource.CreateLinkedTokenSource(_lifetime.Token) };
            var token = e.Cancel.Token;
            e.Opening = Task.Run(async () =>
            {
                await previousFreed.ConfigureAwait(false);
                token.ThrowIfCancellationRequested();
                return TextureGenerator.Open(opts, progress, token);
            }, token);
            _current = e;
            _live.Add(e);
            return e;
        }

        /// <summary>Marks an entry as replaced: it is freed once its requests are done (an open nobody waits for is
        /// cancelled). Returns the task that completes when it is freed. Call under the lock.</summary>
        Task Retire(Entry e)
        {
            if (e.Freed != null) return e.Freed;
            e.Retired = true;
            if (e.Active == 0)
            {
                e.Cancel.Cancel();
                e.Idle.TrySetResult(true);
            }
            e.Freed = e.Idle.Task.ContinueWith(_ => Free(e), CancellationToken.None, TaskContinuationOptions.None, TaskScheduler.Default).Unwrap();
            return e.Freed;
        }

        async Task Free(Entry e)
        {
            try
            {
                var g = await e.Opening.ConfigureAwait(false);
                g.Dispose();
            }
            catch (Exception) { /* a failed or cancelled open holds nothing */ }
            finally
            {
                lock (_lock) _live.Remove(e);
                e.Cancel.Dispose();
            }
        }

        /// <summary>
        /// Cancels every request and open in flight and frees every model and device, waiting up to
        /// <paramref name="timeout"/> for work to stop (a request stops within one sampler step; an open between two
        /// stages). Returns false when something was still busy after the timeout; it is freed as soon as it stops.
        /// The cache stays usable: the next request opens the model again.
        /// </summary>
        public bool Release(TimeSpan timeout)
        {
            List<Entry> live;
            CancellationTokenSource lifetime;
            lock (_lock)
            {
                live = new List<Entry>(_live);
                foreach (var e in live) e.Retired = true;
                lifetime = _lifetime;
                _lifetime = new CancellationTokenSource();
                _current = null;
            }
            lifetime.Cancel();
            var deadline = DateTime.UtcNow + timeout;
            bool clean = true;
            foreach (var e in live)
            {
                // waiting for the open to settle: disposing under a running load would free buffers it is filling
                var left = deadline - DateTime.UtcNow;
                try
                {
                    if (!e.Opening.Wait(left > TimeSpan.Zero ? left : TimeSpan.Zero))
                    {
                        clean = false;
                        e.Opening.ContinueWith(t => { if (t.Status == TaskStatus.RanToCompletion) t.Result.Dispose(); }, TaskScheduler.Default);
                        continue;
                    }
                }
                catch (AggregateException) { continue; }
                // Dispose cancels the generator's own request in flight and waits for it to stop
                e.Opening.Result.Dispose();
            }
            lock (_lock) foreach (var e in live) _live.Remove(e);
            foreach (var e in live) if (e.Opening.IsCompleted) e.Cancel.Dispose();
            lifetime.Dispose();
            return clean;
        }

        /// <summary><see cref="Release(TimeSpan)"/> waiting up to 30 seconds.</summary>
        public bool Release() => Release(TimeSpan.FromSeconds(30));

        static async Task<T> WaitOrCancel<T>(Task<T> task, CancellationToken cancel)
        {
            if (!cancel.CanBeCanceled || task.IsCompleted) return await task.ConfigureAwait(false);
            var cancelled = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
            using (cancel.Register(() => cancelled.TrySetResult(true)))
            {
                if (await Task.WhenAny(task, cancelled.Task).ConfigureAwait(false) != task) throw new OperationCanceledException(cancel);
            }
            return await task.ConfigureAwait(false);
        }
    }
}
