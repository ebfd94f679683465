using System.Diagnostics;
using CsCheck;
using Lashup.Abstractions.Dns;
using Lashup.Plugins.Dns.Protocol;
using Lashup.Plugins.Dns.Tests.Support;
using static Lashup.Plugins.Dns.Tests.Support.Packets;

namespace Lashup.Plugins.Dns.Tests.Protocol;

/// <summary>
/// Property tests over arbitrary and mutated packets: the parser never throws (spans would throw on any read out of
/// bounds), what it accepts re-encodes to an equivalent query, and answering whatever it returns never throws either.
/// </summary>
public class DnsQueryParserFuzzTests
{
    // CsCheck samples on every core; each thread reuses its own buffers.
    [ThreadStatic]
    private static byte[]? _response;

    [ThreadStatic]
    private static byte[]? _encoded;

    /// <summary>Valid queries of every shape the parser knows: EDNS with options, skipped records, pointers.</summary>
    private static readonly Gen<byte[]> ValidQuery =
        Gen.Select(Generators.RandomName, Gen.UShort, Gen.Int[0, 3], Gen.Byte.Array[0, 40], Gen.UShort, Gen.Bool)
            .Select((name, type, shape, option, payload, dnssecOk) => shape switch
            {
                0 => Query(name, (DnsRecordType)type),
                1 => Query(name, (DnsRecordType)type, payload, dnssecOk),
                2 => Concat(Header(ar: 1), Packets.Name(name), TypeClass((DnsRecordType)type), Opt(payload, dnssecOk: dnssecOk, data: Option(10, option))),
                _ => Concat(
                    Header(ns: 1, ar: 2),
                    Packets.Name(name),
                    TypeClass((DnsRecordType)type),
                    [0xC0, 12],
                    TypeClass(DnsRecordType.NS),
                    U32(5),
                    U16(2),
                    [0xC0, 12],
                    [0xC0, 12],
                    TypeClass(DnsRecordType.TXT),
                    U32(0),
                    U16(option.Length + 1),
                    [(byte)option.Length, .. option],
                    Opt(payload, dnssecOk: dnssecOk)),
            });

    /// <summary>A valid query with 1 to 8 random edits: overwrite, flip, truncate, insert or delete octets.</summary>
    private static readonly Gen<byte[]> MutatedQuery =
        Gen.Select(ValidQuery, Gen.Select(Gen.Int[0, 4], Gen.Int[0, 1000], Gen.Byte).Array[1, 8])
            .Select((packet, edits) =>
            {
                var bytes = packet.ToList();
                foreach (var (kind, where, value) in edits)
                {
                    if (bytes.Count == 0)
                    {
                        break;
                    }

                    var at = where % bytes.Count;
                    switch (kind)
                    {
                        case 0:
                            bytes[at] = value;
                            break;
                        case 1:
                            bytes[at] ^= (byte)(1 << (value % 8));
                            break;
                        case 2:
                            bytes.RemoveRange(at, bytes.Count - at);
                            break;
                        case 3:
                            bytes.Insert(at, value);
                            break;
                        default:
                            bytes.RemoveAt(at);
                            break;
                    }
                }

                return bytes.ToArray();
            });

    [Fact]
    public void TryParse_RandomBytes_NeverThrows()
    {
        Gen.Byte.Array[0, 600].Sample(CheckPacket, iter: 50_000);
    }

    [Fact]
    public void TryParse_RandomBytesBehindAPlausibleHeader_NeverThrows()
    {
        // Random bytes rarely get past the header checks; a query header with random counts sends them into names and records.
        Gen.Select(Gen.UShort[0, 3], Gen.UShort[0, 70], Gen.Byte.Array[0, 600])
            .Select((ns, ar, body) => Concat(Header(ns: ns, ar: ar), body))
            .Sample(CheckPacket, iter: 50_000);
    }

    [Fact]
    public void TryParse_MutatedValidQueries_NeverThrows()
    {
        MutatedQuery.Sample(CheckPacket, iter: 50_000);
    }

    [Fact]
    public void TryParse_ValidQueries_ParseAndReEncodeEquivalently()
    {
        ValidQuery.Sample(
            packet =>
            {
                Assert.True(DnsQueryParser.TryParse(packet, out var query, out var error), error.ToString());
                CheckPacket(packet);
            },
            iter: 5_000);
    }

