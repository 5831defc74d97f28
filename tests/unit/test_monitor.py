"""`otap monitor open|alerts`: the alerts read, sorted and told; the tunnel's ssh and its ends.

The ssh parts run real processes: a fake `ssh` on PATH (a script in tmp_path) that fails as ssh
fails, or listens on the -L ports as ssh would.
"""

import json
import os
import signal
import socket
import sys
import time

import pytest

from provisioning.ops import monitor
from provisioning.stage import OtapError, load_stage

pytestmark = pytest.mark.unit


def alert(alertname, severity, instance, starts="2026-12-05T02:00:01.123456789Z", **labels):
    return {
        "labels": {"alertname": alertname, "severity": severity, "instance": instance, **labels},
        "annotations": {
            "summary": f"{alertname} on {instance}.",
            "runbook_url": f"docs/monitoring.md#{alertname.lower()}",
        },
        "startsAt": starts,
        "endsAt": "2026-12-05T03:00:01Z",
        "fingerprint": "0123456789abcdef",
        "receivers": [{"name": "operators"}],
        "status": {"state": "active", "silencedBy": [], "inhibitedBy": []},
        "updatedAt": "2026-12-05T02:10:00Z",
        "generatorURL": "http://127.0.0.1:9090/graph",
    }


WATCHDOG = {
    **alert("Watchdog", "none", ""),
    "labels": {"alertname": "Watchdog", "severity": "none"},
}
FIRING = [
    alert("SystemdUnitFailed", "warning", "web1", name="nginx.service"),
    WATCHDOG,
    alert("HostDown", "critical", "db1", starts="2026-12-05T03:04:05+01:00"),
    alert("BackupTooOld", "warning", "db1", host="db1"),
    alert("SiteDown", "critical", "site"),
]


@pytest.fixture
def stage(tmp_path, monkeypatch):
    monkeypatch.setenv("OTAP_STATE_ROOT", str(tmp_path / "state"))
    return load_stage("test")


# ---- where: the monitoring host and its ports ----------------------------------------------


def test_the_ports_are_the_roles_defaults(stage):
    assert monitor.settings(stage) == {
        "host": "mon1",
        "address": "127.0.0.1",
        "ports": {"Prometheus": 9090, "Alertmanager": 9093},
    }


def test_a_stage_overrides_the_ports(stage):
    stage.hosts["mon1"].vars["monitoring_alertmanager_port"] = "19093"
    assert monitor.settings(stage)["ports"] == {"Prometheus": 9090, "Alertmanager": 19093}


def test_a_port_that_is_not_a_number_is_one_sentence(stage):
    stage.hosts["mon1"].vars["monitoring_prometheus_port"] = "{{ some_port }}"
    with pytest.raises(OtapError, match="monitoring_prometheus_port of stage test is"):
        monitor.settings(stage)


# ---- otap monitor alerts: parse, sort, tell ---------------------------------------------------


def test_alerts_are_normalised_and_sorted_critical_first():
    alerts = monitor.parse_alerts(json.dumps(FIRING))
    assert [(a["severity"], a["alertname"], a["host"]) for a in alerts] == [
        ("critical", "HostDown", "db1"),
        ("critical", "SiteDown", "site"),
        ("warning", "BackupTooOld", "db1"),
        ("warning", "SystemdUnitFailed", "web1"),
        ("none", "Watchdog", ""),
    ]
    assert alerts[0] == {
        "alertname": "HostDown",
        "severity": "critical",
        "host": "db1",
        "summary": "HostDown on db1.",
        "runbook_url": "docs/monitoring.md#hostdown",
        "starts_at": "2026-12-05T03:04:05+01:00",
        "state": "active",
        "labels": {"alertname": "HostDown", "severity": "critical", "instance": "db1"},
    }


def test_an_unknown_severity_sorts_after_warning_before_none():
    raw = [alert("A", "none", "x"), alert("B", "page", "x"), alert("C", "warning", "x")]
    assert [a["alertname"] for a in monitor.parse_alerts(json.dumps(raw))] == ["C", "B", "A"]


@pytest.mark.parametrize(
    ("text", "says"), [("<html>", "is not JSON"), ('{"error": 1}', "not a list of alerts")]
)
def test_an_answer_that_is_not_alerts_is_one_sentence(text, says):
    with pytest.raises(OtapError, match=says):
        monitor.parse_alerts(text)


@pytest.mark.parametrize(
    ("starts", "since"),
    [
        ("2026-12-05T02:00:01.123456789Z", "2026-12-05 02:00 UTC"),
        ("2026-12-05T03:04:05+01:00", "2026-12-05 02:04 UTC"),
        ("yesterday", "yesterday"),
        ("", "unknown"),
    ],
)
def test_since(starts, since):
    assert monitor.since(starts) == since


