using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Reflection;
using System.Reflection.Metadata;
using System.Reflection.PortableExecutable;
using System.Text.RegularExpressions;
using NUnit.Framework;
using Sd3Tex.Authoring;
using Sd3Tex.Json;
using CoreManifest = Sd3Tex.Baking.BakeManifest;

namespace Sd3Tex.Tests.DotNetOnly;

/// <summary>The Unity-facing parts of the package hang together: samples are listed and carry .meta files, the
/// sample BakeManifest asset is one Unity can read into the BakeManifest class and equals the JSON sample, the
/// assembly definitions reference what exists, and the engine-free runtime never references Unity.</summary>
public sealed class UnityPackageTests
{
    static string Root => TestPaths.PackageRoot;

    static string Guid(string metaPath) => Regex.Match(File.ReadAllText(metaPath), @"^guid: ([0-9a-f]{32})\s*$", RegexOptions.Multiline).Groups[1].Value;

    [Test]
    public void SamplesAreListedDocumentedAndCarryMetas()
    {
        var pj = JsonValue.Parse(File.ReadAllText(Path.Combine(Root, "package.json")));
        var samples = pj["samples"].Items;
        Assert.That(samples.Select(s => s["path"].AsString), Is.EquivalentTo(new[] { "Samples~/Runtime Material", "Samples~/Bake Manifest" }));
        var guids = new Dictionary<string, string>();
        foreach (var meta in Directory.GetFiles(Root, "*.meta", SearchOption.AllDirectories).Where(m => !m.Contains(Path.DirectorySeparatorChar + "DotNet~")))
        {
            string g = Guid(meta);
            Assert.That(guids.ContainsKey(g), Is.False, $"{meta} repeats the GUID of {(guids.TryGetValue(g, out var o) ? o : "")}");
            guids[g] = meta;
        }
        foreach (var s in samples)
        {
            Assert.That(s["displayName"].AsString, Is.Not.Empty);
            Assert.That(s["description"].AsString, Is.Not.Empty);
            string dir = Path.Combine(Root, s["path"].AsString);
            Assert.That(File.Exists(Path.Combine(dir, "README.md")), Is.True, dir);
            foreach (var f in Directory.GetFiles(dir, "*", SearchOption.AllDirectories))
            {
                if (f.EndsWith(".meta")) Assert.That(File.Exists(f[..^5]), Is.True, $"orphaned {f}");
                else Assert.That(File.Exists(f + ".meta"), Is.True, $"{f} has no .meta: run DotNet~/tools/metas.sh");
            }
        }
    }

    [Test]
    public void AssemblyDefinitionsReferenceWhatExists()
    {
        var asmdefs = Directory.GetFiles(Root, "*.asmdef", SearchOption.AllDirectories).Where(p => !p.Contains(Path.DirectorySeparatorChar + "DotNet~"))
                               .ToDictionary(p => JsonValue.Parse(File.ReadAllText(p))["name"].AsString, p => JsonValue.Parse(File.ReadAllText(p)));
        string[] unity = { "UnityEngine.TestRunner", "UnityEditor.TestRunner" };
        foreach (var (name, a) in asmdefs)
            foreach (var r in a["references"].Items.Select(i => i.AsString))
                Assert.That(asmdefs.ContainsKey(r) || unity.Contains(r), Is.True, $"{name} references {r}, which is not an assembly of the package");
        // ILGPU's plugins are Editor-only, so is everything that reaches them
        foreach (var name in new[] { "Sd3Tex.Unity", "Sd3Tex.Editor", "Sd3Tex.Samples.RuntimeMaterial" })
        {
            Assert.That(asmdefs[name]["includePlatforms"].Items.Select(i => i.AsString), Is.EqualTo(new[] { "Editor" }), name);
            Assert.That(asmdefs[name]["noEngineReferences"].AsBool, Is.False, name);
        }
        Assert.That(asmdefs["Sd3Tex.Editor"]["references"].Items.Select(i => i.AsString), Does.Contain("Sd3Tex.Unity"));
        Assert.That(asmdefs["Sd3Tex.Samples.RuntimeMaterial"]["references"].Items.Select(i => i.AsString), Does.Contain("Sd3Tex.Unity"));
    }

