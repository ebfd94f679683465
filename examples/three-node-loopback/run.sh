#!/usr/bin/env bash
# Starts three Lashup daemons on 127.0.0.1 (admin 9471-9473, gossip 7471-7473), waits until node-1 sees all three
# alive, shows `lashup members`, then stops them with SIGTERM. Pass --keep to leave them running (Ctrl-C stops them).
set -euo pipefail
cd "$(dirname "$0")"
root=../..
lashup=(dotnet "$root/artifacts/bin/lashup/lashup.dll")
[ -f "$root/artifacts/bin/lashup/lashup.dll" ] || dotnet build "$root/Lashup.sln" -nologo -v quiet
pids=()
cleanup() { kill -TERM "${pids[@]}" 2>/dev/null || true; wait "${pids[@]}" 2>/dev/null || true; }
trap cleanup EXIT
for i in 1 2 3; do
  "${lashup[@]}" run --config "node$i.toml" > "node$i.log" 2>&1 &
  pids+=($!)
done
for _ in $(seq 1 100); do
  if "${lashup[@]}" members --config node1.toml --json 2>/dev/null | grep -o '"state":"alive"' | wc -l | grep -q '^3$'; then
    break
  fi
  sleep 0.1
done
"${lashup[@]}" members --config node1.toml
if [ "${1:-}" = "--keep" ]; then
  echo "running; Ctrl-C stops the three daemons"
  wait
fi
