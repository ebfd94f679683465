# Shared by the benchmark scripts (source it): a temporary work folder removed on exit with every daemon started,
# and a Release build of the host and plugins published into it (ReadyToRun), as an operator would install them.
work=$(mktemp -d)
pids=()
cleanup() { kill -9 "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

# publish_lashup PLUGIN...   e.g. publish_lashup Core Dns  ->  $work/install/bin/lashup.dll, $work/install/plugins/*
# With LASHUP_INSTALL set to an earlier $work/install (kept aside), that build is used instead: to compare two builds
# run after run in the same conditions without publishing in between.
publish_lashup() {
  if [[ -n ${LASHUP_INSTALL:-} ]]; then
    ln -s "$LASHUP_INSTALL" "$work/install"
    return
  fi
  dotnet publish host/Lashup.Host -c Release -r linux-x64 --self-contained false -p:PublishReadyToRun=true \
    -p:OutDir="$work/build/host/" -o "$work/install/bin" -nologo -v quiet >/dev/null
  local plugin
  for plugin in "$@"; do
    dotnet publish "plugins/Lashup.Plugins.$plugin" -c Release -r linux-x64 --self-contained false -p:PublishReadyToRun=true \
      -p:OutDir="$work/build/$plugin/" -o "$work/install/plugins/Lashup.Plugins.$plugin" -nologo -v quiet >/dev/null
  done
}

# write_node_toml FOLDER I CLUSTER ADMIN_BASE CORE_BASE: creates FOLDER and writes FOLDER/lashup.toml for node-I of
# CLUSTER on loopback (admin API on port ADMIN_BASE+I, gossip on CORE_BASE+I, seeded by node-1, plugins from $work/install,
# warnings only). Append a plugin's section to the file before starting the node if it needs one.
write_node_toml() {
  mkdir -p "$1"
  cat > "$1/lashup.toml" <<TOML
[node]
name = "node-$2"
cluster = "$3"
data_dir = "data"
[admin]
listen = "127.0.0.1:$(($4 + $2))"
[plugins]
directories = ["$work/install/plugins"]
[logging]
level = "warning"
[core]
listen = "127.0.0.1:$(($5 + $2))"
seeds = ["127.0.0.1:$(($5 + 1))"]
TOML
}

# start_lashup FOLDER: runs the daemon with FOLDER/lashup.toml from FOLDER, logging to FOLDER/log.
start_lashup() {
  (cd "$1" && exec dotnet "$work/install/bin/lashup.dll" run --config "$1/lashup.toml" > "$1/log" 2>&1) &
  pids+=($!)
}

# wait_alive PORT [COUNT=3]: waits (60 s at most) until the daemon whose admin API listens on 127.0.0.1:PORT sees COUNT
# members alive, then 2 s more for the multicast tree to settle; fails with "not converged" if they never are.
wait_alive() {
  python3 - "$1" "${2:-3}" <<'PY'
import json, sys, time, urllib.request
url, count = f"http://127.0.0.1:{sys.argv[1]}/v1/members", int(sys.argv[2])
def get(url):
    try:
        with urllib.request.urlopen(url, timeout=2) as r: return r.read()
    except Exception: return None
deadline = time.time() + 60
while time.time() < deadline:
    body = get(url)
    if body and sum(1 for m in json.loads(body)["members"] if m["state"] == "alive") == count: break
    time.sleep(0.2)
else:
    sys.exit("not converged")
time.sleep(2)
PY
}
