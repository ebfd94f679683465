#!/usr/bin/env bash
# packaging/deb/build.sh [--layout DIR] [--out DIR] [--version V]: builds lashup_<version>_amd64.deb.
#   --layout DIR   package an existing packaging/publish.sh output (default: publish into a temporary folder first)
#   --out DIR      where the .deb goes (default: the current folder)
#   --version V    the package version (default: <Version> in Directory.Build.props)
# The package: the layout in /usr/lib/lashup (plus an empty plugins.d/ for other packages' plugins), /usr/bin/lashup
# (a symlink to the apphost, which resolves its real path and finds .NET on its own), /etc/lashup/lashup.toml (a
# conffile: config/lashup.toml with data_dir = "/var/lib/lashup" and the host name as node name), the systemd unit,
# the maintainer scripts beside this file, lashup(1) and /usr/share/doc/lashup. Needs dpkg-deb, gzip and sed; nothing is
# downloaded except by publish.sh (NuGet packages).
set -euo pipefail

usage() { echo "usage: $0 [--layout DIR] [--out DIR] [--version V]" >&2; exit 2; }
layout=""
out="."
version=""
while [ $# -gt 0 ]; do
  case "$1" in
    --layout|--out|--version) [ $# -ge 2 ] || usage ;;&
    --layout) layout="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --version) version="$2"; shift 2 ;;
    --layout=*) layout="${1#--layout=}"; shift ;;
    --out=*) out="${1#--out=}"; shift ;;
    --version=*) version="${1#--version=}"; shift ;;
    *) usage ;;
  esac
done

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
if [ -z "$version" ]; then
  version=$(sed -n 's|.*<Version>\(.*\)</Version>.*|\1|p' "$repo/Directory.Build.props" | head -n 1)
fi
# Debian versions start with a digit and hold only these characters; a version without '-' is a native package's.
if ! [[ "$version" =~ ^[0-9][A-Za-z0-9.+~-]*$ ]]; then
  echo "$0: \"$version\" is not a Debian package version" >&2
  exit 2
fi
mkdir -p "$out"
out=$(cd "$out" && pwd)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if [ -z "$layout" ]; then
  layout="$work/layout"
  "$repo/packaging/publish.sh" "$layout" --version "$version" >/dev/null
fi
layout=$(cd "$layout" && pwd)
for required in lashup lashup.dll plugins; do
  if [ ! -e "$layout/$required" ]; then
    echo "$0: $layout is not a publish.sh layout (no $required)" >&2
    exit 2
  fi
done

root="$work/root"
lib="$root/usr/lib/lashup"
doc="$root/usr/share/doc/lashup"
man="$root/usr/share/man/man1"
mkdir -p "$lib/plugins.d" "$root/usr/bin" "$root/etc/lashup" "$root/lib/systemd/system" "$doc" "$man" "$root/DEBIAN"
cp -R "$layout/." "$lib/"
# Modes as Debian wants them whatever the build machine's umask: folders 0755, files 0644, the apphost 0755.
find "$root" -type d -exec chmod 0755 {} +
find "$lib" -type f -exec chmod 0644 {} +
chmod 0755 "$lib/lashup"
# Native libraries from NuGet packages (SQLite's) come with their symbols; strip them as dh_strip would. The apphost
# is stripped by the SDK already.
if command -v strip >/dev/null; then
  find "$lib" -type f -name '*.so' -exec strip --remove-section=.comment --remove-section=.note --strip-unneeded {} +
else
  echo "$0: strip (binutils) is not installed: native libraries keep their symbols" >&2
fi
ln -s ../lib/lashup/lashup "$root/usr/bin/lashup"

# The system config: the reference config's defaults and comments, with this package's data_dir, and no fixed node
# name (each node defaults to its host name; the reference's "node-1" would give every node the same one).
sed -e 's|^data_dir = .*|data_dir = "/var/lib/lashup"|' \
    -e 's|^name = "node-1"$|# name = "node-1"|' \
    "$repo/config/lashup.toml" > "$work/lashup.toml"
if ! grep -q '^data_dir = "/var/lib/lashup"$' "$work/lashup.toml" || ! grep -q '^# name = "node-1"$' "$work/lashup.toml"; then
  echo "$0: config/lashup.toml no longer has the data_dir and name lines this script rewrites" >&2
  exit 1
fi
{
  echo "# /etc/lashup/lashup.toml: the lashup package's config (lashup run --config /etc/lashup/lashup.toml, and every"
  echo "# lashup command without --config). Your changes are kept on upgrade. Check them with \`lashup config check\`,"
  echo "# then \`systemctl restart lashup\`."
  echo "#"
  cat "$work/lashup.toml"
} > "$root/etc/lashup/lashup.toml"
chmod 0644 "$root/etc/lashup/lashup.toml"

install -m 0644 "$here/lashup.service" "$root/lib/systemd/system/lashup.service"
install -m 0644 "$here/copyright" "$doc/copyright"
install -m 0644 "$repo/README.md" "$doc/README.md"
gzip -9n < "$here/lashup.1" > "$man/lashup.1.gz"
chmod 0644 "$man/lashup.1.gz"

# The date of the commit the package is built from (else now), so that a rebuild of one commit is the same package.
epoch=${SOURCE_DATE_EPOCH:-$(git -C "$repo" log -1 --format=%ct 2>/dev/null || date +%s)}
commit=$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)
maintainer="${DEBFULLNAME:-Lashup maintainers} <${DEBEMAIL:-maintainers@lashup.invalid}>"
{
  echo "lashup ($version) unstable; urgency=medium"
  echo
  echo "  * Built from commit $commit. The project's history is its git log."
  echo
  echo " -- $maintainer  $(LC_ALL=C date -u -R -d "@$epoch")"
} | gzip -9n > "$doc/changelog.gz"
chmod 0644 "$doc/changelog.gz"

installed_size=$(du -sk --apparent-size "$root" --exclude=DEBIAN | cut -f1)
cat > "$root/DEBIAN/control" <<CONTROL
Package: lashup
Version: $version
Architecture: amd64
Maintainer: $maintainer
Installed-Size: $installed_size
Depends: aspnetcore-runtime-10.0, adduser, libc6, libgcc-s1, libstdc++6
Recommends: nftables, iproute2
Section: net
Priority: optional
Description: decentralized network control plane for container clusters
 Lashup runs one small daemon on every node of a cluster, with no central
 server. The nodes gossip membership and an eventually consistent store of
 CRDTs, and each node derives its own data plane from it: DNS answers for
 cluster names, virtual-IP load balancing (userspace proxy, nftables or IPVS)
 and overlay routes (VXLAN or host routes).
 .
 This package installs the daemon with its built-in plugins in /usr/lib/lashup,
 the lashup command, a systemd unit (enabled, not started: edit
 /etc/lashup/lashup.toml first) and the lashup system user.
CONTROL
echo "/etc/lashup/lashup.toml" > "$root/DEBIAN/conffiles"
# Checksums of every file but the conffile (dpkg keeps its own for those), as dh_md5sums writes them.
(cd "$root" && find . -path ./DEBIAN -prune -o -path ./etc -prune -o -type f -printf '%P\0' | LC_ALL=C sort -z | xargs -0 md5sum) > "$root/DEBIAN/md5sums"
for script in postinst prerm postrm; do
  install -m 0755 "$here/$script" "$root/DEBIAN/$script"
done

package="$out/lashup_${version}_amd64.deb"
dpkg-deb --root-owner-group -Zxz --build "$root" "$package" >/dev/null
echo "$package"
