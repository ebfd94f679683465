using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using DnsClient;
using DnsClient.Protocol;
using Lashup.Plugins.Dns.Protocol;
using AbstractionsType = Lashup.Abstractions.Dns.DnsRecordType;

namespace Lashup.Plugins.Dns.Tests.Protocol;

/// <summary>
/// DnsClient, a real resolver library, queries a tiny UDP server on 127.0.0.1 built from the codec: its queries go
/// through our parser, our responses through its parser.
/// </summary>
public sealed class LoopbackClientTests : IDisposable
{
    private static readonly byte[] _zone = DnsName.FromText("lashup.directory");
    private static readonly byte[] _agent = DnsName.FromText("agent-1.node.lashup.directory");

    private readonly UdpClient _server = new(new IPEndPoint(IPAddress.Loopback, 0));
    private readonly CancellationTokenSource _stop = new(TimeSpan.FromSeconds(60));
    private readonly ConcurrentQueue<(string Name, ushort Type, DnsEdns Edns)> _seen = new();
    private readonly Task _serving;

    public LoopbackClientTests()
    {
        _serving = Task.Run(ServeAsync);
    }

    public void Dispose()
    {
        _stop.Cancel();
        try
        {
            _serving.Wait(TimeSpan.FromSeconds(5));
        }
        catch (AggregateException)
        {
        }

        _server.Dispose();
        _stop.Dispose();
    }

    [Fact]
    public async Task QueryAsync_EveryAnswerKind_ClientReadsWhatWeWrote()
    {
        var client = Client(dnssec: true);

        var a = await client.QueryAsync("Web.Lashup.Directory", QueryType.A);
        var aaaa = await client.QueryAsync("web.lashup.directory", QueryType.AAAA);
        var srv = await client.QueryAsync("_http._tcp.web.lashup.directory", QueryType.SRV);
        var txt = await client.QueryAsync("web.lashup.directory", QueryType.TXT);
        var nx = await client.QueryAsync("gone.lashup.directory", QueryType.A);

        Assert.Equal(IPAddress.Parse("10.0.2.15"), Assert.Single(a.Answers.ARecords()).Address);
        Assert.Equal(5, a.Answers[0].InitialTimeToLive);
        Assert.True(a.Header.HasAuthorityAnswer);
        Assert.Equal(IPAddress.Parse("fd00::15"), Assert.Single(aaaa.Answers.AaaaRecords()).Address);
        var service = Assert.Single(srv.Answers.SrvRecords());
        Assert.Equal((1, 2, 8080, "agent-1.node.lashup.directory."), (service.Priority, service.Weight, service.Port, service.Target.Value));
        Assert.Equal(IPAddress.Parse("192.0.2.1"), Assert.Single(srv.Additionals.ARecords()).Address);
        Assert.Equal(["hello world"], Assert.Single(txt.Answers.TxtRecords()).Text);
        Assert.Equal(DnsHeaderResponseCode.NotExistentDomain, nx.Header.ResponseCode);
        Assert.Equal("hostmaster.lashup.directory.", Assert.Single(nx.Authorities.SoaRecords()).RName.Value);

        var seen = _seen.ToArray();
        Assert.Equal(
            [
                ("web.lashup.directory", (ushort)AbstractionsType.A),
                ("web.lashup.directory", (ushort)AbstractionsType.AAAA),
                ("_http._tcp.web.lashup.directory", (ushort)AbstractionsType.SRV),
                ("web.lashup.directory", (ushort)AbstractionsType.TXT),
                ("gone.lashup.directory", (ushort)AbstractionsType.A),
            ],
            seen.Select(s => (s.Name, s.Type)));
        Assert.All(seen, s => Assert.True(s.Edns is { IsPresent: true, DnssecOk: true, UdpPayloadSize: 4096 }, s.Edns.ToString()));
    }

    [Fact]
    public async Task QueryAsync_ClassicDnsClient_NoOptInQueryOrResponse()
    {
        var client = Client(dnssec: false, bufferSize: 512);

        var a = await client.QueryAsync("web.lashup.directory", QueryType.A);

        Assert.Single(a.Answers.ARecords());
        Assert.Empty(a.Additionals.OfRecordType(ResourceRecordType.OPT));
        Assert.False(Assert.Single(_seen).Edns.IsPresent);
    }

    private LookupClient Client(bool dnssec, int bufferSize = 4096)
    {
        var port = ((IPEndPoint)_server.Client.LocalEndPoint!).Port;
        return new LookupClient(new LookupClientOptions(new NameServer(IPAddress.Loopback, port))
        {
            UseCache = false,
            Retries = 0,
            Timeout = TimeSpan.FromSeconds(10),
            UseTcpFallback = false,
            ExtendedDnsBufferSize = bufferSize,
            RequestDnsSecRecords = dnssec,
        });
    }

    private async Task ServeAsync()
    {
        var response = new byte[DnsResponseWriter.MaxMessageSize];
        while (!_stop.IsCancellationRequested)
        {
            UdpReceiveResult received;
            try
            {
                received = await _server.ReceiveAsync(_stop.Token);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            var length = Answer(received.Buffer, response, _seen);
            if (length > 0)
            {
                await _server.SendAsync(response.AsMemory(0, length), received.RemoteEndPoint, _stop.Token);
            }
        }
    }

    private static int Answer(byte[] packet, byte[] response, ConcurrentQueue<(string, ushort, DnsEdns)> seen)
    {
        if (!DnsQueryParser.TryParse(packet, out var query, out var error))
        {
            return error.TryGetResponseCode(out var code) ? DnsResponseWriter.WriteError(response, packet, query, code) : 0;
        }

        seen.Enqueue((query.GetNameText(), (ushort)query.QuestionType, query.Edns));
        var writer = new DnsResponseWriter(response, DnsResponseWriter.GetUdpLimit(query));
        writer.BeginResponse(query, packet);
        writer.AuthoritativeAnswer = true;
        var name = query.GetNameText();
        switch (query.QuestionType)
        {
            case AbstractionsType.A when name == "web.lashup.directory":
                writer.AddA(DnsSection.Answer, query.Name, 5, [10, 0, 2, 15]);
                break;
            case AbstractionsType.AAAA when name == "web.lashup.directory":
                writer.AddAddress(DnsSection.Answer, query.Name, 5, IPAddress.Parse("fd00::15"));
                break;
            case AbstractionsType.SRV when name == "_http._tcp.web.lashup.directory":
                writer.AddSrv(DnsSection.Answer, query.Name, 5, 1, 2, 8080, _agent);
                writer.AddA(DnsSection.Additional, _agent, 5, [192, 0, 2, 1]);
                break;
            case AbstractionsType.TXT when name == "web.lashup.directory":
                writer.AddTxt(DnsSection.Answer, query.Name, 5, "hello world"u8);
                break;
            default:
                writer.ResponseCode = Lashup.Plugins.Dns.Protocol.DnsResponseCode.NxDomain;
                writer.AddSoa(DnsSection.Authority, _zone, 5, DnsName.FromText("ns.lashup.directory"), DnsName.FromText("hostmaster.lashup.directory"), 1, 60, 30, 86400, 5);
                break;
        }

        return writer.Finish();
    }
}
