using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Net;
using Lashup.Abstractions.Dns;
using Lashup.Plugins.Dns.Forwarding;
using Lashup.Plugins.Dns.Protocol;
using Lashup.Plugins.Dns.Tests.Support;
using Microsoft.Extensions.Logging.Abstractions;

namespace Lashup.Plugins.Dns.Tests.Forwarding;

/// <summary>A started forwarder on its own meter, with the meter's counters recorded, and a client to ask it.</summary>
internal sealed class ForwarderHarness : IAsyncDisposable
{
    /// <summary>The bound on every wait of a test: far above any timeout configured, so only a hang reaches it.</summary>
    public static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);

    private readonly Meter _meter = new($"Lashup.Dns.Tests.{Guid.NewGuid():N}");
    private readonly MeterListener _listener = new();
    private readonly ConcurrentDictionary<string, long> _counters = new();

    public ForwarderHarness(IEnumerable<IPEndPoint> upstreams, TimeProvider? time = null, Func<ForwarderSettings, ForwarderSettings>? configure = null)
    {
        var settings = new ForwarderSettings([.. upstreams]) { Timeout = TimeSpan.FromSeconds(5) };
        Settings = configure?.Invoke(settings) ?? settings;
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (ReferenceEquals(instrument.Meter, _meter))
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
        {
            var key = instrument.Name;
            foreach (var tag in tags)
            {
                key += $"{{{tag.Key}={tag.Value}}}";
            }

            _counters.AddOrUpdate(key, value, (_, total) => total + value);
        });
        _listener.Start();
        Forwarder = new DnsForwarder(Settings, time ?? TimeProvider.System, NullLogger<DnsForwarder>.Instance, _meter);
        Forwarder.Start();
    }

    public ForwarderSettings Settings { get; }

    public DnsForwarder Forwarder { get; }

    /// <summary>The total of a counter, <c>name</c> or <c>name{tag=value}</c>.</summary>
    public long Counter(string key) => _counters.TryGetValue(key, out var value) ? value : 0;

    /// <summary>Asks the forwarder as a client would: the packet parsed by the server's parser, the UDP limit of the query unless over TCP.</summary>
    public async Task<Response> AskAsync(string name, DnsRecordType type = DnsRecordType.A, ushort id = 0x4242, ushort? payload = 1232, bool dnssecOk = false, bool overTcp = false, int? limit = null, CancellationToken cancellationToken = default)
    {
        var packet = Packets.Query(name, type, payload, dnssecOk, id);
        var query = Packets.Parse(packet);
        var buffer = new byte[65535];
        var responseLimit = limit ?? (overTcp ? 65535 : DnsResponseWriter.GetUdpLimit(query));
        var length = await Forwarder.ResolveAsync(packet, query, buffer, responseLimit, overTcp, cancellationToken).AsTask().WaitAsync(Patience, cancellationToken);
        Assert.InRange(length, DnsHeader.Size, responseLimit);
        return new Response(buffer.AsSpan(0, length).ToArray());
    }

    public async ValueTask DisposeAsync()
    {
        await Forwarder.DisposeAsync().AsTask().WaitAsync(Patience);
        _listener.Dispose();
        _meter.Dispose();
    }
}

/// <summary>A response as the client sees it.</summary>
internal sealed class Response(byte[] bytes)
{
    public byte[] Bytes { get; } = bytes;

    public DecodedMessage Message { get; } = DecodedMessage.Decode(bytes);

    public DnsHeader Header => Message.Header;

    public DnsResponseCode Code => Message.Header.ResponseCode;

    public string QuestionName => Assert.Single(Message.Questions).Name;

    public IEnumerable<DecodedRecord> Answers => Message.In(DnsSection.Answer);

    public IEnumerable<DecodedRecord> Authority => Message.In(DnsSection.Authority);

    /// <summary>The OPT record, if any (it is written last), as (payload size, DO).</summary>
    public (int Payload, bool DnssecOk)? Opt
    {
        get
        {
            if (!Message.In(DnsSection.Additional).Any(r => r.Type == DnsQueryParser.OptType))
            {
                return null;
            }

            // Root owner (1), type (2), class = payload size (2), TTL (4), RDLENGTH (2), no options.
            var opt = Bytes.AsSpan(Bytes.Length - 11);
            Assert.Equal(0, opt[0]);
            Assert.Equal(DnsQueryParser.OptType, BinaryPrimitives.ReadUInt16BigEndian(opt[1..]));
            return (BinaryPrimitives.ReadUInt16BigEndian(opt[3..]), (BinaryPrimitives.ReadUInt32BigEndian(opt[5..]) & 0x8000) != 0);
        }
    }

    public IEnumerable<uint> AnswerTtls => Answers.Select(r => r.Ttl);
}
