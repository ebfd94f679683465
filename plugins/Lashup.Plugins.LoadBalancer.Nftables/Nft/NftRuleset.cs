using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Lashup.Abstractions.LoadBalancing;
using Lashup.Abstractions.Networking;

namespace Lashup.Plugins.LoadBalancer.Nftables.Nft;

/// <summary>
/// The nft text of the backend's table. Every VIP is a few elements of flat maps, never a chain or a rule of its own
/// (a chain per service makes each change and each packet's first lookup grow with the number of services):
/// <list type="bullet">
/// <item><c>classes4/6</c>: <c>daddr . l4proto . dport</c> → <c>jump b&lt;N&gt;</c>, N the VIP's bucket count; one lookup
/// per new connection in <c>prerouting</c> (clients elsewhere) and <c>output</c> (clients on this host).</item>
/// <item><c>b&lt;N&gt;</c>, one chain per bucket count in use (a handful: N is the backend count, or the <c>buckets</c>
/// resolution for weighted VIPs), DNATs to the bucket's backend: <c>daddr . l4proto . dport . (symhash mod N)</c> →
/// its address in <c>addrs4/6</c>, its port in <c>ports4/6</c>. Two maps, not one map to <c>address . port</c>: nft
/// 1.0.6 (Debian 12) cannot read such a map's declaration back from the kernel ("conflicting protocols specified: ip
/// vs. th"), so no rule could be added to it later. <c>symhash</c> (the kernel's flow hash), not <c>numgen random</c>:
/// the two lookups must draw the same bucket.</item>
/// <item>In <c>postrouting</c>, masquerade for a hairpin (a backend reaching itself through a VIP: <c>hairpin4/6</c>
/// holds <c>b . b</c> for every backend address) and for connections from this host to a VIP leaving by another
/// interface than <c>lo</c> (their source is a local address the backend could not answer; <c>vipaddrs4/6</c>).</item>
/// </list>
/// Established connections never pass these chains again (conntrack keeps their NAT), so changing a VIP's elements
/// leaves its open connections alone: that is how a drained or removed backend keeps what it serves.
/// </summary>
internal static class NftRuleset
{
    public const string Classes4 = "classes4";
    public const string Classes6 = "classes6";
    public const string Addresses4 = "addrs4";
    public const string Addresses6 = "addrs6";
    public const string Ports4 = "ports4";
    public const string Ports6 = "ports6";
    public const string VipAddresses4 = "vipaddrs4";
    public const string VipAddresses6 = "vipaddrs6";
    public const string Hairpin4 = "hairpin4";
    public const string Hairpin6 = "hairpin6";

    /// <summary>A VIP has at most this many buckets (more backends than this cannot all be reached).</summary>
    public const int MaxBuckets = 65_536;

    /// <summary>Elements per <c>add element</c> line.</summary>
    private const int ElementsPerLine = 2048;

    /// <summary>The chain a VIP of <paramref name="size"/> buckets jumps to.</summary>
    public static string ClassChain(int size) => "b" + size.ToString(CultureInfo.InvariantCulture);

    /// <summary>Whether <paramref name="chain"/> is a class chain, and its bucket count.</summary>
    public static bool TryParseClassChain(string chain, out int size)
    {
        size = 0;
        return chain.Length > 1 && chain[0] == 'b' && chain[1] != '0'
            && int.TryParse(chain.AsSpan(1), NumberStyles.None, CultureInfo.InvariantCulture, out size) && size is > 0 and <= MaxBuckets;
    }

    /// <summary>
    /// The table with its maps, sets and fixed chains, no elements and no class chain. With <paramref name="hooks"/>
    /// false, its chains hook nothing (a probe: nft renders its rules without them reaching a packet).
    /// </summary>
    public static string Table(string table, bool hooks)
    {
        string Hook(string type) => hooks ? type + " " : "";
        return $$"""
            table inet {{table}} {
            	map {{Classes4}} { type ipv4_addr . inet_proto . inet_service : verdict; }
            	map {{Classes6}} { type ipv6_addr . inet_proto . inet_service : verdict; }
            	map {{Addresses4}} { typeof ip daddr . meta l4proto . th dport . symhash mod 2 : ip daddr; }
            	map {{Ports4}} { typeof ip daddr . meta l4proto . th dport . symhash mod 2 : th dport; }
            	map {{Addresses6}} { typeof ip6 daddr . meta l4proto . th dport . symhash mod 2 : ip6 daddr; }
            	map {{Ports6}} { typeof ip6 daddr . meta l4proto . th dport . symhash mod 2 : th dport; }
            	set {{VipAddresses4}} { type ipv4_addr; }
            	set {{VipAddresses6}} { type ipv6_addr; }
            	set {{Hairpin4}} { type ipv4_addr . ipv4_addr; }
            	set {{Hairpin6}} { type ipv6_addr . ipv6_addr; }
            	chain vips {
            		ip daddr . meta l4proto . th dport vmap @{{Classes4}}
            		ip6 daddr . meta l4proto . th dport vmap @{{Classes6}}
            	}
            	chain prerouting {
            		{{Hook("type nat hook prerouting priority dstnat; policy accept;")}}jump vips
            	}
            	chain output {
            		{{Hook("type nat hook output priority -100; policy accept;")}}jump vips
            	}
            	chain postrouting {
            		{{Hook("type nat hook postrouting priority srcnat; policy accept;")}}ct status dnat ip saddr . ip daddr @{{Hairpin4}} masquerade
            		ct status dnat ip6 saddr . ip6 daddr @{{Hairpin6}} masquerade
            		ct status dnat oifname != "lo" fib saddr type local ct original ip daddr @{{VipAddresses4}} masquerade
            		ct status dnat oifname != "lo" fib saddr type local ct original ip6 daddr @{{VipAddresses6}} masquerade
            	}
            }

            """;
    }

