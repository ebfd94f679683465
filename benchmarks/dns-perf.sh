#!/usr/bin/env bash
# Lashup's DNS server against knot and nsd under dnsperf, on this machine, in one run (ratios are only meaningful
# within a run). All three serve the same 10k A + 10k SRV records (10k services, one instance each: the service A,
# the instance A, and an SRV for _http._tcp whose target is the instance) on 127.0.0.1, each with 2 UDP workers.
# Lashup gets its records the real way: through the admin API into the replicated store, then into the DNS index.
# For each server: peak queries/s (dnsperf, unlimited rate, 100 outstanding), then latency at half of Lashup's
# peak (every query's latency from dnsperf -v: p50/p99/max) and lost queries. Loopback only; bounded; cleans up.
#   benchmarks/dns-perf.sh [SECONDS=15]
# Needs: dnsperf, knot, nsd (apt-get install -y dnsperf knot nsd), python3.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-15}
zone=lashup.directory
n=10000
source benchmarks/lib.sh
for tool in dnsperf knotd nsd python3; do
  command -v "$tool" >/dev/null || { echo "missing $tool: apt-get install -y dnsperf knot nsd python3" >&2; exit 2; }
done

# --- the records, as a zone file and as dnsperf input -----------------------------------------------------------------
python3 - "$work" "$zone" "$n" <<'PY'
import random, sys
work, zone, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
addr = lambda i: f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}"
with open(f"{work}/zone", "w") as z:
    z.write(f"$ORIGIN {zone}.\n$TTL 5\n@ SOA ns.{zone}. hostmaster.{zone}. 1 60 30 86400 5\n@ NS ns.{zone}.\nns A 127.0.0.1\n")
    for i in range(n):
        z.write(f"svc{i} A {addr(i)}\ni.svc{i} A {addr(i)}\n_http._tcp.svc{i} SRV 0 1 80 i.svc{i}\n")
random.seed(1)
with open(f"{work}/queries", "w") as q:
    for _ in range(200000):
        i = random.randrange(n)
        q.write(f"svc{i}.{zone} A\n" if random.random() < 0.5 else f"_http._tcp.svc{i}.{zone} SRV\n")
PY

# --- knot ------------------------------------------------------------------------------------------------------------
mkdir -p "$work/knot"
cat > "$work/knot/knot.conf" <<CONF
server:
    listen: 127.0.0.1@18053
    rundir: $work/knot
    udp-workers: 2
    tcp-workers: 1
    background-workers: 1
database:
    storage: $work/knot
log:
  - target: stderr
    any: error
zone:
  - domain: $zone
    file: $work/zone
    journal-content: none
    zonefile-sync: -1
CONF
knotd -c "$work/knot/knot.conf" > "$work/knot/log" 2>&1 &
pids+=($!)

# --- nsd -------------------------------------------------------------------------------------------------------------
mkdir -p "$work/nsd"
cat > "$work/nsd/nsd.conf" <<CONF
server:
    ip-address: 127.0.0.1@18054
    server-count: 2
    reuseport: yes
    username: ""
    chroot: ""
    zonesdir: "$work"
    database: ""
    zonelistfile: "$work/nsd/zone.list"
    xfrdfile: "$work/nsd/xfrd.state"
    xfrdir: "$work/nsd"
    pidfile: "$work/nsd/nsd.pid"
    logfile: "$work/nsd/log"
    verbosity: 0
remote-control:
    control-enable: no
zone:
    name: $zone
    zonefile: "$work/zone"
CONF
nsd -d -c "$work/nsd/nsd.conf" > "$work/nsd/out" 2>&1 &
pids+=($!)

# --- lashup ----------------------------------------------------------------------------------------------------------
publish_lashup Core Dns
mkdir -p "$work/lashup"
cat > "$work/lashup/lashup.toml" <<TOML
[node]
name = "node-1"
cluster = "dnsbench"
data_dir = "data"
[admin]
listen = "127.0.0.1:19650"
[plugins]
directories = ["$work/install/plugins"]
[logging]
level = "warning"
[core]
listen = "127.0.0.1:18650"
[dns]
listen = ["127.0.0.1:18055"]
zones = ["$zone"]
udp_workers = 2
TOML
start_lashup "$work/lashup"

