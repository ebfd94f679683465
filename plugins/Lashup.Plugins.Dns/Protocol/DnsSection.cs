namespace Lashup.Plugins.Dns.Protocol;

/// <summary>The record sections of a message after the question, in the order they are written.</summary>
internal enum DnsSection : byte
{
    /// <summary>The answer section.</summary>
    Answer = 0,

    /// <summary>The authority section.</summary>
    Authority = 1,

    /// <summary>The additional section.</summary>
    Additional = 2,
}