    [Fact]
    public void TryParse_WorstCasePackets_StayFast()
    {
        // The most work a packet can ask for: the longest pointer chain the rules allow, a maximal name, and a 64 KiB
        // packet of minimal additional records behind ARCOUNT 65535.
        // 126 links of ("y", pointer to the previous link) in an authority record's RDATA, the first pointing at the
        // question "x"; an additional record's owner points at the last link: 126 jumps to a 255-octet name.
        var chain = new List<byte>(Concat(Header(ns: 1, ar: 1), Packets.Name("x"), TypeClass(), [0], TypeClass(DnsRecordType.TXT), U32(0), U16(126 * 4)));
        const int firstLink = 30;
        for (var i = 0; i < 126; i++)
        {
            var previous = i == 0 ? 12 : firstLink + ((i - 1) * 4);
            chain.AddRange([1, (byte)'y', .. Pointer(previous)]);
        }

        chain.AddRange(Concat(Pointer(firstLink + (125 * 4)), TypeClass(), U32(0), U16(0)));
        var longName = Concat(Header(), Enumerable.Repeat<byte[]>([1, (byte)'a'], 127).SelectMany(b => b).ToArray(), [0], TypeClass());
        var records = Concat(Header(ar: 65535), Packets.Name("a"), TypeClass(), Enumerable.Repeat<byte[]>([0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0], 5900).SelectMany(b => b).ToArray());
        byte[][] packets = [[.. chain], longName, records];

        var watch = Stopwatch.StartNew();
        for (var i = 0; i < 200; i++)
        {
            foreach (var packet in packets)
            {
                DnsQueryParser.TryParse(packet, out _, out _);
            }
        }

        // About 1 ms per round even on a slow CI machine in Debug; an accidental quadratic or loop would take far longer.
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(5), $"took {watch.Elapsed}");
        Assert.True(DnsQueryParser.TryParse(packets[0], out _, out var chainError), chainError.ToString());
        Assert.True(DnsQueryParser.TryParse(longName, out var query, out _));
        Assert.Equal(255, query.NameLength);
        DnsQueryParser.TryParse(records, out _, out var error);
        Assert.Equal(DnsParseError.TruncatedRecord, error);
    }

    [Fact]
    public void TryParse_AndRespond_AllocatesNothing()
    {
        var packet = Query("web.lashup.directory", payload: 1232, dnssecOk: true);
        var name = DnsName.FromText("web.lashup.directory");
        var response = new byte[1232];
        byte[] address = [10, 0, 2, 15];

        static int Serve(byte[] packet, byte[] response, byte[] name, byte[] address)
        {
            if (!DnsQueryParser.TryParse(packet, out var query, out var error))
            {
                return error.TryGetResponseCode(out var code) ? DnsResponseWriter.WriteError(response, packet, query, code) : 0;
            }

            var writer = new DnsResponseWriter(response, DnsResponseWriter.GetUdpLimit(query));
            writer.BeginResponse(query, packet);
            writer.AuthoritativeAnswer = true;
            writer.AddA(DnsSection.Answer, query.Name, 5, address);
            writer.AddNs(DnsSection.Authority, name.AsSpan(4), 3600, name);
            return writer.Finish();
        }

        for (var i = 0; i < 1000; i++)
        {
            Serve(packet, response, name, address);
        }

        var before = GC.GetAllocatedBytesForCurrentThread();
        var total = 0;
        for (var i = 0; i < 10_000; i++)
        {
            total += Serve(packet, response, name, address);
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        Assert.True(total > 0);
    }

    private static byte[] Pointer(int offset) => [(byte)(0xC0 | (offset >> 8)), (byte)offset];

    /// <summary>Parse, and when that succeeds re-encode and re-parse; answer whatever came back. Nothing may throw.</summary>
    private static void CheckPacket(byte[] packet)
    {
        var ok = DnsQueryParser.TryParse(packet, out var query, out var error);
        Assert.Equal(ok, error == DnsParseError.None);
        var response = _response ??= new byte[DnsResponseWriter.MaxMessageSize];
        if (!ok)
        {
            Assert.NotEqual(DnsParseError.None, error);
            if (error.TryGetResponseCode(out var code))
            {
                var length = DnsResponseWriter.WriteError(response, packet, query, code);
                Assert.InRange(length, DnsHeader.Size, 512 + 11);
                Assert.True(DnsHeader.TryRead(response, out var header));
                Assert.Equal(query.Header.Id, header.Id);
            }
            else
            {
                Assert.True(error is DnsParseError.TruncatedHeader or DnsParseError.NotAQuery);
            }

            return;
        }

        Assert.True(query.HasQuestion);
        Assert.Equal(DnsName.GetHashCode(query.Name), query.NameHash);

        var encoded = _encoded ??= new byte[600];
        Assert.True(DnsQueryWriter.TryWrite(encoded, query, out var written));
        Assert.True(DnsQueryParser.TryParse(encoded.AsSpan(0, written), out var again, out var againError), againError.ToString());
        Assert.Equal(query.Header.Id, again.Header.Id);
        Assert.Equal(query.Header.Flags, again.Header.Flags);
        Assert.True(query.Name.SequenceEqual(again.Name));
        Assert.Equal(query.NameHash, again.NameHash);
        Assert.Equal(query.QuestionType, again.QuestionType);
        Assert.Equal(query.QuestionClass, again.QuestionClass);
        Assert.Equal(query.Edns, again.Edns);

        var limit = DnsResponseWriter.GetUdpLimit(query);
        var writer = new DnsResponseWriter(response, limit);
        Assert.True(writer.BeginResponse(query, packet));
        writer.AddA(DnsSection.Answer, query.Name, 5, [127, 0, 0, 1]);
        Assert.InRange(writer.Finish(), DnsHeader.Size, limit);
    }
}
