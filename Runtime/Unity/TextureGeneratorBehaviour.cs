using System;
using System.Threading;
using System.Threading.Tasks;
using Sd3Tex.Authoring;
using Sd3Tex.Generation;
using UnityEngine;

namespace Sd3Tex.Unity
{
    /// <summary>
    /// Generates a texture from a prompt and puts it on a renderer's material. The model is shared with every other
    /// generator (<see cref="Sd3TexGenerator"/>); the work runs off the main thread. Progress and cancellation are
    /// exposed for UI: <see cref="Progress"/>, <see cref="Status"/>, <see cref="Cancel"/>.
    /// </summary>
    [AddComponentMenu("SD3 Texture Generator/Texture Generator")]
    [DisallowMultipleComponent]
    public sealed class TextureGeneratorBehaviour : MonoBehaviour
    {
        [Tooltip("Use the model set in Window ▸ SD3 Texture Generator (ProjectSettings/Sd3TexSettings.json). Untick to set it below.")]
        public bool useProjectModel = true;

        [Tooltip("The model when 'Use Project Model' is off. Relative paths are relative to the project folder (the one holding Assets/).")]
        public ModelSettings model = new ModelSettings();

        [Tooltip("Prompt, size, sampling settings, seed and seamless axes.")]
        public GenerationForm request = new GenerationForm { Prompt = "mossy cobblestone path, top-down, seamless texture", Size = SizePreset.Square512, SeamlessX = true, SeamlessY = true };

        [Tooltip("Generate when the component starts.")]
        public bool generateOnStart = true;

        [Tooltip("The renderer whose material receives the texture; empty: this GameObject's renderer.")]
        public Renderer targetRenderer;

        [Tooltip("The material's texture property (e.g. _BaseMap, _MainTex); empty: its main texture.")]
        public string textureProperty = "";

        CancellationTokenSource _cancel;
        readonly System.Random _random = new System.Random();

        /// <summary>Fraction done of the generation in flight, 0 to 1.</summary>
        public float Progress { get; private set; }
        /// <summary>What it is doing ("step 12/28", "done", an error ...).</summary>
        public string Status { get; private set; } = "idle";
        public bool IsGenerating => _cancel != null;
        /// <summary>The last texture generated (owned by this component, destroyed with it).</summary>
        public Texture2D Texture { get; private set; }
        /// <summary>Raised on the main thread with each new texture.</summary>
        public event Action<Texture2D> Generated;

        void Start()
        {
            if (generateOnStart) Generate();
        }

        /// <summary>Starts a generation (the one in flight, if any, is cancelled); errors go to the console and <see cref="Status"/>.</summary>
        public void Generate() => LogFailures(GenerateAsync());

        /// <summary>Generates and applies a texture; returns it, or null when the generation failed or was cancelled.</summary>
        public async Task<Texture2D> GenerateAsync()
        {
            Cancel();
            var problems = request.Validate(null, Sd3TexGenerator.ProjectRoot);
            if (FormMessage.AnyErrors(problems))
            {
                Status = "cannot generate: " + string.Join(" ", problems.FindAll(p => p.Severity == MessageSeverity.Error).ConvertAll(p => p.Text));
                Debug.LogError($"{name}: {Status}", this);
                return null;
            }
            var cancel = new CancellationTokenSource();
            _cancel = cancel;
            Progress = 0;
            Status = "starting";
            try
            {
                var options = useProjectModel ? Sd3TexGenerator.ProjectOptions() : Sd3TexGenerator.OptionsFrom(model);
                var progress = new System.Progress<GenerationProgress>(p =>
                {
                    if (_cancel != cancel) return;
                    Progress = (float)p.Fraction;
                    Status = p.Describe();
                });
                // with an init image the pictures are read now (paths relative to the project), image-to-image or inpainting
                long seed = request.NextSeed(_random);
                var generation = request.HasInitImage ? request.ToImageRequest(seed, Sd3TexGenerator.ProjectRoot) : request.ToRequest(seed);
                var texture = await Sd3TexGenerator.GenerateTextureAsync(options, generation, progress, cancel.Token);
                if (this == null)
                {
                    // destroyed while generating
                    DestroySafely(texture);
                    return null;
                }
                Apply(texture);
                Progress = 1;
                Status = "done";
                Generated?.Invoke(texture);
                return texture;
            }
            catch (OperationCanceledException)
            {
                if (_cancel == cancel) Status = "cancelled";
                return null;
            }
            catch (Exception e)
            {
                Status = "failed: " + e.Message;
                Debug.LogError($"{name}: generation failed: {e.Message}", this);
                return null;
            }
            finally
            {
                if (_cancel == cancel) _cancel = null;
                cancel.Dispose();
            }
        }

        /// <summary>Cancels the generation in flight (it stops within one sampler step).</summary>
        public void Cancel()
        {
            var c = _cancel;
            _cancel = null;
            if (c != null)
            {
                c.Cancel();
                Status = "cancelled";
            }
        }

        void Apply(Texture2D texture)
        {
            if (Texture != null) DestroySafely(Texture);
            Texture = texture;
            var target = targetRenderer != null ? targetRenderer : GetComponent<Renderer>();
            if (target == null)
            {
                Debug.LogWarning($"{name}: no renderer to put the texture on; it is in {nameof(TextureGeneratorBehaviour)}.{nameof(Texture)}.", this);
                return;
            }
            // in edit mode .material would leak a copy into the scene: edit the shared one there
            var material = Application.isPlaying ? target.material : target.sharedMaterial;
            if (string.IsNullOrEmpty(textureProperty)) material.mainTexture = texture;
            else if (material.HasProperty(textureProperty)) material.SetTexture(textureProperty, texture);
            else Debug.LogWarning($"{name}: the material's shader has no property {textureProperty}; set Texture Property to one it has (e.g. _BaseMap or _MainTex).", this);
        }

        void OnDisable() => Cancel();

        void OnDestroy()
        {
            Cancel();
            if (Texture != null) DestroySafely(Texture);
        }

        static void DestroySafely(UnityEngine.Object o)
        {
            if (Application.isPlaying) UnityEngine.Object.Destroy(o);
            else UnityEngine.Object.DestroyImmediate(o);
        }

        static async void LogFailures(Task task)
        {
            try { await task; }
            catch (Exception e) { Debug.LogException(e); }
        }
    }
}
