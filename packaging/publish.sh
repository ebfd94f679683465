#!/usr/bin/env bash
# packaging/publish.sh OUT [--version V]: a release layout of the host and its built-in plugins, as installed:
#   OUT/lashup, OUT/lashup.dll, ...          the host (framework-dependent, ReadyToRun, linux-x64)
#   OUT/plugins/<ProjectName>/<ProjectName>.dll ...   each built-in plugin, one folder each
# The host finds OUT/plugins on its own (see README "Installing"). Needs the .NET 10 SDK; the machine that runs OUT
# needs the ASP.NET Core 10 runtime. Leaves the Debug build in artifacts/ (what ./test.sh uses) alone: every project
# builds into a temporary OutDir, and only its publish output lands in OUT.
set -euo pipefail

usage() { echo "usage: $0 OUT [--version V]" >&2; exit 2; }
out=""
version=""
while [ $# -gt 0 ]; do
  case "$1" in
    --version) [ $# -ge 2 ] || usage; version="$2"; shift 2 ;;
    --version=*) version="${1#--version=}"; shift ;;
    -h|--help) usage ;;
    -*) usage ;;
    *) [ -z "$out" ] || usage; out="$1"; shift ;;
  esac
done
[ -n "$out" ] || usage

repo=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$out"
out=$(cd "$out" && pwd)
case "$out/" in "$repo/artifacts/"*) echo "$0: OUT must not be under artifacts/ (the Debug build ./test.sh uses)" >&2; exit 2 ;; esac
if [ -e "$out/plugins" ] || [ -e "$out/lashup.dll" ]; then
  echo "$0: $out already holds a layout; remove it first (a stale plugin would be loaded)" >&2; exit 2
fi

build=$(mktemp -d)
trap 'rm -rf "$build"' EXIT
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
props=(-c Release -r linux-x64 --self-contained false -p:PublishReadyToRun=true -nologo -v quiet)
if [ -n "$version" ]; then props+=("-p:Version=$version"); fi

cd "$repo"
host=host/Lashup.Host/Lashup.Host.csproj
# The built-in plugins: the host's project references that are not referenced as assemblies.
mapfile -t plugins < <(grep -E '<ProjectReference [^>]*ReferenceOutputAssembly="false"' "$host" | sed -E 's/.*Include="([^"]+)".*/\1/')
[ ${#plugins[@]} -gt 0 ] || { echo "$0: no built-in plugins found in $host" >&2; exit 1; }

echo "publishing the host into $out" >&2
dotnet publish "$host" "${props[@]}" -p:OutDir="$build/host/" -o "$out" >/dev/null
for ref in "${plugins[@]}"; do
  project="host/Lashup.Host/$ref"
  name=$(basename "$ref" .csproj)
  echo "publishing $name into $out/plugins/$name" >&2
  dotnet publish "$project" "${props[@]}" -p:OutDir="$build/$name/" -o "$out/plugins/$name" >/dev/null
done

# XML documentation files (for compilers, not for running); the .pdb files stay, for line numbers in stack traces.
find "$out" -name '*.xml' -print0 | while IFS= read -r -d '' doc; do
  if [ -e "${doc%.xml}.dll" ]; then rm -f "$doc"; fi
done
echo "$out"
