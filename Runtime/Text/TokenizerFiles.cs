using System.IO;
using System.Text;

namespace Sd3Tex.Text
{
    internal static class TokenizerFiles
    {
        public static TokenizerFileNotFoundException Missing(string path, string what) =>
            new TokenizerFileNotFoundException($"{what} not found: {path}. {TokenizerFileNotFoundException.WhereToGetThem}", path);

        public static string ReadText(string path, string what)
        {
            if (path == null) throw new System.ArgumentNullException(nameof(path));
            if (!File.Exists(path)) throw Missing(path, what);
            return File.ReadAllText(path, new UTF8Encoding(false));
        }

        public static byte[] ReadBytes(string path, string what)
        {
            if (path == null) throw new System.ArgumentNullException(nameof(path));
            if (!File.Exists(path)) throw Missing(path, what);
            return File.ReadAllBytes(path);
        }
    }
}
