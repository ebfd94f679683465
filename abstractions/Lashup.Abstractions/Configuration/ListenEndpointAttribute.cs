namespace Lashup.Abstractions.Configuration;

/// <summary>The transport protocols a listen endpoint binds; see <see cref="ListenEndpointAttribute"/>.</summary>
[Flags]
public enum ListenProtocols
{
    /// <summary>None (not a valid argument of <see cref="ListenEndpointAttribute"/>).</summary>
    None = 0,

    /// <summary>TCP.</summary>
    Tcp = 1,

    /// <summary>UDP.</summary>
    Udp = 2,
}

/// <summary>
/// Marks an options property as an address the plugin listens on: a string <c>"address:port"</c>, or a list of them.
/// Before any plugin starts (and in <c>lashup config check</c>), the host reads these properties from every selected
/// plugin's options, as bound (after <c>PostConfigure</c>), together with its own <c>admin.listen</c>, and reports with
/// the file and line: an address and port used by two keys (or twice in one list) on a protocol both bind, where a
/// wildcard address (<c>0.0.0.0</c>, <c>::</c>) takes the port on every address of its family and port 0 (any free
/// port) never conflicts; and an address that is not one of this host's.
/// </summary>
/// <example><code>
/// [ConfigurationKeyName("listen")]
/// [ListenEndpoint(ListenProtocols.Tcp | ListenProtocols.Udp)]
/// public List&lt;string&gt; Listen { get; set; } = [];
/// </code></example>
[AttributeUsage(AttributeTargets.Property, AllowMultiple = false, Inherited = true)]
public sealed class ListenEndpointAttribute : Attribute
{
    /// <summary>Marks a listen endpoint bound with <paramref name="protocols"/>.</summary>
    /// <param name="protocols">What the plugin binds on it: TCP, UDP, or both.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="protocols"/> is <see cref="ListenProtocols.None"/> or unknown.</exception>
    public ListenEndpointAttribute(ListenProtocols protocols)
    {
        if (protocols == ListenProtocols.None || (protocols & ~(ListenProtocols.Tcp | ListenProtocols.Udp)) != 0)
        {
            throw new ArgumentOutOfRangeException(nameof(protocols), protocols, "expected Tcp, Udp or both");
        }

        Protocols = protocols;
    }

    /// <summary>What the plugin binds on the endpoint.</summary>
    public ListenProtocols Protocols { get; }
}
