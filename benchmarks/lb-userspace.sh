#!/usr/bin/env bash
# The userspace load-balancer backend against HAProxy (mode tcp) and against no proxy at all, on loopback, in one run
# (ratios are only meaningful within a run). Backends: one nginx with two server blocks (two backends, "ok" bodies).
# wrk, 1 thread, 50 connections: keep-alive rounds and "Connection: close" rounds, alternating, each target in turn.
#   pinned:   Lashup (workers = 1) and HAProxy (nbthread 1) each pinned with taskset to CPU 1; wrk and nginx to CPU 0.
#   unpinned: Lashup (workers = 0: one per CPU) and HAProxy (nbthread 2); nothing pinned.
# Then iperf3 (one TCP stream) through each, pinned the same way. Loopback only; bounded; cleans up.
#   benchmarks/lb-userspace.sh [SECONDS=5] [ROUNDS=3]
# Needs: haproxy, nginx, wrk, iperf3, taskset, python3.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-5}
rounds=${2:-3}
source benchmarks/lib.sh
# nginx's workers outlive a master killed with SIGKILL (lib.sh's cleanup): stop it gracefully first.
nginx_pid=
trap '[ -n "$nginx_pid" ] && kill "$nginx_pid" 2>/dev/null && sleep 0.5; cleanup' EXIT
for tool in haproxy nginx wrk iperf3 taskset python3; do
  command -v "$tool" >/dev/null || { echo "missing $tool: apt-get install -y haproxy nginx-light wrk iperf3 util-linux python3" >&2; exit 2; }
done
[ "$(nproc)" -ge 2 ] || { echo "needs two CPUs (one for the proxy, one for wrk and the backends)" >&2; exit 2; }

base=$((20000 + RANDOM % 20000))
b1=$((base + 1)); b2=$((base + 2)); iperf_port=$((base + 3))
vip_http=$((base + 10)); vip_iperf=$((base + 11))
ha_http=$((base + 20)); ha_iperf=$((base + 21))
admin=$((base + 30)); core=$((base + 31))
results="$work/results"
: > "$results"

echo "publishing a Release build..." >&2
publish_lashup Core LoadBalancer LoadBalancer.Userspace

# --- the backends: nginx, two server blocks ---------------------------------------------------------------------------
start_nginx() { # CPUS WORKERS
  mkdir -p "$work/nginx"
  cat > "$work/nginx/nginx.conf" <<CONF
worker_processes $2;
daemon off;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log error;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $work/nginx/body;
  proxy_temp_path $work/nginx/proxy;
  fastcgi_temp_path $work/nginx/fastcgi;
  uwsgi_temp_path $work/nginx/uwsgi;
  scgi_temp_path $work/nginx/scgi;
  keepalive_requests 1000000;
  server { listen 127.0.0.1:$b1; location / { return 200 "ok\n"; } }
  server { listen 127.0.0.1:$b2; location / { return 200 "ok\n"; } }
}
CONF
  taskset -c "$1" nginx -c "$work/nginx/nginx.conf" -e "$work/nginx/error.log" &
  nginx_pid=$!
  pids+=($nginx_pid)
}

start_iperf() { # CPUS
  taskset -c "$1" iperf3 -s -p "$iperf_port" -B 127.0.0.1 >/dev/null 2>&1 &
  iperf_pid=$!
  pids+=($iperf_pid)
}

# --- Lashup: one daemon, two VIPs on 127.0.0.1 ------------------------------------------------------------------------
start_lashup_proxy() { # CPUS WORKERS
  local dir="$work/lashup-$2"
  mkdir -p "$dir"
  cat > "$dir/lashup.toml" <<TOML
[node]
name = "node-1"
cluster = "lb-bench"
data_dir = "data"
[admin]
listen = "127.0.0.1:$admin"
[plugins]
directories = ["$work/install/plugins"]
[logging]
level = "warning"
[core]
listen = "127.0.0.1:$core"
[loadbalancer]
backend = "userspace"
[loadbalancer.userspace]
workers = $2
max_connections = 8000
TOML
  (cd "$dir" && exec taskset -c "$1" dotnet "$work/install/bin/lashup.dll" run --config "$dir/lashup.toml" > "$dir/log" 2>&1) &
  lashup_pid=$!
  pids+=($lashup_pid)
  python3 - "$admin" <<'PY'
import sys, time, urllib.request
deadline = time.time() + 60
while time.time() < deadline:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/ready", timeout=2) as r:
            if r.status == 200: break
    except Exception: pass
    time.sleep(0.2)
else:
    sys.exit("lashup never became ready")
PY
  local cli=(dotnet "$work/install/bin/lashup.dll")
  "${cli[@]}" vip add "127.0.0.1:$vip_http/tcp" --backend "127.0.0.1:$b1" --backend "127.0.0.1:$b2" --api "127.0.0.1:$admin" >/dev/null
  "${cli[@]}" vip add "127.0.0.1:$vip_iperf/tcp" --backend "127.0.0.1:$iperf_port" --api "127.0.0.1:$admin" >/dev/null
}

# --- HAProxy: mode tcp, the same two backends, round robin ------------------------------------------------------------
start_haproxy() { # CPUS THREADS
  cat > "$work/haproxy.cfg" <<CFG
global
  nbthread $2
  maxconn 8000
defaults
  mode tcp
  timeout connect 2s
  timeout client 10m
  timeout server 10m
frontend http
  bind 127.0.0.1:$ha_http
  default_backend web
backend web
  balance roundrobin
  server b1 127.0.0.1:$b1
  server b2 127.0.0.1:$b2
frontend iperf
  bind 127.0.0.1:$ha_iperf
  default_backend iperf
backend iperf
  server i1 127.0.0.1:$iperf_port
CFG
  taskset -c "$1" haproxy -f "$work/haproxy.cfg" -db >"$work/haproxy.log" 2>&1 &
  haproxy_pid=$!
  pids+=($haproxy_pid)
}

