"""`otap monitor open|alerts STAGE`: Prometheus and Alertmanager of a stage, from here.

Both listen on the monitoring host's loopback only (role monitoring, MON-01), so both go through
the stage's one OpenSSH config (provisioning/remote/ssh.py: through the bastion, keys pinned):

    open    ssh -N -o ExitOnForwardFailure=yes -L 127.0.0.1:LOCAL:127.0.0.1:9090 -L … mon1
            local ports on 127.0.0.1 to Prometheus and Alertmanager until Ctrl-C
    alerts  Alertmanager's API v2 (/api/v2/alerts, active, neither silenced nor inhibited), read
            on the monitoring host with python3 (on every Debian 13 host), listed here

The ports and the listen address are the role's variables: what it exposes to every host
(group_vars/all/monitoring.yml: role ssh allows the forward to these two ports alone, SSH-03) and
its defaults, read here, not repeated, under what the stage's inventory sets for the monitoring
host. The tunnel counts as open when both services answer their readiness check through it. The parsing and formatting are pure functions (parse_alerts,
alerts_data, format_alerts, alerts_ok); the ssh parts are thin (tunnel_command, open_tunnel,
fetch_alerts).
"""

from __future__ import annotations

import contextlib
import json
import shlex
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from datetime import UTC, datetime
from typing import IO

import yaml

from provisioning.remote.ssh import run_on, ssh_command
from provisioning.stage import OtapError, Stage
from provisioning.stage.paths import REPO

ROLE_DEFAULTS = REPO / "roles" / "monitoring" / "defaults" / "main.yml"
SHARED_VALUES = REPO / "group_vars" / "all" / "monitoring.yml"
# The services `otap monitor open` forwards: (name, the role variable of its port).
SERVICES = (
    ("Prometheus", "monitoring_prometheus_port"),
    ("Alertmanager", "monitoring_alertmanager_port"),
)
ALERTS_PATH = "/api/v2/alerts?active=true&silenced=false&inhibited=false"
WATCHDOG = "Watchdog"
# The severities of the role's rules, most urgent first; any other sorts right after warning.
SEVERITY_RANK = {"critical": 0, "warning": 1, "info": 3, "none": 4}
# what ssh says when the far sshd refuses a forward (PermitOpen, AllowTcpForwarding)
PROHIBITED = "administratively prohibited"
TUNNEL_TIMEOUT = 45.0  # ConnectTimeout 10 to the bastion, then to the monitoring host

# Read on the monitoring host: the alerts as Alertmanager's JSON on stdout, or one line.
_FETCH = """\
import sys, urllib.request
try:
    sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=20).read().decode())
except OSError as exc:
    sys.exit(f"Alertmanager at {sys.argv[1]} does not answer: {exc}")
"""


# ---- where: the monitoring host and the role's variables ----------------------------------------


def monitoring_host(stage: Stage) -> str:
    """The first host of group monitoring."""
    names = stage.groups.get("monitoring") or []
    if not names:
        raise OtapError(
            f"stage {stage.name} has no host in group monitoring; add one to hosts.yml."
        )
    return names[0]


def role_defaults() -> dict:
    """The monitoring role's values: its defaults and what it exposes to every host (plain
    values; Jinja expressions stay text)."""
    values: dict = {}
    for path in (ROLE_DEFAULTS, SHARED_VALUES):
        values.update(yaml.safe_load(path.read_text()) or {})
    return values


def settings(stage: Stage, defaults: dict | None = None) -> dict:
    """{host, address, ports: {service: port}}: the role's defaults under the stage's vars."""
    host = monitoring_host(stage)
    values = {**(role_defaults() if defaults is None else defaults), **stage.hosts[host].vars}
    ports = {}
    for service, var in SERVICES:
        try:
            ports[service] = int(values[var])
        except (KeyError, TypeError, ValueError) as exc:
            raise OtapError(
                f"{var} of stage {stage.name} is {values.get(var)!r}, not a port number."
            ) from exc
    return {"host": host, "address": str(values["monitoring_listen_address"]), "ports": ports}


# ---- otap monitor alerts --------------------------------------------------------------------------


def severity_rank(severity: str) -> int:
    return SEVERITY_RANK.get(severity, SEVERITY_RANK["warning"] + 1)


