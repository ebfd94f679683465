#!/usr/bin/env bash
# Five Lashup hosts in network namespaces (root): lashup-h1..h5 on one bridge (in a namespace of its own,
# lashup-five-br, so the root namespace is untouched), 10.77.0.1-5/24, one daemon each from the installed layout.
# Shows membership, DNS from the replicated store, a partition (h1-h3 | h4-h5) with writes on both sides, the heal and
# the time until every replica is equal again. Every claim it prints is checked; any failure exits non-zero.
#
#   run.sh [--layout DIR] [--keep]   DIR: an installed layout (DIR/lashup, DIR/plugins/); default artifacts/install,
#                                    built with packaging/publish.sh when missing. --keep leaves it running.
#   run.sh --down                    removes everything (daemons, namespaces, state folder); idempotent.
set -euo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
state=/tmp/lashup-five-hosts
bridge_ns="lashup-five-br"
table=lashup_five
hosts=(1 2 3 4 5)
side_a=(1 2 3)
side_b=(4 5)
admin=127.0.0.1:9470
zone=lashup.directory

layout="$repo/artifacts/install"
keep=false
down=false
while [ $# -gt 0 ]; do
  case "$1" in
    --layout) layout=${2:?--layout needs a folder}; shift 2 ;;
    --keep) keep=true; shift ;;
    --down) down=true; shift ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown argument $1 (run.sh [--layout DIR] [--keep] | --down)" >&2; exit 2 ;;
  esac
done

ns() { echo "lashup-h$1"; }
# Whether the namespace named exactly $1 exists (other tools' lashup-h1-<id> namespaces are not ours).
has_ns() { ip netns list | awk '{print $1}' | grep -qx -- "$1"; }
addr() { echo "10.77.0.$1"; }
step() { printf '\n== %s\n' "$*"; }
fail() { echo "FAIL: $*" >&2; exit 1; }

