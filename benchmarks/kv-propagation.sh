#!/usr/bin/env bash
# Store propagation on real daemons: 3 daemons on loopback; a client puts N keys on node-1 one after another while a
# watch stream on node-3 timestamps their arrival. Prints p50/p99/max of put-acknowledged-to-visible-on-node-3, the
# write latency on node-1, and the bytes node-1 sent per update. Loopback only; bounded; cleans up.
#   benchmarks/kv-propagation.sh [N=300]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-300}
source benchmarks/lib.sh
publish_lashup Core
for i in 1 2 3; do
  write_node_toml "$work/n$i" "$i" kvbench 19600 18600
  start_lashup "$work/n$i"
done
wait_alive 19601
python3 - "$n" <<'PY'
import json, sys, threading, time, urllib.request
n = int(sys.argv[1])
api = lambda i: f"http://127.0.0.1:{19600 + i}"
def get(url):
    try:
        with urllib.request.urlopen(url, timeout=2) as r: return r.read()
    except Exception: return None
arrived = {}
ready = threading.Event()
def watch():
    with urllib.request.urlopen(api(3) + "/v1/kv-watch?prefix=bench", timeout=120) as r:
        for line in r:
            doc = json.loads(line)
            if doc["kind"] == "snapshot_complete": ready.set()
            elif doc["kind"] == "updated": arrived.setdefault(doc["entry"]["key"], time.perf_counter())
threading.Thread(target=watch, daemon=True).start()
ready.wait(10)
def metric(i, name):
    for l in get(api(i) + "/metrics").decode().splitlines():
        if l.startswith(name + " "): return float(l.split()[1])
    return 0.0
b0 = metric(1, "lashup_core_bytes_sent_total")
sent, writes = {}, []
for k in range(n):
    key = f"bench/k{k}"
    body = json.dumps({"ops": [{"op": "add", "field": "endpoints", "value": f"10.0.{k // 250}.{k % 250}:80"}]}).encode()
    req = urllib.request.Request(api(1) + "/v1/kv/" + key, data=body, method="PUT", headers={"Content-Type": "application/json"})
    t = time.perf_counter()
    urllib.request.urlopen(req, timeout=5).read()
    sent[key] = time.perf_counter()
    writes.append(sent[key] - t)
    time.sleep(0.005)
time.sleep(3)
b1 = metric(1, "lashup_core_bytes_sent_total")
lat = sorted((arrived[k] - sent[k]) * 1000 for k in sent if k in arrived)
writes = sorted(w * 1000 for w in writes)
p = lambda xs, q: xs[min(len(xs) - 1, int(q * len(xs)))]
print(f"put on node-1 visible in node-3's watch: {len(lat)}/{n} keys; p50 {p(lat, .5):.1f} ms, p99 {p(lat, .99):.1f} ms, max {lat[-1]:.1f} ms (after the put was acknowledged)")
print(f"put acknowledged on node-1 (persisted): p50 {p(writes, .5):.1f} ms, p99 {p(writes, .99):.1f} ms")
print(f"node-1 sent {(b1 - b0) / n:.0f} bytes per update (all gossip traffic during the run / updates)")
PY