    [Test]
    public void TheEngineFreeRuntimeNeverReferencesUnity()
    {
        var here = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
        foreach (var project in new[] { "Sd3Tex.Runtime", "Sd3Tex.Kernels" })
        {
            var dlls = Directory.GetFiles(Path.Combine(here.Parent!.Parent!.FullName, project), project + ".dll", SearchOption.AllDirectories);
            Assert.That(dlls, Is.Not.Empty, project);
            foreach (var dll in dlls)
            {
                using var pe = new PEReader(File.OpenRead(dll));
                var md = pe.GetMetadataReader();
                var refs = md.AssemblyReferences.Select(h => md.GetString(md.GetAssemblyReference(h).Name)).ToList();
                Assert.That(refs.Where(r => r.StartsWith("Unity", StringComparison.Ordinal)), Is.Empty, dll);
            }
        }
        string csproj = File.ReadAllText(Path.Combine(Root, "DotNet~", "Sd3Tex.Runtime", "Sd3Tex.Runtime.csproj"));
        Assert.That(csproj, Does.Contain("Exclude=\"$(PackageRoot)/Runtime/Unity/**\""));
    }

    #region The sample BakeManifest asset

    /// <summary>A reader for the YAML Unity writes for a ScriptableObject: nested maps, lists of maps, [] and scalars.</summary>
    static Dictionary<string, object> ReadUnityYaml(string path)
    {
        var lines = File.ReadAllLines(path).Where(l => !l.StartsWith("%") && !l.StartsWith("---")).ToList();
        int i = 0;
        var root = (Dictionary<string, object>)ReadMap(lines, ref i, 0);
        return (Dictionary<string, object>)root["MonoBehaviour"];
    }

    static int Indent(string l) => l.Length - l.TrimStart(' ').Length;

    static object ReadMap(List<string> lines, ref int i, int indent)
    {
        var map = new Dictionary<string, object>(StringComparer.Ordinal);
        while (i < lines.Count)
        {
            string line = lines[i];
            if (line.Trim().Length == 0) { i++; continue; }
            int ind = Indent(line);
            string t = line.Trim();
            if (ind < indent || t.StartsWith("- ")) break;
            int colon = t.IndexOf(':');
            Assert.That(colon, Is.GreaterThan(0), $"not a key: {line}");
            string key = t[..colon], rest = t[(colon + 1)..].Trim();
            i++;
            if (rest.Length > 0) { map[key] = rest == "[]" ? new List<object>() : rest; continue; }
            // a nested map (deeper), a list of maps (Unity writes "- " at the key's own indent), or an empty string
            if (i < lines.Count && lines[i].Trim().StartsWith("- ") && Indent(lines[i]) >= ind)
            {
                var list = new List<object>();
                int listIndent = Indent(lines[i]);
                while (i < lines.Count && Indent(lines[i]) == listIndent && lines[i].Trim().StartsWith("- "))
                {
                    lines[i] = new string(' ', listIndent + 2) + lines[i].Trim()[2..];
                    list.Add(ReadMap(lines, ref i, listIndent + 2));
                }
                map[key] = list;
            }
            else if (i < lines.Count && Indent(lines[i]) > ind) map[key] = ReadMap(lines, ref i, Indent(lines[i]));
            else map[key] = "";
        }
        return map;
    }

    /// <summary>Fills a [Serializable] engine-free object from a YAML map as Unity would: every key must be a public
    /// field (a key Unity would drop is a mistake in the sample).</summary>
    static T Fill<T>(Dictionary<string, object> map) where T : new()
    {
        var o = new T();
        foreach (var (key, value) in map)
        {
            var f = typeof(T).GetField(key, BindingFlags.Public | BindingFlags.Instance);
            Assert.That(f, Is.Not.Null, $"{typeof(T).Name} has no field {key}");
            string s = value as string ?? "";
            object v;
            if (f!.FieldType == typeof(string)) v = s;
            else if (f.FieldType == typeof(bool)) v = s == "1";
            else if (f.FieldType == typeof(int)) v = int.Parse(s, CultureInfo.InvariantCulture);
            else if (f.FieldType == typeof(long)) v = long.Parse(s, CultureInfo.InvariantCulture);
            else if (f.FieldType == typeof(float)) v = float.Parse(s, CultureInfo.InvariantCulture);
            else if (f.FieldType.IsEnum)
            {
                int n = int.Parse(s, CultureInfo.InvariantCulture);
                Assert.That(Enum.IsDefined(f.FieldType, n), Is.True, $"{key}: {n} is not a {f.FieldType.Name}");
                v = Enum.ToObject(f.FieldType, n);
            }
            else if (f.FieldType == typeof(List<string>)) v = ((List<object>)value).Cast<string>().ToList();
            else { Assert.Fail($"{typeof(T).Name}.{key}: unexpected field type {f.FieldType}"); return o; }
            f.SetValue(o, v);
        }
        return o;
    }

