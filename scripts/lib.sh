# Shared set-up for scripts/up and scripts/test. Sourced, not run.
# Every function is idempotent: a second call does nothing that is already done.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$REPO/.venv"

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

require_root() {
    [ "$(id -u)" -eq 0 ] || die "this command installs system packages; run it as root (sudo $0)."
}

# apt_install PKG... : install the Debian packages that are missing.
apt_install() {
    local missing=()
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    say "installing Debian packages: ${missing[*]}"
    if [ ! -f /var/lib/apt/periodic/safecoach-updated ] || [ -z "$(ls -A /var/lib/apt/lists 2>/dev/null | grep -v lock)" ]; then
        apt-get update -q >/dev/null
        mkdir -p /var/lib/apt/periodic && touch /var/lib/apt/periodic/safecoach-updated
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
}

# ensure_venv: .venv with the locked dependencies and the project installed editable.
ensure_venv() {
    command -v python3 >/dev/null || apt_install python3
    if [ ! -x "$VENV/bin/python" ]; then
        say "creating the virtual environment in .venv"
        python3 -m venv "$VENV" 2>/dev/null || { apt_install python3-venv; python3 -m venv "$VENV"; }
    fi
    local stamp="$VENV/.lock-installed"
    if [ ! -f "$stamp" ] || ! cmp -s "$REPO/requirements.lock" "$stamp"; then
        say "installing Python dependencies from requirements.lock"
        "$VENV/bin/python" -m pip install -q --disable-pip-version-check --require-hashes -r "$REPO/requirements.lock"
        "$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e "$REPO" 2>/dev/null \
            || "$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-deps -e "$REPO"
        cp "$REPO/requirements.lock" "$stamp"
    fi
    export PATH="$VENV/bin:$PATH"
}

# ensure_postgres: a running PostgreSQL cluster with a `safecoach` role that may create databases.
# Sets PG_STARTED_BY_US=1 when this call started the cluster, so the caller can stop it again.
PG_STARTED_BY_US=0
PG_PASSWORD="safecoach-local-only"
ensure_postgres() {
    apt_install postgresql
    local line ver cluster status
    line=$(pg_lsclusters --no-header | head -n 1)
    [ -n "$line" ] || die "PostgreSQL is installed but has no cluster; create one with: pg_createcluster --start 15 main"
    read -r ver cluster _port status _ <<<"$line"
    if [ "$status" != "online" ]; then
        say "starting PostgreSQL $ver/$cluster"
        pg_ctlcluster "$ver" "$cluster" start
        PG_STARTED_BY_US=1
    fi
    PG_VERSION="$ver"; PG_CLUSTER="$cluster"; PG_PORT="$_port"
    runuser -u postgres -- psql -q -p "$PG_PORT" -v ON_ERROR_STOP=1 <<SQL >/dev/null
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'safecoach') THEN
    CREATE ROLE safecoach LOGIN CREATEDB PASSWORD '$PG_PASSWORD';
  END IF;
END \$\$;
SQL
    runuser -u postgres -- psql -q -p "$PG_PORT" -tAc "SELECT 1 FROM pg_database WHERE datname='safecoach'" | grep -q 1 \
        || runuser -u postgres -- createdb -p "$PG_PORT" -O safecoach safecoach
    export SAFECOACH_DATABASE_URL="postgres://safecoach:$PG_PASSWORD@127.0.0.1:$PG_PORT/safecoach"
}

stop_postgres_if_started() {
    if [ "$PG_STARTED_BY_US" = 1 ]; then
        say "stopping PostgreSQL $PG_VERSION/$PG_CLUSTER (started by this run)"
        pg_ctlcluster "$PG_VERSION" "$PG_CLUSTER" stop || true
    fi
}

# ---- lab: otap and the local lab -----------------------------------------------------
# ensure_lab_prereqs: the Debian packages the lab needs on the controller (otap installs them
# too when they are missing; doing it here keeps its output out of the tests).
ensure_lab_prereqs() {
    apt_install debootstrap systemd-container apt-cacher-ng iproute2 openssh-client util-linux
}

# lab_down_quietly: used by traps, so that a lab never outlives the script that made it.
lab_down_quietly() {
    if [ -x "$VENV/bin/otap" ]; then
        "$VENV/bin/otap" lab down development >/dev/null 2>&1 || true
    fi
}

# ---- monitoring: promtool and amtool for the tests of the alert rules and Alertmanager config --
# ensure_promtool: promtool (Debian 13's package promtool, built from prometheus 2.53) and amtool
# (prometheus-alertmanager 0.28), the versions the hosts run, taken from the trixie archive with apt (no other download) and
# extracted with dpkg-deb into a cache folder; nothing is installed on the controller. Exports
# PROMTOOL and AMTOOL for tests/unit/test_alert_rules.py.
PROMTOOL_CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/safecoach/promtool-2.53"
ensure_promtool() {
    local dir="$PROMTOOL_CACHE"
    if [ ! -x "$dir/usr/bin/promtool" ] || [ ! -x "$dir/usr/bin/amtool" ]; then
        say "fetching promtool and amtool from Debian 13 (packages promtool, prometheus-alertmanager)"
        command -v apt-get >/dev/null || die "apt-get is missing; promtool comes from Debian's package promtool."
        local apt="$dir.apt"
        rm -rf "$apt" && mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial" "$apt/debs" "$dir"
        printf 'deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian trixie main\n' \
            >"$apt/sources.list"
        local opts=(-q -o "Dir::Etc::sourcelist=$apt/sources.list" -o "Dir::Etc::sourceparts=-"
            -o "Dir::State::Lists=$apt/lists" -o "Dir::Cache=$apt/cache" -o "APT::Get::List-Cleanup=0"
            -o "APT::Sandbox::User=root")
        apt-get "${opts[@]}" update >/dev/null \
            || die "apt-get could not read the trixie archive (deb.debian.org); promtool comes from there."
        (cd "$apt/debs" && apt-get "${opts[@]}" download promtool prometheus-alertmanager >/dev/null) \
            || die "apt-get could not download promtool and prometheus-alertmanager from trixie."
        local deb
        for deb in "$apt/debs"/*.deb; do dpkg-deb -x "$deb" "$dir"; done
        rm -rf "$apt"
        [ -x "$dir/usr/bin/promtool" ] && [ -x "$dir/usr/bin/amtool" ] \
            || die "the trixie packages did not hold promtool and amtool under usr/bin."
    fi
    export PROMTOOL="$dir/usr/bin/promtool" AMTOOL="$dir/usr/bin/amtool"
}
