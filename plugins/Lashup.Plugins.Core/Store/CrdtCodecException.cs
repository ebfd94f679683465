namespace Lashup.Plugins.Core.Store;

/// <summary>
/// Bytes given to <see cref="CrdtCodec"/> are not a valid encoding (truncated, corrupt, from an unknown format version,
/// or describing a state the CRDT types reject). The only exception the decoder throws for bad input.
/// </summary>
internal sealed class CrdtCodecException : Exception
{
    public CrdtCodecException(string message)
        : base(message)
    {
    }

    public CrdtCodecException(string message, Exception innerException)
        : base(message, innerException) => NewerFormat = (innerException as CrdtCodecException)?.NewerFormat;

    /// <summary>Set when the bytes are in a format newer than this build reads (written by a newer Lashup).</summary>
    public long? NewerFormat { get; init; }
}
