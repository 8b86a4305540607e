using System;
using System.Globalization;
using System.IO;
using System.Text;

namespace Sd3Tex.Authoring
{
    /// <summary>File names and folders for textures saved into a Unity project.</summary>
    public static class SaveNaming
    {
        public const int MaxSlugLength = 40;

        /// <summary>A file-name-safe form of a prompt: lower-case ASCII letters and digits joined by '_', cut at a word
        /// boundary within <paramref name="maxLength"/> characters; "texture" when nothing is left.</summary>
        public static string Slug(string prompt, int maxLength = MaxSlugLength)
        {
            if (maxLength < 1) throw new ArgumentOutOfRangeException(nameof(maxLength));
            var sb = new StringBuilder();
            foreach (char ch in (prompt ?? "").ToLowerInvariant())
            {
                bool keep = (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9');
                if (keep) sb.Append(ch);
                else if (sb.Length > 0 && sb[sb.Length - 1] != '_') sb.Append('_');
            }
            string s = sb.ToString().Trim('_');
            if (s.Length > maxLength)
            {
                int cut = s.LastIndexOf('_', maxLength);
                s = (cut > 0 ? s.Substring(0, cut) : s.Substring(0, maxLength)).Trim('_');
            }
            return s.Length == 0 ? "texture" : s;
        }

        /// <summary>"mossy_stone_wall_42": the prompt's slug and the image's seed.</summary>
        public static string BaseName(string prompt, long seed) => Slug(prompt) + "_" + seed.ToString(CultureInfo.InvariantCulture);

        /// <summary>
        /// <paramref name="baseName"/> + <paramref name="extension"/> in <paramref name="folder"/>, or with "_2", "_3" ...
        /// appended when <paramref name="exists"/> says the name is taken. Returns the path with '/' separators.
        /// </summary>
        public static string UniquePath(string folder, string baseName, string extension, Func<string, bool> exists)
        {
            if (exists == null) throw new ArgumentNullException(nameof(exists));
            if (string.IsNullOrEmpty(baseName)) throw new ArgumentException("the file needs a name.", nameof(baseName));
            string dir = (folder ?? "").Replace('\\', '/').TrimEnd('/');
            string ext = string.IsNullOrEmpty(extension) ? "" : extension.StartsWith(".", StringComparison.Ordinal) ? extension : "." + extension;
            for (int i = 1; i < 100000; i++)
            {
                string name = baseName + (i == 1 ? "" : "_" + i.ToString(CultureInfo.InvariantCulture)) + ext;
                string path = dir.Length == 0 ? name : dir + "/" + name;
                if (!exists(path)) return path;
            }
            throw new IOException($"{dir} already holds 99999 files named {baseName}*{ext}: choose another folder.");
        }

        /// <summary>
        /// The project-relative asset folder ("Assets/Textures/Generated") that <paramref name="folder"/> names: an
        /// asset path, or an absolute path inside the project's Assets folder. Null, with <paramref name="problem"/>
        /// saying what to do, for anything else (a path outside Assets/, "..", characters Unity rejects).
        /// </summary>
        public static string NormalizeAssetFolder(string folder, string projectRoot, out string problem)
        {
            problem = null;
            string f = (folder ?? "").Trim().Replace('\\', '/').TrimEnd('/');
            if (f.Length == 0)
            {
                problem = "No folder chosen: pick a folder inside Assets/, e.g. Assets/Textures/Generated.";
                return null;
            }
            if (Path.IsPathRooted(f) && !string.IsNullOrEmpty(projectRoot))
            {
                string rel = ModelSettings.MakeRelative(projectRoot, f);
                if (rel != f) f = rel;
            }
            if (f != "Assets" && !f.StartsWith("Assets/", StringComparison.Ordinal))
            {
                problem = $"{folder} is not inside the project's Assets folder: pick a folder under Assets/ (textures outside it are not assets).";
                return null;
            }
            foreach (var part in f.Split('/'))
            {
                if (part.Length == 0 || part == "." || part == ".." || part.IndexOfAny(Path.GetInvalidFileNameChars()) >= 0 || part.IndexOfAny(new[] { ':', '*', '?', '"', '<', '>', '|' }) >= 0)
                {
                    problem = $"{folder}: \"{part}\" cannot be a folder name; use letters, digits, spaces, '_' and '-'.";
                    return null;
                }
                if (part.EndsWith("~", StringComparison.Ordinal) || part.StartsWith(".", StringComparison.Ordinal))
                {
                    problem = $"{folder}: Unity ignores folders named \"{part}\" (hidden or ending in ~), so nothing saved there would be imported.";
                    return null;
                }
            }
            return f;
        }
    }
}
