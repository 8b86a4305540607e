using System;
using System.Threading;
using Sd3Tex.Generation;
using Sd3Tex.Unity;
using Sd3Tex.Vae;
using UnityEngine;

namespace Sd3Tex.Samples
{
    /// <summary>
    /// Generates a texture for this object's material when play mode starts, with the static API
    /// (<see cref="Sd3TexGenerator"/>). The model is the one set in Window ▸ SD3 Texture Generator.
    /// </summary>
    public sealed class GenerateMaterialTexture : MonoBehaviour
    {
        [Tooltip("What to paint.")]
        public string prompt = "weathered red brick wall, flat even lighting, seamless texture";

        [Tooltip("Width and height in pixels (a multiple of 16).")]
        public int size = 512;

        [Tooltip("The same seed gives the same texture.")]
        public int seed = 1;

        [Tooltip("Make the texture tile in both directions.")]
        public bool seamless = true;

        CancellationTokenSource _cancel;
        Texture2D _texture;
        GenerationStage _lastStage = GenerationStage.Done;

        async void Start()
        {
            _cancel = new CancellationTokenSource();
            var request = new GenerationRequest
            {
                Prompt = prompt, Width = size, Height = size, Seed = seed, Seamless = seamless ? SeamlessAxes.Both : SeamlessAxes.None,
            };
            // reports arrive on the main thread; log each stage once
            var progress = new Progress<GenerationProgress>(p =>
            {
                if (p.Stage == _lastStage) return;
                _lastStage = p.Stage;
                Debug.Log($"{name}: {p}");
            });
            try
            {
                _texture = await Sd3TexGenerator.GenerateTextureAsync(Sd3TexGenerator.ProjectOptions(), request, progress, _cancel.Token);
                if (this == null) return; // left play mode while generating
                GetComponent<Renderer>().material.mainTexture = _texture;
            }
            catch (OperationCanceledException) { }
            catch (Exception e)
            {
                Debug.LogError($"{name}: {e.Message}", this);
            }
        }

        void OnDestroy()
        {
            _cancel?.Cancel();
            if (_texture != null) Destroy(_texture);
        }
    }
}
