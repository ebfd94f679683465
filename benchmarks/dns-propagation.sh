#!/usr/bin/env bash
# A KV change visible in DNS on another node: 3 daemons on loopback; a client registers N services one after another
# on node-1 (PUT /v1/services, acknowledged once persisted) while another thread asks node-3's DNS server for each new
# name over UDP every millisecond until it answers. Prints p50/p99/max of acknowledged-on-node-1 to answered-by-node-3.
# Loopback only; bounded; cleans up.
#   benchmarks/dns-propagation.sh [N=300]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-300}
source benchmarks/lib.sh
publish_lashup Core Dns
for i in 1 2 3; do
  write_node_toml "$work/n$i" "$i" dnsprop 19670 18670
  cat >> "$work/n$i/lashup.toml" <<TOML
[dns]
listen = ["127.0.0.1:$((18080 + i))"]
udp_workers = 1
TOML
  start_lashup "$work/n$i"
done
wait_alive 19671
python3 - "$n" <<'PY'
import json, random, socket, struct, sys, threading, time, urllib.request
n = int(sys.argv[1])
api = lambda i: f"http://127.0.0.1:{19670 + i}"
def query(name):
    q = struct.pack(">HHHHHH", random.randrange(65536), 0x0100, 1, 0, 0, 0)
    q += b"".join(bytes([len(l)]) + l.encode() for l in name.split(".")) + b"\0" + struct.pack(">HH", 1, 1)
    return q
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.settimeout(0.05)
acked, seen = {}, {}
pending = []
lock = threading.Lock()
done = threading.Event()
def poll():
    while not done.is_set() or pending:
        with lock: names = list(pending)
        for name in names:
            sock.sendto(query(name), ("127.0.0.1", 18083))
            try:
                data = sock.recv(4096)
            except socket.timeout:
                continue
            if struct.unpack(">H", data[6:8])[0] > 0:
                t = time.perf_counter()
                with lock:
                    if name in pending:
                        pending.remove(name); seen[name] = t
        time.sleep(0.001)
        if done.is_set() and time.time() > stop_at: break
stop_at = float("inf")
threading.Thread(target=poll, daemon=True).start()
for k in range(n):
    svc = f"p{k}"
    body = json.dumps({"address": f"10.9.{k // 250}.{k % 250 + 1}", "ports": ["80/tcp"]}).encode()
    req = urllib.request.Request(f"{api(1)}/v1/services/{svc}", data=body, method="PUT", headers={"Content-Type": "application/json"})
    urllib.request.urlopen(req, timeout=5).read()
    name = f"{svc}.lashup.directory"
    with lock:
        acked[name] = time.perf_counter(); pending.append(name)
    time.sleep(0.02)
stop_at = time.time() + 5
done.set()
time.sleep(5.5)
lat = sorted((seen[k] - acked[k]) * 1000 for k in acked if k in seen)
p = lambda xs, q: xs[min(len(xs) - 1, int(q * len(xs)))]
print(f"service registered on node-1 answered by node-3's DNS: {len(lat)}/{n}; "
      f"p50 {p(lat, .5):.1f} ms, p99 {p(lat, .99):.1f} ms, max {lat[-1]:.1f} ms (after the registration was acknowledged)")
PY
