#!/usr/bin/env bash
# Lashup side by side with Akka.NET DistributedData 1.5.73, same machine, same run, loopback only.
# Each system runs as three processes; node 1 adds one element to an OR-set per update (N updates, one every INTERVAL
# ms, after 50 warm-up updates) and a subscriber on node 3 timestamps each update's arrival. MODE keys: a new key per
# update (the workload of kv-propagation.sh); MODE set: every update adds to the same key (one growing OR-set).
#   lashup        3 daemons (ReadyToRun), PUT /v1/kv on node-1's admin API, node-3's /v1/kv-watch stream
#   akka default  benchmarks/Lashup.AkkaPeer: Replicator Update with WriteLocal, Subscribe on node 3, Akka's defaults
#   akka tuned    the same with gossip-interval 100 ms and notify-subscribers-interval 20 ms
# Bytes on the wire: nftables counters on the output hook of lo (every loopback packet passes it once) matching the
# three nodes' listening ports, IP and TCP/UDP headers included, TCP acknowledgements too; the same count over the same
# duration with no updates (idle, before the run) is subtracted. Needs root (nft). Cleans up its processes and its nft
# table; bounded (5 minutes, publishing included).
#   benchmarks/akka-compare.sh [N=500] [INTERVAL_MS=20] [MODE=keys|set]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-500}
interval=${2:-20}
mode=${3:-keys}
case "$mode" in keys|set) ;; *) echo "MODE is keys or set" >&2; exit 2 ;; esac
# shellcheck source=benchmarks/lib.sh
source benchmarks/lib.sh
table="lashup_akka_compare_$$"
trap 'nft delete table inet "$table" 2>/dev/null || true; cleanup' EXIT
trap 'exit 130' INT TERM
command -v nft >/dev/null && [ "$(id -u)" = 0 ] || { echo "needs root and nft (apt-get install -y nftables)" >&2; exit 2; }
deadline=$((SECONDS + 300))
budget() { left=$((deadline - SECONDS)); [ "$left" -gt 0 ] || { echo "out of time (5 minutes)" >&2; exit 1; }; }

publish_lashup Core
dotnet publish benchmarks/Lashup.AkkaPeer -c Release -r linux-x64 --self-contained false -p:PublishReadyToRun=true \
  -p:OutDir="$work/build/akka/" -o "$work/akka" -nologo -v quiet >/dev/null
echo "published in ${SECONDS} s" >&2

# One counter per system, each matching its three ports: packets to a port, and packets from a port to a non-node port
# (TCP replies to ephemeral ports), so that node-to-node UDP is counted once.
counter_rules() {
  local name=$1 ports=$2
  echo "counter $name {}"
  echo "chain out_$name { type filter hook output priority 0; policy accept;"
  echo "  oifname \"lo\" meta l4proto { tcp, udp } th dport $ports counter name \"$name\""
  echo "  oifname \"lo\" meta l4proto { tcp, udp } th sport $ports th dport != $ports counter name \"$name\""
  echo "}"
}
{
  echo "table inet $table {"
  counter_rules lashup 18711-18713
  counter_rules akka_default 18721-18723
  counter_rules akka_tuned 18731-18733
  echo "}"
} | nft -f -

cat > "$work/measure.py" <<'PY'
import json, os, sys, subprocess, threading, time, urllib.request
system, counter, n, interval, mode, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), sys.argv[5], sys.argv[6]
table = os.environ["TABLE"]
warmup, tail = 50, 3.0
window = n * interval / 1000 + tail  # the measured run and the idle window last this long

def nft_bytes():
    doc = json.loads(subprocess.run(["nft", "-j", "list", "counter", "inet", table, counter], check=True,
                                    capture_output=True, text=True).stdout)
    c = next(x["counter"] for x in doc["nftables"] if "counter" in x)
    return c["bytes"], c["packets"]

def wait(cond, seconds, what):
    end = time.time() + seconds
    while time.time() < end:
        if cond(): return
        time.sleep(0.05)
    sys.exit(f"{system}: timed out waiting for {what}")

def idle_window():
    b0 = nft_bytes(); time.sleep(window); b1 = nft_bytes()
    return b1[0] - b0[0], b1[1] - b0[1]

