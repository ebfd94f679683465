using System.Text.Json.Serialization;

namespace Lashup.Abstractions.Admin;

/// <summary>The answer of <c>GET /v1/members</c> (<c>lashup members</c>): the cluster as this node sees it.</summary>
/// <param name="Node">This node's name.</param>
/// <param name="Address">This node's gossip address.</param>
/// <param name="Epoch">This node's epoch (bumped on every start).</param>
/// <param name="ActiveView">The active view: this node's neighbours.</param>
/// <param name="PassiveViewSize">How many backups the passive view holds.</param>
/// <param name="Members">Every member this node knows.</param>
public sealed record MembersResponse(string Node, string Address, long Epoch, IReadOnlyList<string> ActiveView, int PassiveViewSize, IReadOnlyList<MemberInfo> Members);

/// <summary>One member in <see cref="MembersResponse"/>.</summary>
/// <param name="Name">Its name.</param>
/// <param name="Address">Its gossip address.</param>
/// <param name="State"><c>alive</c>, <c>unreachable</c> or <c>left</c>.</param>
/// <param name="Reachable">Whether a path to it exists in the member graph.</param>
/// <param name="Since">When it entered this state.</param>
/// <param name="Metadata">What it publishes about itself.</param>
/// <param name="Neighbor">Whether it is in this node's active view.</param>
public sealed record MemberInfo(string Name, string Address, string State, bool Reachable, DateTimeOffset Since, IReadOnlyDictionary<string, string> Metadata, bool Neighbor);

/// <summary>The body of <c>PUT /v1/keys</c> (<c>lashup keys [--force] KEY...</c>): the new running keyring.</summary>
/// <param name="Keys">The keys (base64), primary first.</param>
/// <param name="Force">Apply even if the change cuts reachable members off (or cannot be checked).</param>
[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed record KeysRequest(IReadOnlyList<string>? Keys, bool Force = false);

/// <summary>The answer of <c>GET /v1/keys</c> and <c>PUT /v1/keys</c> (<c>lashup keys</c>).</summary>
/// <param name="Node">This node.</param>
/// <param name="KeyIds">This node's key ids (never the keys), primary first; empty: no encryption.</param>
/// <param name="Members">Every member with the key ids it publishes; only on GET.</param>
/// <param name="Warnings">On PUT: what was not checked, or what a forced change cuts off.</param>
public sealed record KeysResponse(string Node, IReadOnlyList<string> KeyIds, IReadOnlyList<MemberKeys>? Members, IReadOnlyList<string> Warnings);

/// <summary>The key ids one member publishes.</summary>
/// <param name="Name">The member.</param>
/// <param name="State">Its state, as in <see cref="MemberInfo.State"/>.</param>
/// <param name="KeyIds">Its key ids, primary first; null when it publishes none (a version without key checks).</param>
public sealed record MemberKeys(string Name, string State, IReadOnlyList<string>? KeyIds);