def since(starts_at: str) -> str:
    """Alertmanager's startsAt (RFC 3339, nanoseconds) as `YYYY-MM-DD HH:MM UTC`."""
    try:
        moment = datetime.fromisoformat(starts_at)  # nanoseconds too (3.11)
    except ValueError:
        return starts_at or "unknown"
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def normalise(alert: dict) -> dict:
    """One alert of Alertmanager's v2 API as otap reports it."""
    labels = alert.get("labels") or {}
    notes = alert.get("annotations") or {}
    return {
        "alertname": labels.get("alertname", ""),
        "severity": labels.get("severity", ""),
        "host": labels.get("host") or labels.get("instance") or "",
        "summary": notes.get("summary", ""),
        "runbook_url": notes.get("runbook_url", ""),
        "starts_at": alert.get("startsAt", ""),
        "state": (alert.get("status") or {}).get("state", ""),
        "labels": labels,
    }


def parse_alerts(text: str) -> list[dict]:
    """Alertmanager's JSON list, normalised and sorted: critical first, then by name and host."""
    try:
        raw = json.loads(text)
    except ValueError as exc:
        raise OtapError(f"Alertmanager's answer is not JSON ({exc}).") from exc
    if not isinstance(raw, list):
        raise OtapError("Alertmanager's answer is not a list of alerts.")
    alerts = [normalise(alert) for alert in raw if isinstance(alert, dict)]
    return sorted(alerts, key=lambda a: (severity_rank(a["severity"]), a["alertname"], a["host"]))


def alerts_data(stage_name: str, host: str, alerts: list[dict]) -> dict:
    """The JSON of `otap monitor alerts --json`."""
    return {
        "stage": stage_name,
        "host": host,
        "alerts": alerts,
        "watchdog": any(a["alertname"] == WATCHDOG for a in alerts),
    }


def firing(data: dict) -> list[dict]:
    """The alerts that count: every one but the Watchdog."""
    return [a for a in data["alerts"] if a["alertname"] != WATCHDOG]


def alerts_ok(data: dict) -> bool:
    """Exit 0 only when nothing but the Watchdog fires, and the Watchdog does."""
    return data["watchdog"] and not firing(data)


def summary(data: dict) -> str:
    """The last line: how many alerts fire, and whether the Watchdog says alerting works."""
    count = len(firing(data))
    what = "no alerts firing" if not count else f"{count} alert{'s' * (count != 1)} firing"
    if data["watchdog"]:
        return f"{what} on stage {data['stage']}; the Watchdog fires, so Alertmanager is alive."
    return (
        f"{what} on stage {data['stage']}, and the Watchdog is NOT firing: the alert pipeline "
        f"is broken (check Prometheus and Alertmanager on {data['host']})."
    )


def format_alerts(data: dict) -> str:
    """One line per alert (SEVERITY  ALERTNAME  HOST  since STARTSAT  SUMMARY), then summary."""
    rows = [
        (a["severity"].upper() or "-", a["alertname"], a["host"] or "-", since(a["starts_at"]))
        for a in data["alerts"]
    ]
    widths = [max((len(row[i]) for row in rows), default=0) for i in range(3)]
    lines = [
        f"{sev:<{widths[0]}}  {name:<{widths[1]}}  {host:<{widths[2]}}  since {at}  "
        f"{alert['summary']}".rstrip()
        for (sev, name, host, at), alert in zip(rows, data["alerts"], strict=True)
    ]
    return "\n".join([*lines, summary(data)])


def fetch_command(address: str, port: int) -> str:
    """The command that reads the active alerts on the monitoring host."""
    url = f"http://{address}:{port}{ALERTS_PATH}"
    return f"python3 -c {shlex.quote(_FETCH)} {shlex.quote(url)}"


def fetch_alerts(stage: Stage) -> dict:
    """The alerts that fire on STAGE, read on its monitoring host (alerts_data)."""
    where = settings(stage)
    port = where["ports"]["Alertmanager"]
    text = run_on(stage, where["host"], fetch_command(where["address"], port), timeout=60)
    return alerts_data(stage.name, where["host"], parse_alerts(text))


# ---- otap monitor open ----------------------------------------------------------------------------


