using System;
using System.IO;
using Sd3Tex.Authoring;
using Sd3Tex.Baking;
using UnityEditor;
using UnityEngine;
using CoreManifest = Sd3Tex.Baking.BakeManifest;

namespace Sd3Tex.Editor
{
    /// <summary>The BakeManifest inspector: its fields, then Bake / Cancel, the last bake's outcome, and JSON import
    /// and export (the JSON is what <c>sd3tex bake</c> reads).</summary>
    [CustomEditor(typeof(BakeManifest))]
    public sealed class BakeManifestEditor : UnityEditor.Editor
    {
        public override void OnInspectorGUI()
        {
            DrawDefaultInspector();
            var asset = (BakeManifest)target;
            EditorGUILayout.Space();
            if (EditorBake.IsRunning(asset))
            {
                EditorGUILayout.HelpBox("Baking: progress is in the status bar and Window ▸ General ▸ Background Tasks.", MessageType.Info);
                if (GUILayout.Button("Cancel")) EditorBake.Cancel(asset);
                Repaint();
            }
            else
            {
                EditorGUILayout.BeginHorizontal();
                if (GUILayout.Button("Bake")) EditorBake.Start(asset, force: false);
                if (GUILayout.Button("Bake all again")) EditorBake.Start(asset, force: true);
                EditorGUILayout.EndHorizontal();
            }
            string last = EditorBake.LastReport(asset);
            if (last != null) EditorGUILayout.HelpBox("Last bake: " + last, last.Contains("failed") ? MessageType.Warning : MessageType.Info);

            EditorGUILayout.BeginHorizontal();
            if (GUILayout.Button("Import JSON…")) ImportJson(asset);
            if (GUILayout.Button("Export JSON…")) ExportJson(asset);
            EditorGUILayout.EndHorizontal();
        }

        static void ImportJson(BakeManifest asset)
        {
            string path = EditorUtility.OpenFilePanel("Import a bake manifest (sd3tex bake JSON)", ProjectPaths.Root, "json");
            if (string.IsNullOrEmpty(path)) return;
            try
            {
                asset.Load(BakeAssetData.FromManifest(CoreManifest.Load(path), ProjectPaths.Root));
                EditorUtility.SetDirty(asset);
            }
            catch (Exception e) when (e is BakeManifestException || e is IOException || e is FormatException)
            {
                EditorUtility.DisplayDialog("Cannot import " + Path.GetFileName(path), e.Message, "OK");
            }
        }

        static void ExportJson(BakeManifest asset)
        {
            string path = EditorUtility.SaveFilePanel("Export for sd3tex bake", ProjectPaths.Root, asset.name, "json");
            if (string.IsNullOrEmpty(path)) return;
            try
            {
                var manifest = EditorBake.ToManifest(asset, out _);
                File.WriteAllText(path, manifest.ToJson() + "\n");
            }
            catch (Exception e) when (e is BakeManifestException || e is IOException || e is UnauthorizedAccessException)
            {
                EditorUtility.DisplayDialog("Cannot export " + asset.name, e.Message, "OK");
            }
        }
    }
}
