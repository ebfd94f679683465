using System.Collections.Immutable;
using System.Text;
using System.Text.Json;
using Lashup.Abstractions.Admin;
using Lashup.Abstractions.Data;

namespace Lashup.Abstractions.Tests.Admin;

public sealed class AdminJsonTests
{
    private static AdminRequest Body(string json) =>
        new(ImmutableDictionary<string, string>.Empty, ImmutableDictionary<string, string>.Empty, Encoding.UTF8.GetBytes(json));

    [Theory]
    [InlineData("""{"ops":[{"op":"set","field":"a","value":"x"}],"expected_versoin":{"node-1":5}}""", "unknown field \"expected_versoin\" in the request body")]
    [InlineData("""{"ops":[{"op":"set","feild":"a","value":"x"}]}""", "ops[0]: unknown field \"feild\"")]
    [InlineData("""{"ops":[{"op":"set","field":"a","value":5}]}""", "ops[0].value: expected a string")]
    [InlineData("""{"ops":[[]]}""", "ops[0]: expected an object")]
    [InlineData("""{"ops":{}}""", "ops: expected an array")]
    [InlineData("""{"ops":[],"expected_version":{"node-1":-1}}""", "expected_version.node-1: expected a non-negative integer")]
    [InlineData("""{"ops":[],"expected_version":[]}""", "expected_version: expected an object")]
    [InlineData("""[]""", "the request body is not valid JSON for this call: expected an object")]
    [InlineData("""not json""", "the request body is not valid JSON: 'not json' is an invalid JSON literal. Expected the literal 'null'.")]
    [InlineData("", "the request body is empty; this call takes a JSON object")]
    [InlineData("null", "the request body is null; this call takes a JSON object")]
    public void ReadJson_BadKvUpdate_AdminRequestExceptionNamingTheField(string body, string expected) =>
        Assert.Equal(expected, Assert.Throws<AdminRequestException>(() => Body(body).ReadJson<KvUpdateRequest>()).Message);

    [Theory]
    [InlineData("""{"keys":["k"],"force":"yes"}""", "force: expected true or false")]
    [InlineData("""{"keys":["k"],"forse":true}""", "unknown field \"forse\" in the request body")]
    public void ReadJson_BadKeysRequest_NamesTheField(string body, string expected) =>
        Assert.Equal(expected, Assert.Throws<AdminRequestException>(() => Body(body).ReadJson<KeysRequest>()).Message);

    [Theory]
    [InlineData("""{"address":"10.0.0.5","port":["80"]}""", "unknown field \"port\" in the request body")]
    [InlineData("""{"address":"10.0.0.5","ports":[80]}""", "ports[0]: expected a string")]
    [InlineData("""{"address":"10.0.0.5","ports":"80"}""", "ports: expected an array")]
    public void ReadJson_BadServiceRegistration_NamesTheField(string body, string expected) =>
        Assert.Equal(expected, Assert.Throws<AdminRequestException>(() => Body(body).ReadJson<ServiceRegistrationRequest>()).Message);

    [Fact]
    public void ReadJson_SnakeCaseAndOptionalFields_Read()
    {
        var update = Body("""{"ops":[{"op":"incr","field":"hits","value":"2"},{"op":"clear","field":"tags"}],"expected_version":{"node-1":3}}""").ReadJson<KvUpdateRequest>();
        Assert.Equal(new KvOpRequest("incr", "hits", "2"), update.Ops![0]);
        Assert.Null(update.Ops[1]!.Value);
        Assert.Equal(3UL, update.ExpectedVersion!["node-1"]);
        Assert.False(Body("""{"keys":["k"]}""").ReadJson<KeysRequest>().Force);
    }

    [Fact]
    public void ContractTypes_SerializedThroughSourceGeneratedMetadata()
    {
        foreach (var type in new[] { typeof(KvUpdateRequest), typeof(KvEntryResponse), typeof(KvWatchLine), typeof(MembersResponse), typeof(KeysResponse), typeof(ServiceResponse), typeof(StatusResponse), typeof(AdminError) })
        {
            Assert.IsAssignableFrom<System.Text.Json.Serialization.JsonSerializerContext>(AdminJson.Options.GetTypeInfo(type).OriginatingResolver);
        }
    }

