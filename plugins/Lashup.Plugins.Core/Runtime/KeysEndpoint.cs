using Lashup.Abstractions.Admin;
using Lashup.Plugins.Core.Wire;

namespace Lashup.Plugins.Core.Runtime;

/// <summary>
/// <c>GET /v1/keys</c> shows the key ids in use (never the keys); <c>PUT /v1/keys</c> replaces the keyring at run time,
/// so keys rotate with no restart: add the new key second on every node, then first, then drop the old one. The
/// change is not written back to the config file: put the same keys in <c>core.keyring</c> for the next start.
/// </summary>
internal sealed class KeysEndpoint(CoreRuntime core, string method) : IAdminEndpoint
{
    public string Method => method;

    public string Pattern => "/v1/keys";

    public ValueTask<AdminResult> HandleAsync(AdminRequest request, CancellationToken cancellationToken)
    {
        var codec = core.Codec ?? throw new InvalidOperationException("the core is not started");
        if (method == "GET")
        {
            return ValueTask.FromResult(AdminResult.Ok(new KeysDto(codec.Keyring?.Ids ?? [])));
        }

        var body = request.ReadJson<SetKeys>();
        if (body.Keys is null || body.Keys.Count == 0)
        {
            throw new AdminRequestException("give at least one key: {\"keys\": [\"<base64>\", ...]} (the first encrypts)");
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

        try
        {
            codec.ReplaceKeyring(keyring);
        }
        catch (InvalidOperationException e)
        {
            keyring.Dispose();
            return ValueTask.FromResult(AdminResult.Error(409, e.Message));
        }

        return ValueTask.FromResult(AdminResult.Ok(new KeysDto(keyring.Ids)));
    }

    public sealed record SetKeys(List<string>? Keys);

    public sealed record KeysDto(IReadOnlyList<string> KeyIds);
}
