using Lashup.Plugins.Core.Protocol;

namespace Lashup.Plugins.Core.Runtime;

/// <summary>
/// Membership's state on disk (<c>data_dir/core/membership</c>): the departure record and the reference membership, as
/// text, replaced atomically (temporary file, fsync, rename) like the epoch, so a crash leaves the previous state or the
/// new one, never half of either.
/// </summary>
internal sealed class MembershipFile(string directory) : IMembershipPersistence
{
    public string Path { get; } = System.IO.Path.Combine(directory, "membership");

    public MembershipState Load()
    {
        if (!File.Exists(Path))
        {
            return MembershipState.Empty;
        }

        try
        {
            return MembershipState.Parse(File.ReadAllText(Path));
        }
        catch (Exception e) when (e is FormatException or IOException or UnauthorizedAccessException)
        {
            throw new InvalidOperationException($"{Path}: {e.Message}", e);
        }
    }

    public void Save(MembershipState state)
    {
        Directory.CreateDirectory(directory);
        var temp = Path + ".tmp";
        try
        {
            using (var stream = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None, 65536, FileOptions.WriteThrough))
            {
                stream.Write(System.Text.Encoding.UTF8.GetBytes(state.ToText()));
                stream.Flush(flushToDisk: true);
            }

            File.Move(temp, Path, overwrite: true);
        }
        catch (UnauthorizedAccessException e)
        {
            throw new IOException($"{Path}: {e.Message}", e);
        }
    }
}
