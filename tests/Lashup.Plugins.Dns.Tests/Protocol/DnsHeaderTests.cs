using Lashup.Plugins.Dns.Protocol;

namespace Lashup.Plugins.Dns.Tests.Protocol;

public class DnsHeaderTests
{
    [Fact]
    public void TryWrite_EveryField_ReadsBackTheSame()
    {
        var header = new DnsHeader
        {
            Id = 0xBEEF,
            IsResponse = true,
            Opcode = DnsOpcode.Notify,
            AuthoritativeAnswer = true,
            Truncated = true,
            RecursionDesired = true,
            RecursionAvailable = true,
            AuthenticData = true,
            CheckingDisabled = true,
            ResponseCode = DnsResponseCode.Refused,
            QuestionCount = 1,
            AnswerCount = 2,
            AuthorityCount = 3,
            AdditionalCount = 65535,
        };
        var bytes = new byte[DnsHeader.Size];

        Assert.True(header.TryWrite(bytes));
        Assert.True(DnsHeader.TryRead(bytes, out var read));

        Assert.Equal(header, read);
        Assert.Equal([0xBE, 0xEF, 0xA7, 0xB5, 0, 1, 0, 2, 0, 3, 0xFF, 0xFF], bytes);
    }

    [Fact]
    public void Flags_EachBit_SetAndClearIndependently()
    {
        var header = default(DnsHeader);
        header.RecursionDesired = true;
        header.Opcode = DnsOpcode.Update;
        header.ResponseCode = DnsResponseCode.NxDomain;
        header.RecursionDesired = false;

        Assert.False(header.RecursionDesired);
        Assert.Equal(DnsOpcode.Update, header.Opcode);
        Assert.Equal(DnsResponseCode.NxDomain, header.ResponseCode);
        Assert.Equal((ushort)((5 << 11) | 3), header.Flags);
    }

    [Fact]
    public void ResponseCode_Extended_KeepsLowBitsOnly()
    {
        var header = new DnsHeader { ResponseCode = DnsResponseCode.BadVersion };

        Assert.Equal(DnsResponseCode.NoError, header.ResponseCode);
    }

    [Fact]
    public void TryRead_ShortBuffer_ReturnsFalse()
    {
        Assert.False(DnsHeader.TryRead(new byte[11], out _));
        Assert.False(default(DnsHeader).TryWrite(new byte[11]));
    }
}
