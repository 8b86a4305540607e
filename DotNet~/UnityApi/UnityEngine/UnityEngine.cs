// Reference-only declarations of the UnityEngine members this package uses.
// Every signature is copied from Unity-Technologies/UnityCsReference, branch 2022.3 (Unity 2022.3.76f1); the file each
// type is declared in is named above it. Only what changes compilation is kept: access, static/virtual/sealed, types,
// parameters and their C# default values, attribute usage. Dropped: bodies (here `throw null`), `extern`/`unsafe`,
// native-binding and documentation attributes ([NativeMethod], [uei.DefaultValue] ...), members and interfaces the
// package does not use. Nothing here runs; this assembly is never shipped.

using System;

namespace UnityEngine
{
    // Runtime/Export/Scripting/UnityEngineObject.bindings.cs
    [Flags]
    public enum HideFlags
    {
        None = 0,
        HideInHierarchy = 1,
        HideInInspector = 2,
        DontSaveInEditor = 4,
        NotEditable = 8,
        DontSaveInBuild = 16,
        DontUnloadUnusedAsset = 32,
        DontSave = DontSaveInEditor | DontSaveInBuild | DontUnloadUnusedAsset,
        HideAndDontSave = HideInHierarchy | DontSaveInEditor | NotEditable | DontSaveInBuild | DontUnloadUnusedAsset
    }

    // Runtime/Export/Scripting/UnityEngineObject.bindings.cs
    public partial class Object
    {
        public int GetInstanceID() => throw null;
        public string name { get => throw null; set => throw null; }
        public static void Destroy(Object obj) => throw null;
        public static void DestroyImmediate(Object obj) => throw null;
        public HideFlags hideFlags { get => throw null; set => throw null; }
        public static bool operator==(Object x, Object y) => throw null;
        public static bool operator!=(Object x, Object y) => throw null;
    }

    // Runtime/Export/Scripting/ScriptableObject.bindings.cs
    public class ScriptableObject : Object
    {
        public ScriptableObject() => throw null;
        public static T CreateInstance<T>() where T : ScriptableObject => throw null;
    }

    // Runtime/Export/Scripting/Component.bindings.cs
    public partial class Component : UnityEngine.Object
    {
        public T GetComponent<T>() => throw null;
    }

    // Runtime/Export/Scripting/Behaviour.bindings.cs
    public class Behaviour : Component
    {
    }

    // Runtime/Export/Scripting/MonoBehaviour.bindings.cs
    public class MonoBehaviour : Behaviour
    {
    }

    // Runtime/Export/Graphics/GraphicsRenderers.bindings.cs
    public partial class Renderer : Component
    {
        public Material material { get => throw null; set => throw null; }
        public Material sharedMaterial { get => throw null; set => throw null; }
    }

    // Runtime/Export/Shaders/Material.bindings.cs (class, constructor, EnableKeyword), Runtime/Export/Shaders/Material.cs (the rest)
    public partial class Material : Object
    {
        public Material(Shader shader) => throw null;
        public Texture mainTexture { get => throw null; set => throw null; }
        public bool HasProperty(string name) => throw null;
        public void SetTexture(string name, Texture value) => throw null;
        public void EnableKeyword(string keyword) => throw null;
        public void SetFloat(string name, float value) => throw null;
    }

    // Runtime/Export/Shaders/Shader.bindings.cs
    public sealed partial class Shader : Object
    {
        public static Shader Find(string name) => throw null;
    }

    // Runtime/Export/Graphics/GraphicsEnums.cs
    public enum TextureWrapMode
    {
        Repeat = 0,
        Clamp = 1,
    }

    // Runtime/Export/Graphics/GraphicsEnums.cs
    public enum TextureFormat
    {
        RGBA32 = 4,
    }

    // Runtime/Export/Graphics/Texture.bindings.cs
    public partial class Texture : Object
    {
        public TextureWrapMode wrapModeU { get => throw null; set => throw null; }
        public TextureWrapMode wrapModeV { get => throw null; set => throw null; }
    }

    // Runtime/Export/Graphics/Texture.bindings.cs (class), Runtime/Export/Graphics/Texture.cs (members)
    public sealed partial class Texture2D : Texture
    {
        public Texture2D(int width, int height, TextureFormat textureFormat, bool mipChain, bool linear) => throw null;
        public void SetPixelData<T>(T[] data, int mipLevel, int sourceDataStartIndex = 0) => throw null;
        public void Apply(bool updateMipmaps, bool makeNoLongerReadable) => throw null;
    }

