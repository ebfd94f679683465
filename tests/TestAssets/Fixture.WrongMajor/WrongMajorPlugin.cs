using Lashup.Abstractions.Plugins;

[assembly: LashupPlugin("fixture", "wrong-major", typeof(Fixture.WrongMajor.WrongMajorPlugin))]

namespace Fixture.WrongMajor;

public sealed class WrongMajorPlugin : ILashupPlugin;
