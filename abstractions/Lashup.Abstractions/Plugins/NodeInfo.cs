namespace Lashup.Abstractions.Plugins;

/// <summary>This node's identity as configured in the <c>[node]</c> section.</summary>
/// <param name="Name">The node's name, unique in the cluster.</param>
/// <param name="ClusterName">The cluster's name; frames from other clusters are dropped.</param>
/// <param name="DataDirectory">Where plugins keep durable state (each in a sub-folder named after itself).</param>
public sealed record NodeInfo(string Name, string ClusterName, string DataDirectory);
