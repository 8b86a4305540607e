using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.RegularExpressions;
using NUnit.Framework;
using Sd3Tex.Json;

namespace Sd3Tex.Tests.DotNetOnly;

/// <summary>The repository is a valid Unity package: every file and folder Unity imports has exactly one committed-style
/// .meta with a unique GUID; no .meta is orphaned; manifest, assemblies and plugins are as Unity expects.
/// (dotnet-only: inside Unity the package lives in a read-only cache and these files are Unity's own business.)</summary>
public sealed class PackageLayoutTests
{
    static string Root => TestPaths.PackageRoot;

    /// <summary>What Unity imports: everything except hidden names, names ending in ~, and the .meta files themselves.</summary>
    static IEnumerable<string> Imported(string dir)
    {
        foreach (var e in Directory.EnumerateFileSystemEntries(dir).OrderBy(x => x, StringComparer.Ordinal))
        {
            string name = Path.GetFileName(e);
            if (name.StartsWith(".") || name.EndsWith("~") || name.EndsWith(".meta")) continue;
            yield return e;
            if (Directory.Exists(e)) foreach (var c in Imported(e)) yield return c;
        }
    }

    static IEnumerable<string> Metas(string dir)
    {
        foreach (var e in Directory.EnumerateFileSystemEntries(dir))
        {
            string name = Path.GetFileName(e);
            if (name.StartsWith(".") || name.EndsWith("~")) continue;
            if (name.EndsWith(".meta") && File.Exists(e)) yield return e;
            if (Directory.Exists(e)) foreach (var c in Metas(e)) yield return c;
        }
    }

    [Test]
    public void EveryImportedFileAndFolderHasAMeta()
    {
        var missing = Imported(Root).Where(p => !File.Exists(p + ".meta")).Select(p => Path.GetRelativePath(Root, p)).ToList();
        Assert.That(missing, Is.Empty, "run DotNet~/tools/metas.sh and commit the .meta files");
    }

    [Test]
    public void NoMetaIsOrphanedAndGuidsAreUnique()
    {
        var metas = Metas(Root).ToList();
        Assert.That(metas.Count, Is.GreaterThan(20));
        var orphaned = metas.Where(m => !File.Exists(m[..^5]) && !Directory.Exists(m[..^5])).Select(m => Path.GetRelativePath(Root, m)).ToList();
        Assert.That(orphaned, Is.Empty, "a .meta whose file is gone");
        var guids = new Dictionary<string, string>();
        var guidLine = new Regex(@"^guid: ([0-9a-f]{32})\s*$", RegexOptions.Multiline);
        foreach (var m in metas)
        {
            string text = File.ReadAllText(m);
            Assert.That(text, Does.StartWith("fileFormatVersion: 2"), m);
            var match = guidLine.Match(text);
            Assert.That(match.Success, Is.True, $"{m}: no 32-hex guid line");
            string rel = Path.GetRelativePath(Root, m);
            Assert.That(guids.ContainsKey(match.Groups[1].Value), Is.False,
                $"{rel} repeats the GUID of {(guids.TryGetValue(match.Groups[1].Value, out var other) ? other : "")}");
            guids[match.Groups[1].Value] = rel;
            bool isFolder = Directory.Exists(m[..^5]);
            Assert.That(text.Contains("folderAsset: yes"), Is.EqualTo(isFolder), $"{rel}: folderAsset");
        }
    }

    [Test]
    public void ManifestIsAUnityPackage()
    {
        var pj = JsonValue.Parse(File.ReadAllText(Path.Combine(Root, "package.json")));
        Assert.That(pj["name"].AsString, Is.EqualTo("com.seed.sd3tex"));
        Assert.That(pj["version"].AsString, Does.Match(@"^\d+\.\d+\.\d+"));
        Assert.That(pj["unity"].AsString, Is.EqualTo("2022.3"));
        Assert.That(pj["displayName"].AsString, Is.Not.Empty);
        Assert.That(pj["description"].AsString, Is.Not.Empty);
        Assert.That(pj["samples"].Kind, Is.EqualTo(JsonKind.Array));
        foreach (var s in pj["samples"].Items)
            Assert.That(Directory.Exists(Path.Combine(Root, s["path"].AsString)), Is.True, s["path"].AsString);
        foreach (var f in new[] { "README.md", "CHANGELOG.md", "LICENSE.md", "Third Party Notices.md" })
            Assert.That(File.Exists(Path.Combine(Root, f)), Is.True, f);
    }

    [Test]
    public void AssembliesAreEngineFreeWhereTheyMustBe()
    {
        JsonValue Asmdef(string path) => JsonValue.Parse(File.ReadAllText(Path.Combine(Root, path)));
        foreach (var p in new[] { "Runtime/Sd3Tex.Runtime.asmdef", "Kernels/Sd3Tex.Kernels.asmdef" })
        {
            var a = Asmdef(p);
            Assert.That(a["noEngineReferences"].AsBool, Is.True, p);
            Assert.That(a["allowUnsafeCode"].AsBool, Is.True, p);
        }
        Assert.That(Asmdef("Editor/Sd3Tex.Editor.asmdef")["includePlatforms"].Items.Select(i => i.AsString), Is.EqualTo(new[] { "Editor" }));
        foreach (var p in new[] { "Tests/Core/Sd3Tex.Tests.asmdef", "Tests/Editor/Sd3Tex.Editor.Tests.asmdef" })
        {
            var a = Asmdef(p);
            Assert.That(a["defineConstraints"].Items.Select(i => i.AsString), Does.Contain("UNITY_INCLUDE_TESTS"), p);
            Assert.That(a["precompiledReferences"].Items.Select(i => i.AsString), Does.Contain("nunit.framework.dll"), p);
        }
    }

