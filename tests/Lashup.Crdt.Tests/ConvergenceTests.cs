using System.Collections.Immutable;
using CsCheck;
using Lashup.Abstractions.Data;

namespace Lashup.Crdt.Tests;

/// <summary>
/// Random op histories on 3 to 5 replicas, deltas delivered in random orders with duplicates: every op's delta
/// reproduces the op (<c>old.Merge(delta) == new</c>), replicas converge, delta delivery equals full-state merging,
/// and the lattice laws hold on every state and delta met (see <see cref="Simulation.Run{T}"/>).
/// </summary>
public sealed class ConvergenceTests
{
    private const int Iterations = 200;

    private static readonly ImmutableArray<string>[] Paths =
        [["f"], ["g"], ["m", "f"], ["m", "g"], ["m", "n", "f"]];

    [Fact]
    public void Deltas_ORSetHistories_Converge() =>
        Run(ORSet.Empty, (s, replica, step) => (step.A % 10) switch
        {
            < 6 => s.Add(replica, Element(step)),
            < 9 => s.Remove(Element(step)),
            _ => s.Clear(),
        });

    [Fact]
    public void Deltas_MvRegisterHistories_Converge() =>
        Run(MvRegister.Empty, (s, replica, step) => step.A % 5 == 0 ? s.Clear() : s.Set(replica, $"v{step.B % 3}"));

    [Fact]
    public void Deltas_FlagHistories_Converge() =>
        Run(Flag.Empty, (s, replica, step) => step.A % 2 == 0 ? s.Enable(replica) : s.Disable());

    [Fact]
    public void Deltas_LwwRegisterHistories_Converge() =>
        Run(LwwRegister.Empty, (s, replica, step) => s.Set(step.A % 4 == 0 ? null : $"v{step.A % 3}", step.B % 4, replica));

    [Fact]
    public void Deltas_GCounterHistories_Converge() =>
        Run(GCounter.Empty, (s, replica, step) => s.Increment(replica, (ulong)(step.B % 3)));

    [Fact]
    public void Deltas_PnCounterHistories_Converge() =>
        Run(PnCounter.Empty, (s, replica, step) => s.Increment(replica, (step.B % 5) - 2));

    [Fact]
    public void Deltas_MapHistories_Converge() =>
        Run(CrdtMap.Empty, iterations: 300, op: (s, replica, step) =>
        {
            try
            {
                // Every fifth step applies a batch of two ops atomically.
                return step.Kind % 5 == 0
                    ? s.Apply([MapOp(step.A, step.B), MapOp(step.B, step.A)], replica, step.B % 4)
                    : s.Apply(MapOp(step.A, step.B), replica, step.B % 4);
            }
            catch (CrdtTypeMismatchException)
            {
                return null;
            }
        });

    /// <summary>An op on a small set of paths, with every op kind and argument collisions, so types conflict often.</summary>
    internal static CrdtOp MapOp(int a, int b)
    {
        var path = Paths[a % Paths.Length];
        var element = Generators.Elements[b % 3];
        return ((a / Paths.Length) % 11) switch
        {
            0 => new ORSetAdd(path, element),
            1 => new ORSetRemove(path, element),
            2 => new ORSetClear(path),
            3 => new LwwSet(path, b % 4 == 3 ? null : $"v{b % 3}"),
            4 => new MvSet(path, $"v{b % 3}"),
            5 => new FlagEnable(path),
            6 => new FlagDisable(path),
            7 => new CounterAdd(path, (b % 5) - 2),
            8 => new GCounterAdd(path, (ulong)(b % 3)),
            _ => new RemoveField(path),
        };
    }

    private static void Run<T>(T empty, Simulation.Op<T> op, int iterations = Iterations)
        where T : class, IReplicatedData<T>, IEquatable<T> =>
        Script.Gen.Sample(script => Simulation.Run(script, empty, op), iter: iterations, print: s => s.ToString());

    private static string Element(Step step) => Generators.Elements[step.B % 3];
}
