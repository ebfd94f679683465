using Lashup.Abstractions.Admin;

namespace Lashup.Plugins.Core.Runtime;

/// <summary><c>GET /v1/members</c>: this node's view of the cluster, for <c>lashup members</c>.</summary>
internal sealed class MembersEndpoint(CoreRuntime core) : IAdminEndpoint
{
    public string Method => "GET";

    public string Pattern => "/v1/members";

    public async ValueTask<AdminResult> HandleAsync(AdminRequest request, CancellationToken cancellationToken)
    {
        var (epoch, active, passive) = await core.ViewsAsync();
        var members = core.Members.Select(m => new MemberDto(
            m.Name, m.Address.ToString(), m.State.ToString().ToLowerInvariant(), m.IsReachable, m.Since, m.Metadata,
            Array.IndexOf(active, m.Name) >= 0)).ToList();
        return AdminResult.Ok(new MembersDto(core.LocalName, core.Address ?? "", epoch, active, passive, members));
    }

    public sealed record MembersDto(string Node, string Address, long Epoch, string[] ActiveView, int PassiveViewSize, IReadOnlyList<MemberDto> Members);

    public sealed record MemberDto(string Name, string Address, string State, bool Reachable, DateTimeOffset Since, IReadOnlyDictionary<string, string> Metadata, bool Neighbor);
}
