using System;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.IO;
using System.Linq;
using System.Reflection;
using System.Reflection.Metadata;
using System.Reflection.PortableExecutable;
using NUnit.Framework;

namespace Sd3Tex.Tests.DotNetOnly;

/// <summary>
/// The reference-only UnityEngine/UnityEditor assemblies (DotNet~/UnityApi) hold exactly what the package's Unity code
/// uses: every public type and member they declare is referenced by the compiled Sd3Tex.Unity, Sd3Tex.Editor or
/// sample assemblies (or is a base type of one that is), and they carry no code. Read from metadata, nothing is loaded.
/// </summary>
public sealed class UnityApiSurfaceTests
{
    static readonly string[] StubNames = { "UnityEngine", "UnityEditor" };
    static readonly string[] PackageNames = { "Sd3Tex.Unity", "Sd3Tex.Editor", "Sd3Tex.Samples", "Sd3Tex.Editor.Tests" };

    /// <summary>An assembly of the solution, from the artifacts folder beside the test assembly's own.</summary>
    static string Built(string project)
    {
        var here = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
        string config = here.Name; // debug / release
        string path = Path.Combine(here.Parent!.Parent!.FullName, project, config, project + ".dll");
        Assert.That(File.Exists(path), Is.True, $"{path} is missing: build the solution (dotnet build \"DotNet~/Sd3Tex.slnx\").");
        return path;
    }

    static (PEReader pe, MetadataReader md) Open(string path)
    {
        var pe = new PEReader(File.OpenRead(path));
        return (pe, pe.GetMetadataReader());
    }

    [Test]
    public void TheStubsAreReferenceAssembliesForUnity2022_3()
    {
        foreach (var name in StubNames)
        {
            var (pe, md) = Open(Built(name));
            using (pe)
            {
                var attributes = md.GetAssemblyDefinition().GetCustomAttributes().Select(h => AttributeTypeName(md, md.GetCustomAttribute(h))).ToList();
                Assert.That(attributes, Does.Contain("System.Runtime.CompilerServices.ReferenceAssemblyAttribute"), name);
                // no behaviour: every method body is `throw null` (ldnull; throw), as a reference assembly's are
                var bodies = md.MethodDefinitions.Select(h => md.GetMethodDefinition(h)).Where(m => m.RelativeVirtualAddress != 0)
                               .Select(m => BitConverter.ToString(pe.GetMethodBody(m.RelativeVirtualAddress).GetILBytes())).Distinct().ToList();
                Assert.That(bodies, Is.EqualTo(new[] { "14-7A" }), name);
            }
            string source = string.Join("\n", Directory.GetFiles(Path.Combine(TestPaths.PackageRoot, "DotNet~", "UnityApi", name), "*.cs").Select(File.ReadAllText));
            Assert.That(source, Does.Contain("branch 2022.3 (Unity 2022.3.76f1)"), $"{name}: the sources name the Unity version they copy");
        }
    }

