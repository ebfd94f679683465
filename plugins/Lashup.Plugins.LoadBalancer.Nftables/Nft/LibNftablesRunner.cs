using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using System.Text;

namespace Lashup.Plugins.LoadBalancer.Nftables.Nft;

/// <summary>
/// nft's own library, <c>libnftables.so.1</c> (in Debian's <c>libnftables1</c>, which the <c>nftables</c> package depends
/// on), called in the process: the same parser and the same one-transaction-per-buffer as <c>nft -f</c>, without
/// starting a process per change (which costs more than the change: 15-20 ms against about 1). Its context is not
/// thread-safe, so every call runs on one thread of its own; with a network namespace (tests, benchmarks) that thread
/// enters it first (<c>setns</c>), and the library's netlink socket, opened on that thread, lives there. There is no
/// managed binding for libnftables, hence the four-function interop here.
/// </summary>
internal sealed unsafe partial class LibNftablesRunner : INftRunner, IDisposable
{
    private const uint OutputJson = 1 << 4;
    private const int CloneNewNet = 0x40000000;

    private readonly BlockingCollection<Action> _work = [];
    private readonly Thread _thread;
    private readonly delegate* unmanaged<uint, nint> _new;
    private readonly delegate* unmanaged<nint, void> _free;
    private readonly delegate* unmanaged<nint, int> _bufferOutput;
    private readonly delegate* unmanaged<nint, int> _bufferError;
    private readonly delegate* unmanaged<nint, nint> _outputBuffer;
    private readonly delegate* unmanaged<nint, nint> _errorBuffer;
    private readonly delegate* unmanaged<nint, uint, void> _setOutputFlags;
    private readonly delegate* unmanaged<nint, byte*, int> _run;
    private nint _commands;
    private nint _listings;

    private LibNftablesRunner(nint library, string? netns)
    {
        _new = (delegate* unmanaged<uint, nint>)NativeLibrary.GetExport(library, "nft_ctx_new");
        _free = (delegate* unmanaged<nint, void>)NativeLibrary.GetExport(library, "nft_ctx_free");
        _bufferOutput = (delegate* unmanaged<nint, int>)NativeLibrary.GetExport(library, "nft_ctx_buffer_output");
        _bufferError = (delegate* unmanaged<nint, int>)NativeLibrary.GetExport(library, "nft_ctx_buffer_error");
        _outputBuffer = (delegate* unmanaged<nint, nint>)NativeLibrary.GetExport(library, "nft_ctx_get_output_buffer");
        _errorBuffer = (delegate* unmanaged<nint, nint>)NativeLibrary.GetExport(library, "nft_ctx_get_error_buffer");
        _setOutputFlags = (delegate* unmanaged<nint, uint, void>)NativeLibrary.GetExport(library, "nft_ctx_output_set_flags");
        _run = (delegate* unmanaged<nint, byte*, int>)NativeLibrary.GetExport(library, "nft_run_cmd_from_buffer");
        var started = new TaskCompletionSource();
        _thread = new Thread(() => Loop(netns, started)) { IsBackground = true, Name = "lashup-nftables" };
        _thread.Start();
        started.Task.GetAwaiter().GetResult();
    }

    /// <summary>A runner on libnftables, or null (with why) when the library is not there or does not start.</summary>
    /// <param name="netns">A named network namespace to work in (<c>ip netns</c>), or null for the daemon's own.</param>
    /// <param name="why">Why there is none.</param>
    /// <returns>The runner, or null.</returns>
    public static LibNftablesRunner? TryCreate(string? netns, out string? why)
    {
        if (!OperatingSystem.IsLinux() || !NativeLibrary.TryLoad("libnftables.so.1", out var library))
        {
            why = "libnftables.so.1 is not installed";
            return null;
        }

        try
        {
            why = null;
            return new LibNftablesRunner(library, netns);
        }
        catch (Exception e) when (e is EntryPointNotFoundException or InvalidOperationException)
        {
            why = e.Message;
            return null;
        }
    }

    public Task RunAsync(string script, CancellationToken cancellationToken) =>
        InvokeAsync(() =>
        {
            var (code, _, error) = Execute(_commands, script);
            if (code != 0)
            {
                throw new NftException($"nft refused the change (nothing of it applied): {ProcessNftRunner.Summarize(error)}");
            }

            return true;
        }, cancellationToken);

    public Task<string?> ListTableAsync(string table, CancellationToken cancellationToken) =>
        InvokeAsync<string?>(() =>
        {
            var (code, output, error) = Execute(_listings, $"list table inet {table}");
            if (code == 0)
            {
                return output;
            }

            return error.Contains("No such file or directory", StringComparison.Ordinal)
                ? null
                : throw new NftException($"nft list table inet {table} failed: {ProcessNftRunner.Summarize(error)}");
        }, cancellationToken);

    public void Dispose()
    {
        _work.CompleteAdding();
        _thread.Join(TimeSpan.FromSeconds(10));
        _work.Dispose();
    }

    private Task<T> InvokeAsync<T>(Func<T> call, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var result = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        _work.Add(() =>
        {
            try
            {
                result.SetResult(call());
            }
            catch (Exception e)
            {
                result.SetException(e);
            }
        }, cancellationToken);
        return result.Task;
    }

    private (int Code, string Output, string Error) Execute(nint context, string command)
    {
        var bytes = Encoding.UTF8.GetBytes(command + "\0");
        int code;
        fixed (byte* buffer = bytes)
        {
            code = _run(context, buffer);
        }

        return (code, Marshal.PtrToStringUTF8(_outputBuffer(context)) ?? "", Marshal.PtrToStringUTF8(_errorBuffer(context)) ?? "");
    }

    private void Loop(string? netns, TaskCompletionSource started)
    {
        try
        {
            if (netns is not null)
            {
                EnterNamespace(netns);
            }

            _commands = NewContext(0);
            _listings = NewContext(OutputJson);
            started.SetResult();
        }
        catch (Exception e)
        {
            started.SetException(e);
            return;
        }

        try
        {
            foreach (var item in _work.GetConsumingEnumerable())
            {
                item();
            }
        }
        finally
        {
            _free(_commands);
            _free(_listings);
        }
    }

    private nint NewContext(uint outputFlags)
    {
        var context = _new(0);
        if (context == 0)
        {
            throw new InvalidOperationException("nft_ctx_new failed");
        }

        _bufferOutput(context);
        _bufferError(context);
        _setOutputFlags(context, outputFlags);
        return context;
    }

    private static void EnterNamespace(string netns)
    {
        using var handle = File.OpenHandle(Path.Combine("/var/run/netns", netns));
        if (SetNs((int)handle.DangerousGetHandle(), CloneNewNet) != 0)
        {
            throw new InvalidOperationException($"setns into {netns} failed: errno {Marshal.GetLastPInvokeError()}");
        }
    }

    [LibraryImport("libc", EntryPoint = "setns", SetLastError = true)]
    private static partial int SetNs(int fd, int nstype);
}