    static string[] BakeManifestFields()
    {
        var here = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
        string dll = Path.Combine(here.Parent!.Parent!.FullName, "Sd3Tex.Editor", here.Name, "Sd3Tex.Editor.dll");
        using var pe = new PEReader(File.OpenRead(dll));
        var md = pe.GetMetadataReader();
        var type = md.TypeDefinitions.Select(md.GetTypeDefinition).Single(t => md.GetString(t.Name) == "BakeManifest");
        return type.GetFields().Select(md.GetFieldDefinition)
                   .Where(f => (f.Attributes & FieldAttributes.FieldAccessMask) == FieldAttributes.Public && (f.Attributes & FieldAttributes.Static) == 0)
                   .Select(f => md.GetString(f.Name)).ToArray();
    }

    [Test]
    public void TheSampleAssetIsABakeManifestThatMatchesTheJsonSample()
    {
        string dir = Path.Combine(Root, "Samples~", "Bake Manifest");
        var yaml = ReadUnityYaml(Path.Combine(dir, "Textures.asset"));
        // the script reference is BakeManifest.cs's GUID, with MonoScript's file id
        Assert.That(yaml["m_Script"], Is.EqualTo($"{{fileID: 11500000, guid: {Guid(Path.Combine(Root, "Editor", "BakeManifest.cs.meta"))}, type: 3}}"));
        Assert.That(File.ReadAllText(Path.Combine(dir, "Textures.asset.meta")), Does.Contain("NativeFormatImporter:").And.Contain("mainObjectFileID: 11400000"));
        var fields = yaml.Keys.Where(k => !k.StartsWith("m_")).ToArray();
        Assert.That(fields, Is.EquivalentTo(BakeManifestFields()), "the asset's keys are BakeManifest's serialized fields");

        var data = new BakeAssetData
        {
            OutputFolder = (string)yaml["outputFolder"], UseProjectModel = (string)yaml["useProjectModel"] == "1",
            Model = Fill<ModelSettings>((Dictionary<string, object>)yaml["model"]),
            Defaults = Fill<BakeTextureData>((Dictionary<string, object>)yaml["defaults"]),
            Textures = ((List<object>)yaml["textures"]).Select(t => Fill<BakeTextureData>((Dictionary<string, object>)t)).ToList(),
        };
        Assert.That(data.UseProjectModel, Is.True);

        string project = Path.GetFullPath(Path.Combine(Path.GetTempPath(), "sample-project"));
        var json = CoreManifest.Parse(File.ReadAllText(Path.Combine(dir, "textures.bake.json")), project);
        var projectModel = new ModelSettings { Tokenizers = "Models/tokenizers" };
        projectModel.Weights.AddRange(json.Weights);
        var fromAsset = data.ToManifest(project, projectModel);
        Assert.That(fromAsset.OutputDirectory, Is.EqualTo(json.OutputDirectory));
        Assert.That(fromAsset.ResolvedWeights(), Is.EqualTo(json.ResolvedWeights()));
        Assert.That(fromAsset.Textures.Select(t => t.Name), Is.EqualTo(json.Textures.Select(t => t.Name)));
        for (int k = 0; k < json.Textures.Count; k++)
        {
            var a = fromAsset.Textures[k].Over(fromAsset.Defaults).ToRequest(project);
            var b = json.Textures[k].Over(json.Defaults).ToRequest(project);
            Assert.That((a.Prompt, a.NegativePrompt, a.Seed, a.Count, a.Width, a.Height, a.Steps, a.Cfg, a.Shift, a.Sampler, a.UseT5, a.Seamless),
                        Is.EqualTo((b.Prompt, b.NegativePrompt, b.Seed, b.Count, b.Width, b.Height, b.Steps, b.Cfg, b.Shift, b.Sampler, b.UseT5, b.Seamless)),
                        json.Textures[k].Name);
            Assert.That(a.Problems(), Is.Empty, json.Textures[k].Name);
        }
    }

    #endregion
}
