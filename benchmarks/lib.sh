# Shared by the benchmark scripts (source it): a temporary work folder removed on exit with every daemon started,
# and a Release build of the host and plugins published into it (ReadyToRun), as an operator would install them.
work=$(mktemp -d)
pids=()
cleanup() { kill -9 "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

# publish_lashup PLUGIN...   e.g. publish_lashup Core Dns  ->  $work/install/bin/lashup.dll, $work/install/plugins/*
publish_lashup() {
  dotnet publish host/Lashup.Host -c Release -r linux-x64 --self-contained false -p:PublishReadyToRun=true \
    -p:OutDir="$work/build/host/" -o "$work/install/bin" -nologo -v quiet >/dev/null
  local plugin
  for plugin in "$@"; do
    dotnet publish "plugins/Lashup.Plugins.$plugin" -c Release -r linux-x64 --self-contained false -p:PublishReadyToRun=true \
      -p:OutDir="$work/build/$plugin/" -o "$work/install/plugins/Lashup.Plugins.$plugin" -nologo -v quiet >/dev/null
  done
}

# start_lashup FOLDER: runs the daemon with FOLDER/lashup.toml from FOLDER, logging to FOLDER/log.
start_lashup() {
  (cd "$1" && exec dotnet "$work/install/bin/lashup.dll" run --config "$1/lashup.toml" > "$1/log" 2>&1) &
  pids+=($!)
}