if system == "lashup":
    api = lambda i: f"http://127.0.0.1:{19710 + i}"
    def get(url):
        try:
            with urllib.request.urlopen(url, timeout=2) as r: return r.read()
        except Exception: return None
    def alive():
        body = get(api(1) + "/v1/members")
        return body is not None and sum(1 for m in json.loads(body)["members"] if m["state"] == "alive") == 3
    wait(alive, 60, "3 alive members")
    time.sleep(2)
    arrived, ready = {}, threading.Event()
    def watch():
        with urllib.request.urlopen(api(3) + "/v1/kv-watch?prefix=bench", timeout=300) as r:
            for line in r:
                doc = json.loads(line)
                if doc["kind"] == "snapshot_complete": ready.set()
                elif doc["kind"] == "updated":
                    now, entry = time.perf_counter(), doc["entry"]
                    if entry["key"] == "bench/run/set":  # MODE set: each element is an update
                        for element in entry["value"].get("endpoints", []): arrived.setdefault(element, now)
                    else: arrived.setdefault(entry["key"], now)
    threading.Thread(target=watch, daemon=True).start()
    ready.wait(10)
    def write(prefix, count, pacing_ms):
        sent, start = {}, time.perf_counter()
        for k in range(count):
            delay = start + k * pacing_ms / 1000 - time.perf_counter()
            if delay > 0: time.sleep(delay)
            element = f"10.0.{k // 250}.{k % 250}:80"
            key = "bench/run/set" if mode == "set" and prefix == "run" else f"bench/{prefix}/k{k}"
            body = json.dumps({"ops": [{"op": "add", "field": "endpoints", "value": element}]}).encode()
            req = urllib.request.Request(api(1) + "/v1/kv/" + key, data=body, method="PUT",
                                         headers={"Content-Type": "application/json"})
            issued = time.perf_counter()
            urllib.request.urlopen(req, timeout=5).read()
            sent[element if key.endswith("/set") else key] = (issued, time.perf_counter())
        return sent
    warm = write("warm", warmup, 10)
    wait(lambda: all(k in arrived for k in warm), 15, "the warm-up keys on node-3")
    idle = idle_window()
    r0, t0 = nft_bytes(), time.perf_counter()
    sent = write("run", n, interval)
    time.sleep(max(0.0, t0 + window - time.perf_counter()))
    r1 = nft_bytes()
    seen = {k: arrived[k] for k in sent if k in arrived}
    to_ms = 1000.0
else:
    folder = sys.argv[7]
    lines = lambda i: open(os.path.join(folder, f"n{i}", "log")).read().splitlines()
    wait(lambda: all("up" in lines(i) for i in (1, 2, 3)), 60, "3 members up")
    time.sleep(2)
    open(os.path.join(folder, "warm"), "w").close()
    warm_seen = lambda: sum(1 for l in lines(3) if l.startswith("seen warm/"))
    wait(lambda: "warmed" in lines(1) and warm_seen() == warmup, 15, "the warm-up keys on node 3")
    idle = idle_window()
    r0, t0 = nft_bytes(), time.perf_counter()
    open(os.path.join(folder, "run"), "w").close()
    time.sleep(max(0.0, t0 + window - time.perf_counter()))
    r1 = nft_bytes()
    sent = {l.split()[1]: (int(l.split()[2]), int(l.split()[3])) for l in lines(1) if l.startswith("sent ")}
    seen = {l.split()[1]: int(l.split()[2]) for l in lines(3) if l.startswith("seen ") and not l.startswith("seen warm/")}
    failed = [l for l in lines(1) if l.startswith("failed ")]
    if failed: print(f"{system}: {len(failed)} updates failed, first: {failed[0]}", file=sys.stderr)
    to_ms = 1000.0 / int(lines(1)[0].split()[1])

a0 = nft_bytes(); time.sleep(5); a1 = nft_bytes()  # idle after the run, for comparison
from_issue = sorted((seen[k] - sent[k][0]) * to_ms for k in sent if k in seen)
from_ack = sorted((seen[k] - sent[k][1]) * to_ms for k in sent if k in seen)
ack = sorted((a - i) * to_ms for i, a in sent.values())
json.dump({"system": system, "n": n, "interval_ms": interval, "mode": mode, "idle_after_bytes_per_s": (a1[0] - a0[0]) / 5, "sent": len(sent), "arrived": len(from_issue), "window_s": window,
           "from_issue": from_issue, "from_ack": from_ack, "ack": ack,
           "run_bytes": r1[0] - r0[0], "run_packets": r1[1] - r0[1], "idle_bytes": idle[0], "idle_packets": idle[1]},
          open(out, "w"))
