using System.Reflection.Metadata;
using System.Reflection.PortableExecutable;
using Lashup.Abstractions.Plugins;

namespace Lashup.Host.Plugins;

/// <summary>
/// Reads a plugin's <see cref="LashupPluginAttribute"/> and its Lashup.Abstractions reference from the assembly's
/// metadata, without loading it: a plugin built against another major, or not a plugin at all, never runs code in
/// the host.
/// </summary>
internal static class PluginMetadataReader
{
    private static readonly string AttributeName = typeof(LashupPluginAttribute).Name;
    private static readonly string AttributeNamespace = typeof(LashupPluginAttribute).Namespace!;
    internal static readonly string AbstractionsAssemblyName = typeof(LashupPluginAttribute).Assembly.GetName().Name!;

    /// <summary>What the metadata says; <see cref="Capability"/> is null when the assembly declares no plugin.</summary>
    internal sealed record Result(string? Capability, string? Name, string? StartupTypeName, Version Version, Version? AbstractionsVersion);

    public static Result Read(string assemblyPath)
    {
        using var stream = File.OpenRead(assemblyPath);
        using var pe = new PEReader(stream);
        if (!pe.HasMetadata)
        {
            throw new BadImageFormatException($"{assemblyPath} is not a .NET assembly");
        }

        var md = pe.GetMetadataReader();
        var definition = md.GetAssemblyDefinition();
        Version? abstractions = null;
        foreach (var handle in md.AssemblyReferences)
        {
            var reference = md.GetAssemblyReference(handle);
            if (md.StringComparer.Equals(reference.Name, AbstractionsAssemblyName))
            {
                abstractions = reference.Version;
            }
        }

        foreach (var handle in definition.GetCustomAttributes())
        {
            var attribute = md.GetCustomAttribute(handle);
            if (!IsPluginAttribute(md, attribute))
            {
                continue;
            }

            var value = attribute.DecodeValue(new StringTypeProvider());
            if (value.FixedArguments.Length != 3)
            {
                continue;
            }

            return new Result(
                value.FixedArguments[0].Value as string,
                value.FixedArguments[1].Value as string,
                value.FixedArguments[2].Value as string,
                definition.Version,
                abstractions);
        }

        return new Result(null, null, null, definition.Version, abstractions);
    }

    private static bool IsPluginAttribute(MetadataReader md, CustomAttribute attribute)
    {
        StringHandle name, ns;
        switch (attribute.Constructor.Kind)
        {
            case HandleKind.MemberReference:
                var member = md.GetMemberReference((MemberReferenceHandle)attribute.Constructor);
                if (member.Parent.Kind != HandleKind.TypeReference)
                {
                    return false;
                }

                var typeRef = md.GetTypeReference((TypeReferenceHandle)member.Parent);
                (name, ns) = (typeRef.Name, typeRef.Namespace);
                break;
            case HandleKind.MethodDefinition:
                var method = md.GetMethodDefinition((MethodDefinitionHandle)attribute.Constructor);
                var typeDef = md.GetTypeDefinition(method.GetDeclaringType());
                (name, ns) = (typeDef.Name, typeDef.Namespace);
                break;
            default:
                return false;
        }

        return md.StringComparer.Equals(name, AttributeName) && md.StringComparer.Equals(ns, AttributeNamespace);
    }

    /// <summary>Decodes attribute arguments to strings; a <see cref="Type"/> argument arrives as its serialized name.</summary>
    private sealed class StringTypeProvider : ICustomAttributeTypeProvider<string>
    {
        public string GetPrimitiveType(PrimitiveTypeCode typeCode) => typeCode.ToString();

        public string GetSystemType() => "System.Type";

        public string GetSZArrayType(string elementType) => elementType + "[]";

        public string GetTypeFromDefinition(MetadataReader reader, TypeDefinitionHandle handle, byte rawTypeKind)
        {
            var t = reader.GetTypeDefinition(handle);
            return $"{reader.GetString(t.Namespace)}.{reader.GetString(t.Name)}";
        }

        public string GetTypeFromReference(MetadataReader reader, TypeReferenceHandle handle, byte rawTypeKind)
        {
            var t = reader.GetTypeReference(handle);
            return $"{reader.GetString(t.Namespace)}.{reader.GetString(t.Name)}";
        }

        public string GetTypeFromSerializedName(string name) => name;

        public PrimitiveTypeCode GetUnderlyingEnumType(string type) => PrimitiveTypeCode.Int32;

        public bool IsSystemType(string type) => type == "System.Type";
    }
}
