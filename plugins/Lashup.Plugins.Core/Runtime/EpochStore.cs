using System.Globalization;

namespace Lashup.Plugins.Core.Runtime;

/// <summary>
/// The node's epoch on disk (<c>data_dir/core/epoch</c>): read and bumped on every start, written atomically
/// (temporary file, fsync, rename), so every incarnation's records beat the previous one's.
/// </summary>
internal static class EpochStore
{
    public static long Next(string directory)
    {
        Directory.CreateDirectory(directory);
        var path = Path.Combine(directory, "epoch");
        long previous = 0;
        if (File.Exists(path))
        {
            var text = File.ReadAllText(path).Trim();
            if (!long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out previous) || previous < 0)
            {
                throw new InvalidOperationException(
                    $"{path} is corrupt (expected a non-negative integer, found \"{(text.Length > 40 ? text[..40] + "..." : text)}\"); " +
                    "remove it to start a new incarnation");
            }
        }

        var next = previous + 1;
        var temp = path + ".tmp";
        using (var stream = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None, 4096, FileOptions.WriteThrough))
        {
            stream.Write(System.Text.Encoding.ASCII.GetBytes(next.ToString(CultureInfo.InvariantCulture) + "\n"));
            stream.Flush(flushToDisk: true);
        }

        File.Move(temp, path, overwrite: true);
        return next;
    }
}
