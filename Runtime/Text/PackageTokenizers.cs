using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;

namespace Sd3Tex.Text
{
    /// <summary>
    /// The SD3 tokenizer files that ship with the package, in its <c>Tokenizers~</c> folder (<c>clip/vocab.json</c>,
    /// <c>clip/merges.txt</c>, <c>t5/spiece.model</c>), used whenever no tokenizer folder is given. The folder ends in
    /// <c>~</c>, so Unity does not import it; it is found on disk from the package's root:
    /// <list type="number">
    /// <item><see cref="PackageRoot"/> when set (the editor sets it from the Package Manager's resolved path, which is
    /// <c>Library/PackageCache/com.seed.sd3tex@…</c> for a git or registry install, the package folder for a local one);</item>
    /// <item>the folders above this assembly's file (the command-line tool, tests and benchmarks run from
    /// <c>DotNet~/artifacts</c> inside the package);</item>
    /// <item>below the current folder: <c>Packages/com.seed.sd3tex</c> and <c>Library/PackageCache/com.seed.sd3tex@*</c>
    /// (a Unity project's folder, where Unity runs).</item>
    /// </list>
    /// A package root is a folder whose <c>package.json</c> names <see cref="PackageName"/>.
    /// </summary>
    public static class PackageTokenizers
    {
        public const string PackageName = "com.seed.sd3tex";
        /// <summary>The folder, relative to the package root.</summary>
        public const string FolderName = "Tokenizers~";

        static readonly object Gate = new object();
        static string _packageRoot;
        static string _loadedFrom;
        static Sd3Tokenizer _loaded;

        /// <summary>The package's root folder, when known by other means (the editor sets it); null to search.</summary>
        public static string PackageRoot
        {
            get { lock (Gate) return _packageRoot; }
            set { lock (Gate) _packageRoot = string.IsNullOrWhiteSpace(value) ? null : value; }
        }

        /// <summary>The bundled tokenizer folder, or null when the package's files cannot be found.</summary>
        public static string Find()
        {
            foreach (var root in CandidateRoots())
            {
                string folder = Path.Combine(root, FolderName);
                if (IsPackageRoot(root) && File.Exists(Path.Combine(folder, "clip", "vocab.json"))) return Path.GetFullPath(folder);
            }
            return null;
        }

        /// <summary>The bundled tokenizers (loaded once and shared: <see cref="Sd3Tokenizer"/> is thread-safe). Throws
        /// <see cref="TokenizerFileNotFoundException"/> saying where it looked when the package's files are missing.</summary>
        public static Sd3Tokenizer Load()
        {
            string folder = Find();
            if (folder == null)
                throw new TokenizerFileNotFoundException(
                    $"the tokenizer files bundled with the package ({FolderName}/ in {PackageName}) were not found (looked in: " +
                    string.Join(", ", CandidateRoots().Distinct()) + "). Reinstall the package, or name a tokenizer folder. " +
                    TokenizerFileNotFoundException.WhereToGetThem, FolderName);
            lock (Gate)
            {
                if (_loaded != null && _loadedFrom == folder) return _loaded;
            }
            var t = Sd3Tokenizer.Load(folder);
            lock (Gate)
            {
                _loaded = t;
                _loadedFrom = folder;
            }
            return t;
        }

        static IEnumerable<string> CandidateRoots()
        {
            string explicitRoot = PackageRoot;
            if (explicitRoot != null) yield return explicitRoot;
            foreach (var start in new[] { AssemblyFolder(), AppContext.BaseDirectory })
                for (var d = start == null ? null : new DirectoryInfo(start); d != null; d = d.Parent)
                    yield return d.FullName;
            string cwd;
            try { cwd = Directory.GetCurrentDirectory(); }
            catch (IOException) { yield break; }
            yield return Path.Combine(cwd, "Packages", PackageName);
            string cache = Path.Combine(cwd, "Library", "PackageCache");
            string[] cached = Array.Empty<string>();
            try { if (Directory.Exists(cache)) cached = Directory.GetDirectories(cache, PackageName + "@*"); }
            catch (Exception e) when (e is IOException || e is UnauthorizedAccessException) { }
            foreach (var c in cached.OrderBy(x => x, StringComparer.Ordinal)) yield return c;
        }

        static string AssemblyFolder()
        {
            try
            {
                string location = typeof(PackageTokenizers).Assembly.Location;
                return string.IsNullOrEmpty(location) ? null : Path.GetDirectoryName(location);
            }
            catch (NotSupportedException) { return null; }
        }

        static bool IsPackageRoot(string folder)
        {
            string manifest = Path.Combine(folder, "package.json");
            if (!File.Exists(manifest)) return false;
            try { return File.ReadAllText(manifest).Contains("\"" + PackageName + "\""); }
            catch (Exception e) when (e is IOException || e is UnauthorizedAccessException) { return false; }
        }
    }
}