PY
export TABLE="$table"

stop_nodes() { kill -9 "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; pids=(); }

# Lashup: 3 daemons, the Core plugin only; data outside the config folder (the host watches the config's folder).
for i in 1 2 3; do
  mkdir -p "$work/lashup/n$i"
  cat > "$work/lashup/n$i/lashup.toml" <<TOML
[node]
name = "node-$i"
cluster = "akkacompare"
data_dir = "$work/lashup/data-$i"
[admin]
listen = "127.0.0.1:$((19710 + i))"
[plugins]
directories = ["$work/install/plugins"]
[logging]
level = "warning"
[core]
listen = "127.0.0.1:$((18710 + i))"
seeds = ["127.0.0.1:18711"]
TOML
  start_lashup "$work/lashup/n$i"
done
budget; timeout "$left" python3 "$work/measure.py" lashup lashup "$n" "$interval" "$mode" "$work/lashup.json"
stop_nodes
echo "lashup measured at ${SECONDS} s" >&2

# Akka.NET: 3 processes per configuration.
for config in default tuned; do
  base=$([ "$config" = default ] && echo 18720 || echo 18730)
  for i in 1 2 3; do
    mkdir -p "$work/akka-$config/n$i"
    (cd "$work/akka-$config/n$i" && exec dotnet "$work/akka/Lashup.AkkaPeer.dll" --node "$i" --port $((base + i)) \
      --seed-port $((base + 1)) --mode "$mode" --keys "$n" --warmup 50 --interval-ms "$interval" --control "$work/akka-$config" \
      $([ "$config" = tuned ] && echo --tuned) > "$work/akka-$config/n$i/log" 2>&1) &
    pids+=($!)
  done
  budget; timeout "$left" python3 "$work/measure.py" "akka $config" "akka_$config" "$n" "$interval" "$mode" \
    "$work/akka-$config.json" "$work/akka-$config"
  stop_nodes
  echo "akka $config measured at ${SECONDS} s" >&2
done

python3 - "$work/lashup.json" "$work/akka-default.json" "$work/akka-tuned.json" <<'PY'
import json, sys
runs = [json.load(open(f)) for f in sys.argv[1:]]
p = lambda xs, q: xs[min(len(xs) - 1, int(q * len(xs)))] if xs else float("nan")
net = lambda r: (r["run_bytes"] - r["idle_bytes"]) / r["n"]
print(f"{runs[0]['n']} updates ({'one OR-set key' if runs[0]['mode'] == 'set' else 'a new OR-set key each'}), one every "
      f"{runs[0]['interval_ms']:g} ms, after 50 warm-up updates; 3 processes each on loopback")
print(f"{'':14} {'arrived':>8} {'issued->seen p50':>17} {'p99':>8} {'max':>8} {'acked->seen p50':>16} {'p99':>8} "
      f"{'ack p50':>8} {'B/update':>9} {'gross':>7} {'idle B/s':>9} {'after':>7} {'pkts/upd':>9}")
for r in runs:
    fi, fa, ack = r["from_issue"], r["from_ack"], r["ack"]
    print(f"{r['system']:14} {r['arrived']:>4}/{r['n']:<3} {p(fi, .5):>14.1f} ms {p(fi, .99):>5.1f} ms "
          f"{fi[-1] if fi else float('nan'):>5.0f} ms {p(fa, .5):>13.1f} ms {p(fa, .99):>5.1f} ms {p(ack, .5):>5.2f} ms "
          f"{net(r):>7.0f} B {r['run_bytes'] / r['n']:>5.0f} B {r['idle_bytes'] / r['window_s']:>9.0f} "
          f"{r['idle_after_bytes_per_s']:>7.0f} "
          f"{(r['run_packets'] - r['idle_packets']) / r['n']:>9.1f}")
lashup = runs[0]
for r in runs[1:]:
    print(f"lashup / {r['system']}: issued->seen p50 {p(lashup['from_issue'], .5) / p(r['from_issue'], .5):.3f}, "
          f"p99 {p(lashup['from_issue'], .99) / p(r['from_issue'], .99):.3f}; "
          f"acked->seen p50 {p(lashup['from_ack'], .5) / p(r['from_ack'], .5):.3f}, "
          f"p99 {p(lashup['from_ack'], .99) / p(r['from_ack'], .99):.3f}; bytes/update {net(lashup) / net(r):.2f}")
PY
echo "total ${SECONDS} s" >&2
