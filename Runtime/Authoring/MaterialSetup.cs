using System;
using System.Collections.Generic;
using System.Linq;
using Sd3Tex.Imaging;
using Sd3Tex.Materials;

namespace Sd3Tex.Authoring
{
    /// <summary>The render pipeline a project uses, which decides the material's shader and packed map.</summary>
    public enum RenderPipelineKind { BuiltIn, Universal, HighDefinition, Other }

    public static class RenderPipelines
    {
        /// <summary>The pipeline of <c>GraphicsSettings.currentRenderPipeline</c>'s type (its full name; null or
        /// empty = no asset = the Built-in pipeline): URP's <c>UniversalRenderPipelineAsset</c>, HDRP's
        /// <c>HDRenderPipelineAsset</c>, or another scriptable pipeline.</summary>
        public static RenderPipelineKind FromAssetType(string typeFullName)
        {
            if (string.IsNullOrEmpty(typeFullName)) return RenderPipelineKind.BuiltIn;
            if (typeFullName.IndexOf("Universal", StringComparison.Ordinal) >= 0) return RenderPipelineKind.Universal;
            if (typeFullName.IndexOf("HighDefinition", StringComparison.Ordinal) >= 0 || typeFullName.EndsWith(".HDRenderPipelineAsset", StringComparison.Ordinal))
                return RenderPipelineKind.HighDefinition;
            return RenderPipelineKind.Other;
        }

        public static string DisplayName(RenderPipelineKind k) => k switch
        {
            RenderPipelineKind.Universal => "URP",
            RenderPipelineKind.HighDefinition => "HDRP",
            RenderPipelineKind.BuiltIn => "Built-in",
            _ => "a custom render pipeline",
        };
    }

    /// <summary>A texture property of a material and what goes into it (<see cref="PbrMapKinds.None"/> = the albedo).</summary>
    public readonly struct MaterialSlot
    {
        public string Property { get; }
        public PbrMapKinds Map { get; }
        /// <summary>The shader keyword that turns the map on (null when none is needed).</summary>
        public string Keyword { get; }

        public MaterialSlot(string property, PbrMapKinds map, string keyword) { Property = property; Map = map; Keyword = keyword; }
        public override string ToString() => $"{Property} ← {(Map == PbrMapKinds.None ? "albedo" : PbrMapNames.Key(Map))}";
    }

    /// <summary>
    /// How a material is made from a texture and its maps for each pipeline's standard lit shader: the shader, the
    /// texture slots with the keywords that enable them (as the shaders' own inspectors set them), and float
    /// properties. URP Lit and Built-in Standard take the metallic-smoothness map (smoothness from its alpha, scale 1),
    /// HDRP Lit the mask map (metallic, AO, detail, smoothness). The height is assigned as the parallax / height map
    /// (URP and Built-in: a small parallax; HDRP: assigned, displacement left off for the user to choose).
    /// </summary>
    public sealed class MaterialSetup
    {
        public RenderPipelineKind Pipeline { get; private set; }
        public string ShaderName { get; private set; }
        public IReadOnlyList<MaterialSlot> Slots { get; private set; }
        public IReadOnlyList<KeyValuePair<string, float>> Floats { get; private set; }
        /// <summary>Keywords enabled whatever the maps (HDRP's tangent-space normals).</summary>
        public IReadOnlyList<string> Keywords { get; private set; }

        /// <summary>The maps this pipeline's material uses (what Save to Assets writes beside the texture).</summary>
        public PbrMapKinds Maps => Slots.Aggregate(PbrMapKinds.None, (m, s) => m | s.Map);

