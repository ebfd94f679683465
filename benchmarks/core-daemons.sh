#!/usr/bin/env bash
# Real daemons on loopback: convergence time of N daemons from start, idle traffic and RSS per daemon, kill -9
# detection, and RSS with 1,000 members known. Everything on 127.0.0.1; bounded in time; cleans up after itself.
#   benchmarks/core-daemons.sh [N=10]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-10}
work=$(mktemp -d)
# A ReadyToRun install (host and core plugin), as a release would ship, so start-up is not dominated by JIT.
dotnet publish host/Lashup.Host -c Release -r linux-x64 --self-contained false -p:PublishReadyToRun=true \
  -p:OutDir="$work/build/host/" -o "$work/install/bin" -nologo -v quiet >/dev/null
dotnet publish plugins/Lashup.Plugins.Core -c Release -r linux-x64 --self-contained false -p:PublishReadyToRun=true \
  -p:OutDir="$work/build/core/" -o "$work/install/plugins/Lashup.Plugins.Core" -nologo -v quiet >/dev/null
dotnet build tests/Lashup.Simulator -c Release -nologo -v quiet >/dev/null
pids=()
cleanup() { kill -9 "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
metric() { curl -s "http://127.0.0.1:$((19500 + $1))/metrics" | awk -v m="$2" '$1==m {print $2}'; }

for i in $(seq 1 "$n"); do
  mkdir -p "$work/n$i"
  cat > "$work/n$i/lashup.toml" <<TOML
[node]
name = "node-$i"
cluster = "bench"
data_dir = "data"
[admin]
listen = "127.0.0.1:$((19500 + i))"
[plugins]
directories = ["$work/install/plugins"]
[logging]
level = "warning"
[core]
listen = "127.0.0.1:$((18500 + i))"
seeds = ["127.0.0.1:18501", "127.0.0.1:18502"]
TOML
done

cat > "$work/poll.py" <<'PY'
import json, sys, time, urllib.request
n, mode = int(sys.argv[1]), sys.argv[2]
def get(i, path):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{19500 + i}{path}", timeout=1) as r:
            return r.read()
    except Exception:
        return None
def states(i):
    body = get(i, "/v1/members")
    return {m["name"]: m["state"] for m in json.loads(body)["members"]} if body else {}
t0 = float(sys.argv[3]) if len(sys.argv) > 3 else time.time()
deadline = time.time() + 60
if mode == "converge":
    healthy = None
    while time.time() < deadline:
        if healthy is None and all(get(i, "/health") for i in range(1, n + 1)):
            healthy = time.time() - t0
        if all(sum(1 for s in states(i).values() if s == "alive") == n for i in range(1, n + 1)):
            print(f"converged: all {n} daemons answer /health {healthy:.2f} s after launch, and all see {n} alive {time.time() - t0:.2f} s after launch")
            sys.exit(0)
        time.sleep(0.2)  # the poller must not steal the CPU the daemons start on
    sys.exit("not converged in 60 s")
if mode == "kill":
    victim = f"node-{n}"
    pending = set(range(1, n))
    seen = {}
    while pending and time.time() < deadline:
        for i in list(pending):
            if states(i).get(victim) == "unreachable":
                seen[i] = time.time() - t0
                pending.discard(i)
        time.sleep(0.02)
    v = sorted(seen.values())
    print(f"kill -9 of {victim}: unreachable on {len(v)}/{n - 1} others; first {v[0]:.2f} s, last {v[-1]:.2f} s after the kill")
PY

start=$(date +%s.%N)
for i in $(seq 1 "$n"); do
  dotnet "$work/install/bin/lashup.dll" run --config "$work/n$i/lashup.toml" > "$work/n$i/log" 2>&1 &
  pids+=($!)
done
python3 "$work/poll.py" "$n" converge "$start"

sleep 10
b0=$(metric 1 lashup_core_bytes_sent_total); sleep 30; b1=$(metric 1 lashup_core_bytes_sent_total)
echo "idle traffic: node-1 sent $(( (${b1%.*} - ${b0%.*}) / 30 )) B/s with $n members ($(( (${b1%.*} - ${b0%.*}) / 30 / n )) B/s per member)"
mem() { awk '/^Rss:/ {r=$2} /^Pss:/ {p=$2} /^Anonymous:/ {a=$2} END {printf "RSS %d MiB (PSS %d MiB, anonymous %d MiB; the rest is shared runtime files)", r/1024, p/1024, a/1024}' "/proc/$1/smaps_rollup"; }
echo "memory of node-1: $(mem "${pids[0]}")"

kill -9 "${pids[$((n - 1))]}"
python3 "$work/poll.py" "$n" kill "$(date +%s.%N)"

dotnet tests/Lashup.Simulator/bin/Release/net10.0/Lashup.Simulator.dll inject --target 127.0.0.1:18501 --cluster bench --members 1000 >/dev/null
sleep 5
echo "memory of node-1 knowing $(curl -s http://127.0.0.1:19501/v1/members | python3 -c 'import sys,json; print(len(json.load(sys.stdin)["members"]))') members: $(mem "${pids[0]}")"
