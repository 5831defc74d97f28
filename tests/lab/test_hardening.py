"""Host hardening on the lab: reachability, lockout rollback, DoS limits, persistence, ssh-audit,
lynis, and a second converge that changes nothing.

The stage the main job made (fixture `deployed`: up, bootstrap, converge, deploy, verify); the
tests run in order. Sources of test traffic are the controller (the lab's admin network, 10.213.10.1), the lab
hosts themselves and two network namespaces of this module's own on the lab bridge
(`schd-<pid>-a/b`, addresses .201 and .202), which it deletes again. Nothing leaves the lab.
"""

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from provisioning.lab import hosts as labmod
from provisioning.lab import network
from provisioning.stage.paths import REPO
from provisioning.steps.converge import parse_recap
from tests.lab.conftest import STAGE, otap, ssh

pytestmark = [pytest.mark.lab, pytest.mark.slow]

BIN = Path(sys.executable).parent
FIGURES: dict[str, object] = {}

# Prints "open", "refused", "timeout" or "blocked" (a local rule refused to send).
PROBE = textwrap.dedent(
    """
    import errno, socket, sys
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(float(sys.argv[3]))
    try:
        s.connect((sys.argv[1], int(sys.argv[2])))
        print("open")
    except socket.timeout:
        print("timeout")
    except ConnectionRefusedError:
        print("refused")
    except OSError as exc:
        print("blocked" if exc.errno == errno.EPERM else "error")
    """
)

# One source opening far more connections than the limits allow, holding them open.
FLOOD = textwrap.dedent(
    """
    import socket, sys, time
    host, count, hold = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    ok, failed, held = 0, 0, []
    for _ in range(count):
        s = socket.socket()
        s.settimeout(0.3)
        try:
            s.connect((host, 80))
            ok += 1
            held.append(s)
        except OSError:
            failed += 1
            s.close()
    print(ok, failed, flush=True)
    time.sleep(hold)
    """
)


