using Lashup.Abstractions.Admin;
using Lashup.Plugins.Core.Wire;

namespace Lashup.Plugins.Core.Runtime;

/// <summary>
/// <c>GET /v1/keys</c> shows the public ids of this node's keys (never the keys) and, from the member graph, which
/// key ids every member holds.
/// </summary>
internal sealed class KeysGetEndpoint(CoreRuntime core) : IAdminEndpoint
{
    public string Method => "GET";

    public string Pattern => "/v1/keys";

    public ValueTask<AdminResult> HandleAsync(AdminRequest request, CancellationToken cancellationToken)
    {
        var codec = core.Codec ?? throw new InvalidOperationException("the core is not started");
        var own = codec.Keyring?.KeyIds ?? [];
        var members = core.Members.Select(m => new MemberKeys(
            m.Name,
            m.State.ToString().ToLowerInvariant(),
            m.Name == core.LocalName ? (own.Count > 0 ? own : null) : KeyringMetadata.Of(m))).ToList();
        return ValueTask.FromResult(AdminResult.Ok(new KeysResponse(core.LocalName, own, members, [])));
    }
}

/// <summary>
/// <c>PUT /v1/keys</c> with a <see cref="KeysRequest"/> replaces the keyring at run time, so keys rotate with no
/// restart: add the new key second on every node, then put it first on every node, then drop the old one. A step that
/// would cut a reachable member off (see <see cref="KeyRotationCheck"/>) is refused with 409, naming the members, unless
/// <c>force</c> is set. The change is not written back to the config file: put the same keys in <c>core.keyring</c>
/// for the next start.
/// </summary>
internal sealed class KeysPutEndpoint(CoreRuntime core) : IAdminEndpoint
{
    /// <summary>Keys at most in a keyring set at run time (all their ids fit the published metadata value).</summary>
    public const int MaxKeys = 32;

    public string Method => "PUT";

    public string Pattern => "/v1/keys";

    public async ValueTask<AdminResult> HandleAsync(AdminRequest request, CancellationToken cancellationToken)
    {
        _ = core.Codec ?? throw new InvalidOperationException("the core is not started");
        var body = request.ReadJson<KeysRequest>();
        if (body.Keys is null || body.Keys.Count == 0)
        {
            throw new AdminRequestException("give at least one key: {\"keys\": [\"<base64>\", ...]} (the first encrypts)");
        }

        if (body.Keys.Count > MaxKeys)
        {
            throw new AdminRequestException($"at most {MaxKeys} keys");
        }

        Keyring keyring;
        try
        {
            keyring = Keyring.Parse(body.Keys)!;
        }
        catch (FormatException e)
        {
            throw new AdminRequestException(e.Message.Replace("core.keyring", "keys", StringComparison.Ordinal));
        }

        KeyRotationCheck check;
        bool applied;
        try
        {
            (check, applied) = await core.ReplaceKeyringAsync(keyring, body.Force);
        }
        catch (InvalidOperationException e)
        {
            keyring.Dispose();
            return AdminResult.Error(409, e.Message);
        }

        var problems = check.Describe(core.LocalName);
        if (!applied)
        {
            keyring.Dispose();
            return AdminResult.Error(409,
                $"refused, the keyring of {core.LocalName} is unchanged:" + Environment.NewLine
                + string.Join(Environment.NewLine, problems.Select(p => "  " + p)) + Environment.NewLine
                + "  (the order that cuts nobody off: add the new key everywhere, then make it primary everywhere, then drop the old one; --force applies it anyway)");
        }

        return AdminResult.Ok(new KeysResponse(core.LocalName, keyring.KeyIds, null, problems));
    }
}
