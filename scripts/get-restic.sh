#!/usr/bin/env bash
# Install restic and restic-rest-server from Debian 13 (trixie) into a tools cache outside the
# repository, without touching the machine's own apt sources. Both are static Go binaries, so
# trixie's builds run on Debian 12 (whose restic 0.14 lacks --stdin-from-command, new in 0.17).
#
# Usage: scripts/get-restic.sh            installs if missing, prints the bin directory
#        SAFECOACH_TOOLS=/some/dir scripts/get-restic.sh
# Idempotent: a second call only prints the directory. Safe to run concurrently (flock).
set -euo pipefail

TOOLS="${SAFECOACH_TOOLS:-/var/cache/safecoach-tools}"
BIN="$TOOLS/bin"
SUITE="trixie"
MIRROR="http://deb.debian.org/debian"
MIN_RESTIC="0.17"

die() { printf 'get-restic: %s\n' "$*" >&2; exit 1; }

have_tools() {
    [ -x "$BIN/restic" ] && [ -x "$BIN/restic-rest-server" ] || return 1
    local v
    v=$("$BIN/restic" version 2>/dev/null | awk '{print $2}') || return 1
    [ "$(printf '%s\n%s\n' "$MIN_RESTIC" "$v" | sort -V | head -n1)" = "$MIN_RESTIC" ]
}

if have_tools; then
    echo "$BIN"
    exit 0
fi

mkdir -p "$TOOLS" || die "cannot create $TOOLS; run as root or set SAFECOACH_TOOLS to a writable directory."
exec 9>"$TOOLS/.lock"
flock 9
if have_tools; then  # another process installed them while we waited
    echo "$BIN"
    exit 0
fi

command -v apt-get >/dev/null || die "apt-get not found; this script needs a Debian machine."
command -v dpkg-deb >/dev/null || die "dpkg-deb not found; install dpkg."

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/lists/partial" "$work/cache/archives/partial" "$work/parts" "$work/debs" "$work/root"
cat >"$work/sources.list" <<EOF
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $MIRROR $SUITE main
EOF
APT_OPTS=(
    -o "Dir::Etc::SourceList=$work/sources.list"
    -o "Dir::Etc::SourceParts=$work/parts"
    -o "Dir::State::Lists=$work/lists"
    -o "Dir::State::Status=/dev/null"
    -o "Dir::Cache=$work/cache"
    -o "APT::Get::List-Cleanup=0"
    -o "Debug::NoLocking=1"
    -o "Acquire::Languages=none"
)
echo "get-restic: fetching restic and restic-rest-server from Debian $SUITE" >&2
apt-get "${APT_OPTS[@]}" -q update >"$work/update.log" 2>&1 \
    || { cat "$work/update.log" >&2; die "apt-get update for $SUITE failed; check that Debian's archive is reachable."; }
(cd "$work/debs" && apt-get "${APT_OPTS[@]}" -q download restic restic-rest-server >"$work/download.log" 2>&1) \
    || { cat "$work/download.log" >&2; die "downloading the restic packages from $SUITE failed."; }
for deb in "$work"/debs/*.deb; do
    dpkg-deb -x "$deb" "$work/root"
done
[ -x "$work/root/usr/bin/restic" ] || die "the restic package has no /usr/bin/restic."
[ -x "$work/root/usr/bin/restic-rest-server" ] || die "the restic-rest-server package has no /usr/bin/restic-rest-server."
mkdir -p "$BIN"
install -m 0755 "$work/root/usr/bin/restic" "$BIN/restic.new"
install -m 0755 "$work/root/usr/bin/restic-rest-server" "$BIN/restic-rest-server.new"
mv -f "$BIN/restic.new" "$BIN/restic"
mv -f "$BIN/restic-rest-server.new" "$BIN/restic-rest-server"
have_tools || die "the installed restic is older than $MIN_RESTIC."
echo "get-restic: $("$BIN/restic" version | head -n1)" >&2
echo "$BIN"