def test_the_text_lists_every_alert_and_counts_all_but_the_watchdog():
    data = monitor.alerts_data("test", "mon1", monitor.parse_alerts(json.dumps(FIRING)))
    lines = monitor.format_alerts(data).splitlines()
    assert lines[0] == (
        "CRITICAL  HostDown           db1   since 2026-12-05 02:04 UTC  HostDown on db1."
    )
    assert lines[3].startswith("WARNING   SystemdUnitFailed  web1  since 2026-12-05 02:00 UTC  ")
    assert lines[4].startswith("NONE      Watchdog           -     since ")
    assert lines[-1] == (
        "4 alerts firing on stage test; the Watchdog fires, so Alertmanager is alive."
    )
    assert data["watchdog"] is True
    assert monitor.alerts_ok(data) is False


def test_only_the_watchdog_is_ok():
    data = monitor.alerts_data("test", "mon1", monitor.parse_alerts(json.dumps([WATCHDOG])))
    assert monitor.alerts_ok(data) is True
    assert monitor.format_alerts(data).splitlines()[-1] == (
        "no alerts firing on stage test; the Watchdog fires, so Alertmanager is alive."
    )


def test_a_silent_watchdog_is_a_failure_said_loudly():
    one = [alert("HostDown", "critical", "db1")]
    for raw, count in (([], "no alerts"), (one, "1 alert")):
        data = monitor.alerts_data("test", "mon1", monitor.parse_alerts(json.dumps(raw)))
        assert (data["watchdog"], monitor.alerts_ok(data)) == (False, False)
        assert monitor.format_alerts(data).splitlines()[-1] == (
            f"{count} firing on stage test, and the Watchdog is NOT firing: the alert pipeline "
            "is broken (check Prometheus and Alertmanager on mon1)."
        )


def test_the_fetch_command_asks_for_active_unsilenced_uninhibited_alerts():
    command = monitor.fetch_command("127.0.0.1", 19093)
    assert command.startswith("python3 -c 'import sys, urllib.request\n")
    assert command.endswith(
        " 'http://127.0.0.1:19093/api/v2/alerts?active=true&silenced=false&inhibited=false'"
    )


# ---- otap monitor open: the ssh command, and a real (fake) ssh --------------------------------


def test_the_tunnel_command(stage):
    argv = monitor.tunnel_command(stage, "mon1", "127.0.0.1", {40001: 9090, 40002: 9093})
    assert argv == [
        "ssh",
        "-F",
        str(stage.ssh_config),
        "-N",
        "-o",
        "ExitOnForwardFailure=yes",
        "-o",
        "ControlPath=none",
        "-L",
        "127.0.0.1:40001:127.0.0.1:9090",
        "-L",
        "127.0.0.1:40002:127.0.0.1:9093",
        "mon1",
    ]


def test_free_ports_keeps_fixed_ones_and_picks_distinct_free_ones():
    ports = monitor.free_ports({"Prometheus": 0, "Alertmanager": 0, "Other": 12345})
    assert ports["Other"] == 12345
    assert ports["Prometheus"] != ports["Alertmanager"]
    assert all(0 < port < 65536 for port in ports.values())


def fake_ssh(tmp_path, monkeypatch, script: str) -> os.PathLike:
    """An executable `ssh` first on PATH; SCRIPT is its body (Python)."""
    folder = tmp_path / "bin"
    folder.mkdir()
    ssh = folder / "ssh"
    ssh.write_text(f"#!{sys.executable}\n{script}")
    ssh.chmod(0o755)
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")
    return tmp_path / "ssh.json"


def test_ssh_that_exits_early_is_one_sentence_with_its_last_line(tmp_path, monkeypatch, stage):
    folder = tmp_path / "bin"
    folder.mkdir()
    (folder / "ssh").write_text(
        "#!/bin/sh\necho 'debug1: reading config' >&2\n"
        "echo 'ssh: connect to host 198.51.100.10 port 22: Network is unreachable' >&2\nexit 255\n"
    )
    (folder / "ssh").chmod(0o755)
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")
    with pytest.raises(OtapError) as error:
        monitor.open_tunnel(stage, {"Prometheus": 0, "Alertmanager": 0}, timeout=20)
    assert str(error.value) == (
        "the tunnel to mon1 of stage test did not open: ssh exited with status 255 "
        "(ssh: connect to host 198.51.100.10 port 22: Network is unreachable)."
    )


def test_ssh_that_never_listens_times_out(tmp_path, monkeypatch, stage):
    fake_ssh(tmp_path, monkeypatch, "import time\ntime.sleep(30)\n")
    started = time.monotonic()
    with pytest.raises(OtapError, match=r"did not open within 1 s \(nothing on stderr\)"):
        monitor.open_tunnel(stage, {"Prometheus": 0, "Alertmanager": 0}, timeout=1)
    assert time.monotonic() - started < 10


