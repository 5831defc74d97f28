"""safecoach-textfile (role node_exporter), sc-firewall's rollback metric, the exporter ports in
the firewall and the monitoring preflight: everything about monitoring provable without a lab."""

import importlib.machinery
import importlib.util
import json
import os
import shutil
import subprocess

import jinja2
import pytest

from provisioning.stage.paths import REPO
from tests.unit import firewall_data as fd
from tests.unit import monitoring_render as mr

pytestmark = pytest.mark.unit

_loader = importlib.machinery.SourceFileLoader(
    "safecoach_textfile", str(REPO / "roles/node_exporter/files/safecoach-textfile")
)
_spec = importlib.util.spec_from_loader("safecoach_textfile", _loader)
tf = importlib.util.module_from_spec(_spec)
_loader.exec_module(tf)

SIMULATION = """NOTE: This is only a simulation!
Reading package lists...
Inst libssl3t64 [3.5.1-1] (3.5.1-1+deb13u1 Debian-Security:13/stable-security [amd64])
Inst openssl [3.5.1-1] (3.5.1-1+deb13u1 Debian-Security:13/stable-security [amd64])
Inst tzdata [2025a-4] (2025b-0+deb13u1 Debian:13.1/stable [all])
Conf libssl3t64 (3.5.1-1+deb13u1 Debian-Security:13/stable-security [amd64])
"""


def _check_metrics(text: str) -> None:
    promtool = mr.tool("promtool")
    proc = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.control("MON-07")
def test_security_fixes_are_counted_and_their_age_remembered(tmp_path):
    state = tmp_path / "state" / "seen.json"
    flag = tmp_path / "reboot-required"
    rows = tf.updates(SIMULATION, state, now=1000.0, reboot_flag=flag)
    values = {(r[0], tuple(sorted(r[3].items()))): r[4] for r in rows}
    assert values[("safecoach_apt_upgrades_pending", (("origin", "security"),))] == 2
    assert values[("safecoach_apt_upgrades_pending", (("origin", "other"),))] == 1
    assert values[("safecoach_apt_security_oldest_pending_seconds", ())] == 0
    assert values[("safecoach_reboot_required", ())] == 0
    flag.touch()
    later = tf.updates(SIMULATION, state, now=1000.0 + 8 * 86400, reboot_flag=flag)
    values = {r[0]: r[4] for r in later if not r[3]}
    assert values["safecoach_apt_security_oldest_pending_seconds"] == 8 * 86400
    assert values["safecoach_reboot_required"] == 1
    # installed: nothing waits, and the memory of it is gone
    tf.updates("", state, now=2_000_000.0, reboot_flag=flag)
    assert json.loads(state.read_text()) == {}
    text = tf.render(later)
    _check_metrics(text)
    path = tf.write(tmp_path, "updates", text)
    assert path.name == "safecoach_updates.prom" and oct(path.stat().st_mode)[-3:] == "644"


@pytest.mark.control("MON-06")
def test_failed_ssh_logins_are_counted_without_names():
    journal = "\n".join(
        [
            "Failed password for invalid user admin from 198.51.100.7 port 4242 ssh2",
            "Invalid user oracle from 198.51.100.7 port 4243",
            "Connection closed by authenticating user root 198.51.100.8 port 22 [preauth]",
            "Accepted publickey for labadmin from 10.213.10.1 port 5000 ssh2",
            "Disconnected from user labadmin 10.213.10.1 port 5000",
        ]
    )
    rows = tf.ssh_failures(journal, 300)
    assert [(r[0], r[3], r[4]) for r in rows] == [
        ("safecoach_ssh_auth_failures", {"window": "300"}, 3)
    ]
    text = tf.render(rows)
    assert "198.51.100" not in text and "admin" not in text
    _check_metrics(text)


