#!/usr/bin/env bash
# The nftables load-balancer backend at scale, against the real kernel in a network namespace of its own (root): the
# first build of N VIPs x 2 backends, 200 single-VIP changes one after another (one nft transaction each, as the load
# balancer sends them; p50/p99), a reconcile that finds nothing to repair; then the chain-per-service layout (a chain
# per service and per endpoint, kube-proxy's shape) built and changed the same way. Runs N = 100 and N = 10000 (or the
# sizes given). Nothing leaves the namespace; it is deleted at the end, even on failure.
#   sudo benchmarks/lb-nftables.sh [N...]
set -euo pipefail
cd "$(dirname "$0")/.."
sizes=("${@:-100 10000}")
[ "$(id -u)" = 0 ] || { echo "needs root (network namespaces, nftables)" >&2; exit 1; }
ns="lashup-nftbench-$$"
ip netns add "$ns"
trap 'ip netns del "$ns" 2>/dev/null || true' EXIT
dotnet build benchmarks/Lashup.Benchmarks -c Release -nologo -v quiet >/dev/null
for n in ${sizes[@]}; do
  dotnet benchmarks/Lashup.Benchmarks/bin/Release/net10.0/Lashup.Benchmarks.dll nft-scale "$ns" "$n" 200
done
