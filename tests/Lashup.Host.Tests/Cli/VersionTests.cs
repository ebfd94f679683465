using Lashup.Host.Cli;
using Lashup.Host.Plugins;
using Lashup.Host.Tests.Support;

namespace Lashup.Host.Tests.Cli;

/// <summary><c>lashup --version</c> and <c>lashup version</c>: the host's version and the plugin contract major.</summary>
public sealed class VersionTests
{
    [Fact]
    public void Line_IsVersionAndPluginContractMajor()
    {
        Assert.Equal($"lashup {VersionCommand.Version} (plugin contract {PluginCatalog.HostAbstractionsMajor})", VersionCommand.Line);
        Assert.Equal(1, PluginCatalog.HostAbstractionsMajor);
        Assert.Matches(@"^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$", VersionCommand.Version);
    }

    [Theory]
    [InlineData("--version")]
    [InlineData("version")]
    public async Task RealBinary_PrintsOneLineToStdoutAndExits0(string argument)
    {
        using var process = LashupProcess.Start(argument);
        await process.WaitForExitAsync(TimeSpan.FromSeconds(60));

        Assert.True(process.ExitCode == 0, process.Output);
        Assert.Equal($"lashup {VersionCommand.Version} (plugin contract 1)\n", process.StandardOutput);
        Assert.Equal(process.StandardOutput, process.Output);
    }
}