python3 - "$n" "$zone" <<'PY'
import json, sys, time, urllib.request, subprocess
n, zone = int(sys.argv[1]), sys.argv[2]
api = "http://127.0.0.1:19650"
deadline = time.time() + 60
while time.time() < deadline:
    try:
        urllib.request.urlopen(api + "/ready", timeout=2); break
    except Exception: time.sleep(0.3)
else: sys.exit("lashup did not start")
addr = lambda i: f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}"
start = time.time()
for i in range(n):
    ops = [{"op": "set", "field": "instances.i.address", "value": addr(i)},
           {"op": "set", "field": "instances.i.node", "value": "node-1"},
           {"op": "add", "field": "instances.i.ports", "value": "http:80/tcp"}]
    req = urllib.request.Request(f"{api}/v1/kv/services/svc{i}", data=json.dumps({"ops": ops}).encode(), method="PUT",
                                 headers={"Content-Type": "application/json"})
    urllib.request.urlopen(req, timeout=10).read()
print(f"lashup: {n} services registered through the admin API in {time.time() - start:.1f} s", file=sys.stderr)
last = f"_http._tcp.svc{n - 1}.{zone}"
for _ in range(100):
    out = subprocess.run(["dig", "@127.0.0.1", "-p", "18055", last, "SRV", "+short"], capture_output=True, text=True).stdout
    if out.strip(): break
    time.sleep(0.1)
else: sys.exit("lashup never served the last record")
PY
for port in 18053 18054; do
  for _ in $(seq 50); do dig @127.0.0.1 -p $port "_http._tcp.svc9999.$zone" SRV +short +time=1 +tries=1 | grep -q svc && break; sleep 0.2; done
done

rss() { awk '/VmRSS/ {printf "%.0f", $2/1024}' "/proc/$1/status"; }
lashup_pid=$(pgrep -f "lashup.dll run --config $work/lashup/lashup.toml" | head -1)

peak() { # port -> queries/s
  dnsperf -s 127.0.0.1 -p "$1" -d "$work/queries" -l "$seconds" -c 4 -q 100 2>/dev/null | awk '/Queries per second/ {print $4}'
}
latency() { # port qps -> "p50 p99 max lost"
  dnsperf -s 127.0.0.1 -p "$1" -d "$work/queries" -l "$seconds" -c 4 -q 100 -Q "$2" -v 2>/dev/null | python3 -c '
import sys
lat, lost = [], 0
for line in sys.stdin:
    if line.startswith("> "):
        parts = line.split()
        if parts[1] == "T": lost += 1  # timeout
        else: lat.append(float(parts[-1]))
    elif "Queries lost:" in line: lost = int(line.split()[2])
lat.sort()
q = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))] * 1000
print(f"{q(0.5):.3f} {q(0.99):.3f} {lat[-1] * 1000:.3f} {lost}")'
}

declare -A qps
for server in lashup:18055 knot:18053 nsd:18054; do
  name=${server%%:*}; port=${server##*:}
  qps[$name]=$(peak "$port")
done
half=$(python3 -c "print(int(float('${qps[lashup]}') / 2))")
echo
echo "peak queries/s (dnsperf -c 4 -q 100, ${seconds}s, 50% A / 50% SRV over 10k names; 2 UDP workers each)"
for name in lashup knot nsd; do
  printf "  %-7s %10.0f\n" "$name" "${qps[$name]}"
done
python3 -c "
l, k, n = float('${qps[lashup]}'), float('${qps[knot]}'), float('${qps[nsd]}')
print(f'  lashup/nsd = {l / n:.2f}   lashup/knot = {l / k:.2f}')"
echo
echo "latency at ${half} queries/s (half of lashup's peak): p50 / p99 / max in ms, queries lost"
for server in lashup:18055 knot:18053 nsd:18054; do
  name=${server%%:*}; port=${server##*:}
  printf "  %-7s %s\n" "$name" "$(latency "$port" "$half")"
done
echo
echo "lashup RSS with these records: $(rss "$lashup_pid") MiB"
