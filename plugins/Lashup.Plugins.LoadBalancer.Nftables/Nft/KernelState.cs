using System.Collections.Immutable;
using System.Globalization;
using System.Net;
using System.Text.Json;
using System.Text.RegularExpressions;
using Lashup.Abstractions.LoadBalancing;
using Lashup.Abstractions.Networking;

namespace Lashup.Plugins.LoadBalancer.Nftables.Nft;

/// <summary>One bucket of a VIP in the table: its element in <c>addrs4/6</c> and its element in <c>ports4/6</c>, either may be missing.</summary>
/// <param name="Address">The backend's address, or null when the bucket has no address element.</param>
/// <param name="Port">The backend's port, or null when the bucket has no port element.</param>
internal readonly record struct KernelBucket(IPAddress? Address, ushort? Port)
{
    /// <summary>Whether this bucket sends connections to <paramref name="endpoint"/>.</summary>
    public bool Is(IPEndPoint endpoint) => Port == endpoint.Port && endpoint.Address.Equals(Address);
}

/// <summary>One VIP's elements in the table: its class map entry (the chain its connections jump to) and its buckets.</summary>
/// <param name="Chain">The chain <c>classes4/6</c> sends it to (<c>b&lt;N&gt;</c>), or null when it has no class entry.</param>
/// <param name="Buckets">Its buckets' elements, by bucket.</param>
internal sealed record KernelVip(string? Chain, ImmutableSortedDictionary<int, KernelBucket> Buckets)
{
    /// <summary>The elements of <paramref name="program"/>.</summary>
    public static KernelVip Of(VipProgram program) => new(
        NftRuleset.ClassChain(program.Buckets.Length),
        ImmutableSortedDictionary.CreateRange(program.Buckets.Select((b, i) => KeyValuePair.Create(i, new KernelBucket(b.Address, (ushort)b.Port)))));

    /// <summary>Whether this is exactly <paramref name="program"/>'s elements.</summary>
    public bool Is(VipProgram program) =>
        Chain == NftRuleset.ClassChain(program.Buckets.Length)
        && Buckets.Count == program.Buckets.Length
        && Buckets.All(b => b.Key < program.Buckets.Length && b.Value.Is(program.Buckets[b.Key]));
}

/// <summary>
/// What a table holds, as this backend reads it from <c>nft -j list table</c>: its chains (hooks and rules, each rule's
/// expression as nft renders it), its sets' declarations, and the elements of its maps and sets as VIPs and addresses.
/// </summary>
internal sealed partial class KernelState
{
    public Dictionary<string, KernelChain> Chains { get; } = new(StringComparer.Ordinal);

    public Dictionary<string, string> SetDeclarations { get; } = new(StringComparer.Ordinal);

    public Dictionary<VipKey, KernelVip> Vips { get; } = [];

    public HashSet<IPAddress> VipAddresses { get; } = [];

    public HashSet<IPAddress> Hairpin { get; } = [];

    /// <summary>Elements this backend could not read as its own (another tool wrote them); the table is then rebuilt.</summary>
    public int Unreadable { get; private set; }

