using Lashup.Abstractions.Dns;
using Lashup.Plugins.Dns.Protocol;

namespace Lashup.Plugins.Dns.Server;

/// <summary>
/// Counters of the query path. Plain arrays bumped with Interlocked and read by observable instruments when
/// /metrics is scraped: a counter with tags would look its series up per query, and these run at line rate.
/// </summary>
internal sealed class DnsStats
{
    /// <summary>The query types counted on their own; every other type counts as "other".</summary>
    public static readonly DnsRecordType[] Types =
        [DnsRecordType.A, DnsRecordType.AAAA, DnsRecordType.SRV, DnsRecordType.PTR, DnsRecordType.SOA, DnsRecordType.NS,
         DnsRecordType.TXT, DnsRecordType.CNAME, DnsRecordType.ANY];

    /// <summary>The response codes counted on their own (index = code for 0..5); the last slot is BADVERS.</summary>
    public static readonly DnsResponseCode[] Codes =
        [DnsResponseCode.NoError, DnsResponseCode.FormatError, DnsResponseCode.ServerFailure, DnsResponseCode.NxDomain,
         DnsResponseCode.NotImplemented, DnsResponseCode.Refused, DnsResponseCode.BadVersion];

    // Padded by 8 longs per row so the two query threads of a 2-core box rarely share a cache line.
    private const int Stride = 16;
    private readonly long[] _queries = new long[(Types.Length + 1) * Stride];

    public long Dropped;
    public long Truncated;
    public long TcpConnections;
    public long TcpRefused;
    public long TcpEvicted;
    public long TcpTimeouts;
    public long SourceErrors;
    public long Forwarded;
    public long ForwardRefused;
    public long ForwardOverload;

    public static int TypeIndex(DnsRecordType type)
    {
        var index = Array.IndexOf(Types, type);
        return index < 0 ? Types.Length : index;
    }

    public static int CodeIndex(DnsResponseCode code) => code switch
    {
        >= DnsResponseCode.NoError and <= DnsResponseCode.Refused => (int)code,
        _ => Codes.Length - 1,
    };

    public void Count(DnsRecordType type, DnsResponseCode code) =>
        Interlocked.Increment(ref _queries[(TypeIndex(type) * Stride) + CodeIndex(code)]);

    public long Get(int typeIndex, int codeIndex) => Volatile.Read(ref _queries[(typeIndex * Stride) + codeIndex]);

    public static string TypeName(int typeIndex) => typeIndex < Types.Length ? Types[typeIndex].ToString() : "other";

    public static string CodeName(int codeIndex) => Codes[codeIndex] switch
    {
        DnsResponseCode.NoError => "NOERROR",
        DnsResponseCode.FormatError => "FORMERR",
        DnsResponseCode.ServerFailure => "SERVFAIL",
        DnsResponseCode.NxDomain => "NXDOMAIN",
        DnsResponseCode.NotImplemented => "NOTIMP",
        DnsResponseCode.Refused => "REFUSED",
        _ => "BADVERS",
    };
}
