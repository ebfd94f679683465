#!/usr/bin/env bash
# Replicated store throughput on real daemons: 3 daemons on loopback; CLIENTS concurrent clients (keep-alive HTTP
# connections) each put distinct keys on node-1 (one OR-set add per key) as fast as node-1 acknowledges them: first for
# WARMUP seconds (the JIT tiers the hot paths up; those keys are not counted), then for SECONDS while node-3's /metrics
# is polled every 100 ms for its key count. Prints acknowledged updates/s on node-1, the write latency, how long after
# the last acknowledgement node-3 held every key (then checked key by key through /v1/kv?prefix=), the rate node-3
# applied them, how they got there (deltas or anti-entropy), and the CPU each process used. Loopback only; bounded;
# cleans up.
#   benchmarks/kv-throughput.sh [SECONDS=10] [CLIENTS=8] [WARMUP=20]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-10}
clients=${2:-8}
warmup=${3:-20}
source benchmarks/lib.sh
publish_lashup Core
for i in 1 2 3; do
  write_node_toml "$work/n$i" "$i" kvthroughput 19610 18610
  start_lashup "$work/n$i"
done
python3 - "$seconds" "$clients" "$warmup" "${pids[@]}" <<'PY'
import http.client, json, os, sys, threading, time, urllib.request
seconds, clients, warmup = float(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
daemons = [int(p) for p in sys.argv[4:]]
api = lambda i: f"http://127.0.0.1:{19610 + i}"
def get(url, timeout=2):
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r: return r.read()
    except Exception: return None
def metrics(i):
    out = {}
    for line in (get(api(i) + "/metrics") or b"").decode().splitlines():
        if line.startswith("lashup_core_store_") or line.startswith("lashup_core_bytes_sent_total "):
            name, _, value = line.rpartition(" ")
            out[name] = float(value)
    return out
def keys3(): return metrics(3).get("lashup_core_store_keys", 0)
def cpu(pid):
    # (user, system) CPU seconds of a process
    fields = open(f"/proc/{pid}/stat").read().rpartition(")")[2].split()
    return int(fields[11]) / os.sysconf("SC_CLK_TCK"), int(fields[12]) / os.sysconf("SC_CLK_TCK")
def machine():
    # busy CPU seconds of the whole machine (all cores): everything but idle and iowait
    f = [int(x) for x in open("/proc/stat").readline().split()[1:9]]
    return (sum(f) - f[3] - f[4]) / os.sysconf("SC_CLK_TCK")
def write(prefix, duration):
    """CLIENTS threads, one keep-alive connection each, put distinct keys on node-1 for DURATION seconds."""
    acks, errors, lock = [], [], threading.Lock()
    stop_at = time.perf_counter() + duration
    def client(c):
        conn = http.client.HTTPConnection("127.0.0.1", 19611, timeout=10)
        n, mine = 0, []
        while time.perf_counter() < stop_at:
            key = f"{prefix}/c{c}/k{n}"
            body = json.dumps({"ops": [{"op": "add", "field": "endpoints", "value": f"10.{c}.{n // 250 % 250}.{n % 250}:80"}]})
            t = time.perf_counter()
            try:
                conn.request("PUT", "/v1/kv/" + key, body, {"Content-Type": "application/json"})
                r = conn.getresponse(); r.read()
                if r.status != 200: raise RuntimeError(f"{r.status}")
                mine.append((key, t, time.perf_counter()))
            except Exception as e:
                errors.append(f"{key}: {e}")
                conn.close(); conn = http.client.HTTPConnection("127.0.0.1", 19611, timeout=10)
            n += 1
        with lock: acks.extend(mine)
    threads = [threading.Thread(target=client, args=(c,)) for c in range(clients)]
    for th in threads: th.start()
    for th in threads: th.join()
    return acks, errors
def wait_keys(count, limit):
    end = time.perf_counter() + limit
    while time.perf_counter() < end:
        if keys3() >= count: return True
        time.sleep(0.1)
    return False

deadline = time.time() + 60
while time.time() < deadline:
    views = [get(api(i) + "/v1/members") for i in (1, 2, 3)]
    if all(v and sum(1 for m in json.loads(v)["members"] if m["state"] == "alive") == 3 for v in views): break
    time.sleep(0.2)
else:
    sys.exit("not converged")
time.sleep(2)
if warmup > 0:
    warm, _ = write("warm", warmup)
    if not wait_keys(len(warm), 60): sys.exit("node-3 did not get the warm-up keys")
    print(f"warm-up: {len(warm)} updates in {warmup:.0f} s ({len(warm) / warmup:.0f}/s), all on node-3")
    time.sleep(1)

start = [metrics(i) for i in (1, 2)]
start3 = metrics(3)
base3 = start3.get("lashup_core_store_keys", 0)
load = open("/proc/loadavg").read().split()[0]
cpu0, busy0 = [cpu(p) for p in daemons] + [os.times()[:2]], machine()
samples = []  # (time, node-3 keys gained)
watching = [True]
def watch():
    while watching[0]:
        t = time.perf_counter()
        samples.append((t, keys3() - base3))
        time.sleep(max(0, 0.1 - (time.perf_counter() - t)))
threading.Thread(target=watch, daemon=True).start()
t0 = time.perf_counter()
acks, errors = write("bench", seconds)
t_end = time.perf_counter()
total = len(acks)
last_ack = max(a[2] for a in acks)
done = None
limit = time.perf_counter() + 120
while time.perf_counter() < limit:
    if samples and samples[-1][1] >= total: done = samples[-1][0]; break
    time.sleep(0.05)
watching[0] = False
time.sleep(0.2)
cpu1, busy1 = [cpu(p) for p in daemons] + [os.times()[:2]], machine()
wall = time.perf_counter() - t0
end = [metrics(i) for i in (1, 2)]
end3 = metrics(3)
listed = json.loads(get(api(3) + "/v1/kv?prefix=bench", timeout=30))["entries"]
present = {e["key"] for e in listed}
missing = [a[0] for a in acks if a[0] not in present]

lat = sorted((a[2] - a[1]) * 1000 for a in acks)
p = lambda xs, q: xs[min(len(xs) - 1, int(q * len(xs)))]
d = lambda name: end3.get(name, 0) - start3.get(name, 0)
print(f"load average (1 min) when the measured writes started: {load}")
print(f"{clients} clients on node-1 for {t_end - t0:.1f} s: {total} updates acknowledged, {total / (t_end - t0):.0f} updates/s; {len(errors)} errors" + (f" (first: {errors[0]})" if errors else ""))
print(f"acknowledgement latency: p50 {p(lat, .5):.1f} ms, p99 {p(lat, .99):.1f} ms, max {lat[-1]:.1f} ms")
print(f"acknowledged per second: {[sum(1 for a in acks if t0 + s <= a[2] < t0 + s + 1) for s in range(int(seconds))]}")
at_end = max((s[1] for s in samples if s[0] <= t_end), default=0)
print(f"node-3 held {at_end:.0f} of them when the writers stopped (lag {total - at_end:.0f})")
if done is not None:
    first = next(s[0] for s in samples if s[1] > 0)
    print(f"node-3 held all {total}: {(done - last_ack) * 1000:.0f} ms after the last acknowledgement (polled every 100 ms), {done - t0:.1f} s after the first write")
    print(f"node-3 applied {total / (done - t0):.0f} updates/s over the whole run ({total / (done - first):.0f}/s from its first key to its last)")
else:
    print(f"node-3 did not hold all {total} within 120 s: {samples[-1][1]:.0f}")
print(f"node-3 keys gained per second: {[int(samples[i][1] - samples[i - 10][1]) for i in range(10, len(samples), 10)]}")
print(f"node-3 /v1/kv?prefix=bench: {len(present)} keys, {len(missing)} acknowledged keys missing")
print(f"node-3: deltas merged {d('lashup_core_store_deltas_merged_total'):.0f}, skipped {d('lashup_core_store_deltas_skipped_total'):.0f}, "
      f"entries repaired by anti-entropy {d('lashup_core_store_entries_repaired_total'):.0f}, inbox dropped {d('lashup_core_store_inbox_dropped_total'):.0f}")
def per_commit(node, start, end, counter):
    commits = end.get("lashup_core_store_commits_total", 0) - start.get("lashup_core_store_commits_total", 0)
    return f"{node} {(end.get(counter, 0) - start.get(counter, 0)) / commits:.1f}" if commits else f"{node} n/a (no commit counter)"
print("group commit, writes per transaction: " + per_commit("node-1 updates", start[0], end[0], "lashup_core_store_local_updates_total") + ", "
      + per_commit("node-2 deltas", start[1], end[1], "lashup_core_store_deltas_merged_total") + ", " + per_commit("node-3 deltas", start3, end3, "lashup_core_store_deltas_merged_total"))
sent = [e.get("lashup_core_bytes_sent_total", 0) - s.get("lashup_core_bytes_sent_total", 0) for s, e in zip(start + [start3], end + [end3])]
print("bytes sent per update (all gossip traffic): " + ", ".join(f"node-{i + 1} {b / total:.0f}" for i, b in enumerate(sent)))
used = [(b[0] - a[0], b[1] - a[1]) for a, b in zip(cpu0, cpu1)]
print(f"CPU seconds (user + system) over {wall:.1f} s: " + ", ".join(
    f"{name} {u:.1f} + {s:.1f} ({(u + s) / total * 1e6:.0f} us per update)" for name, (u, s) in zip(["node-1", "node-2", "node-3", "client"], used)))
ours = sum(u + s for u, s in used)
print(f"the machine: {busy1 - busy0:.1f} CPU seconds busy of {wall * os.cpu_count():.1f}; other processes (and the kernel's share not charged to them) {busy1 - busy0 - ours:.1f}")
PY