def probe_from_controller(address: str, port: int, timeout: float = 2.0) -> str:
    return subprocess.run(
        [sys.executable, "-c", PROBE, address, str(port), str(timeout)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def probe_from_ns(ns: str, address: str, port: int, timeout: float = 2.0) -> str:
    return subprocess.run(
        ["ip", "netns", "exec", ns, sys.executable, "-c", PROBE, address, str(port), str(timeout)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def probe_from_host(stage, host: str, address: str, port: int, timeout: float = 2.0) -> str:
    script = PROBE.replace("'", "'\"'\"'")
    out = ssh(stage, host, f"python3 -c '{script}' {address} {port} {timeout}")
    return out.stdout.strip()


def listen(stage, host: str, port: int, seconds: int = 300) -> None:
    """A listener on HOST:PORT: the service itself when it runs (nginx, PostgreSQL), else a
    temporary one (python's HTTP server, as a unit)."""
    ssh(
        stage,
        host,
        f"sudo systemd-run --quiet --unit=sc-test-listen-{port} --collect "
        f"--property=RuntimeMaxSec={seconds} python3 -m http.server {port} --bind 0.0.0.0 "
        f"--directory /var/empty 2>/dev/null || true",
    )
    for _ in range(50):
        if ssh(stage, host, f"ss -Htln 'sport = :{port}'").stdout.strip():
            return
        time.sleep(0.2)
    pytest.fail(f"no listener on {host}:{port}")


def stop_listening(stage, host: str, port: int) -> None:
    ssh(stage, host, f"sudo systemctl stop sc-test-listen-{port} 2>/dev/null || true", check=False)


def fresh_ssh(stage, host: str, timeout: int = 5) -> subprocess.CompletedProcess:
    """A new SSH connection (no shared master), so that it meets the rules in force now."""
    config = stage.state_dir / "ssh_config"
    return subprocess.run(
        [
            "ssh",
            "-F",
            str(config),
            "-o",
            "ControlPath=none",
            "-o",
            f"ConnectTimeout={timeout}",
            host,
            "true",
        ],
        capture_output=True,
        text=True,
        timeout=timeout + 30,
        check=False,
    )


@pytest.fixture(scope="module")
def converged(deployed, stage):
    """The stage as the main job left it: converged (site.yml), the app deployed, verified."""
    found = re.search(
        r"converge of stage \S+: .*changed=\d+, failed=0, unreachable=0 in (\d+) s", deployed.stdout
    )
    assert found, deployed.stdout[-3000:]
    FIGURES["first converge (s)"] = int(found.group(1))
    return deployed


@pytest.fixture(scope="module")
def outsiders(converged, stage):
    """Two network namespaces of our own on the lab bridge: clients .201 and .202."""
    n = stage.lab_index
    net = stage.lab_network
    made = []
    try:
        for tag, last in (("a", 201), ("b", 202)):
            ns, veth = f"schd-{os.getpid()}-{tag}", f"schd{os.getpid() % 100000}{tag}"
            subprocess.run(["ip", "netns", "add", ns], check=True)
            made.append((ns, veth))
            subprocess.run(
                ["ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns],
                check=True,
            )
            subprocess.run(
                ["ip", "link", "set", veth, "master", network.bridge_name(n), "up"], check=True
            )
            address = f"{net.network_address + last}/{net.prefixlen}"
            for cmd in (
                ["ip", "addr", "add", address, "dev", "eth0"],
                ["ip", "link", "set", "eth0", "up"],
                ["ip", "link", "set", "lo", "up"],
            ):
                subprocess.run(["ip", "netns", "exec", ns, *cmd], check=True)
        time.sleep(1.5)  # the bridge learns the new ports
        yield [ns for ns, _ in made]
    finally:
        for ns, veth in made:
            subprocess.run(["ip", "link", "del", veth], check=False, capture_output=True)
            subprocess.run(["ip", "netns", "del", ns], check=False, capture_output=True)


def test_second_converge_changes_nothing(converged, stage):
    t = time.monotonic()
    second = subprocess.run(
        [str(BIN / "ansible-playbook"), "-i", f"inventories/{STAGE}", "site.yml"],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={**os.environ, "ANSIBLE_NOCOLOR": "1"},
        timeout=1200,
    )
    FIGURES["second converge (s)"] = round(time.monotonic() - t)
    if os.environ.get("OTAP_KEEP_LOGS"):
        (Path(os.environ["OTAP_KEEP_LOGS"]) / "converge-2.log").write_text(second.stdout)
    assert second.returncode == 0, second.stdout[-3000:]
    recap = parse_recap(second.stdout)
    assert set(recap) == set(stage.hosts)
    changed = {h: s["changed"] for h, s in recap.items() if s["changed"]}
    assert not changed, second.stdout[-4000:]


def test_verify_passes(converged):
    t = time.monotonic()
    out = otap("stage", "verify", STAGE, check=False, timeout=900)
    if os.environ.get("OTAP_KEEP_LOGS"):
        (Path(os.environ["OTAP_KEEP_LOGS"]) / "verify.log").write_text(out.stdout + out.stderr)
    FIGURES["verify (s)"] = round(time.monotonic() - t)
    summary = out.stdout.splitlines()[-2]
    assert re.search(r"\d+ passed", out.stdout), out.stdout[-3000:]
    assert "failed" not in summary, out.stdout[-3000:]


@pytest.mark.control("FW-02")
def test_from_outside_only_http_on_web_and_ssh_on_the_bastion(converged, stage):
    web = stage.hosts["web1"]
    for port in (80, 443):
        listen(stage, "web1", port)
    listen(stage, "db1", 5432)
    try:
        # every port a service of the stage listens on, monitoring's included (MON-02, MON-10,
        # MON-11)
        ports = (22, 25, 80, 443, 5432, 8000, 9090, 9093, 9100, 9113, 9115, 9180, 9181, 9187)
        keys = [(h, p) for h in stage.hosts.values() for p in ports]
        with ThreadPoolExecutor(max_workers=8) as pool:
            states = pool.map(lambda key: probe_from_controller(key[0].address, key[1]), keys)
        seen = {(h.name, p): state for (h, p), state in zip(keys, states, strict=True)}
    finally:
        for port in (80, 443):
            stop_listening(stage, "web1", port)
        stop_listening(stage, "db1", 5432)
    opened = {key for key, state in seen.items() if state == "open"}
    assert opened == {("web1", 80), ("web1", 443), (stage.bastion.name, 22)}, seen
    # Everything else is dropped (a timeout), not refused: the firewall answers nothing.
    assert all(state == "timeout" for key, state in seen.items() if key not in opened), seen
    assert seen[(web.name, 22)] == "timeout", (
        "sshd listens on web1 but the controller is not let in"
    )


@pytest.mark.control("FW-02")
def test_from_the_bastion_ssh_answers_on_every_host(converged, stage):
    for host in stage.hosts.values():
        if host.name == stage.bastion.name:
            continue
        assert probe_from_host(stage, stage.bastion.name, host.address, 22) == "open", host.name
    # ... and no other host reaches SSH on its neighbours.
    assert probe_from_host(stage, "web1", stage.hosts["db1"].address, 22) in {"blocked", "timeout"}


@pytest.mark.control("FW-02")
def test_postgresql_answers_only_from_web(converged, stage):
    db = stage.hosts["db1"].address
    listen(stage, "db1", 5432)
    try:
        assert probe_from_host(stage, "web1", db, 5432) == "open"
        assert probe_from_controller(db, 5432) == "timeout"
        assert probe_from_host(stage, "mon1", db, 5432) in {"blocked", "timeout"}
        assert probe_from_host(stage, "bastion1", db, 5432) in {"blocked", "timeout"}
    finally:
        stop_listening(stage, "db1", 5432)


@pytest.mark.control("MON-02")
@pytest.mark.control("MON-11")
def test_the_exporters_answer_the_monitoring_host_alone(converged, stage):
    db, web = stage.hosts["db1"].address, stage.hosts["web1"].address
    for target, port in [(db, 9100), (db, 9187), (web, 9180), (web, 9113)]:
        assert probe_from_host(stage, "mon1", target, port) == "open", (target, port)
        assert probe_from_host(stage, "bastion1", target, port) in {"blocked", "timeout"}
    assert probe_from_host(stage, "web1", db, 9187) in {"blocked", "timeout"}


@pytest.mark.control("FW-02")
def test_a_client_outside_the_admin_networks_cannot_reach_the_bastion(converged, stage, outsiders):
    bastion = stage.bastion.address
    assert probe_from_controller(bastion, 22) == "open"
    assert probe_from_ns(outsiders[0], bastion, 22) == "timeout"
    listen(stage, "web1", 80)
    try:  # the outsider does reach the web host, so the timeout above is the firewall's doing
        assert probe_from_ns(outsiders[0], stage.hosts["web1"].address, 80) == "open"
    finally:
        stop_listening(stage, "web1", 80)


@pytest.mark.control("FW-04")
def test_one_source_over_the_limits_is_throttled_while_another_is_served(
    converged, stage, outsiders
):
    web = stage.hosts["web1"].address
    listen(stage, "web1", 80)
    flood = subprocess.Popen(
        ["ip", "netns", "exec", outsiders[0], sys.executable, "-c", FLOOD, web, "200", "15"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        ok, failed = (int(x) for x in flood.stdout.readline().split())
        FIGURES["DoS: flooding source served/refused of 200"] = f"{ok}/{failed}"
        # While the flood holds its connections, the second source is served normally.
        served = [probe_from_ns(outsiders[1], web, 80) for _ in range(5)]
    finally:
        flood.kill()
        flood.wait()
        stop_listening(stage, "web1", 80)
    assert ok <= 50, f"connlimit lets a source hold at most 50 connections, it held {ok}"
    assert failed >= 150
    assert served == ["open"] * 5, served
    with_counts = ssh(stage, "web1", "sudo iptables -L sc-http -v -n -x").stdout
    # iptables -L -v: hashlimit shows as "limit: above", connlimit as "#conn src/32 > N".
    dropped = re.search(r"^\s*([1-9]\d*)\s+\d+\s+DROP\b.*limit: above", with_counts, re.M)
    refused = re.search(r"^\s*([1-9]\d*)\s+\d+\s+REJECT\b.*#conn", with_counts, re.M)
    assert dropped or refused, with_counts
    FIGURES["DoS: packets dropped by hashlimit / refused by connlimit"] = (
        f"{dropped.group(1) if dropped else 0}/{refused.group(1) if refused else 0}"
    )


@pytest.mark.control("FW-05")
def test_a_rule_set_that_locks_the_controller_out_rolls_back(converged, stage):
    """A wrong admin network for the bastion: converge says so, and the rules roll back."""
    started = time.monotonic()
    wrong = subprocess.run(
        [
            str(BIN / "ansible-playbook"),
            "-i",
            f"inventories/{STAGE}",
            "site.yml",
            "--limit",
            stage.bastion.name,
            "--tags",
            "firewall",
            "-e",
            json.dumps({"admin_networks": ["10.213.10.250/32"]}),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "ANSIBLE_NOCOLOR": "1"},
    )
    assert wrong.returncode != 0
    assert "cut the controller off" in wrong.stdout, wrong.stdout[-3000:]
    back = None
    while time.monotonic() - started < 120:
        if fresh_ssh(stage, stage.bastion.name).returncode == 0:
            back = time.monotonic() - started
            break
        time.sleep(2)
    assert back is not None, "SSH to the bastion did not come back"
    FIGURES["lockout: SSH back after (s)"] = round(back)
    rules = ssh(stage, stage.bastion.name, "sudo iptables -S INPUT").stdout
    assert "-s 10.213.10.1/32" in rules and "10.213.10.250" not in rules
    log = ssh(stage, stage.bastion.name, "sudo journalctl -t sc-firewall -n 5 --no-pager").stdout
    assert "rolled back" in log
    # The right rules go back on with a normal converge of the bastion.
    otap("stage", "converge", STAGE, "--limit", stage.bastion.name, "--tags", "firewall")
    assert (
        ssh(
            stage, stage.bastion.name, "sudo /usr/local/sbin/sc-firewall pending", check=False
        ).returncode
        == 1
    )


@pytest.mark.control("FW-06")
def test_rules_survive_a_reboot(converged, stage):
    before = ssh(stage, "web1", "sudo iptables-save | grep -c '^-A'").stdout.strip()
    boot_id = ssh(stage, "web1", "cat /proc/sys/kernel/random/boot_id").stdout.strip()
    reboots = stage.state_dir / "hosts/web1/reboots"
    count = int(reboots.read_text()) if reboots.exists() else 0
    ssh(stage, "web1", "sudo systemctl reboot", check=False)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        time.sleep(1)
        done = reboots.exists() and int(reboots.read_text() or 0) > count
        if done and labmod.host_state(stage, "web1") == "running":
            break
    assert labmod.host_state(stage, "web1") == "running"
    assert ssh(stage, "web1", "cat /proc/sys/kernel/random/boot_id").stdout.strip() != boot_id
    rules = ssh(stage, "web1", "sudo iptables -S").stdout
    assert "-P INPUT DROP" in rules and "sc-http" in rules
    after = ssh(stage, "web1", "sudo iptables-save | grep -c '^-A'").stdout.strip()
    assert after == before
    assert "-P INPUT DROP" in ssh(stage, "web1", "sudo ip6tables -S INPUT").stdout


def _audit(address: str, port: int) -> str:
    audit = shutil.which("ssh-audit", path=str(BIN)) or "ssh-audit"
    proc = subprocess.run(
        [audit, "-n", "-p", str(port), address], capture_output=True, text=True, timeout=120
    )
    return proc.stdout


@pytest.mark.control("SSH-02")
def test_ssh_audit_finds_no_failure_or_warning(converged, stage):
    """ssh-audit against every host; hosts behind the bastion through a local forward."""
    results = {}
    config = str(stage.state_dir / "ssh_config")
    inner = [h for h in sorted(stage.hosts) if h != stage.bastion.name]
    ports = {h: 22200 + i for i, h in enumerate(inner)}
    forwards = [
        arg for h in inner for arg in ("-L", f"127.0.0.1:{ports[h]}:{stage.hosts[h].address}:22")
    ]
    # One tunnel through the bastion for the inner hosts, first: auditing the bastion itself
    # makes its sshd refuse the controller for a while (PerSourcePenalties).
    tunnel = subprocess.Popen(
        [
            "ssh",
            "-F",
            config,
            "-N",
            "-o",
            "ExitOnForwardFailure=yes",
            "-o",
            "ControlPath=none",
            *forwards,
            stage.bastion.name,
        ],
    )
    try:
        for _ in range(100):
            if probe_from_controller("127.0.0.1", ports[inner[-1]], 0.5) == "open":
                break
            time.sleep(0.2)
        else:
            pytest.fail("the tunnel through the bastion did not come up")
        for host in inner:
            results[host] = _audit("127.0.0.1", ports[host])
    finally:
        tunnel.terminate()
        tunnel.wait()
    results[stage.bastion.name] = _audit(stage.bastion.address, 22)
    # ssh-audit opens about 20 connections without logging in; sshd's PerSourcePenalties then
    # refuse that source for a while (the controller on the bastion, the bastion elsewhere).
    # Wait until every host takes a new connection again, so that what follows is unaffected.
    deadline = time.monotonic() + 120
    pending = set(stage.hosts)
    while pending and time.monotonic() < deadline:
        pending = {h for h in pending if fresh_ssh(stage, h).returncode != 0}
        if pending:
            time.sleep(5)
    FIGURES["ssh-audit: penalties over after (s)"] = round(120 - (deadline - time.monotonic()))
    bad = {}
    for host, text in results.items():
        assert "(kex)" in text, f"ssh-audit did not talk to {host}: {text[-500:]}"
        lines = [ln for ln in text.splitlines() if re.search(r"\[(fail|warn)\]", ln)]
        if lines:
            bad[host] = lines
    FIGURES["ssh-audit failures/warnings"] = {h: len(bad.get(h, [])) for h in results}
    assert not bad, json.dumps(bad, indent=1)


def test_otap_patch_reaches_the_hardened_hosts(converged, stage):
    """pyinfra through OpenSSH (paramiko speaks none of the hardened key exchanges)."""
    t = time.monotonic()
    out = otap("stage", "patch", STAGE, timeout=900)
    FIGURES["otap stage patch development (s)"] = round(time.monotonic() - t)
    assert "updates installed" in out.stdout
    log = (stage.state_dir / "patch.log").read_text()
    assert "OTAP-01 | test takes every update first" in log
    pending = ssh(stage, "web1", "apt-get -s -o Debug::NoLocking=1 upgrade | grep -c ^Inst || true")
    assert pending.stdout.strip() == "0"


# Lynis tests of the machine a container runs on, not of the container: its kernel (sysctls,
# kernel image, process accounting, the audit daemon) and its disk layout (partitions). In the
# lab they are not applicable and are skipped for the second figure; on real hosts they count.
LYNIS_NOT_IN_A_CONTAINER = {
    "KRNL-6000": "kernel sysctls: the controller's kernel",
    "KRNL-5788": "kernel image: the controller's",
    "ACCT-9622": "process accounting: a setting of the controller's kernel",
    "ACCT-9628": "auditd: the kernel audit subsystem is the controller's",
    "FILE-6310": "separate partitions: the controller's disk layout",
}


def test_lynis_hardening_index_per_host(converged, stage):
    """Lynis (Debian package) on every host; the index is printed, the target is 80.

    Two figures per host: Lynis as it comes, and without the tests that examine the machine a
    container runs on (LYNIS_NOT_IN_A_CONTAINER; the lab's hosts are containers).
    """
    profile = "\n".join(
        f"# not applicable in a container: {why}\nskip-test={test}"
        for test, why in LYNIS_NOT_IN_A_CONTAINER.items()
    )
    index_re = re.compile(r"Hardening index\s*:\s*(\d+)")

    def run(host: str) -> tuple[str, tuple[int | None, int | None]]:
        ssh(stage, host, "sudo apt-get -o DPkg::Lock::Timeout=300 install -y -qq lynis >/dev/null")
        audit = "sudo lynis audit system --quick --no-colors 2>/dev/null"
        raw = ssh(stage, host, audit, check=False).stdout
        ssh(
            stage,
            host,
            f"printf '%s\\n' {shlex.quote(profile)} | sudo tee /etc/lynis/custom.prf >/dev/null",
        )
        applicable = ssh(stage, host, audit, check=False).stdout
        ssh(stage, host, "sudo rm -f /etc/lynis/custom.prf", check=False)
        if os.environ.get("OTAP_KEEP_LOGS"):
            (Path(os.environ["OTAP_KEEP_LOGS"]) / f"lynis-{host}.txt").write_text(raw)
        found = [index_re.search(out) for out in (raw, applicable)]
        return host, tuple(int(m.group(1)) if m else None for m in found)

    with ThreadPoolExecutor(max_workers=len(stage.hosts)) as pool:
        both = dict(pool.map(run, sorted(stage.hosts)))
    index = {host: raw for host, (raw, _) in both.items()}
    applicable = {host: value for host, (_, value) in both.items()}
    FIGURES["lynis hardening index"] = index
    FIGURES["lynis hardening index, tests of the container's host skipped"] = applicable
    (stage.state_dir / "lynis.json").write_text(
        json.dumps({"index": index, "container_tests_skipped": applicable}, indent=1)
    )
    print("\nlynis hardening index per host (target 80):", index)
    print("the same without the tests of the machine the containers run on:", applicable)
    assert all(v is not None for v in index.values()), index
    assert all(v is not None for v in applicable.values()), applicable
    for host in stage.hosts:  # lynis is an audit tool, not part of a host: it goes again
        ssh(
            stage,
            host,
            "sudo apt-get -o DPkg::Lock::Timeout=300 purge -y -qq lynis >/dev/null",
            check=False,
        )


def test_print_figures(converged):
    print("\nhardening figures:", json.dumps(FIGURES, indent=1))
    out = REPO / "benchmarks" / "hardening-figures.json"
    if os.environ.get("OTAP_WRITE_FIGURES"):
        out.write_text(json.dumps(FIGURES, indent=1) + "\n")
