using System.Collections;
using System.Net;
using System.Net.Sockets;
using System.Reflection;
using Lashup.Abstractions.Configuration;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;

namespace Lashup.Host.Configuration;

/// <summary>
/// What the configuration's types cannot show but this host can check before any plugin starts: the listen addresses
/// of the host and of every selected plugin (<see cref="ListenEndpointAttribute"/>): one address and port used twice,
/// an address this host does not have; and the data directory: a file, a folder that cannot be created or written.
/// <c>lashup config check</c> and <c>lashup run</c> both run these; each problem is one error naming its key.
/// </summary>
internal static class StartupChecks
{
    /// <summary>One address a key asks to listen on.</summary>
    /// <param name="Key">The key as operators write it (<c>dns.listen[0]</c>).</param>
    /// <param name="Path">The configuration path (<c>dns:listen:0</c>).</param>
    /// <param name="Endpoint">The address and port.</param>
    /// <param name="Protocols">What is bound on it.</param>
    /// <param name="Location">Where the key is written; null for a default.</param>
    internal sealed record Listener(string Key, string Path, IPEndPoint Endpoint, ListenProtocols Protocols, ConfigLocation? Location)
    {
        /// <summary>The list the key is an element of (<c>dns.listen</c> for <c>dns.listen[0]</c>), else the key.</summary>
        public string List => Key.EndsWith(']') ? Key[..Key.LastIndexOf('[')] : Key;
    }

    /// <summary>
    /// Reports listen addresses used twice on a protocol both bind (a wildcard address takes its port on every address
    /// of its family; port 0 never conflicts) and addresses that are not this host's. Reads <c>admin.listen</c> and the
    /// <see cref="ListenEndpointAttribute"/> properties of each options type in <paramref name="declared"/>, as
    /// <paramref name="services"/> resolves them (bound and post-configured, as the plugin will see them).
    /// </summary>
    public static void CheckListenEndpoints(
        LoadedConfiguration config, IServiceProvider services, IEnumerable<(string Path, Type Type)> declared, List<ConfigException> errors)
    {
        var listeners = Listeners(config, "admin", config.Admin);
        foreach (var (path, type) in declared.DistinctBy(d => (d.Path.ToUpperInvariant(), d.Type)))
        {
            if (Resolve(services, type) is { } options)
            {
                listeners.AddRange(Listeners(config, path, options));
            }
        }

        ReportConflicts(listeners, errors);
        ReportForeignAddresses(listeners, errors);
    }

    /// <summary>
    /// Reports a data directory that is a file, cannot be created, or cannot be written (a probe file is created and
    /// deleted). With <paramref name="keepCreated"/> false (<c>config check</c>), folders this check created are removed.
    /// </summary>
    public static void CheckDataDirectory(LoadedConfiguration config, bool keepCreated, List<ConfigException> errors)
    {
        const string key = "node:data_dir";
        var location = config.Document.Find(key)?.Location;
        var path = config.DataDirectory;
        if (File.Exists(path))
        {
            errors.Add(new ConfigException($"node.data_dir: {path} is a file, not a folder", location, key));
            return;
        }

        // The topmost folder that does not exist yet: what this check creates, and removes again when asked to.
        string? created = null;
        for (var dir = path; !string.IsNullOrEmpty(dir) && !Directory.Exists(dir); dir = Path.GetDirectoryName(dir))
        {
            if (File.Exists(dir))
            {
                errors.Add(new ConfigException($"node.data_dir: cannot create {path}: {dir} is a file", location, key));
                return;
            }

            created = dir;
        }

        try
        {
            if (created is not null)
            {
                try
                {
                    Directory.CreateDirectory(path);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    errors.Add(new ConfigException($"node.data_dir: cannot create {path}: {Reason(e)}", location, key));
                    return;
                }
            }

            try
            {
                using var probe = new FileStream(
                    Path.Combine(path, $".lashup-write-test-{Guid.NewGuid():N}"), FileMode.CreateNew, FileAccess.Write, FileShare.None, 1, FileOptions.DeleteOnClose);
                probe.WriteByte(0);
                probe.Flush(flushToDisk: false);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                errors.Add(new ConfigException($"node.data_dir: {path} is not writable: {Reason(e)}", location, key));
            }
        }
        finally
        {
            if (created is not null && !keepCreated)
            {
                RemoveCreated(path, created);
            }
        }
    }

    private static List<Listener> Listeners(LoadedConfiguration config, string sectionPath, object options)
    {
        var listeners = new List<Listener>();
        foreach (var property in options.GetType().GetProperties(BindingFlags.Public | BindingFlags.Instance))
        {
            if (property.GetCustomAttribute<ListenEndpointAttribute>() is not { } attribute || property.GetIndexParameters().Length > 0)
            {
                continue;
            }

            var path = $"{sectionPath}:{property.GetCustomAttribute<ConfigurationKeyNameAttribute>()?.Name ?? property.Name}";
            var value = property.GetValue(options);
            List<(string Path, string? Text)> items = value switch
            {
                string single => [(path, single)],
                IEnumerable many => [.. many.Cast<object?>().Select((item, i) => ($"{path}:{i}", item as string))],
                _ => [],
            };
            foreach (var (itemPath, text) in items)
            {
                if (TryParseEndpoint(text, out var endpoint))
                {
                    listeners.Add(new Listener(ConfigPaths.Display(itemPath), itemPath, endpoint, attribute.Protocols, config.Document.Find(itemPath)?.Location));
                }
            }
        }

        return listeners;
    }

