using System;
using System.Collections.Generic;
using System.IO;
using Sd3Tex.Authoring;
using Sd3Tex.Generation;
using Sd3Tex.Materials;
using UnityEditor;
using UnityEngine;
using UnityEngine.Rendering;

namespace Sd3Tex.Editor
{
    /// <summary>Writes generated images into the project as PNG assets with the package's import settings.</summary>
    public static class TextureAssets
    {
        /// <summary>
        /// Saves <paramref name="image"/> as a PNG (with its parameters as metadata) under <paramref name="folder"/>
        /// (an Assets/ folder, created when missing) and imports it with <see cref="TextureImportSpec"/>'s settings.
        /// Returns the asset path. Main thread only.
        /// </summary>
        public static string Save(GeneratedImage image, string folder)
        {
            if (image == null) throw new ArgumentNullException(nameof(image));
            string root = ProjectPaths.Root;
            string assetFolder = SaveNaming.NormalizeAssetFolder(folder, root, out string problem);
            if (assetFolder == null) throw new ArgumentException(problem);
            EnsureFolder(assetFolder);
            string assetPath = SaveNaming.UniquePath(assetFolder, SaveNaming.BaseName(image.Parameters.Prompt, image.Seed), ".png",
                                                     p => File.Exists(Path.Combine(root, p)));
            image.SavePng(Path.Combine(root, assetPath));
            Import(assetPath, TextureImportSpec.For(image.Parameters));
            return assetPath;
        }

        /// <summary>
        /// Writes material maps beside a saved texture asset (<c>stone.png</c> → <c>stone_normal.png</c> ...) and imports
        /// each with its settings (<see cref="MaterialMapsSaving"/>: the normal map as a normal map, the others linear,
        /// Repeat on the seamless axes). Returns their asset paths. Main thread only.
        /// </summary>
        public static List<string> SaveMaps(string textureAssetPath, GeneratedImage image, MaterialMaps maps)
        {
            string root = ProjectPaths.Root;
            var written = new List<string>();
            foreach (var m in MaterialMapsSaving.Plan(textureAssetPath, image.Parameters, maps))
            {
                Checkpoints.AtomicFile.WriteAllBytes(Path.Combine(root, m.AssetPath), m.Png);
                Import(m.AssetPath, m.Spec);
                written.Add(m.AssetPath);
            }
            return written;
        }

        /// <summary>The render pipeline the project uses now (GraphicsSettings' current render pipeline asset).</summary>
        public static RenderPipelineKind CurrentPipeline()
        {
            var asset = GraphicsSettings.currentRenderPipeline;
            return RenderPipelines.FromAssetType(asset == null ? null : asset.GetType().FullName);
        }

        /// <summary>
        /// Creates a material beside the texture (<c>stone.mat</c>) with the pipeline's lit shader (URP Lit, HDRP Lit or
        /// Standard) and the texture and its maps assigned (<see cref="MaterialSetup"/>). Returns its asset path, or
        /// throws <see cref="InvalidOperationException"/> when the pipeline has no known lit shader. Main thread only.
        /// </summary>
        public static string CreateMaterial(string textureAssetPath, RenderPipelineKind pipeline)
        {
            var setup = MaterialSetup.For(pipeline)
                        ?? throw new InvalidOperationException($"the project uses {RenderPipelines.DisplayName(pipeline)}, whose lit shader is unknown: assign the maps to your material by hand.");
            var shader = Shader.Find(setup.ShaderName);
            if (shader == null)
                throw new InvalidOperationException($"the shader \"{setup.ShaderName}\" was not found: is the {RenderPipelines.DisplayName(pipeline)} package installed?");
            var material = new Material(shader);
            foreach (var k in setup.Keywords) material.EnableKeyword(k);
            foreach (var slot in setup.Slots)
            {
                string path = slot.Map == PbrMapKinds.None ? textureAssetPath : MaterialSetup.MapAssetPath(textureAssetPath, slot.Map);
                var texture = AssetDatabase.LoadAssetAtPath<Texture2D>(path);
                if (texture == null) continue;
                material.SetTexture(slot.Property, texture);
                if (slot.Keyword != null) material.EnableKeyword(slot.Keyword);
            }
            foreach (var f in setup.Floats)
                if (material.HasProperty(f.Key)) material.SetFloat(f.Key, f.Value);
            string materialPath = MaterialSetup.MaterialPath(textureAssetPath);
            AssetDatabase.CreateAsset(material, materialPath);
            AssetDatabase.SaveAssets();
            return materialPath;
        }