stop() { kill "$@" 2>/dev/null || true; wait "$@" 2>/dev/null || true; }

wait_port() {
  python3 - "$1" <<'PY'
import socket, sys, time
deadline = time.time() + 30
while time.time() < deadline:
    try:
        socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1).close(); break
    except OSError: time.sleep(0.1)
else:
    sys.exit(f"nothing answers on port {sys.argv[1]}")
PY
}

# cpu_ticks PID: the process's user + system CPU time so far, in clock ticks (all its threads).
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# run_wrk SETUP TARGET PORT MODE CPUS [PROXY_PID]: one wrk round; its requests/s, and the proxy's CPU time per request
# in microseconds, appended to $results.
run_wrk() {
  local header=()
  [ "$4" = close ] && header=(-H "Connection: close")
  local out before=0 after=0
  [ -n "${6:-}" ] && before=$(cpu_ticks "$6")
  out=$(taskset -c "$5" wrk -t1 -c50 -d"${seconds}s" "${header[@]}" "http://127.0.0.1:$3/")
  [ -n "${6:-}" ] && after=$(cpu_ticks "$6")
  local rps requests errors cpu=-
  rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
  requests=$(awk '/requests in/ {print $1}' <<<"$out")
  [ -n "${6:-}" ] && cpu=$(python3 -c "print(round(($after - $before) / $(getconf CLK_TCK) * 1e6 / $requests, 2))")
  errors=$(grep -E "Socket errors|Non-2xx" <<<"$out" | tr -s ' ' | tr '\n' ';' || true)
  echo "$1 $2 $4 $rps $cpu ${errors:-}" | tee -a "$results" >&2
}

# run_iperf SETUP TARGET PORT CPUS: one iperf3 run (one stream), receiver Gbit/s appended to $results.
run_iperf() {
  local gbps
  gbps=$(taskset -c "$4" iperf3 -c 127.0.0.1 -p "$3" -t "$seconds" -J | python3 -c 'import json,sys; print(round(json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"]/1e9, 2))')
  echo "$1 $2 iperf3 $gbps" | tee -a "$results" >&2
}

phase() { # SETUP PROXY_CPUS CLIENT_CPUS LASHUP_WORKERS HAPROXY_THREADS NGINX_WORKERS
  local setup=$1 pcpu=$2 ccpu=$3
  start_nginx "$ccpu" "$6"
  start_iperf "$ccpu"
  start_lashup_proxy "$pcpu" "$4"
  start_haproxy "$pcpu" "$5"
  wait_port "$b1"; wait_port "$vip_http"; wait_port "$ha_http"; wait_port "$iperf_port"
  # Warm-up (JIT, connection pools): not recorded.
  taskset -c "$ccpu" wrk -t1 -c50 -d2s "http://127.0.0.1:$vip_http/" >/dev/null
  taskset -c "$ccpu" wrk -t1 -c50 -d2s "http://127.0.0.1:$ha_http/" >/dev/null
  local round mode
  for round in $(seq "$rounds"); do
    for mode in keepalive close; do
      run_wrk "$setup" direct "$b1" "$mode" "$ccpu"
      run_wrk "$setup" lashup "$vip_http" "$mode" "$ccpu" "$lashup_pid"
      run_wrk "$setup" haproxy "$ha_http" "$mode" "$ccpu" "$haproxy_pid"
    done
  done
  for round in $(seq "$rounds"); do
    run_iperf "$setup" direct "$iperf_port" "$ccpu"
    run_iperf "$setup" lashup "$vip_iperf" "$ccpu"
    run_iperf "$setup" haproxy "$ha_iperf" "$ccpu"
  done
  stop "$lashup_pid" "$haproxy_pid" "$nginx_pid" "$iperf_pid"
}

echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
phase pinned 1 0 1 1 1
phase unpinned 0-1 0-1 0 2 2
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)" >&2

python3 - "$results" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
data, cpu = {}, {}
for r in rows:
    if len(r) >= 4:
        data.setdefault((r[0], r[1], r[2]), []).append(float(r[3]))
    if len(r) >= 5 and r[4] != "-":
        cpu.setdefault((r[0], r[1], r[2]), []).append(float(r[4]))
med = lambda d, k: statistics.median(d[k]) if k in d else float("nan")
print()
print("| setup | workload | direct | lashup | haproxy | lashup / haproxy (median; per round) | lashup / direct | proxy CPU per request, lashup / haproxy |")
print("|---|---|---:|---:|---:|---|---:|---|")
for setup in ("pinned", "unpinned"):
    for mode, unit in (("keepalive", "req/s"), ("close", "req/s"), ("iperf3", "Gbit/s")):
        d, l, h = (med(data, (setup, t, mode)) for t in ("direct", "lashup", "haproxy"))
        per = [a / b for a, b in zip(data.get((setup, "lashup", mode), []), data.get((setup, "haproxy", mode), [])) if b]
        fmt = (lambda x: f"{x:,.0f}") if unit == "req/s" else (lambda x: f"{x:.2f}")
        lc, hc = med(cpu, (setup, "lashup", mode)), med(cpu, (setup, "haproxy", mode))
        cpus = f"{lc:.1f} / {hc:.1f} µs ({lc / hc:.2f}x)" if (setup, "lashup", mode) in cpu else ""
        print(f"| {setup} | {mode} ({unit}) | {fmt(d)} | {fmt(l)} | {fmt(h)} | **{l / h:.2f}x** ({', '.join(f'{p:.2f}' for p in per)}) | {l / d:.2f}x | {cpus} |")
PY
