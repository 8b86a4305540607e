using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using Sd3Tex.Checkpoints;
using Sd3Tex.Encoders;
using Sd3Tex.Imaging;
using Sd3Tex.Kernels;
using Sd3Tex.Models;
using Sd3Tex.Reference;
using Sd3Tex.Sampling;
using Sd3Tex.Text;
using Sd3Tex.Vae;

namespace Sd3Tex.Generation
{
    /// <summary>
    /// Prompt to texture: loads an SD3 / SD3.5 model from any layout once, then generates images on request. The text
    /// encoders, transformer and decoder stay resident between requests when they fit the memory budget; otherwise
    /// they run one at a time (encoders, free, transformer, free, decoder, free). One request runs at a time; others
    /// wait. <see cref="Dispose"/> cancels a request in flight and frees the device memory.
    /// <code>
    /// using var gen = TextureGenerator.Open(new GeneratorOptions { Weights = { "sd3.5_medium.safetensors", ... }, Tokenizers = "tokenizers" });
    /// var result = await gen.GenerateAsync(new GenerationRequest { Prompt = "mossy brick wall", Seed = 7, Width = 512, Height = 512 }, progress, token);
    /// result.Images[0].SavePng("mossy_brick.png");
    /// </code>
    /// </summary>
    public sealed partial class TextureGenerator : IDisposable
    {
        readonly GeneratorOptions _options;
        readonly Checkpoint _checkpoint;
        readonly Sd3Tokenizer _tokenizer;
        readonly ComputeDevice _device; // null: the plain C# reference
        readonly SemaphoreSlim _gate = new SemaphoreSlim(1, 1);
        readonly CancellationTokenSource _lifetime = new CancellationTokenSource();
        readonly bool _streamT5;
        Sd3TextEncoder _encoder;
        IMmditModel _mmdit;
        IVaeDecoder _vae;
        IVaeEncoder _vaeEncoder; // loaded on the first image-to-image request
        int _disposed;

        /// <summary>The transformer's configuration (inferred from the weights).</summary>
        public MmditConfig Config { get; }
        /// <summary>The model family (sd3-medium, sd3.5-medium, sd3.5-large or unknown).</summary>
        public ModelFamily Family { get; }
        /// <summary>The family whose structure the transformer has (a small test model of SD3 Medium's structure is
        /// family unknown, architecture sd3-medium); it picks the preset when the family is unknown.</summary>
        public ModelFamily Architecture { get; }
        /// <summary>The family's sampling defaults, used for request fields left null.</summary>
        public GenerationPreset Preset { get; }
        /// <summary>Whether the weights hold T5-XXL.</summary>
        public bool HasT5 { get; }
        /// <summary>Whether the VAE has its encoder (needed for image-to-image, inpainting and make-seamless).</summary>
        public bool HasVaeEncoder { get; }
        /// <summary>The device in words ("plain C# reference" for the reference).</summary>
        public string DeviceDescription { get; }
        /// <summary>True when all components stay loaded between requests.</summary>
        public bool Resident { get; }
        /// <summary>The device memory budget in bytes.</summary>
        public long MemoryBudget { get; }
        /// <summary>Estimated device bytes of the encoders, transformer (with its 1024² workspace) and decoder weights.</summary>
        public long EncoderBytes { get; }
        public long TransformerBytes { get; }
        public long DecoderBytes { get; }
        /// <summary>The transformer's weights alone (without activations).</summary>
        public long TransformerWeightBytes { get; }
        /// <summary>Time spent opening: reading and uploading weights, and compiling kernels (first use on this device).</summary>
        public StageTimings OpenTimings { get; }
        /// <summary>A name for the model in image metadata: the first weight file's name.</summary>
        public string ModelName { get; }
        /// <summary>Notes from opening (e.g. T5 streams layer by layer because it does not fit).</summary>
        public IReadOnlyList<string> Notes { get; }

        TextureGenerator(GeneratorOptions options, Checkpoint checkpoint, Sd3Tokenizer tokenizer, ComputeDevice device, MmditConfig config,
                         ModelFamily family, ModelFamily architecture, IProgress<GenerationProgress> progress, CancellationToken cancel)
        {
            _options = options; _checkpoint = checkpoint; _tokenizer = tokenizer; _device = device;
            Config = config; Family = family; Architecture = architecture;
            Preset = GenerationPresets.For(family != ModelFamily.Unknown ? family : architecture);
            HasT5 = checkpoint.Has(Component.T5xxl);
            HasVaeEncoder = VaeConfig.Infer(checkpoint.ComponentWeights(Component.Vae)).HasEncoder;
            DeviceDescription = device == null ? "plain C# reference" : device.Describe();
            ModelName = NameOf(options.Weights[0]);
            var notes = new List<string>();
            var timings = new StageTimings();
            var total = Stopwatch.StartNew();

            EncoderBytes = DeviceBytes(checkpoint, Component.ClipL) + DeviceBytes(checkpoint, Component.ClipG) + DeviceBytes(checkpoint, Component.T5xxl);
            TransformerWeightBytes = DeviceBytes(checkpoint, Component.Mmdit);
            TransformerBytes = TransformerWeightBytes + MmditWorkspaceBytes(config, 2, 1024, 1024, 154);
            DecoderBytes = DeviceBytes(checkpoint, Component.Vae);
            MemoryBudget = options.MemoryBudget > 0 ? options.MemoryBudget
                : device == null || device.Kind == DeviceKind.Cpu ? VaeMemoryPlanner.HostDefaultBudget
                : (long)(device.Accelerator.MemorySize * 0.9);
            long t5Bytes = DeviceBytes(checkpoint, Component.T5xxl);
            _streamT5 = HasT5 && t5Bytes > MemoryBudget / 2;
            if (_streamT5) notes.Add($"T5-XXL ({VaeMemoryPlanner.Format(t5Bytes)}) streams one layer at a time: it takes more than half the {VaeMemoryPlanner.Format(MemoryBudget)} budget.");
            if (DeviceBytes(checkpoint, Component.Mmdit) > MemoryBudget)
                throw new GenerationMemoryException("transformer",
                    $"the transformer's weights ({VaeMemoryPlanner.Format(DeviceBytes(checkpoint, Component.Mmdit))}) do not fit the memory budget ({VaeMemoryPlanner.Format(MemoryBudget)}). " +
                    "Raise the budget, use a device with more memory, or use f16 weights of a smaller model (SD3.5 Medium).");
            long all = (_streamT5 ? EncoderBytes - t5Bytes : EncoderBytes) + TransformerBytes + DecoderBytes;
            Resident = options.Residency == Residency.KeepResident || (options.Residency == Residency.Auto && all <= MemoryBudget);
            if (!Resident) notes.Add($"components load one at a time: together they need about {VaeMemoryPlanner.Format(all)}, over the {VaeMemoryPlanner.Format(MemoryBudget)} budget.");

            try
            {
                if (device != null)
                {
                    Report(progress, GenerationStage.CompilingKernels, total);
                    timings.CompilingKernels = KernelWarmup.CompileModelKernels(device);
                }
                cancel.ThrowIfCancellationRequested();
                if (Resident)
                {
                    Report(progress, GenerationStage.Loading, total);
                    var sw = Stopwatch.StartNew();
                    _encoder = LoadEncoders();
                    cancel.ThrowIfCancellationRequested();
                    _mmdit = LoadTransformer();
                    cancel.ThrowIfCancellationRequested();
                    _vae = LoadDecoder();
                    timings.Loading = sw.Elapsed;
                }
            }
            catch
            {
                FreeModels();
                throw;
            }
            timings.Total = total.Elapsed;
            OpenTimings = timings;
            Notes = notes;
        }

