using System.Net;
using System.Text.Json;
using Lashup.Abstractions.LoadBalancing;
using Lashup.Abstractions.Networking;

namespace Lashup.Plugins.LoadBalancer.Ipvs;

/// <summary>
/// The IPVS services this backend created or adopted, kept in <c>&lt;data_dir&gt;/loadbalancer/ipvs-services.json</c> so
/// that after a restart it removes its own stale services, and never another's (ipvsadm's, kube-proxy's). Written whole
/// to a temporary file and renamed over the old one, so a crash leaves the old list or the new one.
/// </summary>
internal sealed class IpvsStateFile
{
    public const string FileName = "ipvs-services.json";

    public IpvsStateFile(string directory) => Path = System.IO.Path.Combine(directory, FileName);

    public string Path { get; }

    /// <summary>The services recorded; empty when there is no file. A file that cannot be read is an error (its services would otherwise be taken for another's).</summary>
    /// <exception cref="InvalidDataException">The file is not a list of services.</exception>
    public HashSet<VipKey> Load()
    {
        if (!File.Exists(Path))
        {
            return [];
        }

        try
        {
            var text = File.ReadAllText(Path);
            var entries = JsonSerializer.Deserialize<string[]>(text) ?? [];
            var keys = new HashSet<VipKey>();
            foreach (var entry in entries)
            {
                keys.Add(Parse(entry) ?? throw new InvalidDataException($"\"{entry}\" is not a service (tcp/ADDR:PORT or udp/ADDR:PORT)"));
            }

            return keys;
        }
        catch (Exception e) when (e is JsonException or InvalidDataException or IOException)
        {
            throw new InvalidDataException($"{Path} cannot be read ({e.Message}); remove it to start over (services it listed are then left to the operator)", e);
        }
    }

    public void Save(IEnumerable<VipKey> services)
    {
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(Path)!);
        var temporary = Path + ".tmp";
        File.WriteAllText(temporary, JsonSerializer.Serialize(services.Select(s => s.ToString()).Order(StringComparer.Ordinal).ToArray()));
        File.Move(temporary, Path, overwrite: true);
    }

    /// <summary>Parses <c>tcp/10.0.0.1:80</c> or <c>udp/[fd00::1]:53</c> (<see cref="VipKey.ToString"/>).</summary>
    public static VipKey? Parse(string text)
    {
        var slash = text.IndexOf('/', StringComparison.Ordinal);
        return slash > 0
               && TransportProtocols.TryParse(text.AsSpan(0, slash), out var protocol)
               && IPEndPoint.TryParse(text.AsSpan(slash + 1), out var endpoint)
               && endpoint.Port is > 0 and <= ushort.MaxValue
            ? new VipKey(endpoint.Address, (ushort)endpoint.Port, protocol)
            : null;
    }
}