        /// <summary>Imports (or re-imports) a PNG asset with <paramref name="spec"/>'s settings applied as it imports.</summary>
        public static void Import(string assetPath, TextureImportSpec spec)
        {
            if (spec != null) Sd3TexTexturePostprocessor.Expect(assetPath, spec);
            AssetDatabase.ImportAsset(assetPath, ImportAssetOptions.ForceUpdate);
        }

        /// <summary>Creates an Assets/ folder and its parents through the AssetDatabase.</summary>
        public static void EnsureFolder(string assetFolder)
        {
            if (AssetDatabase.IsValidFolder(assetFolder)) return;
            int slash = assetFolder.LastIndexOf('/');
            if (slash <= 0) throw new ArgumentException($"{assetFolder} is not a folder inside Assets/.");
            string parent = assetFolder.Substring(0, slash);
            EnsureFolder(parent);
            AssetDatabase.CreateFolder(parent, assetFolder.Substring(slash + 1));
        }
    }

    /// <summary>
    /// Applies the package's import settings while a texture imports: to the PNGs the window saves and the bakes write
    /// (announced through <see cref="Expect"/>), and to any PNG carrying this package's metadata that arrives without
    /// import settings (a bake from the command line, a copied file). Settings a user changed later are left alone.
    /// </summary>
    public sealed class Sd3TexTexturePostprocessor : AssetPostprocessor
    {
        static readonly Dictionary<string, TextureImportSpec> Expected = new Dictionary<string, TextureImportSpec>(StringComparer.Ordinal);

        public static void Expect(string assetPath, TextureImportSpec spec)
        {
            lock (Expected) Expected[assetPath] = spec;
        }

        void OnPreprocessTexture()
        {
            TextureImportSpec spec;
            lock (Expected)
            {
                if (Expected.TryGetValue(assetPath, out spec)) Expected.Remove(assetPath);
            }
            if (spec == null && assetImporter.importSettingsMissing && assetPath.EndsWith(".png", StringComparison.OrdinalIgnoreCase))
                spec = TextureImportSpec.ForPng(Path.Combine(ProjectPaths.Root, assetPath));
            if (spec == null) return;
            var importer = (TextureImporter)assetImporter;
            importer.textureType = spec.NormalMap ? TextureImporterType.NormalMap : TextureImporterType.Default;
            importer.sRGBTexture = spec.SRgb;
            importer.mipmapEnabled = spec.Mipmaps;
            importer.wrapModeU = spec.RepeatU ? TextureWrapMode.Repeat : TextureWrapMode.Clamp;
            importer.wrapModeV = spec.RepeatV ? TextureWrapMode.Repeat : TextureWrapMode.Clamp;
            importer.userData = spec.UserData;
        }
    }

    /// <summary>Shows a generated texture's parameters (prompt, seed, steps ...) at the top of its inspector.</summary>
    [InitializeOnLoad]
    static class GenerationParametersInspector
    {
        static GenerationParametersInspector()
        {
            UnityEditor.Editor.finishedDefaultHeaderGUI += OnHeader;
        }

        static void OnHeader(UnityEditor.Editor editor)
        {
            if (editor.targets.Length != 1) return;
            var importer = editor.target as AssetImporter;
            if (importer == null && editor.target is Texture2D texture) importer = AssetImporter.GetAtPath(AssetDatabase.GetAssetPath(texture));
            if (!(importer is TextureImporter)) return;
            var parameters = ImporterUserData.Decode(importer.userData);
            if (parameters == null) return;
            EditorGUILayout.LabelField("SD3 Texture Generator", EditorStyles.boldLabel);
            foreach (var row in ImporterUserData.DisplayRows(parameters))
                EditorGUILayout.LabelField(row.Key, row.Value, EditorStyles.wordWrappedLabel);
            if (GUILayout.Button("Copy parameters (A1111 text)")) EditorGUIUtility.systemCopyBuffer = parameters.ToA1111();
        }
    }
}
