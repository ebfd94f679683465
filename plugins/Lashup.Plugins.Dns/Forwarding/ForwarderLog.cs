using System.Net;
using Microsoft.Extensions.Logging;

namespace Lashup.Plugins.Dns.Forwarding;

/// <summary>
/// The forwarder's log messages. <c>LoggerMessage.Define</c> rather than <c>[LoggerMessage]</c>: the plugin gets the
/// logging abstractions through Lashup.Abstractions, which does not pass the source generator on.
/// </summary>
internal static class ForwarderLog
{
    private static readonly Action<ILogger, IPEndPoint, int, Exception?> _upstreamDown = LoggerMessage.Define<IPEndPoint, int>(
        LogLevel.Warning, new EventId(1, "UpstreamDown"), "DNS upstream {Upstream} marked down after {Failures} consecutive failures; retried every few seconds");

    private static readonly Action<ILogger, IPEndPoint, Exception?> _upstreamUp = LoggerMessage.Define<IPEndPoint>(
        LogLevel.Information, new EventId(2, "UpstreamUp"), "DNS upstream {Upstream} answers again; marked up");

    private static readonly Action<ILogger, IPEndPoint, Exception?> _sendFailed = LoggerMessage.Define<IPEndPoint>(
        LogLevel.Debug, new EventId(3, "SendFailed"), "Cannot send a query to DNS upstream {Upstream}");

    private static readonly Action<ILogger, string, Exception?> _receiveFailed = LoggerMessage.Define<string>(
        LogLevel.Warning, new EventId(4, "ReceiveFailed"), "Receiving from DNS upstreams on {Socket} failed; retrying");

    private static readonly Action<ILogger, string, Exception?> _forwardFailed = LoggerMessage.Define<string>(
        LogLevel.Error, new EventId(5, "ForwardFailed"), "Forwarding {Question} failed unexpectedly; answered SERVFAIL");

    public static void UpstreamDown(ILogger logger, IPEndPoint upstream, int failures) => _upstreamDown(logger, upstream, failures, null);

    public static void UpstreamUp(ILogger logger, IPEndPoint upstream) => _upstreamUp(logger, upstream, null);

    public static void SendFailed(ILogger logger, IPEndPoint upstream, Exception exception) => _sendFailed(logger, upstream, exception);

    public static void ReceiveFailed(ILogger logger, string socket, Exception exception) => _receiveFailed(logger, socket, exception);

    public static void ForwardFailed(ILogger logger, string question, Exception exception) => _forwardFailed(logger, question, exception);
}
