namespace Lashup.Plugins.Core.Tests.Integration;

/// <summary>Tests that start real daemons run one at a time: two cores cannot start a dozen .NET processes at once in time.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class DaemonCollection
{
    public const string Name = "real daemons";
}