        /// <summary>The setup of a pipeline; null for <see cref="RenderPipelineKind.Other"/> (no known lit shader).</summary>
        public static MaterialSetup For(RenderPipelineKind pipeline)
        {
            switch (pipeline)
            {
                case RenderPipelineKind.Universal:
                    return new MaterialSetup
                    {
                        Pipeline = pipeline, ShaderName = "Universal Render Pipeline/Lit",
                        Slots = new[]
                        {
                            new MaterialSlot("_BaseMap", PbrMapKinds.None, null),
                            new MaterialSlot("_BumpMap", PbrMapKinds.Normal, "_NORMALMAP"),
                            new MaterialSlot("_MetallicGlossMap", PbrMapKinds.Metallic, "_METALLICSPECGLOSSMAP"),
                            new MaterialSlot("_OcclusionMap", PbrMapKinds.Occlusion, "_OCCLUSIONMAP"),
                            new MaterialSlot("_ParallaxMap", PbrMapKinds.Height, "_PARALLAXMAP"),
                        },
                        Floats = Pairs(("_WorkflowMode", 1f), ("_Smoothness", 1f), ("_SmoothnessTextureChannel", 0f), ("_BumpScale", 1f),
                                       ("_OcclusionStrength", 1f), ("_Parallax", 0.01f)),
                        Keywords = new string[0],
                    };
                case RenderPipelineKind.HighDefinition:
                    return new MaterialSetup
                    {
                        Pipeline = pipeline, ShaderName = "HDRP/Lit",
                        Slots = new[]
                        {
                            new MaterialSlot("_BaseColorMap", PbrMapKinds.None, null),
                            new MaterialSlot("_NormalMap", PbrMapKinds.Normal, "_NORMALMAP"),
                            new MaterialSlot("_MaskMap", PbrMapKinds.Mask, "_MASKMAP"),
                            new MaterialSlot("_HeightMap", PbrMapKinds.Height, null),
                        },
                        Floats = Pairs(("_NormalScale", 1f), ("_NormalMapSpace", 0f), ("_MetallicRemapMin", 0f), ("_MetallicRemapMax", 1f),
                                       ("_SmoothnessRemapMin", 0f), ("_SmoothnessRemapMax", 1f), ("_AORemapMin", 0f), ("_AORemapMax", 1f)),
                        Keywords = new[] { "_NORMALMAP_TANGENT_SPACE" },
                    };
                case RenderPipelineKind.BuiltIn:
                    return new MaterialSetup
                    {
                        Pipeline = pipeline, ShaderName = "Standard",
                        Slots = new[]
                        {
                            new MaterialSlot("_MainTex", PbrMapKinds.None, null),
                            new MaterialSlot("_BumpMap", PbrMapKinds.Normal, "_NORMALMAP"),
                            new MaterialSlot("_MetallicGlossMap", PbrMapKinds.Metallic, "_METALLICGLOSSMAP"),
                            new MaterialSlot("_OcclusionMap", PbrMapKinds.Occlusion, null),
                            new MaterialSlot("_ParallaxMap", PbrMapKinds.Height, "_PARALLAXMAP"),
                        },
                        Floats = Pairs(("_GlossMapScale", 1f), ("_SmoothnessTextureChannel", 0f), ("_BumpScale", 1f), ("_OcclusionStrength", 1f), ("_Parallax", 0.01f)),
                        Keywords = new string[0],
                    };
                default:
                    return null;
            }
        }

        static IReadOnlyList<KeyValuePair<string, float>> Pairs(params (string k, float v)[] p) =>
            p.Select(x => new KeyValuePair<string, float>(x.k, x.v)).ToList();

        /// <summary>The material asset's path beside the texture: <c>Assets/.../stone.png</c> → <c>Assets/.../stone.mat</c>.</summary>
        public static string MaterialPath(string textureAssetPath)
        {
            if (string.IsNullOrEmpty(textureAssetPath)) throw new ArgumentException("no texture path.", nameof(textureAssetPath));
            int dot = textureAssetPath.LastIndexOf('.');
            int slash = textureAssetPath.LastIndexOf('/');
            return (dot > slash ? textureAssetPath.Substring(0, dot) : textureAssetPath) + ".mat";
        }

        /// <summary>The asset path of a map saved beside a texture asset.</summary>
        public static string MapAssetPath(string textureAssetPath, PbrMapKinds single)
        {
            int dot = textureAssetPath.LastIndexOf('.');
            int slash = textureAssetPath.LastIndexOf('/');
            string stem = dot > slash ? textureAssetPath.Substring(0, dot) : textureAssetPath;
            return stem + PbrMapNames.Suffix(single) + ".png";
        }
    }
}

namespace Sd3Tex.Authoring
{
    /// <summary>One map Save to Assets writes beside a texture: its asset path, PNG bytes and import settings.</summary>
    public sealed class SavedMap
    {
        public string AssetPath { get; set; }
        public PbrMapKinds Map { get; set; }
        public byte[] Png { get; set; }
        public TextureImportSpec Spec { get; set; }
    }

    /// <summary>What the window's <i>Material maps</i> toggle does on Save to Assets: derive the maps the project's
    /// pipeline uses (<see cref="MaterialSetup.Maps"/>, every map for another pipeline) and write each beside the
    /// texture asset (<c>stone.png</c> → <c>stone_normal.png</c> ...) with its import settings: the normal map as a
    /// normal map, the others linear, all with Repeat on the texture's seamless axes.</summary>
    public static class MaterialMapsSaving
    {
        /// <summary>The options to derive with for a pipeline.</summary>
        public static PbrOptions OptionsFor(RenderPipelineKind pipeline, PbrOptions baseOptions = null)
        {
            var o = (baseOptions ?? new PbrOptions()).Clone();
            o.Maps = MaterialSetup.For(pipeline)?.Maps ?? PbrMapKinds.All;
            return o;
        }

        /// <summary>The files to write beside <paramref name="textureAssetPath"/> for <paramref name="maps"/>.</summary>
        public static List<SavedMap> Plan(string textureAssetPath, GenerationParameters albedoParameters, MaterialMaps maps)
        {
            if (maps == null) throw new ArgumentNullException(nameof(maps));
            var r = new List<SavedMap>();
            foreach (var kind in PbrMapNames.Each(maps.Options.Maps))
            {
                var p = PbrMaps.MapParameters(albedoParameters, kind, maps.Options);
                r.Add(new SavedMap
                {
                    AssetPath = MaterialSetup.MapAssetPath(textureAssetPath, kind), Map = kind, Png = maps.EncodePng(kind, p), Spec = TextureImportSpec.For(p),
                });
            }
            return r;
        }
    }
}
