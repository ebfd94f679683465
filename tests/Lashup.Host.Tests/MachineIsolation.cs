using System.Runtime.CompilerServices;
using Lashup.Host.Tests.Support;

namespace Lashup.Host.Tests;

/// <summary>
/// In-process config loading (<c>Daemon.Check</c>, <c>ConfigLoader.Load</c> without a layout) uses this process's
/// install layout: never the machine's /etc/lashup/lashup.toml or vendor plugin folder.
/// </summary>
internal static class MachineIsolation
{
    [ModuleInitializer]
    internal static void Initialize() => TestEnvironment.IsolateFromMachine();
}
