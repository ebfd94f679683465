namespace Lashup.Plugins.Dns.Tests.Forwarding;

/// <summary>Waits for a condition that another thread makes true (a receive loop counting a late answer), within bounds.</summary>
internal static class Eventually
{
    public static async Task TrueAsync(Func<bool> condition)
    {
        using var patience = new CancellationTokenSource(ForwarderHarness.Patience);
        while (!condition())
        {
            // Real time on purpose: this waits for another thread, not for the forwarder's clock.
            await Task.Delay(TimeSpan.FromMilliseconds(5), patience.Token);
        }
    }
}