    /// <summary>The wire is what the CLI of the previous version wrote and read: snake_case, nulls left out.</summary>
    [Fact]
    public void Responses_WireShapes()
    {
        Assert.Equal(
            """{"kind":"snapshot_complete"}""",
            JsonSerializer.Serialize(new KvWatchLine(KvWatchKind.SnapshotComplete, null), AdminJson.Options));
        Assert.Equal(
            """{"kind":"updated","entry":{"key":"a/b","value":{"x":["1"]},"version":{"node-1":2}}}""",
            JsonSerializer.Serialize(new KvWatchLine(KvWatchKind.Updated, new KvEntryResponse("a/b", JsonDocument.Parse("""{"x":["1"]}""").RootElement, new Dictionary<string, ulong> { ["node-1"] = 2 })), AdminJson.Options));
        Assert.Equal(
            """{"entries":[],"quarantined":2}""",
            JsonSerializer.Serialize(new KvListResponse([]) { Quarantined = 2 }, AdminJson.Options));
        Assert.Equal(
            """{"node":"n1","address":"127.0.0.1:7471","epoch":3,"active_view":["n2"],"passive_view_size":0,"members":[]}""",
            JsonSerializer.Serialize(new MembersResponse("n1", "127.0.0.1:7471", 3, ["n2"], 0, []), AdminJson.Options));
        Assert.Equal(
            """{"node":"n1","key_ids":[],"members":[{"name":"n2","state":"alive"}],"warnings":[]}""",
            JsonSerializer.Serialize(new KeysResponse("n1", [], [new MemberKeys("n2", "alive", null)], []), AdminJson.Options));
        Assert.Equal(
            """{"ops":[{"op":"clear","field":"tags"}]}""",
            JsonSerializer.Serialize(new KvUpdateRequest([new KvOpRequest("clear", "tags")]), AdminJson.Options));
        Assert.Equal(
            """{"ready":false,"not_ready":[{"name":"host","reason":"starting"}]}""",
            JsonSerializer.Serialize(new ReadyResponse(false, [new ReadinessNote("host", "starting")]), AdminJson.Options));
    }

    [Fact]
    public void Options_ReadOnly() => Assert.True(AdminJson.Options.IsReadOnly);

    public static TheoryData<Exception, int> Errors => new()
    {
        { new AdminRequestException("bad"), 400 },
        { new KvValidationException(KvKey.Parse("a"), "too big"), 400 },
        { new CrdtTypeMismatchException(["a"], CrdtType.LwwRegister, CrdtType.ORSet, new ORSetAdd(["a"], "x")), 400 },
        { new AdminNotFoundException("no key"), 404 },
        { new KvConflictException(KvKey.Parse("a"), VersionVector.Empty, new KvEntry(KvKey.Parse("a"), NSubstitute.Substitute.For<IMapValue>(), VersionVector.Empty)), 409 },
        { new KvOverloadedException("busy"), 503 },
        { new KvException("store closed"), 500 },
        { new InvalidOperationException("bug"), 500 },
    };

    [Theory]
    [MemberData(nameof(Errors))]
    public void FromException_OneMapping(Exception exception, int status)
    {
        var result = AdminResult.FromException(exception);
        Assert.Equal(status, result.StatusCode);
        Assert.Equal(new AdminError(exception.Message), result.Body);
        Assert.Null(result.RetryAfter);
    }

    [Fact]
    public void FromException_Overloaded_CarriesRetryAfter() =>
        Assert.Equal(TimeSpan.FromSeconds(1.5), AdminResult.FromException(new KvOverloadedException("busy", TimeSpan.FromSeconds(1.5))).RetryAfter);

    [Fact]
    public void KvOpSpec_Vocabulary_NamesUniqueAndFound()
    {
        Assert.Equal(Enum.GetValues<KvOpKind>().Length, KvOpSpec.All.Length);
        Assert.Equal(KvOpSpec.All.Length, KvOpSpec.All.Select(o => o.Name).Distinct().Count());
        Assert.All(KvOpSpec.All, o => Assert.Same(o, KvOpSpec.Find(o.Name)));
        Assert.Null(KvOpSpec.Find("SET"));
        Assert.Equal("set, add, remove, clear, mvset, enable, disable, incr or unset", KvOpSpec.Names);
        Assert.Equal(["set", "add", "remove", "mvset", "incr"], KvOpSpec.All.Where(o => o.NeedsValue).Select(o => o.Name));
    }
}
