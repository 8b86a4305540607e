using System;
using System.IO;
using System.Threading;
using System.Threading.Tasks;
using Sd3Tex.Authoring;
using Sd3Tex.Generation;
using Sd3Tex.Vae;
using UnityEngine;

namespace Sd3Tex.Unity
{
    /// <summary>
    /// Text prompt to <see cref="Texture2D"/> from scripts. The model loads once and is shared by every caller (the
    /// editor window, components, scripts) through <see cref="GeneratorCache.Shared"/>; generation runs on a worker
    /// thread and the textures are created on the main thread. Call it from the main thread.
    /// <code>
    /// var options = Sd3TexGenerator.ProjectOptions();   // the model set in Window ▸ SD3 Texture Generator
    /// var texture = await Sd3TexGenerator.GenerateTextureAsync(options, new GenerationRequest { Prompt = "mossy cobblestones", Width = 512, Height = 512, Seed = 7 });
    /// GetComponent&lt;Renderer&gt;().material.mainTexture = texture;
    /// </code>
    /// ILGPU compiles its kernels from IL at run time, which needs the Mono scripting backend: it works in the Editor
    /// (edit and play mode), never in IL2CPP players.
    /// </summary>
    public static class Sd3TexGenerator
    {
        /// <summary>The folder relative model paths resolve against: the project folder in the Editor (the one holding
        /// Assets/), the folder holding the player's data folder in a player.</summary>
        public static string ProjectRoot => Path.GetDirectoryName(Application.dataPath);

        /// <summary>The project's model settings (<see cref="ModelSettings.ProjectRelativePath"/>), as the editor window
        /// saves them. A damaged file is reported in the console and gives the defaults.</summary>
        public static ModelSettings ProjectSettings()
        {
            var settings = ModelSettings.Load(Path.Combine(ProjectRoot, ModelSettings.ProjectRelativePath), out string problem);
            if (problem != null) Debug.LogWarning("SD3 Texture Generator: " + problem);
            return settings;
        }

        /// <summary>Generator options from the project's settings; throws <see cref="InvalidOperationException"/> listing
        /// what to fix when they cannot open a model.</summary>
        public static GeneratorOptions ProjectOptions() => OptionsFrom(ProjectSettings());

        /// <summary>Generator options from <paramref name="settings"/>, relative paths against <see cref="ProjectRoot"/>.</summary>
        public static GeneratorOptions OptionsFrom(ModelSettings settings)
        {
            if (settings == null) throw new ArgumentNullException(nameof(settings));
            var problems = settings.Check(ProjectRoot);
            if (FormMessage.AnyErrors(problems))
                throw new InvalidOperationException("the model settings cannot open a model: " + string.Join(" ", problems.FindAll(p => p.Severity == MessageSeverity.Error).ConvertAll(p => p.Text)));
            return settings.ToGeneratorOptions(ProjectRoot);
        }

        /// <summary>Generates <paramref name="request"/>'s first image as a texture (see <see cref="GenerateTexturesAsync"/>).</summary>
        public static async Task<Texture2D> GenerateTextureAsync(GeneratorOptions options, GenerationRequest request, IProgress<GenerationProgress> progress = null,
                                                                 CancellationToken cancel = default)
        {
            var result = await GenerateOnWorkerAsync(options, request, progress, cancel);
            return ToTexture(result.Images[0], request.Seamless);
        }

        /// <summary>
        /// Generates every image of <paramref name="request"/> (seed, seed + 1, ...) as textures: sRGB, with mipmaps,
        /// wrapping (Repeat) along the axes the request makes seamless. The model opens on first use. Progress is
        /// reported on the main thread; cancelling stops within one sampler step with an
        /// <see cref="OperationCanceledException"/>. The caller owns the textures (Destroy them when done).
        /// </summary>
        public static async Task<Texture2D[]> GenerateTexturesAsync(GeneratorOptions options, GenerationRequest request, IProgress<GenerationProgress> progress = null,
                                                                    CancellationToken cancel = default)
        {
            var result = await GenerateOnWorkerAsync(options, request, progress, cancel);
            var textures = new Texture2D[result.Images.Count];
            for (int i = 0; i < textures.Length; i++) textures[i] = ToTexture(result.Images[i], request.Seamless);
            return textures;
        }

        /// <summary>The generation itself, on a worker thread; it resumes on the caller's (main) thread.</summary>
        static async Task<GenerationResult> GenerateOnWorkerAsync(GeneratorOptions options, GenerationRequest request, IProgress<GenerationProgress> progress,
                                                                  CancellationToken cancel)
        {
            if (options == null) throw new ArgumentNullException(nameof(options));
            if (request == null) throw new ArgumentNullException(nameof(request));
            var mainThread = SynchronizationContext.Current;
            if (mainThread == null)
                throw new InvalidOperationException("Sd3TexGenerator must be called from Unity's main thread: it creates the textures there.");
            var onMain = progress == null ? null : new MainThreadProgress(mainThread, progress);
            // no ConfigureAwait(false): the await resumes on the captured main-thread context, where textures may be created
            return await GeneratorCache.Shared.GenerateAsync(options, request, onMain, cancel);
        }

        /// <summary>A texture holding <paramref name="image"/>'s pixels (main thread only).</summary>
        public static Texture2D ToTexture(GeneratedImage image, SeamlessAxes seamless, bool mipmaps = true)
        {
            if (image == null) throw new ArgumentNullException(nameof(image));
            var pixels = image.Image;
            var texture = new Texture2D(pixels.Width, pixels.Height, TextureFormat.RGBA32, mipmaps, false)
            {
                name = SaveNaming.BaseName(image.Parameters.Prompt, image.Seed),
                wrapModeU = (seamless & SeamlessAxes.X) != 0 ? TextureWrapMode.Repeat : TextureWrapMode.Clamp,
                wrapModeV = (seamless & SeamlessAxes.Y) != 0 ? TextureWrapMode.Repeat : TextureWrapMode.Clamp,
            };
            // mip level 0 only (LoadRawTextureData would want the whole mip chain); Apply builds the other levels
            texture.SetPixelData(TexturePixels.BottomUp(pixels), 0);
            texture.Apply(mipmaps, false);
            return texture;
        }

        /// <summary>Cancels every generation and frees the model and device memory (the next request loads it again).</summary>
        public static void ReleaseAll() => GeneratorCache.Shared.Release();

        [RuntimeInitializeOnLoadMethod]
        static void ReleaseOnPlayerQuit()
        {
            // In the Editor, quitting play mode raises Application.quitting: the editor's own hooks release the model
            // before a domain reload and on quit instead, so the window keeps it between play sessions.
            if (!Application.isEditor) Application.quitting += ReleaseAll;
        }

        sealed class MainThreadProgress : IProgress<GenerationProgress>
        {
            readonly SynchronizationContext _context;
            readonly IProgress<GenerationProgress> _inner;

            public MainThreadProgress(SynchronizationContext context, IProgress<GenerationProgress> inner)
            {
                _context = context; _inner = inner;
            }

            public void Report(GenerationProgress value) => _context.Post(_ => _inner.Report(value), null);
        }
    }
}
