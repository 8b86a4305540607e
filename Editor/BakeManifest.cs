using System.Collections.Generic;
using Sd3Tex.Authoring;
using UnityEngine;

namespace Sd3Tex.Editor
{
    /// <summary>
    /// A list of textures to bake into the project: an output folder inside Assets/, the model, defaults and the
    /// textures. Its inspector has a Bake button; in CI, <see cref="BatchBake.Run"/> bakes it headless. Fields left
    /// empty (0, blank, Inherit) take the defaults', and the defaults' take the model family's preset.
    /// </summary>
    [CreateAssetMenu(fileName = "BakeManifest", menuName = "SD3 Texture Generator/Bake Manifest", order = 1)]
    public sealed class BakeManifest : ScriptableObject
    {
        [Tooltip("Where the PNGs go, inside Assets/ (name.png, or name_0.png ... when Count > 1).")]
        public string outputFolder = "Assets/Textures/Baked";

        [Tooltip("Use the model set in Window ▸ SD3 Texture Generator; untick to give this manifest its own.")]
        public bool useProjectModel = true;

        [Tooltip("This manifest's model when 'Use Project Model' is off (paths relative to the project folder).")]
        public ModelSettings model = new ModelSettings();

        [Tooltip("Values every texture inherits unless it sets its own.")]
        public BakeTextureData defaults = new BakeTextureData { Width = 1024, Height = 1024, Seamless = SeamlessChoice.XY };

        [Tooltip("The textures; each needs a unique name (its file name).")]
        public List<BakeTextureData> textures = new List<BakeTextureData>();

        /// <summary>The asset's fields as engine-free data (what the bake converts into a manifest).</summary>
        public BakeAssetData ToData() => new BakeAssetData
        {
            OutputFolder = outputFolder, UseProjectModel = useProjectModel, Model = model ?? new ModelSettings(),
            Defaults = defaults ?? new BakeTextureData(), Textures = textures ?? new List<BakeTextureData>(),
        };

        /// <summary>Replaces the asset's fields (JSON import).</summary>
        public void Load(BakeAssetData data)
        {
            outputFolder = data.OutputFolder;
            useProjectModel = data.UseProjectModel;
            model = data.Model;
            defaults = data.Defaults;
            textures = data.Textures;
        }
    }
}
