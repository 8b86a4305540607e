// Reference-only declarations of the UnityEditor members this package uses.
// Every signature is copied from Unity-Technologies/UnityCsReference, branch 2022.3 (Unity 2022.3.76f1); the file each
// type is declared in is named above it. Same rules as UnityEngine.cs: bodies `throw null`, `extern` and binding
// attributes dropped, members and interfaces the package does not use left out. Never run, never shipped.
#pragma warning disable CS0109 // `new` kept as Unity declares it although the hidden member is not declared here

using System;
using UnityEngine;
using UnityEngine.UIElements;
using UnityObject = UnityEngine.Object;

namespace UnityEditor
{
    // Editor/Mono/EditorWindow.cs
    public partial class EditorWindow : ScriptableObject
    {
        public VisualElement rootVisualElement { get => throw null; }
        public void ShowNotification(GUIContent notification) => throw null;
        public static T GetWindow<T>(string title) where T : EditorWindow => throw null;
    }

    // Editor/Mono/MenuItem.cs
    [AttributeUsage(AttributeTargets.Method, AllowMultiple = true)]
    public sealed class MenuItem : Attribute
    {
        public MenuItem(string itemName) => throw null;
    }

    // Editor/Mono/EditorAssemblies.cs
    [AttributeUsage(AttributeTargets.Class)]
    public class InitializeOnLoadAttribute : Attribute
    {
    }

    // Editor/Mono/AssemblyReloadEvents.cs
    public static class AssemblyReloadEvents
    {
        public delegate void AssemblyReloadCallback();
        public static event AssemblyReloadCallback beforeAssemblyReload { add => throw null; remove => throw null; }
    }

    // Editor/Mono/EditorApplication.bindings.cs (class, Exit), Editor/Mono/EditorApplication.cs (quitting)
    public sealed partial class EditorApplication
    {
        public static event Action quitting { add => throw null; remove => throw null; }
        public static void Exit(int returnValue) => throw null;
    }

    // Editor/Mono/Progress/Progress.bindings.cs
    public static partial class Progress
    {
        public enum Status
        {
            Running,
            Succeeded,
            Failed,
            Canceled,
            Paused
        }

        [Flags]
        public enum Options
        {
            None = 0 << 0,
            Sticky = 1 << 0,
            Indefinite = 1 << 1,
            Synchronous = 1 << 2,
            Managed = 1 << 3,
            Unmanaged = 1 << 4
        }

        public enum TimeDisplayMode
        {
            NoTimeShown,
            ShowRunningTime,
            ShowRemainingTime
        }

        public static int Start(string name, string description = null, Options options = Options.None, int parentId = -1) => throw null;
        public static void Finish(int id, Status status = Status.Succeeded) => throw null;
        public static void Report(int id, float progress, string description) => throw null;
        public static void RegisterCancelCallback(int id, Func<bool> callback) => throw null;
        public static void SetTimeDisplayMode(int id, TimeDisplayMode displayMode) => throw null;
        public static void SetRemainingTime(int id, long seconds) => throw null;
    }

    // Editor/Mono/EditorUtility.bindings.cs (panels, SetDirty, DisplayDialog), Editor/Mono/EditorUtility.cs (class)
    public partial class EditorUtility
    {
        public static string OpenFilePanel(string title, string directory, string extension) => throw null;
        public static string OpenFolderPanel(string title, string folder, string defaultName) => throw null;
        public static string SaveFilePanel(string title, string directory, string defaultName, string extension) => throw null;
        public static bool DisplayDialog(string title, string message, string ok) => throw null;
        public static void SetDirty(UnityObject target) => throw null;
    }

    // Modules/AssetDatabase/Editor/ScriptBindings/AssetDatabase.bindings.cs
    [Flags]
    public enum ImportAssetOptions
    {
        Default                     = 0,
        ForceUpdate                 = 1 <<  0,
    }

