#!/usr/bin/env bash
# The test command: builds everything and runs every test suite (the solution, then the out-of-tree example plugin).
set -euo pipefail
cd "$(dirname "$0")"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
dotnet build Lashup.sln -nologo -v quiet
# The release layout (Release, ReadyToRun) that the package test (tests/Lashup.Packaging.Tests) builds its .deb from.
rm -rf artifacts/install
packaging/publish.sh artifacts/install >/dev/null
# The example vendor plugin builds on its own; the host's tests load it through its example TOML.
dotnet build examples/static-records/static-records.sln -nologo -v quiet
# The benchmarks are not tests, but they must keep building against the code they measure.
dotnet build benchmarks/Lashup.Benchmarks -nologo -v quiet
dotnet test Lashup.sln --no-build -nologo --logger "console;verbosity=minimal"
for example in examples/*/; do
  if ls "$example"*.sln >/dev/null 2>&1; then
    dotnet test "$example" -nologo --logger "console;verbosity=minimal"
  fi
done