    /// <summary><c>address:port</c>, or <c>localhost:port</c>; anything else is the owner's to report.</summary>
    private static bool TryParseEndpoint(string? text, out IPEndPoint endpoint)
    {
        endpoint = null!;
        if (string.IsNullOrWhiteSpace(text) || !text.Contains(':', StringComparison.Ordinal))
        {
            return false;
        }

        if (text.StartsWith("localhost:", StringComparison.OrdinalIgnoreCase))
        {
            text = "127.0.0.1" + text["localhost".Length..];
        }

        if (!IPEndPoint.TryParse(text, out var parsed))
        {
            return false;
        }

        endpoint = parsed;
        return true;
    }

    private static void ReportConflicts(List<Listener> listeners, List<ConfigException> errors)
    {
        for (var j = 1; j < listeners.Count; j++)
        {
            for (var i = 0; i < j; i++)
            {
                var (a, b) = (listeners[i], listeners[j]);
                var shared = a.Protocols & b.Protocols;
                if (shared == ListenProtocols.None || a.Endpoint.Port == 0 || a.Endpoint.Port != b.Endpoint.Port
                    || a.Endpoint.AddressFamily != b.Endpoint.AddressFamily)
                {
                    continue;
                }

                var same = a.Endpoint.Address.Equals(b.Endpoint.Address);
                if (!same && !IsWildcard(a.Endpoint.Address) && !IsWildcard(b.Endpoint.Address))
                {
                    continue;
                }

                // Reported at the key written later in the file (a default has no place in it).
                var (at, other) = b.Location is null || (a.Location is not null && a.Location.Line > b.Location.Line) ? (a, b) : (b, a);
                var protocols = shared == (ListenProtocols.Tcp | ListenProtocols.Udp) ? "UDP and TCP" : shared == ListenProtocols.Tcp ? "TCP" : "UDP";
                var message = at.List == other.List && same
                    ? $"{at.Key}: {at.Endpoint} is listed twice (also {other.Key})"
                    : same
                        ? $"{at.Key}: {at.Endpoint} is also {other.Key} (both bind {protocols} there); each needs its own address or port"
                        : $"{at.Key}: {at.Endpoint} overlaps {other.Key} ({other.Endpoint}): a wildcard address takes port {at.Endpoint.Port} on every address (both bind {protocols}); each needs its own port";
                errors.Add(new ConfigException(message, at.Location, at.Path));
            }
        }
    }

    private static void ReportForeignAddresses(List<Listener> listeners, List<ConfigException> errors)
    {
        var local = new Dictionary<IPAddress, bool>();
        foreach (var listener in listeners)
        {
            var address = listener.Endpoint.Address;
            if (IsWildcard(address))
            {
                continue;
            }

            if (!local.TryGetValue(address, out var isLocal))
            {
                isLocal = IsLocalAddress(address);
                local[address] = isLocal;
            }

            if (!isLocal)
            {
                var wildcard = address.AddressFamily == AddressFamily.InterNetworkV6 ? "::" : "0.0.0.0";
                errors.Add(new ConfigException(
                    $"{listener.Key}: {address} is not an address of this host; use one of its interface addresses, or {wildcard} for all of them",
                    listener.Location, listener.Path));
            }
        }
    }

    /// <summary>Whether this host can bind <paramref name="address"/>: the kernel's answer, loopback ranges and non-local binding included.</summary>
    private static bool IsLocalAddress(IPAddress address)
    {
        try
        {
            using var socket = new Socket(address.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
            socket.Bind(new IPEndPoint(address, 0));
            return true;
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.AddressNotAvailable)
        {
            return false;
        }
        catch (SocketException)
        {
            // Not this check's to judge (no IPv6 on this host, ...): binding at start reports it.
            return true;
        }
    }

    private static bool IsWildcard(IPAddress address) => address.Equals(IPAddress.Any) || address.Equals(IPAddress.IPv6Any);

    private static object? Resolve(IServiceProvider services, Type optionsType)
    {
        var accessorType = typeof(IOptions<>).MakeGenericType(optionsType);
        try
        {
            return services.GetService(accessorType) is { } accessor ? accessorType.GetProperty(nameof(IOptions<object>.Value))!.GetValue(accessor) : null;
        }
        catch (TargetInvocationException)
        {
            // Options that cannot be built are reported by their validation, not here.
            return null;
        }
    }

    private static string Reason(Exception e) => e switch
    {
        UnauthorizedAccessException => "permission denied",
        _ => ConfigException.OneLine(e.Message),
    };

    /// <summary>Removes the empty folders from <paramref name="path"/> up to <paramref name="created"/>, which this check made.</summary>
    private static void RemoveCreated(string path, string created)
    {
        try
        {
            for (var dir = path; dir is not null && dir.Length >= created.Length; dir = Path.GetDirectoryName(dir))
            {
                Directory.Delete(dir, recursive: false);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Someone else put something there meanwhile; it is not ours to remove.
        }
    }
}