        /// <summary>
        /// Opens the model the options name: reads every layout, checks that the transformer, both CLIP encoders and
        /// the VAE are present and complete, loads the tokenizers, opens the device, compiles the kernels and (when
        /// they fit) loads all components. Errors say which file or component is at fault and what to do.
        /// </summary>
        public static TextureGenerator Open(GeneratorOptions options, IProgress<GenerationProgress> progress = null, CancellationToken cancel = default)
        {
            if (options == null) throw new ArgumentNullException(nameof(options));
            options = options.Clone();
            if (!string.IsNullOrWhiteSpace(options.Model))
            {
                if (options.Weights.Count > 0) throw new ArgumentException("give the weights or a model name, not both.");
                options.Weights = ModelCatalog.Scan(options.ModelSearch).Resolve(options.Model).Weights();
            }
            if (options.Weights.Count == 0)
                throw new ArgumentException("no weights given: name the model's .safetensors file(s) or its diffusers folder.");
            var tokenizer = FindTokenizers(options.Tokenizers, options.Weights);
            var checkpoint = Checkpoint.Open(options.Weights);
            ComputeDevice device = null;
            try
            {
                var report = CheckpointReport.Build(checkpoint);
                var missing = new List<string>();
                foreach (var c in new[] { Component.Mmdit, Component.ClipL, Component.ClipG, Component.Vae })
                    if (!checkpoint.Has(c)) missing.Add($"{ComponentName(c)} ({Checkpoint.KeyOf(c)})");
                if (missing.Count > 0)
                    throw new CheckpointException(null, "the weights lack " + string.Join(", ", missing) +
                        ". SD3 needs the transformer, CLIP-L, CLIP-G and the VAE (T5-XXL is optional): use the single-file checkpoint that includes " +
                        "the text encoders (e.g. sd3_medium_incl_clips_t5xxlfp8.safetensors), or add the clip_l, clip_g and VAE files.");
                foreach (var c in new[] { Component.Mmdit, Component.ClipL, Component.ClipG, Component.T5xxl, Component.Vae })
                {
                    var part = report[c];
                    if (part == null) continue;
                    if (part.Error != null) throw new CheckpointException(null, $"{ComponentName(c)}: {part.Error}");
                    if (part.Check != null && !part.Check.IsComplete)
                        throw new CheckpointException(null, $"{ComponentName(c)} is incomplete: {part.Check.Missing.Count} missing and {part.Check.WrongShape.Count} wrongly shaped tensors " +
                                                            $"(first: {string.Join(", ", part.Check.Missing.Concat(part.Check.WrongShape).Take(3))}). Run `sd3tex inspect` for details.");
                }
                var config = report.Mmdit ?? MmditConfig.Infer(checkpoint.ComponentWeights(Component.Mmdit));
                if (checkpoint.Has(Component.T5xxl))
                {
                    var t5 = T5Config.Infer(checkpoint.ComponentWeights(Component.T5xxl));
                    if (t5.DModel != config.ContextDim)
                        throw new CheckpointException(null, $"T5-XXL's width {t5.DModel} differs from the transformer's context width {config.ContextDim}: the files belong to different models.");
                }
                string spec = string.IsNullOrWhiteSpace(options.Device) ? "auto" : options.Device.Trim();
                if (!string.Equals(spec, "reference", StringComparison.OrdinalIgnoreCase)) device = ComputeDevice.Open(spec);
                return new TextureGenerator(options, checkpoint, tokenizer, device, config, report.Family, report.Architecture, progress, cancel);
            }
            catch
            {
                device?.Dispose();
                checkpoint.Dispose();
                throw;
            }
        }

        /// <summary><see cref="Open"/> on a worker thread.</summary>
        public static Task<TextureGenerator> OpenAsync(GeneratorOptions options, IProgress<GenerationProgress> progress = null, CancellationToken cancel = default)
            => Task.Run(() => Open(options, progress, cancel), cancel);

