using System.Threading.Channels;
using Lashup.Plugins.Core.Protocol;
using Microsoft.Extensions.Logging;

namespace Lashup.Plugins.Core.Runtime;

/// <summary>
/// The daemon's protocol thread: a single reader of a channel of actions, so the protocol state machine needs no
/// locks. Sockets, timers and API calls post into it. An action that throws is logged and the loop goes on.
/// </summary>
internal sealed partial class NodeLoop(ILogger<NodeLoop> logger) : INodeExecutor, IAsyncDisposable
{
    private readonly Channel<Action> _actions = Channel.CreateUnbounded<Action>(new UnboundedChannelOptions { SingleReader = true });
    private Task? _loop;

    public void Start() => _loop ??= Task.Factory.StartNew(RunAsync, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default).Unwrap();

    public void Post(Action action) => _actions.Writer.TryWrite(action);

    /// <summary>Runs <paramref name="func"/> on the loop and returns its result.</summary>
    public Task<T> InvokeAsync<T>(Func<T> func)
    {
        var tcs = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        if (!_actions.Writer.TryWrite(() =>
            {
                try
                {
                    tcs.SetResult(func());
                }
                catch (Exception e)
                {
                    tcs.SetException(e);
                }
            }))
        {
            tcs.SetException(new ObjectDisposedException(nameof(NodeLoop)));
        }

        return tcs.Task;
    }

    public async ValueTask DisposeAsync()
    {
        _actions.Writer.TryComplete();
        if (_loop is not null)
        {
            await _loop;
        }
    }

    private async Task RunAsync()
    {
        while (await _actions.Reader.WaitToReadAsync())
        {
            while (_actions.Reader.TryRead(out var action))
            {
                try
                {
                    action();
                }
                catch (Exception e) when (e is not OutOfMemoryException)
                {
                    LogActionFailed(e);
                }
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "A protocol action failed; the node goes on")]
    private partial void LogActionFailed(Exception e);
}
