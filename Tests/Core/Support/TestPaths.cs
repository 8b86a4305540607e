using System;
using System.IO;
using NUnit.Framework;

namespace Sd3Tex.Tests
{
    /// <summary>Where the golden fixtures and tokenizer files are: <c>../shared/</c> beside the package, found by walking
    /// up from the working directory and the test assembly, or named by the SD3TEX_SHARED environment variable.
    /// Tests read them in place and never copy them into the package.</summary>
    public static class TestPaths
    {
        static string _shared;

        public static string Shared
        {
            get
            {
                if (_shared != null) return _shared;
                string env = Environment.GetEnvironmentVariable("SD3TEX_SHARED");
                if (!string.IsNullOrEmpty(env) && Directory.Exists(Path.Combine(env, "fixtures"))) return _shared = Path.GetFullPath(env);
                foreach (var start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory, PackageRoot })
                {
                    for (var d = new DirectoryInfo(start); d != null; d = d.Parent)
                    {
                        string candidate = Path.Combine(d.FullName, "shared");
                        if (Directory.Exists(Path.Combine(candidate, "fixtures"))) return _shared = candidate;
                    }
                }
                // CI sets SD3TEX_REQUIRE_SHARED so that missing fixtures fail instead of skipping
                if (Environment.GetEnvironmentVariable("SD3TEX_REQUIRE_SHARED") == "1")
                    Assert.Fail("../shared/fixtures was not found; set SD3TEX_SHARED to the shared folder.");
                Assert.Ignore("../shared/fixtures was not found beside the package; set SD3TEX_SHARED to run fixture tests.");
                return null;
            }
        }

        public static string Fixture(string name, string file = null)
        {
            string dir = Path.Combine(Shared, "fixtures", name);
            return file == null ? dir : Path.Combine(dir, file);
        }

        /// <summary>The package root (the folder holding package.json), found by walking up.</summary>
        public static string PackageRoot
        {
            get
            {
                foreach (var start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
                    for (var d = new DirectoryInfo(start); d != null; d = d.Parent)
                    {
                        string pj = Path.Combine(d.FullName, "package.json");
                        if (File.Exists(pj) && File.ReadAllText(pj).Contains("\"com.seed.sd3tex\"")) return d.FullName;
                    }
                string env = Environment.GetEnvironmentVariable("SD3TEX_PACKAGE_ROOT");
                return string.IsNullOrEmpty(env) ? Directory.GetCurrentDirectory() : env;
            }
        }

        /// <summary>A fresh scratch folder under the system temp folder, deleted by the caller's TearDown.</summary>
        public static string NewScratch(string name)
        {
            string d = Path.Combine(Path.GetTempPath(), "sd3tex-tests", name + "-" + Guid.NewGuid().ToString("N").Substring(0, 8));
            Directory.CreateDirectory(d);
            return d;
        }

        public static void DeleteScratch(string dir)
        {
            try { if (dir != null && Directory.Exists(dir)) Directory.Delete(dir, true); }
            catch (IOException) { }
            catch (UnauthorizedAccessException) { }
        }
    }
}
