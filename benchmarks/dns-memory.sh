#!/usr/bin/env bash
# Memory of a Lashup node serving 100k DNS records: 1,000 services of 25 instances each, registered through the admin
# API into the replicated store (one PUT per service). Each instance gives 4 records (the service's A, the instance's
# A, its PTR, an SRV by port number): 100,000 records in the DNS index, 25,000 instances in 1,000 keys of the store.
# Prints RSS, anonymous RSS and PSS of the daemon idle and loaded, the index size from /metrics, and checks answers.
# Loopback only; bounded; cleans up.
#   benchmarks/dns-memory.sh [SERVICES=1000] [INSTANCES=25]      (HOLD=SECONDS keeps the daemon up, e.g. for dotnet-gcdump)
set -euo pipefail
cd "$(dirname "$0")/.."
services=${1:-1000}
instances=${2:-25}
source benchmarks/lib.sh
publish_lashup Core Dns
mkdir -p "$work/node"
cat > "$work/node/lashup.toml" <<TOML
[node]
name = "node-1"
cluster = "dnsmem"
data_dir = "data"
[admin]
listen = "127.0.0.1:19660"
[plugins]
directories = ["$work/install/plugins"]
[logging]
level = "warning"
[core]
listen = "127.0.0.1:18660"
[dns]
listen = ["127.0.0.1:18065"]
TOML
start_lashup "$work/node"
python3 - "$services" "$instances" "$work/node/lashup.toml" <<'PY'
import json, re, subprocess, sys, time, urllib.request
services, instances = int(sys.argv[1]), int(sys.argv[2])
api = "http://127.0.0.1:19660"
deadline = time.time() + 60
while time.time() < deadline:
    try:
        urllib.request.urlopen(api + "/ready", timeout=2); break
    except Exception: time.sleep(0.3)
else: sys.exit("lashup did not start")
pid = int(subprocess.run(["pgrep", "-f", "install/bin/lashup.dll run --config " + sys.argv[3]], capture_output=True, text=True).stdout.split()[0])
def memory():
    status = open(f"/proc/{pid}/status").read()
    rss = int(re.search(r"VmRSS:\s+(\d+)", status).group(1)) / 1024
    anon = int(re.search(r"RssAnon:\s+(\d+)", status).group(1)) / 1024
    rollup = open(f"/proc/{pid}/smaps_rollup").read()
    pss = int(re.search(r"^Pss:\s+(\d+)", rollup, re.M).group(1)) / 1024
    return rss, anon, pss
def trims():
    text = urllib.request.urlopen(api + "/metrics", timeout=5).read().decode()
    m = re.search(r"^lashup_host_memory_trims_total (\d+)", text, re.M)
    return int(m.group(1)) if m else 0
time.sleep(3)
idle = memory()
trims_before = trims()
start = time.time()
for s in range(services):
    ops = []
    for i in range(instances):
        n = s * instances + i
        ops += [{"op": "set", "field": f"instances.i{i}.address", "value": f"10.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"},
                {"op": "set", "field": f"instances.i{i}.node", "value": "node-1"},
                {"op": "add", "field": f"instances.i{i}.ports", "value": "80/tcp"}]
    req = urllib.request.Request(f"{api}/v1/kv/services/svc{s}", data=json.dumps({"ops": ops}).encode(), method="PUT",
                                 headers={"Content-Type": "application/json"})
    urllib.request.urlopen(req, timeout=30).read()
load = time.time() - start
def index_records():
    text = urllib.request.urlopen(api + "/metrics", timeout=5).read().decode()
    m = re.search(r"^lashup_dns_index_records (\d+)", text, re.M)
    return int(m.group(1)) if m else 0
expected = services * instances * 4
deadline = time.time() + 120
while index_records() < expected and time.time() < deadline: time.sleep(0.5)
records = index_records()
last = f"svc{services - 1}.lashup.directory"
answer = subprocess.run(["dig", "@127.0.0.1", "-p", "18065", "+short", last], capture_output=True, text=True).stdout.split()
time.sleep(5)
loaded = memory()
# The daemon returns the load's leftover GC commitment once it is quiet (node.memory_trim_interval, 30 s by default):
# wait for a trim after the load (not one before it), bounded, and measure again.
deadline = time.time() + 90
while trims() <= trims_before and time.time() < deadline: time.sleep(1)
time.sleep(2)
settled = memory()
print(f"{services} services x {instances} instances registered in {load:.1f} s; DNS index: {records} records; "
      f"{last} -> {len(answer)} addresses")
print(f"idle:    RSS {idle[0]:.0f} MiB, anonymous {idle[1]:.0f} MiB, PSS {idle[2]:.0f} MiB")
print(f"loaded:  RSS {loaded[0]:.0f} MiB, anonymous {loaded[1]:.0f} MiB, PSS {loaded[2]:.0f} MiB (5 s after the load)")
print(f"settled: RSS {settled[0]:.0f} MiB, anonymous {settled[1]:.0f} MiB, PSS {settled[2]:.0f} MiB "
      f"({'after a' if trims() > trims_before else 'no'} memory trim after the load; pid {pid})", flush=True)
PY
if [[ -n "${HOLD:-}" ]]; then sleep "$HOLD"; fi
