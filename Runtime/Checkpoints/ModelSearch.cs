using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;

namespace Sd3Tex.Checkpoints
{
    /// <summary>Where a <see cref="ModelCatalog"/> entry was found.</summary>
    public enum ModelSource
    {
        /// <summary>The Hugging Face hub cache (<c>models--stabilityai--stable-diffusion-3*</c> snapshots).</summary>
        HuggingFace,
        /// <summary>A ComfyUI install's <c>models/</c> folders.</summary>
        ComfyUI,
        /// <summary>A folder named in <c>SD3TEX_MODELS</c> (or given to the search).</summary>
        Folder,
    }

    /// <summary>The places a <see cref="ModelCatalog"/> scan looks in. <see cref="FromEnvironment"/> gives the defaults:
    /// the Hugging Face hub cache (<c>$HF_HUB_CACHE</c>, else <c>$HF_HOME/hub</c>, else <c>~/.cache/huggingface/hub</c>),
    /// a ComfyUI root (<c>$COMFYUI_PATH</c>) and the folders of <c>SD3TEX_MODELS</c> (separated by
    /// <see cref="Path.PathSeparator"/>: ':' on Linux and macOS, ';' on Windows).</summary>
    public sealed class ModelSearch
    {
        /// <summary>The hub cache folder (the one holding <c>models--*</c>); null: not searched.</summary>
        public string HuggingFaceHub { get; set; }
        /// <summary>Where <see cref="HuggingFaceHub"/> came from ("HF_HOME", "default" ...), for messages.</summary>
        public string HuggingFaceHubFrom { get; set; }
        /// <summary>ComfyUI roots (folders holding <c>models/</c>).</summary>
        public List<string> ComfyUI { get; set; } = new List<string>();
        /// <summary>Plain model folders; a folder that is a ComfyUI root (it has <c>models/checkpoints</c> or
        /// <c>models/diffusion_models</c>) is searched as one.</summary>
        public List<string> Folders { get; set; } = new List<string>();

        /// <summary>The environment variables the defaults come from.</summary>
        public const string ModelsVariable = "SD3TEX_MODELS", ComfyVariable = "COMFYUI_PATH";

        /// <summary>The default places, from the environment (<paramref name="getVariable"/> reads a variable; default
        /// <see cref="Environment.GetEnvironmentVariable(string)"/>). <paramref name="comfyUi"/> (e.g. <c>--comfyui DIR</c>)
        /// replaces <c>$COMFYUI_PATH</c>; <paramref name="folders"/> are searched after <c>SD3TEX_MODELS</c>'s.</summary>
        public static ModelSearch FromEnvironment(string comfyUi = null, IEnumerable<string> folders = null, Func<string, string> getVariable = null)
        {
            getVariable = getVariable ?? Environment.GetEnvironmentVariable;
            var s = new ModelSearch();
            string hubCache = getVariable("HF_HUB_CACHE"), home = getVariable("HF_HOME");
            if (!string.IsNullOrWhiteSpace(hubCache)) { s.HuggingFaceHub = hubCache; s.HuggingFaceHubFrom = "HF_HUB_CACHE"; }
            else if (!string.IsNullOrWhiteSpace(home)) { s.HuggingFaceHub = Path.Combine(home, "hub"); s.HuggingFaceHubFrom = "HF_HOME"; }
            else
            {
                string user = getVariable("HOME");
                if (string.IsNullOrWhiteSpace(user)) user = getVariable("USERPROFILE");
                if (string.IsNullOrWhiteSpace(user)) user = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
                if (!string.IsNullOrWhiteSpace(user)) { s.HuggingFaceHub = Path.Combine(user, ".cache", "huggingface", "hub"); s.HuggingFaceHubFrom = "default"; }
            }
            string comfy = !string.IsNullOrWhiteSpace(comfyUi) ? comfyUi : getVariable(ComfyVariable);
            if (!string.IsNullOrWhiteSpace(comfy)) s.ComfyUI.Add(comfy.Trim());
            foreach (var f in (getVariable(ModelsVariable) ?? "").Split(new[] { Path.PathSeparator }, StringSplitOptions.RemoveEmptyEntries))
                if (f.Trim().Length > 0) s.Folders.Add(f.Trim());
            foreach (var f in folders ?? Enumerable.Empty<string>())
                if (!string.IsNullOrWhiteSpace(f)) s.Folders.Add(f.Trim());
            return s;
        }

        /// <summary>Every place, in search order, with its source.</summary>
        public IEnumerable<(ModelSource Source, string Path)> Places()
        {
            if (!string.IsNullOrEmpty(HuggingFaceHub)) yield return (ModelSource.HuggingFace, HuggingFaceHub);
            foreach (var c in ComfyUI) yield return (ModelSource.ComfyUI, c);
            foreach (var f in Folders) yield return (IsComfyRoot(f) ? ModelSource.ComfyUI : ModelSource.Folder, f);
        }

        /// <summary>True for a folder laid out as a ComfyUI install (<c>models/checkpoints</c> or <c>models/diffusion_models</c>).</summary>
        public static bool IsComfyRoot(string folder) =>
            Directory.Exists(Path.Combine(folder, "models", "checkpoints")) || Directory.Exists(Path.Combine(folder, "models", "diffusion_models"));

        /// <summary>The key JSON uses for a source: "hf-hub", "comfyui", "folder".</summary>
        public static string Key(ModelSource s) => s == ModelSource.HuggingFace ? "hf-hub" : s == ModelSource.ComfyUI ? "comfyui" : "folder";
    }
}
