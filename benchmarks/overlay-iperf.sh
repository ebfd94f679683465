#!/usr/bin/env bash
# TCP throughput through the overlay, against the real kernel in network namespaces of its own (root): the daemon
# tests' lab with two nodes on each backend (vxlan, host-routes), iperf3 from one container namespace to the other,
# alternately through what the daemons programmed (with the daemons running, then paused with SIGSTOP) and through
# the same path made by hand with ip/bridge (the daemons
# killed, their state deleted; for vxlan a device with the daemons' VNI, port and MTU, a neighbour, an FDB entry and an
# onlink route per peer; for host-routes a plain route), and host to host over the bare underlay; ROUNDS rounds of
# SECONDS each; prints medians and ratios. Everything it creates is deleted at the end (namespaces, daemons).
#   sudo benchmarks/overlay-iperf.sh [SECONDS=5] [ROUNDS=3]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-5}
rounds=${2:-3}
[ "$(id -u)" = 0 ] || { echo "needs root (network namespaces)" >&2; exit 1; }
command -v iperf3 >/dev/null || { echo "needs iperf3" >&2; exit 1; }
dotnet build Lashup.sln -nologo -v quiet >/dev/null
dotnet build benchmarks/Lashup.Benchmarks -c Release -nologo -v quiet >/dev/null
for backend in vxlan host-routes; do
  dotnet benchmarks/Lashup.Benchmarks/bin/Release/net10.0/Lashup.Benchmarks.dll overlay-iperf "$backend" "$seconds" "$rounds"
done
