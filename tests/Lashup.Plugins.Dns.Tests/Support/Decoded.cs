using System.Buffers.Binary;
using System.Net;
using System.Text;
using Lashup.Abstractions.Dns;
using Lashup.Plugins.Dns.Protocol;

namespace Lashup.Plugins.Dns.Tests.Support;

/// <summary>A record as text, comparable across decoders: ours and the oracles' produce the same strings.</summary>
internal sealed record DecodedRecord(DnsSection Section, string Name, int Type, uint Ttl, string Data)
{
    public override string ToString() => $"{Section} {Name} {Type} {Ttl} {Data}";
}

/// <summary>A whole message decoded with <see cref="DnsMessageReader"/>.</summary>
internal sealed record DecodedMessage(DnsHeader Header, IReadOnlyList<(string Name, DnsRecordType Type, ushort Class)> Questions, IReadOnlyList<DecodedRecord> Records, int EndOffset)
{
    public IEnumerable<DecodedRecord> In(DnsSection section) => Records.Where(r => r.Section == section);

    public static DecodedMessage Decode(ReadOnlySpan<byte> message)
    {
        var reader = new DnsMessageReader(message);
        Assert.True(reader.TryReadHeader(out var header));
        var name = new byte[DnsName.MaxLength];
        var questions = new List<(string, DnsRecordType, ushort)>();
        for (var i = 0; i < header.QuestionCount; i++)
        {
            Assert.True(reader.TryReadQuestion(name, out var length, out var type, out var questionClass), $"question {i}: {reader.Error}");
            questions.Add((DnsName.ToText(name.AsSpan(0, length)), type, questionClass));
        }

        var records = new List<DecodedRecord>();
        var total = header.AnswerCount + header.AuthorityCount + header.AdditionalCount;
        for (var i = 0; i < total; i++)
        {
            var section = i < header.AnswerCount ? DnsSection.Answer : i < header.AnswerCount + header.AuthorityCount ? DnsSection.Authority : DnsSection.Additional;
            Assert.True(reader.TryReadRecord(name, out var record), $"record {i}: {reader.Error}");
            var owner = DnsName.ToText(name.AsSpan(0, record.NameLength));
            records.Add(new DecodedRecord(section, owner, (int)record.Type, record.Ttl, DecodeData(ref reader, record)));
        }

        return new DecodedMessage(header, questions, records, reader.Position);
    }

    private static string DecodeData(ref DnsMessageReader reader, DnsRecordInfo record)
    {
        var data = reader.GetData(record);
        var buffer = new byte[DnsName.MaxLength];
        string NameAt(ref DnsMessageReader r, int offset, out int next)
        {
            Assert.True(r.TryReadName(offset, buffer, out var length, out next), r.Error.ToString());
            return DnsName.ToText(buffer.AsSpan(0, length));
        }

        switch ((ushort)record.Type)
        {
            case (ushort)DnsRecordType.A:
            case (ushort)DnsRecordType.AAAA:
                return new IPAddress(data).ToString();
            case (ushort)DnsRecordType.CNAME:
            case (ushort)DnsRecordType.NS:
            case (ushort)DnsRecordType.PTR:
                var target = NameAt(ref reader, record.DataOffset, out var end);
                Assert.Equal(record.DataOffset + record.DataLength, end);
                return target;
            case (ushort)DnsRecordType.SRV:
                var srvTarget = NameAt(ref reader, record.DataOffset + 6, out end);
                Assert.Equal(record.DataOffset + record.DataLength, end);
                return $"{BinaryPrimitives.ReadUInt16BigEndian(data)} {BinaryPrimitives.ReadUInt16BigEndian(data[2..])} {BinaryPrimitives.ReadUInt16BigEndian(data[4..])} {srvTarget}";
            case (ushort)DnsRecordType.TXT:
                var parts = new List<string>();
                for (var i = 0; i < data.Length; i += data[i] + 1)
                {
                    parts.Add(Encoding.UTF8.GetString(data.Slice(i + 1, data[i])));
                }

                return string.Join("|", parts);
            case (ushort)DnsRecordType.SOA:
                var mname = NameAt(ref reader, record.DataOffset, out var next);
                var rname = NameAt(ref reader, next, out next);
                var fields = data[(next - record.DataOffset)..];
                Assert.Equal(20, fields.Length);
                return $"{mname} {rname} {BinaryPrimitives.ReadUInt32BigEndian(fields)} {BinaryPrimitives.ReadUInt32BigEndian(fields[4..])} {BinaryPrimitives.ReadUInt32BigEndian(fields[8..])} {BinaryPrimitives.ReadUInt32BigEndian(fields[12..])} {BinaryPrimitives.ReadUInt32BigEndian(fields[16..])}";
            case DnsQueryParser.OptType:
                return $"payload={record.Class} options={data.Length}";
            default:
                return Convert.ToHexString(data);
        }
    }
}
