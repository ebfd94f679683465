#!/usr/bin/env bash
# The overlay's rtnetlink client at scale, against the real kernel in a network namespace of its own (root): N peers
# (permanent neighbour + FDB entry + onlink route each) in one batch through Lashup's client, then single-peer changes
# (p50/p99); beside it the same N peers through `ip -batch` + `bridge -batch` on a fresh device, and 100 of them as
# one `ip`/`bridge` process per object. Runs N = 1000 (or the sizes given). Nothing leaves the namespace; it is
# deleted at the end, even on failure.
#   sudo benchmarks/overlay-netlink.sh [N...]
set -euo pipefail
cd "$(dirname "$0")/.."
sizes=("${@:-1000}")
[ "$(id -u)" = 0 ] || { echo "needs root (network namespaces)" >&2; exit 1; }
ns="lashup-rtnlbench-$$"
ip netns add "$ns"
tmp="$(mktemp -d)"
trap 'ip netns del "$ns" 2>/dev/null || true; rm -rf "$tmp"' EXIT
ip -n "$ns" link set lo up
dotnet build benchmarks/Lashup.Benchmarks -c Release -nologo -v quiet >/dev/null
now() { date +%s.%N; }
device() { # a fresh VXLAN device like the client's
  ip -n "$ns" link del lashupip 2>/dev/null || true
  ip -n "$ns" link add lashupip mtu 1450 type vxlan id 4243 local 192.168.201.1 dstport 4789 nolearning
  ip -n "$ns" link set lashupip up
  ip -n "$ns" addr add 10.128.0.0/32 dev lashupip
}
for n in ${sizes[@]}; do
  dotnet benchmarks/Lashup.Benchmarks/bin/Release/net10.0/Lashup.Benchmarks.dll rtnl-scale "$ns" "$n" 1000
  : >"$tmp/ip"; : >"$tmp/bridge"
  for ((i = 1; i <= n; i++)); do
    vtep="10.$((128 + (i >> 8))).$((i & 255)).0"
    mac="$(printf '02:4c:00:%02x:%02x:%02x' $(((i >> 16) & 255)) $(((i >> 8) & 255)) $((i & 255)))"
    echo "neigh replace $vtep lladdr $mac dev lashupip nud permanent" >>"$tmp/ip"
    echo "route add $vtep/24 via $vtep dev lashupip onlink proto 0x4c" >>"$tmp/ip"
    echo "fdb replace $mac dev lashupip dst 192.168.$(((i >> 8) & 255)).$((i & 255)) self permanent" >>"$tmp/bridge"
  done
  device
  start="$(now)"
  ip -n "$ns" -batch "$tmp/ip"
  bridge -n "$ns" -batch "$tmp/bridge"
  echo "ip -batch + bridge -batch: $n peers: $(echo "($(now) - $start) * 1000" | bc -l | xargs printf '%.1f') ms"
  device
  per=$((n < 100 ? n : 100))
  start="$(now)"
  head -n $((2 * per)) "$tmp/ip" | while read -r line; do ip -n "$ns" $line; done
  head -n "$per" "$tmp/bridge" | while read -r line; do bridge -n "$ns" $line; done
  echo "one ip/bridge process per object: $per peers: $(echo "($(now) - $start) * 1000" | bc -l | xargs printf '%.1f') ms"
  ip -n "$ns" link del lashupip
done