    [Test]
    public void EveryStubMemberIsUsedByThePackage()
    {
        var used = new HashSet<string>(StringComparer.Ordinal);
        var usedTypes = new HashSet<string>(StringComparer.Ordinal);
        var overrides = new List<(string baseType, string name)>();
        foreach (var name in PackageNames)
        {
            var (pe, md) = Open(Built(name));
            using (pe) CollectUses(md, used, usedTypes, overrides);
        }

        // every public type of both stubs, with its base type (UnityEditor's types derive from UnityEngine's)
        var readers = StubNames.Select(n => (name: n, file: Open(Built(n)))).ToList();
        try
        {
            var baseOf = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var (_, (_, md)) in readers)
                foreach (var h in md.TypeDefinitions)
                {
                    var def = md.GetTypeDefinition(h);
                    if (IsVisible(md, def)) baseOf[FullName(md, h)] = BaseName(md, def);
                }
            // the types the package uses, and their ancestors
            var needed = new HashSet<string>(usedTypes, StringComparer.Ordinal);
            foreach (var t in usedTypes.ToList())
                for (var b = t; b != null && baseOf.TryGetValue(b, out var parent); b = parent) needed.Add(b);
            var unused = new List<string>();
            foreach (var (stub, (_, md)) in readers)
                foreach (var h in md.TypeDefinitions)
                {
                    var def = md.GetTypeDefinition(h);
                    if (!IsVisible(md, def)) continue;
                    string typeName = FullName(md, h);
                    if (!needed.Contains(typeName)) unused.Add($"{stub}: type {typeName}");
                    if (IsDelegate(md, def) || IsEnum(md, def)) continue; // compiler-made members; enum constants are inlined
                    foreach (var member in Members(md, def))
                    {
                        bool isOverridden = overrides.Any(o => member.Name == o.name && InChain(o.baseType, typeName, baseOf));
                        if (!member.Keys.Any(used.Contains) && !isOverridden) unused.Add($"{stub}: {typeName}::{member.Display}");
                    }
                }
            Assert.That(unused, Is.Empty, "declared in DotNet~/UnityApi but not used by the package: remove them (or use them)");
        }
        finally
        {
            foreach (var (_, (pe, _)) in readers) pe.Dispose();
        }
    }

    static bool InChain(string start, string target, Dictionary<string, string> baseOf)
    {
        for (var t = start; t != null; t = baseOf.TryGetValue(t, out var b) ? b : null)
            if (t == target) return true;
        return false;
    }

    #region What the package references

    static void CollectUses(MetadataReader md, HashSet<string> used, HashSet<string> usedTypes, List<(string, string)> overrides)
    {
        var provider = new NameProvider(md);
        foreach (var h in md.TypeReferences)
            if (IsUnityScope(md, h)) usedTypes.Add(FullName(md, h));
        foreach (var h in md.MemberReferences)
        {
            var m = md.GetMemberReference(h);
            string parent = ParentType(md, m.Parent);
            if (parent == null) continue;
            string name = md.GetString(m.Name);
            string sig = m.GetKind() == MemberReferenceKind.Method
                ? Signature(m.DecodeMethodSignature(provider, null))
                : "field";
            used.Add($"{parent}::{name}{sig}");
        }
        // attribute properties set by name ([CreateAssetMenu(menuName = ...)]) appear only in attribute blobs
        foreach (var h in md.CustomAttributes)
        {
            var a = md.GetCustomAttribute(h);
            string type = AttributeTypeName(md, a);
            if (type == null || !(type.StartsWith("UnityEngine", StringComparison.Ordinal) || type.StartsWith("UnityEditor", StringComparison.Ordinal))) continue;
            var value = a.DecodeValue(new AttributeProvider());
            foreach (var named in value.NamedArguments) used.Add($"{type}::set_{named.Name}(*)");
        }
        // overrides of Unity's virtual methods (OnInspectorGUI) bind by name, without a member reference
        foreach (var th in md.TypeDefinitions)
        {
            var t = md.GetTypeDefinition(th);
            string baseType = BaseName(md, t);
            if (baseType == null || !(baseType.StartsWith("UnityEngine", StringComparison.Ordinal) || baseType.StartsWith("UnityEditor", StringComparison.Ordinal))) continue;
            foreach (var mh in t.GetMethods())
            {
                var m = md.GetMethodDefinition(mh);
                if ((m.Attributes & MethodAttributes.Virtual) != 0 && (m.Attributes & MethodAttributes.NewSlot) == 0)
                    overrides.Add((baseType, md.GetString(m.Name)));
            }
        }
    }

    static bool IsUnityScope(MetadataReader md, TypeReferenceHandle h)
    {
        var r = md.GetTypeReference(h);
        while (r.ResolutionScope.Kind == HandleKind.TypeReference) r = md.GetTypeReference((TypeReferenceHandle)r.ResolutionScope);
        if (r.ResolutionScope.Kind != HandleKind.AssemblyReference) return false;
        string asm = md.GetString(md.GetAssemblyReference((AssemblyReferenceHandle)r.ResolutionScope).Name);
        return StubNames.Contains(asm);
    }

    static string ParentType(MetadataReader md, EntityHandle parent)
    {
        switch (parent.Kind)
        {
            case HandleKind.TypeReference:
                return IsUnityScope(md, (TypeReferenceHandle)parent) ? FullName(md, (TypeReferenceHandle)parent) : null;
            case HandleKind.TypeSpecification:
                // a generic instance (StyleEnum<FlexDirection>): its generic type
                var blob = md.GetBlobReader(md.GetTypeSpecification((TypeSpecificationHandle)parent).Signature);
                if (blob.ReadSignatureTypeCode() != SignatureTypeCode.GenericTypeInstance) return null;
                blob.ReadSignatureTypeCode(); // class / value type
                var generic = blob.ReadTypeHandle();
                return generic.Kind == HandleKind.TypeReference && IsUnityScope(md, (TypeReferenceHandle)generic) ? FullName(md, (TypeReferenceHandle)generic) : null;
            default:
                return null;
        }
    }

    static string AttributeTypeName(MetadataReader md, CustomAttribute a)
    {
        switch (a.Constructor.Kind)
        {
            case HandleKind.MemberReference:
                var parent = md.GetMemberReference((MemberReferenceHandle)a.Constructor).Parent;
                return parent.Kind == HandleKind.TypeReference ? FullName(md, (TypeReferenceHandle)parent) : null;
            case HandleKind.MethodDefinition:
                return FullName(md, md.GetMethodDefinition((MethodDefinitionHandle)a.Constructor).GetDeclaringType());
            default:
                return null;
        }
    }

    #endregion

    #region What the stubs declare

    sealed class Member
    {
        public string Name = "";
        public string Display = "";
        public List<string> Keys = new();
    }

    static IEnumerable<Member> Members(MetadataReader md, TypeDefinition def)
    {
        string type = FullName(md, def);
        var provider = new NameProvider(md);
        var accessors = new HashSet<MethodDefinitionHandle>();
        foreach (var ph in def.GetProperties())
        {
            var p = md.GetPropertyDefinition(ph);
            var acc = p.GetAccessors();
            var keys = new List<string>();
            foreach (var a in new[] { acc.Getter, acc.Setter })
            {
                if (a.IsNil) continue;
                accessors.Add(a);
                var m = md.GetMethodDefinition(a);
                if (!IsVisible(m)) continue;
                keys.Add($"{type}::{md.GetString(m.Name)}{Signature(m.DecodeSignature(provider, null))}");
                keys.Add($"{type}::{md.GetString(m.Name)}(*)");
            }
            if (keys.Count > 0) yield return new Member { Name = md.GetString(p.Name), Display = "property " + md.GetString(p.Name), Keys = keys };
        }
        foreach (var eh in def.GetEvents())
        {
            var e = md.GetEventDefinition(eh);
            var acc = e.GetAccessors();
            var keys = new List<string>();
            foreach (var a in new[] { acc.Adder, acc.Remover })
            {
                if (a.IsNil) continue;
                accessors.Add(a);
                var m = md.GetMethodDefinition(a);
                keys.Add($"{type}::{md.GetString(m.Name)}{Signature(m.DecodeSignature(provider, null))}");
            }
            yield return new Member { Name = md.GetString(e.Name), Display = "event " + md.GetString(e.Name), Keys = keys };
        }
        foreach (var mh in def.GetMethods())
        {
            if (accessors.Contains(mh)) continue;
            var m = md.GetMethodDefinition(mh);
            if (!IsVisible(m)) continue;
            string name = md.GetString(m.Name);
            var sig = m.DecodeSignature(provider, null);
            // parameterless constructors: the ones C# adds to classes that declare none are indistinguishable from declared ones
            if (name == ".ctor" && sig.ParameterTypes.Length == 0) continue;
            string key = $"{type}::{name}{Signature(sig)}";
            yield return new Member { Name = name, Display = name + Signature(sig), Keys = { key } };
        }
        foreach (var fh in def.GetFields())
        {
            var f = md.GetFieldDefinition(fh);
            if ((f.Attributes & FieldAttributes.FieldAccessMask) != FieldAttributes.Public) continue;
            if ((f.Attributes & FieldAttributes.Literal) != 0) continue; // constants are inlined where used
            yield return new Member { Name = md.GetString(f.Name), Display = "field " + md.GetString(f.Name), Keys = { $"{type}::{md.GetString(f.Name)}field" } };
        }
    }

    static bool IsVisible(MethodDefinition m)
    {
        var access = m.Attributes & MethodAttributes.MemberAccessMask;
        return access == MethodAttributes.Public || access == MethodAttributes.Family || access == MethodAttributes.FamORAssem;
    }

    static bool IsVisible(MetadataReader md, TypeDefinition t)
    {
        var v = t.Attributes & TypeAttributes.VisibilityMask;
        if (v == TypeAttributes.Public) return true;
        if (v == TypeAttributes.NestedPublic) return IsVisible(md, md.GetTypeDefinition(t.GetDeclaringType()));
        return false;
    }

    static bool IsDelegate(MetadataReader md, TypeDefinition t) => BaseName(md, t) == "System.MulticastDelegate";
    static bool IsEnum(MetadataReader md, TypeDefinition t) => BaseName(md, t) == "System.Enum";

    static string BaseName(MetadataReader md, TypeDefinition t)
    {
        var b = t.BaseType;
        if (b.IsNil) return null;
        switch (b.Kind)
        {
            case HandleKind.TypeDefinition: return FullName(md, (TypeDefinitionHandle)b);
            case HandleKind.TypeReference: return FullName(md, (TypeReferenceHandle)b);
            case HandleKind.TypeSpecification:
                var blob = md.GetBlobReader(md.GetTypeSpecification((TypeSpecificationHandle)b).Signature);
                blob.ReadSignatureTypeCode();
                blob.ReadSignatureTypeCode();
                var g = blob.ReadTypeHandle();
                return g.Kind == HandleKind.TypeDefinition ? FullName(md, (TypeDefinitionHandle)g) : FullName(md, (TypeReferenceHandle)g);
            default: return null;
        }
    }

    #endregion

    #region Names

    static string FullName(MetadataReader md, TypeDefinitionHandle h)
    {
        var t = md.GetTypeDefinition(h);
        return FullName(md, t);
    }

    static string FullName(MetadataReader md, TypeDefinition t)
    {
        string name = md.GetString(t.Name);
        if (t.IsNested) return FullName(md, t.GetDeclaringType()) + "/" + name;
        string ns = md.GetString(t.Namespace);
        return ns.Length == 0 ? name : ns + "." + name;
    }

    static string FullName(MetadataReader md, TypeReferenceHandle h)
    {
        var r = md.GetTypeReference(h);
        string name = md.GetString(r.Name);
        if (r.ResolutionScope.Kind == HandleKind.TypeReference) return FullName(md, (TypeReferenceHandle)r.ResolutionScope) + "/" + name;
        string ns = md.GetString(r.Namespace);
        return ns.Length == 0 ? name : ns + "." + name;
    }

    static string Signature(MethodSignature<string> s) =>
        (s.GenericParameterCount > 0 ? "`" + s.GenericParameterCount : "") + "(" + string.Join(",", s.ParameterTypes) + ")" + s.ReturnType;

    /// <summary>Type names that read the same from a definition (the stubs) and a reference (the package).</summary>
    sealed class NameProvider : ISignatureTypeProvider<string, object>
    {
        readonly MetadataReader _md;
        public NameProvider(MetadataReader md) { _md = md; }
        public string GetPrimitiveType(PrimitiveTypeCode typeCode) => typeCode.ToString();
        public string GetTypeFromDefinition(MetadataReader reader, TypeDefinitionHandle handle, byte rawTypeKind) => FullName(reader, handle);
        public string GetTypeFromReference(MetadataReader reader, TypeReferenceHandle handle, byte rawTypeKind) => FullName(reader, handle);
        public string GetTypeFromSpecification(MetadataReader reader, object genericContext, TypeSpecificationHandle handle, byte rawTypeKind) =>
            reader.GetTypeSpecification(handle).DecodeSignature(this, genericContext);
        public string GetSZArrayType(string elementType) => elementType + "[]";
        public string GetArrayType(string elementType, ArrayShape shape) => elementType + "[" + new string(',', shape.Rank - 1) + "]";
        public string GetByReferenceType(string elementType) => elementType + "&";
        public string GetPointerType(string elementType) => elementType + "*";
        public string GetGenericInstantiation(string genericType, ImmutableArray<string> typeArguments) => genericType + "<" + string.Join(",", typeArguments) + ">";
        public string GetGenericMethodParameter(object genericContext, int index) => "!!" + index;
        public string GetGenericTypeParameter(object genericContext, int index) => "!" + index;
        public string GetFunctionPointerType(MethodSignature<string> signature) => "fnptr";
        public string GetModifiedType(string modifier, string unmodifiedType, bool isRequired) => unmodifiedType;
        public string GetPinnedType(string elementType) => elementType;
    }

    /// <summary>Enough of a custom-attribute decoder to read named arguments' names.</summary>
    sealed class AttributeProvider : ICustomAttributeTypeProvider<string>
    {
        public string GetPrimitiveType(PrimitiveTypeCode typeCode) => typeCode.ToString();
        public string GetSystemType() => "System.Type";
        public string GetSZArrayType(string elementType) => elementType + "[]";
        public string GetTypeFromDefinition(MetadataReader reader, TypeDefinitionHandle handle, byte rawTypeKind) => FullName(reader, handle);
        public string GetTypeFromReference(MetadataReader reader, TypeReferenceHandle handle, byte rawTypeKind) => FullName(reader, handle);
        public string GetTypeFromSerializedName(string name) => name;
        public PrimitiveTypeCode GetUnderlyingEnumType(string type) => PrimitiveTypeCode.Int32;
        public bool IsSystemType(string type) => type == "System.Type";
    }

    #endregion
}