# Stops every process in the lab's namespaces (SIGTERM, then SIGKILL after 10 s), deletes the namespaces (with them
# every link, address and nft table) and the state folder. Safe to run any number of times.
teardown() {
  local pids=() h n pid
  for h in "${hosts[@]}"; do
    n=$(ns "$h")
    if has_ns "$n"; then
      for pid in $(ip netns pids "$n"); do pids+=("$pid"); done
    fi
    # A daemon whose namespace name is already gone still holds its pid file.
    if [ -f "$state/h$h/pid" ]; then
      pid=$(cat "$state/h$h/pid")
      if [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' < "/proc/$pid/cmdline" | grep -q "$state/h$h/lashup.toml"; then
        pids+=("$pid")
      fi
    fi
  done
  if [ ${#pids[@]} -gt 0 ]; then
    kill -TERM "${pids[@]}" 2>/dev/null || true
    for _ in $(seq 1 100); do
      local alive=()
      for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive+=("$pid"); done
      [ ${#alive[@]} -eq 0 ] && break
      sleep 0.1
    done
    for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  fi
  for h in "${hosts[@]}"; do
    n=$(ns "$h")
    if has_ns "$n"; then ip netns del "$n"; fi
  done
  if has_ns "$bridge_ns"; then ip netns del "$bridge_ns"; fi
  rm -rf "$state"
}

[ "$(id -u)" -eq 0 ] || { echo "run.sh: needs root (network namespaces, nftables, DNS on port 53)" >&2; exit 2; }
for tool in ip nft dig flock; do
  command -v "$tool" >/dev/null || { echo "run.sh: needs $tool (iproute2, nftables, dnsutils, util-linux)" >&2; exit 2; }
done

# One run (or --down) at a time: a second one would tear down the first's lab. The daemons do not inherit the lock.
exec 9> /run/lashup-five-hosts.lock
flock -w 150 9 || { echo "run.sh: another run.sh (or --down) still holds /run/lashup-five-hosts.lock after 150 s" >&2; exit 2; }

if $down; then
  teardown
  echo "five-hosts: removed"
  exit 0
fi

on_exit() {
  local rc=$?
  if [ "$rc" -ne 0 ]; then
    echo >&2
    echo "five-hosts: failed (exit $rc); the last lines of each daemon's log:" >&2
    for h in "${hosts[@]}"; do
      [ -f "$state/h$h/lashup.log" ] && { echo "--- h$h" >&2; tail -n 15 "$state/h$h/lashup.log" >&2; }
    done
    teardown
  elif ! $keep; then
    teardown
    echo "five-hosts: torn down"
  fi
  exit "$rc"
}

# Polls "$@" every 0.5 s until it succeeds or TIMEOUT seconds pass (or a daemon exits): wait_for TIMEOUT DESCRIPTION COMMAND...
wait_for() {
  local timeout=$1 what=$2 start=$SECONDS h
  shift 2
  until "$@"; do
    for h in "${hosts[@]}"; do
      [ ! -f "$state/h$h/pid" ] || kill -0 "$(cat "$state/h$h/pid")" 2>/dev/null || fail "the daemon of h$h exited (waiting until $what)"
    done
    if [ $((SECONDS - start)) -ge "$timeout" ]; then
      fail "timed out after ${timeout}s waiting until $what"
    fi
    sleep 0.5
  done
}

# The CLI inside host N's namespace: cli N ARGS...
cli() { local h=$1; shift; ip netns exec "$(ns "$h")" "$lashup" "$@" --api "$admin"; }
# One DNS question to host N: dig_at N NAME [TYPE]; the answers, one per line, sorted.
dig_at() { ip netns exec "$(ns "$1")" dig @"$(addr "$1")" +short +time=1 +tries=1 "$2" "${3:-A}" | sort; }

# Runs the CLI on the five hosts at once, host N's output into $state/hN/FILE: on_all FILE ARGS...; fails when one does.
on_all() {
  local file=$1 h ok=true pids=()
  shift
  for h in "${hosts[@]}"; do
    cli "$h" "$@" > "$state/h$h/$file" 2>/dev/null &
    pids+=($!)
  done
  for h in "${pids[@]}"; do wait "$h" || ok=false; done
  $ok
}
# Whether host N (as last fetched by on_all) sees the members named alive and the others unreachable: sees N "1 2 3" "4 5".
sees() {
  local h=$1 up=$2 gone=$3 m
  for m in $up; do grep -q "\"name\":\"h$m\",\"address\":\"[^\"]*\",\"state\":\"alive\"" "$state/h$h/members.json" || return 1; done
  for m in $gone; do grep -q "\"name\":\"h$m\",\"address\":\"[^\"]*\",\"state\":\"unreachable\"" "$state/h$h/members.json" || return 1; done
}
all_see_all() {
  local h
  on_all members.json members --json || return 1
  for h in "${hosts[@]}"; do sees "$h" "${hosts[*]}" "" || return 1; done
}
sides_split() {
  local h
  on_all members.json members --json || return 1
  for h in "${side_a[@]}"; do sees "$h" "${side_a[*]}" "${side_b[*]}" || return 1; done
  for h in "${side_b[@]}"; do sees "$h" "${side_b[*]}" "${side_a[*]}" || return 1; done
}
# Whether host N answers NAME with exactly the addresses given: answers N NAME "10.77.0.1 ..."
answers() { [ "$(dig_at "$1" "$2" | paste -sd' ' -)" = "$3" ]; }

# Writes the CLI acknowledged (exit 0), as "KEY<TAB>JSON-FRAGMENT": after the heal every host must hold each.
acked=()
put() {
  local h=$1 key=$2 fragment=$3
  shift 3
  if cli "$h" kv put "$key" "$@" >/dev/null; then
    acked+=("$key	$fragment")
    echo "  h$h: kv put $key $* -> acknowledged"
  else
    echo "  h$h: kv put $key $* -> not acknowledged (exit $?)"
  fi
}
register() {
  local h=$1 name=$2 address=$3
  if cli "$h" service register "$name" --address "$address" --port http:80/tcp >/dev/null; then
    acked+=("services/$name	\"$address\"")
    echo "  h$h: service register $name --address $address --port http:80/tcp -> acknowledged"
  else
    echo "  h$h: service register $name --address $address -> not acknowledged (exit $?)"
  fi
}
# Host N's replica as last fetched by on_all, one entry a line: entries N
entries() { sed 's/{"key":"/\n&/g' "$state/h$1/replica.json"; }
# Whether every host's replica is the same and holds every acknowledged write. The five are fetched at once (one
# `lashup kv list --json` each), so the time to converge is measured to within a poll (about half a second).
converged() {
  local h entry key fragment
  on_all replica.json kv list --json || return 1
  for h in "${hosts[@]:1}"; do
    cmp -s "$state/h1/replica.json" "$state/h$h/replica.json" || return 1
  done
  for entry in "${acked[@]}"; do
    key=${entry%%	*}
    fragment=${entry#*	}
    for h in "${hosts[@]}"; do
      entries "$h" | grep "^{\"key\":\"$key\"" | grep -qF -- "$fragment" || return 1
    done
  done
}

# --- the installed layout
if [ ! -x "$layout/lashup" ]; then
  if [ "$layout" = "$repo/artifacts/install" ] && [ -x "$repo/packaging/publish.sh" ]; then
    echo "five-hosts: no installed layout at $layout; building it with packaging/publish.sh"
    "$repo/packaging/publish.sh" "$layout"
  else
    echo "run.sh: no installed layout at $layout (DIR/lashup); build one with packaging/publish.sh DIR" >&2
    exit 2
  fi
fi
layout=$(cd "$layout" && pwd)
lashup="$layout/lashup"

# A previous run's leftovers (a --keep, a killed run) go first.
teardown
trap on_exit EXIT
trap 'exit 143' TERM
trap 'exit 130' INT
start=$SECONDS

# --- the network: a bridge in its own namespace, a veth from each host to it
step "five namespaces lashup-h1..h5 on a bridge (namespace $bridge_ns), 10.77.0.1-5/24"
ip netns add "$bridge_ns"
ip -n "$bridge_ns" link set lo up
ip -n "$bridge_ns" link add br0 type bridge
ip -n "$bridge_ns" link set br0 up
for h in "${hosts[@]}"; do
  n=$(ns "$h")
  ip netns add "$n"
  ip -n "$n" link set lo up
  ip link add eth0 netns "$n" type veth peer name "h$h" netns "$bridge_ns"
  ip -n "$bridge_ns" link set "h$h" master br0 up
  ip -n "$n" addr add "$(addr "$h")/24" dev eth0
  ip -n "$n" link set eth0 up
done

# --- one daemon per host
step "one daemon per host: $lashup run --config $state/hN/lashup.toml"
seeds="\"$(addr 1):7946\", \"$(addr 2):7946\", \"$(addr 3):7946\""
for h in "${hosts[@]}"; do
  mkdir -p "$state/h$h"
  cat > "$state/h$h/lashup.toml" <<EOF
# Host h$h of examples/five-hosts (network namespace $(ns "$h")).
[node]
name = "h$h"
cluster = "five-hosts"
data_dir = "data"
shutdown_timeout = "5s"

[admin]
# Each namespace has a loopback of its own: every host's API is on the same address.
listen = "$admin"

[core]
listen = "$(addr "$h"):7946"
seeds = [$seeds]
# Short timers for a demo: seeds retried every 500ms, an unreachable node re-linked every 3s, store anti-entropy every 1s.
join_retry_interval = "500ms"
relink_interval = "3s"
kv_sync_interval = "1s"

[dns]
listen = ["$(addr "$h"):53"]
EOF
  ip netns exec "$(ns "$h")" "$lashup" run --config "$state/h$h/lashup.toml" > "$state/h$h/lashup.log" 2>&1 9>&- &
  echo $! > "$state/h$h/pid"
done

step "lashup members on every host (waiting until each sees all 5 alive, 90 s at most)"
wait_for 90 "every host sees h1..h5 alive" all_see_all
for h in "${hosts[@]}"; do
  echo "-- h$h"
  cli "$h" members
done
echo "all 5 alive on every host ($((SECONDS - start)) s after start)"

# --- DNS from the store
step "a service registered on h1, answered by DNS on h5"
register 1 web "$(addr 1)"
wait_for 30 "h5 answers web.$zone with $(addr 1)" answers 5 "web.$zone" "$(addr 1)"
echo "\$ dig @$(addr 5) +short web.$zone           (on h5)"
dig_at 5 "web.$zone"
echo "\$ dig @$(addr 5) +short _http._tcp.web.$zone SRV"
dig_at 5 "_http._tcp.web.$zone" SRV
answers 5 "h1.node.$zone" "$(addr 1)" || fail "h5 does not answer h1.node.$zone with $(addr 1)"

# --- the partition
step "partition: h1-h3 | h4-h5 (an nft table '$table' in each host's namespace drops the other side's traffic)"
partition() {
  local h other
  for h in "${hosts[@]}"; do
    if [ "$h" -le 3 ]; then other="$(addr 4), $(addr 5)"; else other="$(addr 1), $(addr 2), $(addr 3)"; fi
    ip netns exec "$(ns "$h")" nft -f - <<EOF
table inet $table {
  chain input { type filter hook input priority -10; ip saddr { $other } drop; }
  chain output { type filter hook output priority -10; ip daddr { $other } drop; }
}
EOF
  done
}
heal() { local h; for h in "${hosts[@]}"; do ip netns exec "$(ns "$h")" nft delete table inet "$table"; done; }
partition
cut=$SECONDS
wait_for 30 "h1-h3 see h4-h5 unreachable and h4-h5 see h1-h3 unreachable" sides_split
echo "detected on both sides after $((SECONDS - cut)) s"
echo "-- h1"
cli 1 members
echo "-- h5"
cli 5 members

step "writes on both sides of the partition"
put 1 demo/a "\"side\":\"a\"" --set side=a
put 2 demo/shared "\"h2\"" --add writers=h2
register 2 api "$(addr 2)"
put 4 demo/b "\"side\":\"b\"" --set side=b
put 5 demo/shared "\"h5\"" --add writers=h5
register 4 api "$(addr 4)"
[ ${#acked[@]} -eq 7 ] || fail "only ${#acked[@]} of 7 writes were acknowledged"

step "both sides answer DNS with what they have"
wait_for 30 "h3 answers api.$zone with $(addr 2) only" answers 3 "api.$zone" "$(addr 2)"
wait_for 30 "h5 answers api.$zone with $(addr 4) only" answers 5 "api.$zone" "$(addr 4)"
# web's only instance (h1) is unreachable from h5: served anyway (fail-open), not black-holed.
answers 5 "web.$zone" "$(addr 1)" || fail "h5 does not answer web.$zone with $(addr 1) during the partition"
for h in 1 5; do
  echo "\$ dig @$(addr "$h") +short api.$zone   (on h$h): $(dig_at "$h" "api.$zone" | paste -sd' ' -)"
  echo "\$ dig @$(addr "$h") +short web.$zone   (on h$h): $(dig_at "$h" "web.$zone" | paste -sd' ' -)"
done
sides_split || fail "the sides no longer see each other unreachable"

# --- the heal
step "heal (the nft tables deleted); waiting until every replica is equal and holds every acknowledged write (60 s at most)"
heal
healed=$SECONDS
healed_ns=$(date +%s%N)
wait_for 60 "the 5 replicas are equal and hold all ${#acked[@]} acknowledged writes" converged
converge_ms=$((($(date +%s%N) - healed_ns) / 1000000))
echo "converged $((converge_ms / 1000)).$(printf '%03d' $((converge_ms % 1000))) s after the heal: $(entries 1 | grep -c '^{"key":') keys, the same on h1..h5, all ${#acked[@]} acknowledged writes present"
wait_for 60 "every host sees h1..h5 alive again" all_see_all
echo "all 5 alive on every host again $((SECONDS - healed)) s after the heal"
answers 1 "api.$zone" "$(addr 2) $(addr 4)" || fail "h1 does not answer api.$zone with both instances"
answers 5 "api.$zone" "$(addr 2) $(addr 4)" || fail "h5 does not answer api.$zone with both instances"
echo "\$ lashup kv get demo/shared   (on h3): $(cli 3 kv get demo/shared)"
echo "\$ dig @$(addr 5) +short api.$zone   (on h5): $(dig_at 5 "api.$zone" | paste -sd' ' -)"

echo
echo "five-hosts: all checks passed in $((SECONDS - start)) s"
if $keep; then
  echo "left running (state in $state). Try:"
  echo "  ip netns exec lashup-h1 $lashup members --api $admin"
  echo "  ip netns exec lashup-h5 dig @$(addr 5) web.$zone"
  echo "  ip netns exec lashup-h3 $lashup kv list --api $admin"
  echo "Remove everything with: $repo/examples/five-hosts/run.sh --down"
fi