@pytest.mark.control("MON-06")
def test_log_freshness_per_sending_host(tmp_path):
    for host, mtime in (("web1", 1000), ("db1", 2000), ("db1", 3000)):
        folder = tmp_path / host
        folder.mkdir(exist_ok=True)
        f = folder / f"{mtime}.log"
        f.write_text("x")
        os.utime(f, (mtime, mtime))
    rows = tf.log_freshness(tmp_path)
    assert {r[3]["host"]: r[4] for r in rows} == {"web1": 1000, "db1": 3000}
    _check_metrics(tf.render(rows))


@pytest.mark.control("MON-06")
def test_a_timestamp_keeps_every_digit():
    # six significant digits (Python's :g) put a log that arrived a second ago 20 minutes back
    text = tf.render([("t_seconds", "gauge", "A time.", {"host": "web1"}, 1796511606.0)])
    assert 't_seconds{host="web1"} 1796511606\n' in text
    assert "t_seconds 1796511606.25\n" in tf.render(
        [("t_seconds", "gauge", "A time.", {}, 1796511606.25)]
    )
    assert "t 0\n" in tf.render([("t", "gauge", "Zero.", {}, 0)])


@pytest.mark.control("MON-05")
def test_certificate_expiry_is_read_from_openssl(tmp_path):
    assert tf.not_after("notAfter=Jun  5 12:00:00 2027 GMT\n") == 1812196800
    if shutil.which("openssl"):
        key, crt = tmp_path / "k.pem", tmp_path / "c.pem"
        subprocess.run(
            [
                *["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "3"],
                *["-subj", "/CN=db1", "-keyout", str(key), "-out", str(crt)],
            ],
            check=True,
            capture_output=True,
        )
        code = tf.main(["--dir", str(tmp_path), "--cert", f"postgresql={crt}"])
        assert code == 0
        text = (tmp_path / "safecoach_certificates.prom").read_text()
        assert 'endpoint="postgresql"' in text
        _check_metrics(text)


@pytest.mark.control("MON-06")
def test_a_firewall_rollback_records_its_time(tmp_path):
    env = jinja2.Environment(  # noqa: S701 - renders a shell script
        loader=jinja2.FileSystemLoader(str(REPO / "roles/firewall/templates")), trim_blocks=True
    )
    textfile = tmp_path / "textfile"
    textfile.mkdir()
    script = tmp_path / "sc-firewall"
    script.write_text(
        env.get_template("sc-firewall.j2").render(
            ansible_managed="managed", firewall_rollback_seconds=45, firewall_textfile_dir=textfile
        )
    )
    stubs = tmp_path / "bin"
    stubs.mkdir()
    for name in ("iptables-restore", "ip6tables-restore", "logger"):
        (stubs / name).write_text("#!/bin/sh\nexit 0\n")
        (stubs / name).chmod(0o755)
    env_vars = {**os.environ, "PATH": f"{stubs}:/usr/bin:/bin"}
    proc = subprocess.run(["sh", str(script), "rollback"], env=env_vars, capture_output=True)
    assert proc.returncode == 0, proc.stderr
    text = (textfile / "safecoach_firewall.prom").read_text()
    assert "safecoach_firewall_rollback_timestamp_seconds " in text
    _check_metrics(text)
    # without the textfile folder the rollback still succeeds
    shutil.rmtree(textfile)
    proc = subprocess.run(["sh", str(script), "rollback"], env=env_vars, capture_output=True)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.control("MON-02")
def test_the_exporter_ports_are_open_to_the_monitoring_hosts_only():
    data = fd.stage_data("development")
    mon = data["addresses"][data["groups"]["monitoring"][0]]
    for host in data["groups"]["all"]:
        v4 = fd.rules("development", host)["v4"]
        lines = [
            line
            for line in v4.splitlines()
            if line.startswith("-A INPUT") and "--dport 9100" in line
        ]
        if host in data["groups"]["monitoring"]:
            assert lines == []
        else:
            assert len(lines) == 1 and f"-s {mon}/32" in lines[0]
        pg = [
            line
            for line in v4.splitlines()
            if line.startswith("-A INPUT") and "--dport 9187" in line
        ]
        assert len(pg) == (1 if host in data["groups"]["db"] else 0)
        assert all(f"-s {mon}/32" in line for line in pg)