    /// <summary>Reads <paramref name="json"/>, the output of <c>nft -j list table inet T</c>.</summary>
    /// <exception cref="NftException">The JSON is not nft's.</exception>
    public static KernelState Parse(string json)
    {
        var state = new KernelState();
        try
        {
            using var document = JsonDocument.Parse(json);
            foreach (var item in document.RootElement.GetProperty("nftables").EnumerateArray())
            {
                if (item.TryGetProperty("chain", out var chain))
                {
                    var name = chain.GetProperty("name").GetString()!;
                    state.Chains[name] = new KernelChain(
                        Text(chain, "type"), Text(chain, "hook"), chain.TryGetProperty("prio", out var prio) ? prio.ToString() : null, Text(chain, "policy"), []);
                }
                else if (item.TryGetProperty("rule", out var rule))
                {
                    var name = rule.GetProperty("chain").GetString()!;
                    if (state.Chains.TryGetValue(name, out var owner))
                    {
                        owner.Rules.Add(rule.GetProperty("expr").GetRawText());
                    }
                }
                else if (item.TryGetProperty("map", out var map))
                {
                    state.ReadSet(map, isMap: true);
                }
                else if (item.TryGetProperty("set", out var set))
                {
                    state.ReadSet(set, isMap: false);
                }
            }
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
        {
            throw new NftException($"nft's JSON listing could not be read: {e.Message}");
        }

        return state;
    }

    /// <summary>
    /// The table's structure (every set's declaration, every chain's hook and rules) as one text, with each class
    /// chain's bucket count left out so that chains of every size compare with one template.
    /// </summary>
    public string Structure(bool withHooks)
    {
        var text = new System.Text.StringBuilder();
        foreach (var (name, declaration) in SetDeclarations.OrderBy(s => s.Key, StringComparer.Ordinal))
        {
            text.Append("set ").Append(name).Append(' ').Append(declaration).Append('\n');
        }

        foreach (var (name, chain) in Chains.Where(c => !NftRuleset.TryParseClassChain(c.Key, out _)).OrderBy(c => c.Key, StringComparer.Ordinal))
        {
            text.Append("chain ").Append(name);
            if (withHooks)
            {
                text.Append(' ').Append(chain.Type).Append(' ').Append(chain.Hook).Append(' ').Append(chain.Priority).Append(' ').Append(chain.Policy);
            }

            text.Append('\n');
            foreach (var rule in chain.Rules)
            {
                text.Append("  ").Append(rule).Append('\n');
            }
        }

        return text.ToString();
    }

    /// <summary>A class chain's rules with its bucket count left out, or null when they do not use exactly <paramref name="size"/>.</summary>
    public static string? ClassTemplate(KernelChain chain, int size)
    {
        var rules = string.Join("\n", chain.Rules);
        var mods = ModPattern().Matches(rules);
        if (mods.Count == 0 || mods.Any(m => m.Groups[1].Value != size.ToString(CultureInfo.InvariantCulture)))
        {
            return null;
        }

        return ModPattern().Replace(rules, "\"mod\": N");
    }

    [GeneratedRegex("\"mod\":\\s*(\\d+)", RegexOptions.CultureInvariant)]
    private static partial Regex ModPattern();

    private static string? Text(JsonElement element, string property) =>
        element.TryGetProperty(property, out var value) ? value.ToString() : null;

    private void ReadSet(JsonElement set, bool isMap)
    {
        var name = set.GetProperty("name").GetString()!;
        var declaration = (set.TryGetProperty("type", out var type) ? type.GetRawText() : "")
            + (isMap && set.TryGetProperty("map", out var data) ? " : " + data.GetRawText() : "")
            + (set.TryGetProperty("flags", out var flags) ? " flags " + flags.GetRawText() : "");
        SetDeclarations[name] = (isMap ? "map " : "set ") + declaration;
        if (!set.TryGetProperty("elem", out var elements))
        {
            return;
        }

        foreach (var element in elements.EnumerateArray())
        {
            bool read;
            try
            {
                read = ReadElement(name, element);
            }
            catch (Exception e) when (e is InvalidOperationException or KeyNotFoundException or IndexOutOfRangeException or FormatException)
            {
                // An element of a shape this backend never writes (someone else's): the table is rebuilt.
                read = false;
            }

            if (!read)
            {
                Unreadable++;
            }
        }
    }

    private bool ReadElement(string set, JsonElement element)
    {
        switch (set)
        {
            case NftRuleset.Classes4 or NftRuleset.Classes6:
                {
                    if (element.ValueKind != JsonValueKind.Array || element.GetArrayLength() != 2 || !TryVip(element[0], 3, out var vip, out _))
                    {
                        return false;
                    }

                    var verdict = element[1];
                    var target = verdict.TryGetProperty("jump", out var jump) ? jump.GetProperty("target").GetString()
                        : verdict.TryGetProperty("goto", out var go) ? go.GetProperty("target").GetString() : null;
                    var current = Vips.GetValueOrDefault(vip);
                    Vips[vip] = new KernelVip(target ?? "?", current?.Buckets ?? ImmutableSortedDictionary<int, KernelBucket>.Empty);
                    return true;
                }

            case NftRuleset.Addresses4 or NftRuleset.Addresses6:
                {
                    if (element.ValueKind != JsonValueKind.Array || element.GetArrayLength() != 2 || !TryVip(element[0], 4, out var vip, out var bucket)
                        || element[1].ValueKind != JsonValueKind.String || !IPAddress.TryParse(element[1].GetString(), out var address))
                    {
                        return false;
                    }

                    var current = Vips.GetValueOrDefault(vip);
                    var buckets = current?.Buckets ?? ImmutableSortedDictionary<int, KernelBucket>.Empty;
                    Vips[vip] = new KernelVip(current?.Chain, buckets.SetItem(bucket, buckets.GetValueOrDefault(bucket) with { Address = address }));
                    return true;
                }

            case NftRuleset.Ports4 or NftRuleset.Ports6:
                {
                    if (element.ValueKind != JsonValueKind.Array || element.GetArrayLength() != 2 || !TryVip(element[0], 4, out var vip, out var bucket)
                        || !element[1].TryGetUInt16(out var port))
                    {
                        return false;
                    }

                    var current = Vips.GetValueOrDefault(vip);
                    var buckets = current?.Buckets ?? ImmutableSortedDictionary<int, KernelBucket>.Empty;
                    Vips[vip] = new KernelVip(current?.Chain, buckets.SetItem(bucket, buckets.GetValueOrDefault(bucket) with { Port = port }));
                    return true;
                }

            case NftRuleset.VipAddresses4 or NftRuleset.VipAddresses6:
                {
                    if (element.ValueKind != JsonValueKind.String || !IPAddress.TryParse(element.GetString(), out var address))
                    {
                        return false;
                    }

                    VipAddresses.Add(address);
                    return true;
                }

            case NftRuleset.Hairpin4 or NftRuleset.Hairpin6:
                {
                    if (!element.TryGetProperty("concat", out var pair) || pair.GetArrayLength() != 2
                        || !IPAddress.TryParse(pair[0].GetString(), out var source) || !IPAddress.TryParse(pair[1].GetString(), out var destination)
                        || !source.Equals(destination))
                    {
                        return false;
                    }

                    Hairpin.Add(source);
                    return true;
                }

            default:
                return false;
        }
    }

    /// <summary>Reads a key <c>addr . proto . port [. bucket]</c>.</summary>
    private static bool TryVip(JsonElement key, int parts, out VipKey vip, out int bucket)
    {
        vip = default;
        bucket = 0;
        if (!key.TryGetProperty("concat", out var concat) || concat.GetArrayLength() != parts
            || concat[0].ValueKind != JsonValueKind.String || !IPAddress.TryParse(concat[0].GetString(), out var address)
            || !TryProtocol(concat[1], out var protocol)
            || !concat[2].TryGetUInt16(out var port) || port == 0)
        {
            return false;
        }

        if (parts == 4 && (!concat[3].TryGetInt32(out bucket) || bucket < 0 || bucket >= NftRuleset.MaxBuckets))
        {
            return false;
        }

        vip = new VipKey(address, port, protocol);
        return true;
    }

    private static bool TryProtocol(JsonElement element, out TransportProtocol protocol)
    {
        var text = element.ValueKind == JsonValueKind.Number && element.TryGetInt32(out var number)
            ? number switch { 6 => "tcp", 17 => "udp", _ => "" }
            : element.GetString();
        switch (text)
        {
            case "tcp":
                protocol = TransportProtocol.Tcp;
                return true;
            case "udp":
                protocol = TransportProtocol.Udp;
                return true;
            default:
                protocol = default;
                return false;
        }
    }
}

/// <summary>A chain as listed: its hook (null for a regular chain) and its rules' expressions as nft renders them.</summary>
internal sealed record KernelChain(string? Type, string? Hook, string? Priority, string? Policy, List<string> Rules);
