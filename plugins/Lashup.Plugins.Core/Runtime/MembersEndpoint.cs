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
        var members = core.Members.Select(m => new MemberInfo(
            m.Name, m.Address.ToString(), m.State.ToString().ToLowerInvariant(), m.IsReachable, m.Since, m.Metadata,
            Array.IndexOf(active, m.Name) >= 0)).ToList();
        return AdminResult.Ok(new MembersResponse(core.LocalName, core.Address ?? "", epoch, active, passive, members));
    }
}