def free_ports(wanted: dict[str, int]) -> dict[str, int]:
    """WANTED ({service: port}) with every 0 replaced by a free port on 127.0.0.1."""
    with contextlib.ExitStack() as held:  # hold each until all are chosen: no port twice
        out = {}
        for service, port in wanted.items():
            if port:
                out[service] = port
                continue
            sock = held.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind(("127.0.0.1", 0))
            out[service] = sock.getsockname()[1]
    return out


def tunnel_command(stage: Stage, host: str, address: str, forwards: dict[int, int]) -> list[str]:
    """`ssh -F … -N -L 127.0.0.1:LOCAL:ADDRESS:REMOTE … HOST` for FORWARDS {local: remote}.

    ControlPath=none: the tunnel is a connection of its own, not a request to a shared master
    (which would keep the forwards after this ssh ends, or end with it).
    """
    options = ["-N", "-o", "ExitOnForwardFailure=yes", "-o", "ControlPath=none"]
    for local, remote in forwards.items():
        options += ["-L", f"127.0.0.1:{local}:{address}:{remote}"]
    return [*ssh_command(stage.ssh_config, *options), host]


def ready(port: int) -> bool:
    """The service behind local PORT answers its readiness check (/-/ready, Prometheus and
    Alertmanager alike) through the tunnel: ssh listening is not enough."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(f"http://127.0.0.1:{port}/-/ready", timeout=2) as response:
            return response.status == 200
    except OSError:  # refused, reset, timed out, or an HTTP error status
        return False


def last_line(log: IO[bytes]) -> str:
    log.seek(0)
    lines = [line.strip() for line in log.read().decode(errors="replace").splitlines()]
    return next((line for line in reversed(lines) if line), "nothing on stderr")


def _wait_until_open(proc: subprocess.Popen, ports: list[int], log, what: str, timeout: float):
    deadline = time.monotonic() + timeout
    waiting = list(ports)
    while waiting:
        if proc.poll() is not None:
            raise OtapError(
                f"the tunnel to {what} did not open: ssh exited with status {proc.returncode} "
                f"({last_line(log)})."
            )
        if time.monotonic() > deadline:
            raise OtapError(
                f"the tunnel to {what} did not open within {timeout:.0f} s ({last_line(log)})."
            )
        if ready(waiting[0]):
            waiting.pop(0)
            continue
        if PROHIBITED in last_line(log):
            raise OtapError(
                f"{what} refuses to forward to its monitoring services ({last_line(log)}); "
                "converge role ssh there (SSH-03 lets admins forward to Prometheus and "
                "Alertmanager alone)."
            )
        time.sleep(0.2)


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def open_tunnel(
    stage: Stage,
    wanted: dict[str, int],
    timeout: float = TUNNEL_TIMEOUT,
    opened=print,
) -> None:
    """Forward local ports to Prometheus and Alertmanager until Ctrl-C or until ssh ends.

    WANTED: {service: local port, 0 for a free one}. OPENED(line) is called with each local URL
    once every port answers. Ctrl-C (and SIGTERM) stop ssh and raise KeyboardInterrupt (otap's
    130); ssh ending by itself is an OtapError.
    """
    where = settings(stage)
    local = free_ports(wanted)
    forwards = {local[service]: where["ports"][service] for service, _ in SERVICES}
    what = f"{where['host']} of stage {stage.name}"
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(
            tunnel_command(stage, where["host"], where["address"], forwards),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        previous = None
        with contextlib.suppress(ValueError):  # only the main thread may set a handler
            previous = signal.signal(signal.SIGTERM, _interrupt)
        try:
            _wait_until_open(proc, list(forwards), log, what, timeout)
            for service, _ in SERVICES:
                opened(f"{service}: http://127.0.0.1:{local[service]}/")
            opened(f"(through {where['host']} of stage {stage.name}; Ctrl-C closes the tunnel)")
            code = proc.wait()
            raise OtapError(
                f"the tunnel to {what} closed: ssh exited with status {code} ({last_line(log)})."
            )
        finally:
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)
            stop(proc)


def stop(proc: subprocess.Popen) -> None:
    """SIGTERM, then SIGKILL after 5 s; Popen signals no process that has already ended."""
    proc.terminate()
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5)
    proc.kill()
    proc.wait()