        /// <summary>The tokenizers in <paramref name="folder"/>; else those of a diffusers folder among the weights when it
        /// has tokenizer files; else the ones bundled with the package (<see cref="PackageTokenizers"/>).</summary>
        public static Sd3Tokenizer FindTokenizers(string folder, IEnumerable<string> weights)
        {
            string path = TokenizerFolder(folder, weights);
            return path == PackageTokenizers.Find() ? PackageTokenizers.Load() : Sd3Tokenizer.Load(path);
        }

        /// <summary>The folder <see cref="FindTokenizers"/> loads: <paramref name="folder"/>, a diffusers folder among the
        /// weights that has tokenizer files, or the package's bundled one.</summary>
        public static string TokenizerFolder(string folder, IEnumerable<string> weights)
        {
            if (!string.IsNullOrEmpty(folder)) return folder;
            foreach (var w in weights ?? Enumerable.Empty<string>())
            {
                Checkpoint.SplitRole(w, out string path);
                if (File.Exists(Path.Combine(path, "model_index.json")) && Sd3Tokenizer.HasTokenizerFiles(path)) return path;
            }
            return PackageTokenizers.Find() ?? throw new TokenizerFileNotFoundException(
                "no tokenizers: the files bundled with the package (Tokenizers~/) are missing; reinstall the package, or name a folder holding " +
                "clip/vocab.json, clip/merges.txt and t5/tokenizer.json (or t5/spiece.model). " + TokenizerFileNotFoundException.WhereToGetThem, folder ?? "");
        }

        /// <summary>The first diffusers model folder (one holding <c>model_index.json</c>) among the weights, or null.</summary>
        public static string DiffusersFolder(IEnumerable<string> weights)
        {
            foreach (var w in weights ?? Enumerable.Empty<string>())
            {
                Checkpoint.SplitRole(w, out string path);
                if (Directory.Exists(path) && File.Exists(Path.Combine(path, "model_index.json"))) return path;
            }
            return null;
        }

        static string NameOf(string weight)
        {
            Checkpoint.SplitRole(weight, out string p);
            p = p.TrimEnd('/', '\\');
            return Directory.Exists(p) ? Path.GetFileName(p) : Path.GetFileNameWithoutExtension(p);
        }

        static string ComponentName(Component c)
        {
            switch (c)
            {
                case Component.Mmdit: return "the transformer (MMDiT)";
                case Component.ClipL: return "CLIP-L";
                case Component.ClipG: return "CLIP-G";
                case Component.T5xxl: return "T5-XXL";
                default: return "the VAE";
            }
        }

        /// <summary>Bytes a component's weights take on the device: matrices in their 16-bit type (F8 widened to F16,
        /// F32 kept), everything else F32.</summary>
        static long DeviceBytes(Checkpoint ck, Component c)
        {
            if (!ck.Has(c)) return 0;
            long bytes = 0;
            foreach (var w in ck.ComponentWeights(c).Values)
            {
                int size = DTypes.SizeOf(w.DType);
                bytes += w.ElementCount * (w.Shape.Length >= 2 ? Math.Max(2, size) : 4);
            }
            return bytes;
        }

        /// <summary>The transformer's activation buffers for a batch at an image size (see DeviceMmdit's workspace).</summary>
        public static long MmditWorkspaceBytes(MmditConfig cfg, int batch, int width, int height, int contextTokens)
        {
            long tx = (long)(height / 8 / cfg.PatchSize) * (width / 8 / cfg.PatchSize), tc = contextTokens;
            long rows = batch * (tx + tc);
            return 4 * (rows * cfg.HiddenSize * 8 + batch * Math.Max(tx, tc) * cfg.MlpHidden + (long)batch * tc * cfg.ContextDim);
        }

        #region Loading

        static bool IsOutOfMemory(Exception e)
        {
            for (var x = e; x != null; x = x.InnerException)
            {
                if (x is OutOfMemoryException || x is InsufficientMemoryException) return true;
                string name = x.GetType().Name, msg = x.Message ?? "";
                if (name.IndexOf("OutOfMemory", StringComparison.OrdinalIgnoreCase) >= 0) return true;
                if (msg.IndexOf("out of memory", StringComparison.OrdinalIgnoreCase) >= 0 || msg.IndexOf("OUT_OF_MEMORY", StringComparison.Ordinal) >= 0
                    || msg.IndexOf("OUT_OF_RESOURCES", StringComparison.Ordinal) >= 0 || msg.IndexOf("MEM_OBJECT_ALLOCATION_FAILURE", StringComparison.Ordinal) >= 0)
                    return true;
            }
            return false;
        }