    /// <summary>
    /// The fixed chains and the hook each must have, as <c>nft -j</c> lists it (type, hook, priority, policy); all
    /// null for a regular chain.
    /// </summary>
    public static IReadOnlyDictionary<string, (string? Type, string? Hook, string? Priority, string? Policy)> FixedChains { get; } =
        new Dictionary<string, (string?, string?, string?, string?)>(StringComparer.Ordinal)
        {
            ["prerouting"] = ("nat", "prerouting", "-100", "accept"),
            ["output"] = ("nat", "output", "-100", "accept"),
            ["postrouting"] = ("nat", "postrouting", "100", "accept"),
            ["vips"] = (null, null, null, null),
        };

    /// <summary>Adds the class chain of <paramref name="size"/> buckets (the chain and its two rules).</summary>
    public static void AddClassChain(StringBuilder script, string table, int size)
    {
        var chain = ClassChain(size);
        var n = size.ToString(CultureInfo.InvariantCulture);
        script.Append("add chain inet ").Append(table).Append(' ').Append(chain).Append('\n');
        foreach (var (family, address, addresses, ports) in (ReadOnlySpan<(string, string, string, string)>)[("ip", "ip daddr", Addresses4, Ports4), ("ip6", "ip6 daddr", Addresses6, Ports6)])
        {
            var key = $"{address} . meta l4proto . th dport . symhash mod {n}";
            script.Append("add rule inet ").Append(table).Append(' ').Append(chain)
                .Append(" dnat ").Append(family).Append(" to ").Append(key).Append(" map @").Append(addresses)
                .Append(" : ").Append(key).Append(" map @").Append(ports).Append('\n');
        }
    }

    /// <summary>The key of a VIP in <c>classes4/6</c>.</summary>
    public static string VipKeyText(VipKey vip) =>
        $"{vip.Address} . {TransportProtocols.Name(vip.Protocol)} . {vip.Port.ToString(CultureInfo.InvariantCulture)}";

    /// <summary>The key of a bucket in <c>addrs4/6</c> and <c>ports4/6</c>.</summary>
    public static string BucketKeyText(VipKey vip, int bucket) =>
        VipKeyText(vip) + " . " + bucket.ToString(CultureInfo.InvariantCulture);


    public static string ClassesOf(IPAddress address) => address.AddressFamily == AddressFamily.InterNetworkV6 ? Classes6 : Classes4;

    public static string AddressesOf(IPAddress address) => address.AddressFamily == AddressFamily.InterNetworkV6 ? Addresses6 : Addresses4;

    public static string PortsOf(IPAddress address) => address.AddressFamily == AddressFamily.InterNetworkV6 ? Ports6 : Ports4;

    public static string VipAddressesOf(IPAddress address) => address.AddressFamily == AddressFamily.InterNetworkV6 ? VipAddresses6 : VipAddresses4;

    public static string HairpinOf(IPAddress address) => address.AddressFamily == AddressFamily.InterNetworkV6 ? Hairpin6 : Hairpin4;

    /// <summary>Appends <c>verb element inet T set { e, ... }</c> lines for <paramref name="elements"/>, grouped by set.</summary>
    public static void Elements(StringBuilder script, string verb, string table, IEnumerable<(string Set, string Element)> elements)
    {
        foreach (var group in elements.GroupBy(e => e.Set, StringComparer.Ordinal).OrderBy(g => g.Key, StringComparer.Ordinal))
        {
            foreach (var chunk in group.Chunk(ElementsPerLine))
            {
                script.Append(verb).Append(" element inet ").Append(table).Append(' ').Append(group.Key).Append(" { ");
                for (var i = 0; i < chunk.Length; i++)
                {
                    script.Append(i == 0 ? "" : ", ").Append(chunk[i].Element);
                }

                script.Append(" }\n");
            }
        }
    }
}