    [Test]
    public void IlgpuPluginsFollowTheCsprojAndAreEditorOnly()
    {
        string plugins = Path.Combine(Root, "Plugins", "ILGPU");
        var dlls = Directory.GetFiles(plugins, "*.dll").Select(Path.GetFileName).OrderBy(x => x).ToList();
        Assert.That(dlls, Is.EqualTo(new[] { "ILGPU.Algorithms.dll", "ILGPU.dll", "System.Collections.Immutable.dll", "System.Reflection.Metadata.dll", "System.Runtime.CompilerServices.Unsafe.dll" }));
        CheckPluginMetas(plugins, dlls, "SD3TEX_EXTERNAL_ILGPU");
        // the vendored ILGPU is the version the csproj restores
        string props = File.ReadAllText(Path.Combine(Root, "DotNet~", "Directory.Build.props"));
        string version = Regex.Match(props, @"<ILGPUVersion>([^<]+)</ILGPUVersion>").Groups[1].Value;
        var asmVersion = System.Reflection.AssemblyName.GetAssemblyName(Path.Combine(plugins, "ILGPU.dll")).Version;
        Assert.That($"{asmVersion.Major}.{asmVersion.Minor}.{asmVersion.Build}", Is.EqualTo(version));
        Assert.That(File.ReadAllText(Path.Combine(Root, "Third Party Notices.md")), Does.Contain("ILGPU").And.Contain("System.Reflection.Metadata"));
    }

    /// <summary>Each plugin is Editor only, explicitly referenced, and left out when <paramref name="define"/> is set.</summary>
    static void CheckPluginMetas(string folder, IEnumerable<string> dlls, string define)
    {
        foreach (var d in dlls)
        {
            string meta = File.ReadAllText(Path.Combine(folder, d + ".meta"));
            Assert.That(meta, Does.Contain("PluginImporter:"), d);
            Assert.That(meta, Does.Contain("isExplicitlyReferenced: 1"), d);
            Assert.That(meta, Does.Contain($"'!{define}'"), d);
            Assert.That(Regex.IsMatch(meta, @"Editor: Editor\s+second:\s+enabled: 1"), Is.True, $"{d}: enabled in the Editor");
            Assert.That(Regex.IsMatch(meta, @": Any\s+second:\s+enabled: 0"), Is.True, $"{d}: disabled for players");
        }
    }

    [Test]
    public void ImageSharpPluginIsVersion2113AndEditorOnly()
    {
        string plugins = Path.Combine(Root, "Plugins", "ImageSharp");
        var dlls = Directory.GetFiles(plugins, "*.dll").Select(Path.GetFileName).OrderBy(x => x).ToList();
        Assert.That(dlls, Is.EqualTo(new[] { "SixLabors.ImageSharp.dll", "System.Text.Encoding.CodePages.dll" }));
        CheckPluginMetas(plugins, dlls, "SD3TEX_EXTERNAL_IMAGESHARP");
        // 2.1.13 exactly (3.x has another licence), the version the Runtime project restores
        string props = File.ReadAllText(Path.Combine(Root, "DotNet~", "Directory.Build.props"));
        Assert.That(Regex.Match(props, @"<ImageSharpVersion>([^<]+)</ImageSharpVersion>").Groups[1].Value, Is.EqualTo("2.1.13"));
        var info = System.Diagnostics.FileVersionInfo.GetVersionInfo(Path.Combine(plugins, "SixLabors.ImageSharp.dll"));
        Assert.That(info.ProductVersion, Does.StartWith("2.1.13"));
        Assert.That(File.ReadAllText(Path.Combine(Root, "Third Party Notices.md")), Does.Contain("SixLabors.ImageSharp 2.1.13").And.Contain("Apache License"));
        // the assemblies whose code reads or writes images reference it, as Unity needs them to
        JsonValue Asmdef(string path) => JsonValue.Parse(File.ReadAllText(Path.Combine(Root, path)));
        foreach (var a in new[] { "Runtime/Sd3Tex.Runtime.asmdef", "Runtime/Unity/Sd3Tex.Unity.asmdef", "Editor/Sd3Tex.Editor.asmdef",
                                  "Tests/Core/Sd3Tex.Tests.asmdef", "Tests/Editor/Sd3Tex.Editor.Tests.asmdef" })
            Assert.That(Asmdef(a)["precompiledReferences"].Items.Select(i => i.AsString), Does.Contain("SixLabors.ImageSharp.dll"), a);
    }

    [Test]
    public void BuildOutputStaysUnderDotNet()
    {
        foreach (var d in new[] { "bin", "obj" })
            Assert.That(Directory.GetDirectories(Root, d, SearchOption.AllDirectories)
                .Where(p => !Path.GetRelativePath(Root, p).StartsWith("DotNet~") && !Path.GetRelativePath(Root, p).StartsWith(".")), Is.Empty);
    }
}
