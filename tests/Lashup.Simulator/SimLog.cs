using Microsoft.Extensions.Logging;

namespace Lashup.Simulator;

/// <summary>
/// The simulated nodes' logs: written to stderr with the virtual time and the node's name when
/// <c>LASHUP_SIM_LOG</c> is set (to a minimum level: <c>Information</c>, <c>Debug</c>, ...), otherwise dropped.
/// For following one seed's run when a scenario fails.
/// </summary>
internal sealed class SimLog(string node, TimeProvider clock) : ILoggerFactory, ILogger
{
    private static readonly LogLevel? Minimum =
        Enum.TryParse<LogLevel>(Environment.GetEnvironmentVariable("LASHUP_SIM_LOG"), ignoreCase: true, out var level) ? level : null;

    public static ILoggerFactory For(string node, TimeProvider clock) =>
        Minimum is null ? Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance : new SimLog(node, clock);

    public ILogger CreateLogger(string categoryName) => this;

    public void AddProvider(ILoggerProvider provider)
    {
    }

    public void Dispose()
    {
    }

    public IDisposable? BeginScope<TState>(TState state)
        where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => Minimum is { } min && logLevel >= min;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        if (IsEnabled(logLevel))
        {
            Console.Error.WriteLine($"{clock.GetUtcNow():HH:mm:ss.fff} {node} {logLevel}: {formatter(state, exception)}");
        }
    }
}