    // Runtime/Export/Geometry/Rect.cs
    public partial struct Rect
    {
    }

    // Runtime/Export/Application/Application.bindings.cs (dataPath, isPlaying), Runtime/Export/Application/Application.cs (quitting, isEditor)
    public partial class Application
    {
        public static string dataPath { get => throw null; }
        public static bool isPlaying { get => throw null; }
        public static event Action quitting { add => throw null; remove => throw null; }
        public static bool isEditor { get => throw null; }
    }

    // Runtime/Export/Debug/Debug.bindings.cs
    public partial class Debug
    {
        public static void Log(object message) => throw null;
        public static void Log(object message, Object context) => throw null;
        public static void LogError(object message) => throw null;
        public static void LogError(object message, Object context) => throw null;
        public static void LogException(Exception exception) => throw null;
        public static void LogWarning(object message) => throw null;
        public static void LogWarning(object message, Object context) => throw null;
    }

    // Runtime/Export/Scripting/Attributes.cs
    [AttributeUsage(AttributeTargets.Class, Inherited = false)]
    public sealed class DisallowMultipleComponent : Attribute {}

    // Runtime/Export/Scripting/Attributes.cs
    public sealed class AddComponentMenu : Attribute
    {
        public AddComponentMenu(string menuName) => throw null;
    }

    // Runtime/Export/Scripting/Attributes.cs
    [AttributeUsage(AttributeTargets.Class, AllowMultiple = false, Inherited = false)]
    public sealed class CreateAssetMenuAttribute : Attribute
    {
        public string menuName { get => throw null; set => throw null; }
        public string fileName { get => throw null; set => throw null; }
        public int order { get => throw null; set => throw null; }
    }

    // Runtime/Export/PropertyDrawer/PropertyAttribute.cs
    [System.AttributeUsage(AttributeTargets.Field, Inherited = true, AllowMultiple = false)]
    public abstract class PropertyAttribute : Attribute
    {
    }

    // Runtime/Export/PropertyDrawer/PropertyAttribute.cs
    [System.AttributeUsage(AttributeTargets.All, Inherited = true, AllowMultiple = false)]
    public class TooltipAttribute : PropertyAttribute
    {
        public TooltipAttribute(string tooltip) => throw null;
    }

    // Runtime/Export/Serialization/Serialization.cs
    public sealed partial class SerializeField : Attribute
    {
    }

    // Runtime/Export/Scripting/RuntimeInitializeOnLoadAttribute.cs
    [System.AttributeUsage(AttributeTargets.Method, AllowMultiple = false)]
    public class RuntimeInitializeOnLoadMethodAttribute : Scripting.PreserveAttribute
    {
        public RuntimeInitializeOnLoadMethodAttribute() => throw null;
    }

    // Modules/IMGUI/GUIEnums.cs
    public enum ScaleMode
    {
        StretchToFill = 0,
        ScaleAndCrop = 1,
        ScaleToFit = 2
    }

    // Modules/IMGUI/GUIContent.cs
    public class GUIContent
    {
        public GUIContent(string text) => throw null;
    }

    // Modules/IMGUI/GUIStyle.cs
    public sealed partial class GUIStyle
    {
    }

    // Modules/IMGUI/GUILayoutOption.cs
    public sealed class GUILayoutOption
    {
    }

    // Modules/IMGUI/GUILayout.cs
    public partial class GUILayout
    {
        static public bool Button(string text, params GUILayoutOption[] options) => throw null;
    }

    // Modules/IMGUI/GUIUtility.bindings.cs, Modules/IMGUI/GUIUtility.cs
    public partial class GUIUtility
    {
    }
}

namespace UnityEngine.Rendering
{
    // Runtime/Export/Graphics/GraphicsSettings.bindings.cs
    public sealed partial class GraphicsSettings : Object
    {
        public static RenderPipelineAsset currentRenderPipeline { get => throw null; }
    }

    // Runtime/Export/RenderPipeline/RenderPipelineAsset.cs
    public abstract class RenderPipelineAsset : ScriptableObject
    {
    }
}

namespace UnityEngine.Scripting
{
    // Runtime/Export/Scripting/PreserveAttribute.cs
    [System.AttributeUsage(AttributeTargets.Method | AttributeTargets.Class | AttributeTargets.Field | AttributeTargets.Property
        | AttributeTargets.Constructor | AttributeTargets.Interface | AttributeTargets.Delegate | AttributeTargets.Event | AttributeTargets.Struct | AttributeTargets.Assembly | AttributeTargets.Enum, Inherited = false)]
    public class PreserveAttribute : System.Attribute
    {
    }
}
