using BenchmarkDotNet.Attributes;
using Lashup.Abstractions.Dns;
using Lashup.Plugins.Dns.Protocol;

namespace Lashup.Benchmarks;

/// <summary>The DNS hot path: parse a typical A query (EDNS, 1232) and write its authoritative answer.</summary>
[MemoryDiagnoser]
public class DnsCodecBenchmarks
{
    private readonly byte[] _query = new byte[512];
    private readonly byte[] _response = new byte[1232];
    private readonly byte[] _zone = DnsName.FromText("lashup.directory");
    private readonly byte[] _nameServer = DnsName.FromText("ns.lashup.directory");
    private readonly byte[] _address = [10, 0, 2, 15];
    private int _queryLength;

    [GlobalSetup]
    public void Setup()
    {
        var header = new DnsHeader { Id = 0x1234, RecursionDesired = true };
        var edns = new DnsEdns(IsPresent: true, UdpPayloadSize: 1232, Version: 0, DnssecOk: false, ExtendedResponseCode: 0);
        if (!DnsQueryWriter.TryWrite(_query, header, DnsName.FromText("web.lashup.directory"), DnsRecordType.A, 1, edns, out _queryLength))
        {
            throw new InvalidOperationException("query did not fit");
        }
    }

    [Benchmark]
    public int Parse()
    {
        DnsQueryParser.TryParse(_query.AsSpan(0, _queryLength), out var query, out _);
        return query.NameHash;
    }

    [Benchmark]
    public int ParseAndAnswer()
    {
        var packet = _query.AsSpan(0, _queryLength);
        if (!DnsQueryParser.TryParse(packet, out var query, out _))
        {
            return 0;
        }

        var writer = new DnsResponseWriter(_response, DnsResponseWriter.GetUdpLimit(query));
        writer.BeginResponse(query, packet);
        writer.AuthoritativeAnswer = true;
        writer.AddA(DnsSection.Answer, query.Name, 5, _address);
        return writer.Finish();
    }

    [Benchmark]
    public int ParseAndAnswerWithAuthority()
    {
        var packet = _query.AsSpan(0, _queryLength);
        if (!DnsQueryParser.TryParse(packet, out var query, out _))
        {
            return 0;
        }

        var writer = new DnsResponseWriter(_response, DnsResponseWriter.GetUdpLimit(query));
        writer.BeginResponse(query, packet);
        writer.AuthoritativeAnswer = true;
        for (var i = 0; i < 4; i++)
        {
            writer.AddA(DnsSection.Answer, query.Name, 5, _address);
        }

        writer.AddNs(DnsSection.Authority, _zone, 3600, _nameServer);
        return writer.Finish();
    }
}
