#!/usr/bin/env bash
# A store change on one daemon turned into traffic through another: 3 daemons on loopback with the load balancer's
# userspace backend (each serving VIPs on its own listen_address, 127.0.0.1I); N VIPs are added on node-1 one after
# another (PUT /v1/vips, each with one backend: a tiny TCP server that answers "ok"), and a client connects through
# node-3's listen address every millisecond until the VIP answers. Prints p50/p99/max of PUT-acknowledged-to-served-on-
# node-3. Loopback only; bounded (30 s per VIP at most); cleans up.
#   benchmarks/lb-propagation.sh [N=100]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-100}
source benchmarks/lib.sh
publish_lashup Core LoadBalancer LoadBalancer.Userspace
for i in 1 2 3; do
  write_node_toml "$work/n$i" "$i" lbbench 19700 18700
  cat >> "$work/n$i/lashup.toml" <<TOML
[loadbalancer]
backend = "userspace"
[loadbalancer.userspace]
listen_address = "127.0.0.1$i"
TOML
  start_lashup "$work/n$i"
done
wait_alive 19701
python3 - "$n" <<'PY'
import json, socket, sys, threading, time, urllib.request
n = int(sys.argv[1])
backend = socket.socket(); backend.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
backend.bind(("127.0.0.1", 0)); backend.listen(512)
bport = backend.getsockname()[1]
def serve():
    while True:
        c, _ = backend.accept()
        try: c.sendall(b"ok")
        finally: c.close()
threading.Thread(target=serve, daemon=True).start()
def put(url, body):
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="PUT", headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r: r.read()
def served(port):
    try:
        with socket.create_connection(("127.0.0.13", port), timeout=0.5) as s:
            return s.recv(2) == b"ok"
    except OSError:
        return False
lat = []
base = 24000
for i in range(n):
    port = base + i
    put(f"http://127.0.0.1:19701/v1/vips/tcp/127.0.0.1:{port}", {"backends": [f"127.0.0.1:{bport}"]})
    t0 = time.perf_counter()
    deadline = t0 + 30
    while not served(port):
        if time.perf_counter() > deadline: sys.exit(f"VIP {port} not served through node-3 within 30 s")
        time.sleep(0.001)
    lat.append((time.perf_counter() - t0) * 1000)
lat.sort()
pct = lambda p: lat[min(len(lat) - 1, int(p / 100 * len(lat)))]
print(f"VIP added on node-1 served through node-3: {len(lat)}/{n}; p50 {pct(50):.1f} ms, p99 {pct(99):.1f} ms, max {lat[-1]:.1f} ms (after the PUT was acknowledged)")
PY
