namespace Lashup.Plugins.LoadBalancer.Addresses;

/// <summary>Finds the system tools the load balancer runs (ip, nft): on the PATH, then in /usr/sbin and /sbin, where Debian puts them.</summary>
internal static class Executables
{
    /// <summary>The full path of <paramref name="name"/>, or null when it is not installed.</summary>
    public static string? Find(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "/usr/sbin:/usr/bin:/sbin:/bin").Split(':').Append("/usr/sbin").Append("/sbin")
            .Where(dir => dir.Length > 0)
            .Select(dir => Path.Combine(dir, name))
            .FirstOrDefault(File.Exists);
}
