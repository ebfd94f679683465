using Lashup.Host.Tests.Support;

namespace Lashup.Host.Tests.Plugins;

/// <summary>
/// Every plugin folder the build produces carries none of the assemblies the host shares with plugins; a copy would
/// make the host refuse the plugin (or, unchecked, split its types from the host's).
/// </summary>
public sealed class PluginFolderTests
{
    [Fact]
    public void BuiltPluginFolders_ShipNoSharedAssemblies()
    {
        var folders = PluginFolders().ToList();
        var shipped = folders
            .SelectMany(folder => Directory.EnumerateFiles(folder, "*.dll", SearchOption.AllDirectories))
            .Where(file => IsShared(Path.GetFileName(file)))
            .Select(file => Path.GetRelativePath(TestEnvironment.RepoRoot, file))
            .Order(StringComparer.Ordinal)
            .ToList();

        // The fixture guards against passing on an empty or misplaced folder: it is always built before the tests.
        Assert.True(File.Exists(Path.Combine(TestEnvironment.FixturePlugin("Fixture.Good"), "Fixture.Good.dll")));
        Assert.Contains(TestEnvironment.FixturePlugin("Fixture.Good"), folders);
        Assert.Empty(shipped);
    }

    /// <summary>
    /// Every folder under <c>artifacts/plugins/</c> (whatever plugins are built; maybe none), under the examples'
    /// <c>artifacts/plugins/</c> when they are built, and the fixture <c>Fixture.Good</c>.
    /// </summary>
    private static IEnumerable<string> PluginFolders()
    {
        var roots = new List<string> { Path.Combine(TestEnvironment.RepoRoot, "artifacts", "plugins") };
        var examples = Path.Combine(TestEnvironment.RepoRoot, "examples");
        if (Directory.Exists(examples))
        {
            roots.AddRange(Directory.EnumerateDirectories(examples).Select(e => Path.Combine(e, "artifacts", "plugins")));
        }

        return roots
            .Where(Directory.Exists)
            .SelectMany(Directory.EnumerateDirectories)
            .Append(TestEnvironment.FixturePlugin("Fixture.Good"));
    }

    private static bool IsShared(string fileName) =>
        fileName.Equals("Lashup.Abstractions.dll", StringComparison.OrdinalIgnoreCase)
        || (fileName.StartsWith("Microsoft.Extensions.", StringComparison.OrdinalIgnoreCase) && fileName.EndsWith(".dll", StringComparison.OrdinalIgnoreCase))
        || (fileName.StartsWith("MessagePack", StringComparison.OrdinalIgnoreCase) && fileName.EndsWith(".dll", StringComparison.OrdinalIgnoreCase));
}
