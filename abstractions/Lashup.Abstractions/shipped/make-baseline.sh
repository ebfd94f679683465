#!/usr/bin/env bash
# Rebuilds shipped/Lashup.Abstractions.<major>.dll: the reference assembly of the contract as shipped, without the
# namespaces that are not shipped yet (PublicAPI.Unshipped.txt: the load-balancer and overlay seams). Run it only when
# shipping a new major (after moving PublicAPI.Unshipped.txt into PublicAPI.Shipped.txt); every build compares the
# contract with this file (Lashup.Abstractions.csproj, target LashupValidateContract).
#   abstractions/Lashup.Abstractions/shipped/make-baseline.sh 1.0
set -euo pipefail
major="${1:?usage: make-baseline.sh MAJOR (e.g. 1.0)}"
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cp "$repo"/Directory.Build.props "$repo"/Directory.Build.targets "$repo"/Directory.Packages.props "$repo"/global.json "$work"/
mkdir -p "$work/abstractions"
cp -r "$repo/abstractions/Lashup.Abstractions" "$work/abstractions/"
cd "$work/abstractions/Lashup.Abstractions"
rm -rf bin obj shipped LoadBalancing Overlay
echo "#nullable enable" > PublicAPI.Unshipped.txt
python3 - <<'PY'
p = "Lashup.Abstractions.csproj"
s = open(p).read()
a = s.index("  <PropertyGroup>\n    <!-- The contract as shipped")
b = s.index("  </Target>\n") + len("  </Target>\n")
open(p, "w").write(s[:a] + s[b:])
PY
dotnet build -nologo -v quiet
cp obj/Debug/net10.0/ref/Lashup.Abstractions.dll "$here/Lashup.Abstractions.$major.dll"
echo "wrote $here/Lashup.Abstractions.$major.dll"