# The fake ssh: listens on every -L port as ssh does, where a service answers its readiness
# check as Prometheus and Alertmanager do through a working tunnel; notes its argv and PID, waits.
LISTENS = """\
import json, os, sys, threading, time
from http.server import BaseHTTPRequestHandler, HTTPServer

class Ready(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200 if self.path == "/-/ready" else 404)
        self.end_headers()

    def log_message(self, *args):
        pass

argv = sys.argv[1:]
for at, word in enumerate(argv):
    if word == "-L":
        address, port = argv[at + 1].split(":")[:2]
        server = HTTPServer((address, int(port)), Ready)
        threading.Thread(target=server.serve_forever, daemon=True).start()
with open(os.environ["FAKE_SSH_NOTES"], "w") as notes:
    json.dump({"argv": argv, "pid": os.getpid()}, notes)
time.sleep(float(os.environ.get("FAKE_SSH_SECONDS", "60")))
print("Connection to mon1 closed by remote host.", file=sys.stderr)
sys.exit(255)
"""


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    # a zombie would still be there; open_tunnel waits for its ssh, so it is not one
    return False


def test_the_tunnel_says_its_urls_and_stops_ssh_on_ctrl_c(tmp_path, monkeypatch, stage):
    notes = fake_ssh(tmp_path, monkeypatch, LISTENS)
    monkeypatch.setenv("FAKE_SSH_NOTES", str(notes))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        fixed = taken.getsockname()[1]
    said = []

    def opened(line):
        said.append(line)
        if len(said) == 3:  # the person presses Ctrl-C
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        monitor.open_tunnel(stage, {"Prometheus": fixed, "Alertmanager": 0}, opened=opened)
    seen = json.loads(notes.read_text())
    forwards = [seen["argv"][at + 1] for at, word in enumerate(seen["argv"]) if word == "-L"]
    assert forwards[0] == f"127.0.0.1:{fixed}:127.0.0.1:9090"
    free = int(forwards[1].split(":")[1])
    assert forwards[1] == f"127.0.0.1:{free}:127.0.0.1:9093"
    assert said == [
        f"Prometheus: http://127.0.0.1:{fixed}/",
        f"Alertmanager: http://127.0.0.1:{free}/",
        "(through mon1 of stage test; Ctrl-C closes the tunnel)",
    ]
    assert gone(seen["pid"])
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", fixed)) != 0, "the local port is closed"


# The fake ssh of a host whose sshd refuses the forwards: ssh listens, but every connection
# through it is refused on the far side, which ssh reports on stderr.
PROHIBITED = """\
import socket, sys, time
argv = sys.argv[1:]
held = []
for at, word in enumerate(argv):
    if word == "-L":
        address, port = argv[at + 1].split(":")[:2]
        sock = socket.socket()
        sock.bind((address, int(port)))
        sock.listen()
        held.append(sock)
print("channel 2: open failed: administratively prohibited: open failed", file=sys.stderr, flush=True)
time.sleep(30)
"""


def test_a_host_that_refuses_the_forward_is_one_sentence(tmp_path, monkeypatch, stage):
    fake_ssh(tmp_path, monkeypatch, PROHIBITED)
    said = []
    started = time.monotonic()
    with pytest.raises(OtapError) as error:
        monitor.open_tunnel(stage, {"Prometheus": 0, "Alertmanager": 0}, opened=said.append)
    assert said == [], "no URL is printed for a tunnel that leads nowhere"
    assert str(error.value) == (
        "mon1 of stage test refuses to forward to its monitoring services (channel 2: open "
        "failed: administratively prohibited: open failed); converge role ssh there (SSH-03 "
        "lets admins forward to Prometheus and Alertmanager alone)."
    )
    assert time.monotonic() - started < 15


def test_a_tunnel_that_closes_by_itself_is_one_sentence(tmp_path, monkeypatch, stage):
    notes = fake_ssh(tmp_path, monkeypatch, LISTENS)
    monkeypatch.setenv("FAKE_SSH_NOTES", str(notes))
    monkeypatch.setenv("FAKE_SSH_SECONDS", "0.5")
    said = []
    with pytest.raises(OtapError) as error:
        monitor.open_tunnel(stage, {"Prometheus": 0, "Alertmanager": 0}, opened=said.append)
    assert len(said) == 3
    assert str(error.value) == (
        "the tunnel to mon1 of stage test closed: ssh exited with status 255 "
        "(Connection to mon1 closed by remote host.)."
    )


def test_sigterm_stops_the_tunnel_too(tmp_path, monkeypatch, stage):
    notes = fake_ssh(tmp_path, monkeypatch, LISTENS)
    monkeypatch.setenv("FAKE_SSH_NOTES", str(notes))
    before = signal.getsignal(signal.SIGTERM)

    def opened(line):
        if line.startswith("(through"):
            os.kill(os.getpid(), signal.SIGTERM)

    with pytest.raises(KeyboardInterrupt):
        monitor.open_tunnel(stage, {"Prometheus": 0, "Alertmanager": 0}, opened=opened)
    assert gone(json.loads(notes.read_text())["pid"])
    assert signal.getsignal(signal.SIGTERM) is before
