using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using Sd3Tex.Checkpoints;

namespace Sd3Tex.Authoring
{
    /// <summary>
    /// The generator window's <i>Model</i> dropdown: the models <c>sd3tex models</c> lists (<see cref="ModelCatalog"/>:
    /// the Hugging Face cache, <c>$COMFYUI_PATH</c>, <c>$SD3TEX_MODELS</c> and the settings' <see cref="ModelSettings.ModelFolders"/>),
    /// after a first entry that keeps the weights typed by hand. Choosing a model writes its files into the settings'
    /// weights (relative to the project when inside it), so the settings stay explicit and shareable.
    /// </summary>
    public sealed class ModelChoices
    {
        /// <summary>The first entry: the weights as listed by hand.</summary>
        public const string Custom = "Custom: the weights listed below";

        public IReadOnlyList<FoundModel> Found { get; }
        /// <summary>The dropdown's entries: <see cref="Custom"/>, then one per found model (unique texts).</summary>
        public List<string> Labels { get; }
        /// <summary>Where the scan looked, and what it found, in words (for a help line under the dropdown).</summary>
        public string Summary { get; }

        public ModelChoices(ModelCatalog catalog)
        {
            if (catalog == null) throw new ArgumentNullException(nameof(catalog));
            Found = catalog.Models;
            Labels = new List<string> { Custom };
            foreach (var m in Found)
            {
                string label = Label(m), unique = label;
                for (int k = 2; Labels.Contains(unique); k++) unique = label + " (" + k.ToString(CultureInfo.InvariantCulture) + ")";
                Labels.Add(unique);
            }
            Summary = $"{Found.Count} model(s) found ({Found.Count(m => m.Complete)} ready) in {catalog.SearchedText()}.";
        }

        /// <summary>Scans the places of <paramref name="settings"/> (relative folders against <paramref name="projectRoot"/>);
        /// <paramref name="getVariable"/> reads the environment (default: the process's).</summary>
        public static ModelChoices Scan(ModelSettings settings, string projectRoot, Func<string, string> getVariable = null)
        {
            var folders = (settings?.ModelFolders ?? new List<string>()).Where(f => !string.IsNullOrWhiteSpace(f)).Select(f => ModelSettings.Resolve(projectRoot, f.Trim()));
            return new ModelChoices(ModelCatalog.Scan(ModelSearch.FromEnvironment(null, folders, getVariable)));
        }

        /// <summary>"sd3.5_medium · SD3.5 Medium · F16 · 9.23 GB · ComfyUI", "… · incomplete" when it cannot be used.
        /// No '/' (the dropdown would make submenus of it).</summary>
        public static string Label(FoundModel m)
        {
            string where = m.Source == ModelSource.HuggingFace ? "Hugging Face cache" : m.Source == ModelSource.ComfyUI ? "ComfyUI" : "folder";
            string label = $"{m.Name} · {m.FamilyText} · {m.DType} · {ModelCatalog.Size(m.Bytes)} · {where}" + (m.Complete ? "" : " · incomplete");
            return label.Replace('/', '∕');
        }

        /// <summary>The entry the settings' weights stand for: a found model whose files are exactly those, else 0 (custom).</summary>
        public int IndexOf(ModelSettings settings, string projectRoot)
        {
            if (settings == null) return 0;
            var current = new HashSet<string>(settings.ToGeneratorOptions(projectRoot).Weights.Select(Canonical), StringComparer.Ordinal);
            for (int i = 0; i < Found.Count; i++)
            {
                var weights = Found[i].Weights().Select(Canonical).ToList();
                if (weights.Count == current.Count && weights.All(current.Contains)) return i + 1;
            }
            return 0;
        }

        /// <summary>Entry <paramref name="index"/> chosen: its files become the settings' weights. Returns null when done,
        /// or an error saying what is missing (the weights are then left as they were). Index 0 (custom) changes nothing.</summary>
        public FormMessage Apply(int index, ModelSettings settings, string projectRoot)
        {
            if (settings == null) throw new ArgumentNullException(nameof(settings));
            if (index <= 0 || index > Found.Count) return null;
            var m = Found[index - 1];
            if (!m.Complete)
                return FormMessage.Error("Weights", $"{m.Name} cannot be used: {m.WhatIsWrong()}. Put the missing files beside it (or in ComfyUI's models/clip, " +
                                                    "models/text_encoders, models/vae), or list the weights by hand.");
            settings.Weights = m.Weights().Select(w =>
            {
                string role = Checkpoint.SplitRole(w, out string path);
                return role + ModelSettings.MakeRelative(projectRoot, path);
            }).ToList();
            return null;
        }

        /// <summary>A weights entry with its path made absolute and normalised, the role kept.</summary>
        static string Canonical(string entry)
        {
            string role = Checkpoint.SplitRole(entry, out string path);
            try { path = Path.GetFullPath(path).TrimEnd(Path.DirectorySeparatorChar, Path.AltDirectorySeparatorChar); }
            catch (Exception e) when (e is ArgumentException || e is NotSupportedException || e is PathTooLongException) { }
            return role + path;
        }
    }
}