    // Editor/Mono/AssetDatabase/AssetDatabase.cs (class), Modules/AssetDatabase/Editor/ScriptBindings/AssetDatabase.bindings.cs (members)
    public sealed partial class AssetDatabase
    {
        public static string CreateFolder(string parentFolder, string newFolderName) => throw null;
        public static void CreateAsset(UnityObject asset, string path) => throw null;
        public static void SaveAssets() => throw null;
        public static bool DeleteAsset(string path) => throw null;
        public static void ImportAsset(string path, ImportAssetOptions options) => throw null;
        public static bool IsValidFolder(string path) => throw null;
        public static string GetAssetPath(UnityObject assetObject) => throw null;
        public static T LoadAssetAtPath<T>(string assetPath) where T : UnityObject => throw null;
        public static void DisallowAutoRefresh() => throw null;
        public static void AllowAutoRefresh() => throw null;
    }

    // Editor/Mono/AssetPipeline/AssetImporter.bindings.cs
    public partial class AssetImporter : UnityObject
    {
        public bool importSettingsMissing { get => throw null; }
        public string userData { get => throw null; set => throw null; }
        public static AssetImporter GetAtPath(string path) => throw null;
    }

    // Editor/Mono/AssetPipeline/TextureImporterEnums.cs
    public enum TextureImporterType
    {
        Default = 0,
        NormalMap = 1,
    }

    // Editor/Mono/AssetPipeline/TextureImporter.bindings.cs
    public sealed partial class TextureImporter : AssetImporter
    {
        public bool mipmapEnabled { get => throw null; set => throw null; }
        public bool sRGBTexture { get => throw null; set => throw null; }
        public TextureWrapMode wrapModeU { get => throw null; set => throw null; }
        public TextureWrapMode wrapModeV { get => throw null; set => throw null; }
        public TextureImporterType textureType { get => throw null; set => throw null; }
    }

    // Editor/Mono/AssetPostprocessor.cs
    public partial class AssetPostprocessor
    {
        public string assetPath { get => throw null; set => throw null; }
        public AssetImporter assetImporter { get => throw null; }
    }

    // Editor/Mono/Inspector/Editor.cs
    public partial class Editor : ScriptableObject
    {
        public UnityObject target { get => throw null; set => throw null; }
        public UnityObject[] targets { get => throw null; }
        public bool DrawDefaultInspector() => throw null;
        public void Repaint() => throw null;
        public virtual void OnInspectorGUI() => throw null;
        public static event Action<Editor> finishedDefaultHeaderGUI;
    }

    // Editor/Mono/Inspector/CustomEditor.cs
    public class CustomEditor : System.Attribute
    {
        public CustomEditor(System.Type inspectedType) => throw null;
    }

    // Editor/Mono/EditorGUIUtility.bindings.cs
    public enum MessageType
    {
        None = 0,
        Info = 1,
        Warning = 2,
        Error = 3
    }

    // Editor/Mono/EditorGUILayout.cs
    public sealed partial class EditorGUILayout
    {
        public static void LabelField(string label, GUIStyle style, params GUILayoutOption[] options) => throw null;
        public static void LabelField(string label, string label2, GUIStyle style, params GUILayoutOption[] options) => throw null;
        public static void HelpBox(string message, MessageType type) => throw null;
        public static void Space() => throw null;
        public static Rect BeginHorizontal(params GUILayoutOption[] options) => throw null;
        public static void EndHorizontal() => throw null;
    }

    // Editor/Mono/GUI/EditorStyles.cs
    public sealed class EditorStyles
    {
        public static GUIStyle boldLabel { get => throw null; }
        public static GUIStyle wordWrappedLabel { get => throw null; }
    }

    // Editor/Mono/EditorGUIUtility.cs (class, PingObject), Editor/Mono/EditorGUIUtility.bindings.cs (systemCopyBuffer)
    public sealed partial class EditorGUIUtility : GUIUtility
    {
        public new static string systemCopyBuffer { get => throw null; set => throw null; }
        public static void PingObject(UnityObject obj) => throw null;
    }
}

namespace UnityEditor.PackageManager
{
    // Modules/PackageManager/Editor/Managed/PackageInfo.cs
    [Serializable]
    public sealed partial class PackageInfo
    {
        public string resolvedPath { get => throw null; }
        public static PackageInfo FindForAssembly(System.Reflection.Assembly assembly) => throw null;
    }
}