        /// <summary>Runs <paramref name="work"/>; an out-of-memory failure becomes a <see cref="GenerationMemoryException"/>
        /// naming the component and the ways out.</summary>
        T Guard<T>(string component, Func<T> work)
        {
            try { return work(); }
            catch (VaeMemoryException e)
            {
                throw new GenerationMemoryException(component, $"the {component} does not fit the memory budget: {e.Message}", e);
            }
            catch (Exception e) when (!(e is GenerationMemoryException) && IsOutOfMemory(e))
            {
                string way;
                switch (component)
                {
                    case "text encoders": way = "Drop T5 (UseT5 = false, --no-t5), or let the components load one at a time (a lower memory budget or Residency.Sequential)."; break;
                    case "transformer": way = "Reduce the image size, let the components load one at a time (Residency.Sequential) so the encoders and decoder are freed first, or use f16 weights."; break;
                    case "image encoder": way = "Tile the VAE (a VAE tile size such as 32, --vae-tile 32), lower the memory budget so it tiles itself, or reduce the image size."; break;
                    default: way = "Tile the decoder (a VAE tile size such as 32, --vae-tile 32), lower the memory budget so it tiles itself, or reduce the image size."; break;
                }
                throw new GenerationMemoryException(component, $"the {component} did not fit in {(_device == null ? "memory" : "the device's memory")} ({DeviceDescription}): {e.Message}. {way}", e);
            }
        }

        Sd3TextEncoder LoadEncoders() => Guard("text encoders", () => Sd3TextEncoder.Open(_checkpoint, _device, new TextEncoderOptions
        {
            ClipLHeads = _options.ClipLHeads, ClipGHeads = _options.ClipGHeads, ContextDimWithoutT5 = Config.ContextDim, StreamT5 = _streamT5 ? true : (bool?)null,
        }));

        IMmditModel LoadTransformer() => Guard("transformer", () =>
        {
            var w = _checkpoint.ComponentWeights(Component.Mmdit);
            if (_device == null) return (IMmditModel)new CheckedMmdit(new ReferenceMmdit(w));
            return new DeviceMmdit(w, _device) { AllowLargeGrid = _options.AllowLargeGrid, CheckFinite = true };
        });

        IVaeDecoder LoadDecoder() => Guard("decoder", () =>
        {
            var w = _checkpoint.ComponentWeights(Component.Vae);
            return _device == null ? (IVaeDecoder)new ReferenceVae(w) : new VaeDecoder(w, _device);
        });

        IVaeEncoder LoadVaeEncoder() => Guard("image encoder", () =>
        {
            var w = _checkpoint.ComponentWeights(Component.Vae);
            return _device == null ? (IVaeEncoder)new ReferenceVaeEncoder(w) : new VaeEncoder(w, _device);
        });

        /// <summary>The plain C# reference transformer with its (host) output checked for NaN / Inf, as DeviceMmdit
        /// checks its output on the device.</summary>
        sealed class CheckedMmdit : IMmditModel
        {
            readonly IMmditModel _inner;
            public CheckedMmdit(IMmditModel inner) { _inner = inner; }
            public MmditConfig Config => _inner.Config;

            public float[] Forward(float[] x, int batch, int height, int width, float[] timestep, float[] y, float[] context, int contextTokens,
                                   ICollection<int> skipBlocks = null)
            {
                var v = _inner.Forward(x, batch, height, width, timestep, y, context, contextTokens, skipBlocks);
                long bad = FiniteCheck.CountNonFinite(v);
                if (bad > 0) throw new NonFiniteValuesException("transformer", bad, v.Length);
                return v;
            }

            public void Dispose() => _inner.Dispose();
        }

        void FreeModels()
        {
            _encoder?.Dispose(); _encoder = null;
            _mmdit?.Dispose(); _mmdit = null;
            _vae?.Dispose(); _vae = null;
            _vaeEncoder?.Dispose(); _vaeEncoder = null;
        }

        #endregion

        /// <summary>Every problem of a request with this model, each saying what to change; empty when it can run.</summary>
        public List<string> Validate(GenerationRequest request)
        {
            if (request == null) throw new ArgumentNullException(nameof(request));
            var problems = request.Problems();
            int p = Config.PatchSize, limit = Config.PosEmbedMaxSize;
            if (!_options.AllowLargeGrid && request.Width % GenerationRequest.SizeMultiple == 0 && request.Height % GenerationRequest.SizeMultiple == 0)
            {
                int gw = request.Width / GenerationRequest.VaeScale / p, gh = request.Height / GenerationRequest.VaeScale / p;
                if (gw > limit || gh > limit)
                    problems.Add($"{request.Width}x{request.Height} needs a {gw}×{gh} patch grid, larger than the model's {limit}×{limit} position table: " +
                                 $"use at most {limit * p * GenerationRequest.VaeScale} pixels per side (or allow large grids).");
            }
            if (request.InitImage != null && !HasVaeEncoder)
                problems.Add("an init image needs the VAE's encoder, which these weights lack: use weights whose VAE includes encoder.* (the single-file SD3 checkpoints and diffusers folders do).");
            var slg = request.SkipLayerGuidance;
            if (slg?.Layers != null && slg.Layers.Length > 0)
                foreach (var x in slg.Problems(Config.Depth))
                    if (!problems.Contains(x)) problems.Add(x);
            return problems;
        }

        /// <summary><see cref="Generate"/> on a worker thread.</summary>
        public Task<GenerationResult> GenerateAsync(GenerationRequest request, IProgress<GenerationProgress> progress = null, CancellationToken cancel = default)
        {
            if (request == null) throw new ArgumentNullException(nameof(request));
            var problems = Validate(request);
            if (problems.Count > 0) return Task.FromException<GenerationResult>(new GenerationRequestException(problems));
            var copy = request.Clone();
            return Task.Run(() => Generate(copy, progress, cancel), cancel);
        }

        /// <summary>
        /// Generates the request's images. Invalid requests throw <see cref="GenerationRequestException"/> before any
        /// work; cancellation takes effect within one sampler step (<see cref="OperationCanceledException"/>) and leaves
        /// the generator usable.
        /// </summary>
        public GenerationResult Generate(GenerationRequest request, IProgress<GenerationProgress> progress = null, CancellationToken cancel = default)
        {
            if (request == null) throw new ArgumentNullException(nameof(request));
            if (Volatile.Read(ref _disposed) != 0) throw new ObjectDisposedException(nameof(TextureGenerator));
            var problems = Validate(request);
            if (problems.Count > 0) throw new GenerationRequestException(problems);
            var resolved = request.Resolve(Preset);
            using (var linked = CancellationTokenSource.CreateLinkedTokenSource(cancel, _lifetime.Token))
            {
                var token = linked.Token;
                try { _gate.Wait(token); }
                catch (ObjectDisposedException) { throw new ObjectDisposedException(nameof(TextureGenerator)); }
                try
                {
                    if (Volatile.Read(ref _disposed) != 0) throw new ObjectDisposedException(nameof(TextureGenerator));
                    return Run(resolved, progress, token);
                }
                finally
                {
                    if (!Resident) FreeModels();
                    _gate.Release();
                }
            }
        }

        GenerationResult Run(ResolvedRequest rr, IProgress<GenerationProgress> progress, CancellationToken cancel)
        {
            var req = rr.Request;
            var timings = new StageTimings();
            var total = Stopwatch.StartNew();
            var warnings = new List<string>();
            int count = req.Count, steps = rr.Steps, h = rr.LatentHeight, w = rr.LatentWidth;
            var sigmas = new FlowSchedule(rr.Shift).Sigmas(steps, req.Denoise);
            var tracker = new ProgressTracker(progress, total, count, sigmas.Length - 1);

            // the init image (image-to-image, inpainting): resized, encoded once for the whole batch; the mask prepared
            tracker.Report(GenerationStage.Encoding, 0, 0);
            var sw = Stopwatch.StartNew();
            var init = req.InitImage != null ? EncodeInitImage(req, timings, tracker, warnings, cancel) : null;
            timings.Encoding = sw.Elapsed;

            // tokens and conditioning, once for the whole batch
            var tokens = _tokenizer.Tokenize(req.Prompt ?? "");
            var negTokens = _tokenizer.Tokenize(req.NegativePrompt ?? "");
            foreach (var x in tokens.Warnings) warnings.Add("prompt: " + x);
            foreach (var x in negTokens.Warnings) warnings.Add("negative prompt: " + x);
            bool useT5 = req.UseT5 && HasT5;
            if (req.UseT5 && !HasT5) warnings.Add("the weights have no T5-XXL: its context rows are zeros (as with T5 off).");
            if (!Resident) _encoder = Timed(() => LoadEncoders(), timings, tracker);
            sw.Restart();
            Sd3Conditioning cond, uncond;
            var encoder = useT5 ? _encoder : new Sd3TextEncoder(_encoder.ClipL, _encoder.ClipG, null, Config.ContextDim, ownsEncoders: false);
            cond = Guard("text encoders", () => Encode(encoder, tokens, useT5));
            cancel.ThrowIfCancellationRequested();
            uncond = Guard("text encoders", () => Encode(encoder, negTokens, useT5));
            timings.Encoding += sw.Elapsed;
            tracker.EncodingDone();
            DropPages(Component.ClipL, Component.ClipG, Component.T5xxl);
            cancel.ThrowIfCancellationRequested();
            if (!Resident) { _encoder.Dispose(); _encoder = null; }

            // sampling, image by image (seed + i)
            if (!Resident) _mmdit = Timed(() => LoadTransformer(), timings, tracker);
            int latentSize = GenerationRequest.LatentChannels * h * w;
            var finals = new float[count][];
            var captures = new GenerationIntermediates[count];
            var images = new GeneratedImage[count];
            var samplingTime = TimeSpan.Zero;
            for (int i = 0; i < count; i++)
            {
                long seed = req.Seed + i;
                float[] noise;
                if (req.InitialNoise != null)
                {
                    noise = new float[latentSize];
                    Array.Copy(req.InitialNoise, (long)i * latentSize, noise, 0, latentSize);
                }
                else noise = TorchCpuNoise.Randn(unchecked((ulong)seed), 1, GenerationRequest.LatentChannels, h, w);
                GenerationIntermediates cap = null;
                if (req.CaptureIntermediates)
                    cap = new GenerationIntermediates
                    {
                        Tokens = tokens, NegativeTokens = negTokens, Cond = cond, Uncond = uncond, Noise = noise, Sigmas = sigmas,
                        InitLatent = init?.Latent, LatentMask = init?.LatentMask,
                    };
                var denoiser = Guided(_mmdit, cond, uncond, rr.Cfg, h, w, req.SkipLayerGuidance, steps);
                if (req.Seamless != SeamlessAxes.None) denoiser = Rolled(denoiser, req.Seamless, GenerationRequest.LatentChannels, h, w);
                sw.Restart();
                tracker.Report(GenerationStage.Sampling, i, 0);
                tracker.BeginSampling();
                float[] final;
                int stepsDone = 0;
                try
                {
                    // x0 = sigma0·noise + (1 − sigma0)·init latent (the init latent is zero for text-to-image); when inpainting,
                    // after every step the latent outside the mask is the init latent noised to the sigma reached
                    var start = Samplers.NoiseScaling(sigmas[0], noise, init?.Latent);
                    final = Guard("transformer", () => Samplers.Sample(rr.Sampler, denoiser, start, sigmas, (step, x) =>
                    {
                        stepsDone = step + 1;
                        if (init?.LatentMask != null) InpaintMask.BlendLatent(x, Samplers.NoiseScaling(sigmas[step + 1], noise, init.Latent), init.LatentMask);
                        cap?.LatentsPerStep.Add((float[])x.Clone());
                        tracker.StepDone(i, step + 1);
                    }, cancel));
                }
                catch (NonFiniteValuesException e)
                {
                    // the transformer's output, checked on the device after every call (DeviceMmdit.CheckFinite)
                    throw Numerics(NumericsStage.Step, stepsDone + 1, sigmas.Length - 1, "transformer (MMDiT)" + (count > 1 ? $", image {i + 1} of {count}" : ""),
                                   Component.Mmdit, e.Count, e.Total, e);
                }
                finally { tracker.EndSampling(); }
                samplingTime += sw.Elapsed;
                finals[i] = final;
                captures[i] = cap;
                if (cap != null) { cap.FinalLatent = final; cap.VaeInput = Samplers.ToVaeInput(final); }
                if (Resident)
                {
                    (_mmdit as DeviceMmdit)?.ReleaseWorkspace();
                    DropPages(Component.Mmdit);
                    images[i] = Decode(rr, i, final, cap, init, timings, tracker, cancel);
                }
            }
            timings.Sampling = samplingTime;
            if (!Resident)
            {
                _mmdit.Dispose(); _mmdit = null;
                DropPages(Component.Mmdit);
                _vae = Timed(() => LoadDecoder(), timings, tracker);
                for (int i = 0; i < count; i++) images[i] = Decode(rr, i, finals[i], captures[i], init, timings, tracker, cancel);
            }
            timings.Total = total.Elapsed;
            tracker.Report(GenerationStage.Done, count - 1, sigmas.Length - 1);
            return new GenerationResult(images, rr, warnings, timings);
        }

        /// <summary>The weights of components that will not run for a while leave the process's resident set (they stay
        /// in the OS file cache; see <see cref="Checkpoint.DropResidentPages"/>): the managed CPU backend reads 16-bit
        /// weights in place from the memory map, so without this the encoders' and the transformer's pages would all
        /// count in the process's peak beside the VAE decode's activations (SD3 Medium at 1024²: 5.1 GB of mapped
        /// pages).</summary>
        void DropPages(params Component[] components)
        {
            foreach (var c in components) _checkpoint.DropResidentPages(c);
        }

        T Timed<T>(Func<T> load, StageTimings timings, ProgressTracker tracker)
        {
            tracker.Report(GenerationStage.Loading, 0, 0);
            var sw = Stopwatch.StartNew();
            var r = load();
            timings.Loading += sw.Elapsed;
            return r;
        }

        VaeDecodeOptions VaeOptions(GenerationRequest req)
        {
            var options = new VaeDecodeOptions { Seamless = req.Seamless, TileSize = _options.VaeTileSize };
            if (_options.MemoryBudget > 0) options.MemoryBudget = Math.Max(1, _options.MemoryBudget - (Resident ? EncoderBytes + TransformerBytes : 0));
            return options;
        }

        GeneratedImage Decode(ResolvedRequest rr, int index, float[] latent, GenerationIntermediates cap, InitImageState init, StageTimings timings,
                              ProgressTracker tracker, CancellationToken cancel)
        {
            cancel.ThrowIfCancellationRequested();
            var req = rr.Request;
            tracker.Report(GenerationStage.Decoding, index, rr.Steps);
            var sw = Stopwatch.StartNew();
            var decoded = Guard("decoder", () => VaeTiling.Decode(_vae, latent, 1, rr.LatentHeight, rr.LatentWidth, VaeOptions(req)));
            CheckFinite(decoded.Data, null, NumericsStage.Decoding, 0, 0, "decoder (VAE)", Component.Vae);
            ImageRgba8 image;
            if (init?.PixelMask != null)
            {
                if (cap != null) cap.Uncomposited = decoded;
                (decoded, image) = InpaintMask.Composite(decoded, init.Image, init.PixelMask);
            }
            else image = ImageRgba8.FromVaeImage(decoded);
            timings.Decoding += sw.Elapsed;
            tracker.DecodeDone(index, sw.Elapsed);
            return new GeneratedImage(index, req.Seed + index, image, decoded, Parameters(rr, index), cap);
        }

        /// <summary>An init image as the sampler uses it: resized to the request, its latent, and the masks.</summary>
        sealed class InitImageState
        {
            public ImageRgba8 Image;
            public float[] Latent;
            /// <summary>The feathered pixel mask [H·W] of the final composite, and the latent-grid mask [h·w]; null without a mask.</summary>
            public float[] PixelMask, LatentMask;
        }

        InitImageState EncodeInitImage(GenerationRequest req, StageTimings timings, ProgressTracker tracker, List<string> warnings, CancellationToken cancel)
        {
            var state = new InitImageState { Image = ImageResize.Lanczos3(req.InitImage, req.Width, req.Height) };
            if (state.Image != req.InitImage)
                warnings.Add($"the init image ({req.InitImage.Width}x{req.InitImage.Height}) was resized to {req.Width}x{req.Height} (Lanczos-3, stretched to fit).");
            if (!req.InitImage.IsOpaque) warnings.Add("the init image's alpha channel is ignored (its RGB is encoded, as the reference does).");
            if (_vaeEncoder == null) _vaeEncoder = Timed(() => LoadVaeEncoder(), timings, tracker);
            try
            {
                cancel.ThrowIfCancellationRequested();
                state.Latent = Guard("image encoder", () => VaeEncoding.Encode(_vaeEncoder, state.Image, VaeOptions(req))).Latent;
                CheckFinite(state.Latent, null, NumericsStage.Encoding, 0, 0, "image encoder (VAE)", Component.Vae);
            }
            finally
            {
                if (!Resident) { _vaeEncoder.Dispose(); _vaeEncoder = null; }
            }
            if (req.Mask != null)
            {
                var mask = ImageResize.Lanczos3(req.Mask, req.Width, req.Height);
                var m = InpaintMask.FromImage(mask);
                state.PixelMask = InpaintMask.Feather(m, req.Width, req.Height, req.MaskBlur, req.Seamless);
                state.LatentMask = InpaintMask.ToLatent(m, req.Width, req.Height, GenerationRequest.VaeScale);
            }
            return state;
        }

        /// <summary>The metadata written into image <paramref name="index"/>'s PNG.</summary>
        GenerationParameters Parameters(ResolvedRequest rr, int index)
        {
            var req = rr.Request;
            var p = new GenerationParameters
            {
                Prompt = req.Prompt ?? "", NegativePrompt = req.NegativePrompt ?? "", Steps = rr.Steps, Sampler = SamplerNames.Key(rr.Sampler),
                CfgScale = rr.Cfg, Seed = req.Seed + index, Width = req.Width, Height = req.Height, Model = ModelName, Shift = rr.Shift,
            };
            p.Extra.Add(new KeyValuePair<string, string>("Family", ModelFamilies.Key(Family != ModelFamily.Unknown ? Family : Architecture)));
            if (!(req.UseT5 && HasT5)) p.Extra.Add(new KeyValuePair<string, string>("T5", "off"));
            if (req.Seamless != SeamlessAxes.None) p.Extra.Add(new KeyValuePair<string, string>("Seamless", SeamlessAxesNames.Name(req.Seamless)));
            if (req.InitialNoise != null) p.Extra.Add(new KeyValuePair<string, string>("Noise", "given"));
            if (req.InitImage != null) p.Extra.Add(new KeyValuePair<string, string>("Denoising strength", GenerationParameters.FormatNumber((double)(decimal)req.Strength)));
            if (req.Mask != null)
            {
                p.Extra.Add(new KeyValuePair<string, string>("Mask", "given"));
                p.Extra.Add(new KeyValuePair<string, string>("Mask blur", req.MaskBlur.ToString(System.Globalization.CultureInfo.InvariantCulture)));
            }
            if (req.SkipLayerGuidance != null && req.SkipLayerGuidance.IsActive)
                p.Extra.Add(new KeyValuePair<string, string>("Skip layer guidance", req.SkipLayerGuidance.ToString()));
            return p;
        }

        /// <summary>The conditioning of one prompt; every encoder's output is checked for NaN / Inf.</summary>
        Sd3Conditioning Encode(Sd3TextEncoder encoder, TokenizedPrompt t, bool useT5)
        {
            var t5 = useT5 ? ToInt(t.T5) : null;
            var all = encoder.EncodeAll(ToInt(t.ClipL), ToInt(t.ClipG), t5, 1, useT5 ? t.T5.Length : 0);
            CheckFinite(all.ClipL.Penultimate, all.ClipL.Pooled, NumericsStage.Encoding, 0, 0, "CLIP-L", Component.ClipL);
            CheckFinite(all.ClipG.Penultimate, all.ClipG.PooledProjected ?? all.ClipG.Pooled, NumericsStage.Encoding, 0, 0, "CLIP-G", Component.ClipG);
            if (all.T5Hidden != null) CheckFinite(all.T5Hidden, null, NumericsStage.Encoding, 0, 0, "T5-XXL", Component.T5xxl);
            return all.Conditioning;
        }

        /// <summary>Throws <see cref="GenerationNumericsException"/> when a host output holds NaN or ±Inf.</summary>
        void CheckFinite(float[] a, float[] b, NumericsStage stage, int step, int steps, string component, Component weights)
        {
            long bad = FiniteCheck.CountNonFinite(a) + FiniteCheck.CountNonFinite(b);
            if (bad > 0) throw Numerics(stage, step, steps, component, weights, bad, (a?.LongLength ?? 0) + (b?.LongLength ?? 0), null);
        }

        GenerationNumericsException Numerics(NumericsStage stage, int step, int steps, string component, Component weights, long count, long total, Exception inner)
        {
            bool f16 = _checkpoint.ComponentWeights(weights).Values.Any(w => w.DType == DType.F16);
            return new GenerationNumericsException(stage, step, steps, component, count, total,
                GenerationNumericsException.Remedy(f16, _device == null || _device.Kind == DeviceKind.Cpu), inner);
        }

        static int[] ToInt(long[] ids)
        {
            var r = new int[ids.Length];
            for (int i = 0; i < r.Length; i++) r[i] = checked((int)ids[i]);
            return r;
        }

        /// <summary>
        /// Classifier-free guidance as the reference's CFGDenoiser: cond and uncond in one batch of 2 when their
        /// contexts have the same length; two passes when they do not (T5 has no padding mask, so a longer prompt's
        /// context cannot be padded to match); one pass when the scale is 1 (the guided result is then the cond one).
        /// With active skip-layer guidance (<paramref name="slg"/>; <paramref name="steps"/> the request's step count),
        /// the guided steps add a third pass, the cond input alone with the named blocks skipped, and the result gains
        /// scale · (cond − skip), as the reference's SkipLayerCFGDenoiser (which counts its calls as the steps).
        /// </summary>
        public static Denoiser Guided(IMmditModel model, Sd3Conditioning cond, Sd3Conditioning uncond, float cfgScale, int h, int w,
                                      SkipLayerGuidance slg = null, int steps = 0)
        {
            // the velocities of cond and uncond (uncond null when the scale is 1)
            Func<float[], float, (float[] cond, float[] uncond)> velocities;
            if (cfgScale == 1f)
                velocities = (x, sigma) => (model.Forward(x, 1, h, w, new[] { FlowSchedule.Timestep(sigma) }, cond.Pooled, cond.Context, cond.ContextTokens), null);
            else if (cond.ContextTokens == uncond.ContextTokens)
            {
                var context = Concat(cond.Context, uncond.Context);
                var pooled = Concat(cond.Pooled, uncond.Pooled);
                velocities = (x, sigma) =>
                {
                    float t = FlowSchedule.Timestep(sigma);
                    var v = model.Forward(Concat(x, x), 2, h, w, new[] { t, t }, pooled, context, cond.ContextTokens);
                    var vc = new float[x.Length];
                    var vu = new float[x.Length];
                    Array.Copy(v, 0, vc, 0, x.Length);
                    Array.Copy(v, x.Length, vu, 0, x.Length);
                    return (vc, vu);
                };
            }
            else
                velocities = (x, sigma) =>
                {
                    var ts = new[] { FlowSchedule.Timestep(sigma) };
                    return (model.Forward(x, 1, h, w, ts, cond.Pooled, cond.Context, cond.ContextTokens),
                            model.Forward(x, 1, h, w, ts, uncond.Pooled, uncond.Context, uncond.ContextTokens));
                };
            bool skip = slg != null && slg.IsActive;
            var skipBlocks = skip ? new HashSet<int>(slg.Layers) : null;
            int call = 0;
            return (x, sigma) =>
            {
                var (vc, vu) = velocities(x, sigma);
                int n = x.Length;
                var den = new float[n];
                for (int i = 0; i < n; i++)
                {
                    float pos = x[i] - vc[i] * sigma;
                    if (vu == null) { den[i] = pos; continue; }
                    float neg = x[i] - vu[i] * sigma;
                    den[i] = neg + (pos - neg) * cfgScale;
                }
                if (skip && slg.IsGuidedStep(call, steps))
                {
                    var vs = model.Forward(x, 1, h, w, new[] { FlowSchedule.Timestep(sigma) }, cond.Pooled, cond.Context, cond.ContextTokens, skipBlocks);
                    // (pos − skip) in denoised terms: (x − vc·σ) − (x − vs·σ) = (vs − vc)·σ
                    for (int i = 0; i < n; i++) den[i] += ((x[i] - vc[i] * sigma) - (x[i] - vs[i] * sigma)) * slg.Scale;
                }
                call++;
                return den;
            };
        }

        static float[] Concat(float[] a, float[] b)
        {
            var r = new float[a.Length + b.Length];
            Array.Copy(a, r, a.Length);
            Array.Copy(b, 0, r, a.Length, b.Length);
            return r;
        }

        /// <summary>
        /// For seamless textures: every second model call sees the latent rolled by half its size along the seamless
        /// axes (and its output rolled back), so the transformer also denoises across the wrap-around edges and the
        /// texture's borders continue each other. The sampler's arithmetic is per element, so only the model call moves.
        /// </summary>
        public static Denoiser Rolled(Denoiser inner, SeamlessAxes axes, int channels, int h, int w)
        {
            int dy = (axes & SeamlessAxes.Y) != 0 ? h / 2 : 0, dx = (axes & SeamlessAxes.X) != 0 ? w / 2 : 0;
            if (dy == 0 && dx == 0) return inner;
            int calls = 0;
            return (x, sigma) =>
            {
                if ((calls++ & 1) == 0) return inner(x, sigma);
                var den = inner(Roll(x, channels, h, w, dy, dx), sigma);
                return Roll(den, channels, h, w, h - dy, w - dx);
            };
        }

        /// <summary>Circular shift of [planes, h, w] by (dy, dx): out[y + dy, x + dx] = in[y, x].</summary>
        public static float[] Roll(float[] x, int planes, int h, int w, int dy, int dx)
        {
            var r = new float[x.Length];
            int n = x.Length / (h * w);
            for (int p = 0; p < n; p++)
            {
                int o = p * h * w;
                for (int y = 0; y < h; y++)
                {
                    int yy = (y + dy) % h;
                    for (int xx = 0; xx < w; xx++) r[o + yy * w + (xx + dx) % w] = x[o + y * w + xx];
                }
            }
            return r;
        }

        static void Report(IProgress<GenerationProgress> progress, GenerationStage stage, Stopwatch total)
            => progress?.Report(new GenerationProgress(stage, 0, 1, 0, 0, 0, null, total.Elapsed));

        /// <summary>Progress over a request: encoding counts as one step's work, each image's decode as a share of its
        /// steps until one decode has been measured; the ETA follows the measured step and decode times.</summary>
        sealed class ProgressTracker
        {
            readonly IProgress<GenerationProgress> _progress;
            readonly Stopwatch _total;
            readonly int _images, _steps;
            double _stepSeconds, _decodeSeconds = -1;
            int _stepsDone, _decodesDone;
            readonly Stopwatch _samplingClock = new Stopwatch();

            public ProgressTracker(IProgress<GenerationProgress> progress, Stopwatch total, int images, int steps)
            {
                _progress = progress; _total = total; _images = images; _steps = steps;
            }

            double DecodeUnits => _decodeSeconds >= 0 && _stepSeconds > 0 ? _decodeSeconds / _stepSeconds : Math.Max(1, _steps / 10.0);
            double TotalUnits => 1 + _images * (_steps + DecodeUnits);
            double DoneUnits(bool encoded) => (encoded ? 1 : 0) + _stepsDone + _decodesDone * DecodeUnits;

            public void EncodingDone() { _encoded = true; }
            bool _encoded;

            public void BeginSampling() => _samplingClock.Start();
            public void EndSampling() => _samplingClock.Stop();

            public void StepDone(int image, int step)
            {
                _stepsDone++;
                _stepSeconds = _samplingClock.Elapsed.TotalSeconds / _stepsDone;
                Report(GenerationStage.Sampling, image, step);
            }

            public void DecodeDone(int image, TimeSpan took)
            {
                _decodesDone++;
                _decodeSeconds = took.TotalSeconds;
            }

            public void Report(GenerationStage stage, int image, int step)
            {
                if (_progress == null) return;
                double total = TotalUnits, done = stage == GenerationStage.Done ? total : DoneUnits(_encoded);
                TimeSpan? eta = null;
                if (_stepSeconds > 0 && stage != GenerationStage.Done) eta = TimeSpan.FromSeconds((total - done) * _stepSeconds);
                if (stage == GenerationStage.Done) eta = TimeSpan.Zero;
                _progress.Report(new GenerationProgress(stage, image, _images, stage == GenerationStage.Sampling ? step : 0, _steps, done / total, eta, _total.Elapsed));
            }
        }

        /// <summary>Cancels a request in flight, waits for it to stop, and frees the models, the device and the
        /// memory-mapped weights.</summary>
        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
            _lifetime.Cancel();
            _gate.Wait();
            try
            {
                FreeModels();
                _device?.Dispose();
                _checkpoint.Dispose();
            }
            finally
            {
                _gate.Release();
                _lifetime.Dispose();
            }
        }
    }
}
