using Lashup.Plugins.Core.Wire;

namespace Lashup.Plugins.Core.Tests.Wire;

/// <summary>
/// Member-by-member equality for wire messages: record equality compares arrays and dictionaries by reference, so
/// every collection is compared element by element here.
/// </summary>
internal static class WireAssert
{
    public static void Equal(Envelope expected, Envelope? actual)
    {
        Assert.NotNull(actual);
        Assert.Equal(expected.From, actual.From);
        Assert.Equal(expected.FromAddress, actual.FromAddress);
        Assert.Equal(expected.Epoch, actual.Epoch);
        Assert.Equal(expected.Seq, actual.Seq);
        Equal(expected.Body, actual.Body);
    }

    public static void Equal(Message expected, Message? actual)
    {
        Assert.NotNull(actual);
        Assert.IsType(expected.GetType(), actual);
        switch (expected)
        {
            case JoinReply e:
                var jr = (JoinReply)actual;
                Assert.Equal(e.Accepted, jr.Accepted);
                Assert.Equal(e.Reason, jr.Reason);
                Assert.Equal(e.Alternatives, jr.Alternatives);
                Assert.Equal(e.Fatal, jr.Fatal);
                break;
            case Shuffle e:
                var s = (Shuffle)actual;
                Assert.Equal(e.Origin, s.Origin);
                Assert.Equal(e.TimeToLive, s.TimeToLive);
                Assert.Equal(e.Nodes, s.Nodes);
                Assert.Equal(e.ShuffleId, s.ShuffleId);
                break;
            case ShuffleReply e:
                var sr = (ShuffleReply)actual;
                Assert.Equal(e.ShuffleId, sr.ShuffleId);
                Assert.Equal(e.Nodes, sr.Nodes);
                break;
            case AdjacencyUpdate e:
                Equal(e.Record, ((AdjacencyUpdate)actual).Record);
                break;
            case GmDigest e:
                var d = (GmDigest)actual;
                Assert.Equal(e.Versions, d.Versions);
                Assert.Equal(e.WantReply, d.WantReply);
                Assert.Equal(e.DeparturesCount, d.DeparturesCount);
                Assert.Equal(e.DeparturesHash, d.DeparturesHash);
                break;
            case Departures e:
                var dep = (Departures)actual;
                Assert.Equal(e.Entries, dep.Entries);
                Assert.Equal(e.Complete, dep.Complete);
                Assert.Equal(e.Roster, dep.Roster);
                break;
            case GmRecords e:
                var r = (GmRecords)actual;
                Assert.Equal(e.Records.Length, r.Records.Length);
                for (var i = 0; i < e.Records.Length; i++)
                {
                    Equal(e.Records[i], r.Records[i]);
                }

                break;
            case MulticastData e:
                var m = (MulticastData)actual;
                Assert.Equal(e.Origin, m.Origin);
                Assert.Equal(e.OriginEpoch, m.OriginEpoch);
                Assert.Equal(e.Seq, m.Seq);
                Assert.Equal(e.Topic, m.Topic);
                Assert.Equal(e.Payload, m.Payload);
                break;
            case DirectData e:
                var direct = (DirectData)actual;
                Assert.Equal(e.Topic, direct.Topic);
                Assert.Equal(e.Payload, direct.Payload);
                break;
            default:
                // The remaining messages hold only scalars, strings and NodeRefs, so record equality is deep.
                Assert.Equal(expected, actual);
                break;
        }
    }

    public static void Equal(AdjacencyRecord expected, AdjacencyRecord? actual)
    {
        Assert.NotNull(actual);
        Assert.Equal(expected.Name, actual.Name);
        Assert.Equal(expected.Address, actual.Address);
        Assert.Equal(expected.Epoch, actual.Epoch);
        Assert.Equal(expected.Counter, actual.Counter);
        Assert.Equal(expected.Neighbors, actual.Neighbors);
        Assert.Equal(expected.Metadata.OrderBy(kv => kv.Key, StringComparer.Ordinal), actual.Metadata.OrderBy(kv => kv.Key, StringComparer.Ordinal));
        Assert.Equal(expected.Left, actual.Left);
    }
}
