"""Fault drills on the stage the main job made: each fault must bring its alert mail to the
operators' mailbox, and the repair its resolution mail (the drills: tests/lab/drills.py). Then
the operators' own way in: `otap monitor open` and `otap alerts` against the same stage.

All six faults are made at once, then the test waits for the mails: events, not sleeps. The lab's
timings (a 15 s scrape, 30 s `for:`, Alertmanager's group wait 10 s and group interval 30 s: role
monitoring's lab defaults) bring each within two minutes; the seconds from fault to mail are
printed (benchmarks/monitoring_drills.py prints them with Prometheus's memory).
"""

import json
import re
import signal
import subprocess
import sys
import urllib.request

import pytest

from provisioning.stage.paths import REPO
from tests.lab import drills
from tests.lab.conftest import STAGE, otap

pytestmark = [pytest.mark.lab, pytest.mark.slow]


@pytest.fixture(scope="module")
def drilled(deployed, stage):
    """Every fault at once; the alert mails' delays and when the repair was made."""
    started = drills.provoke(stage)
    try:
        arrived = drills.wait_for_mails(stage, drills.patterns("firing"), started)
    except TimeoutError as exc:
        drills.repair(stage)
        pytest.fail(str(exc))
    repaired = drills.repair(stage)
    return {name: stamp - started for name, stamp in arrived.items()}, repaired


@pytest.mark.control("MON-08")
def test_every_fault_brings_its_alert_mail(drilled):
    delays, _ = drilled
    for name, seconds in sorted(delays.items(), key=lambda kv: kv[1]):
        print(f"drill: {name}: alert mail after {seconds:.0f} s")
    assert set(delays) == set(drills.DRILLS)


@pytest.mark.control("MON-08")
def test_every_repair_brings_its_resolution_mail(drilled, stage):
    _, repaired = drilled
    try:
        arrived = drills.wait_for_mails(stage, drills.patterns("resolved"), repaired)
    except TimeoutError as exc:
        pytest.fail(str(exc))
    for name, stamp in sorted(arrived.items(), key=lambda kv: kv[1]):
        print(f"drill: {name}: resolution mail after {stamp - repaired:.0f} s")
    assert set(arrived) == set(drills.DRILLS)


@pytest.mark.control("MON-08")
def test_alert_mails_carry_no_personal_data(drilled, stage, deployed):
    text = drills.ssh(stage, "mon1", f"sudo cat {drills.MAILBOX}").stdout
    assert "[FIRING" in text
    # the demo accounts' addresses and names the main job printed appear in no alert mail
    addresses = set(re.findall(r"[\w.+-]+@[\w-]+\.[\w.]+", deployed.stdout))
    assert addresses, "the main job printed no demo accounts"
    for address in addresses:
        assert address not in text, address


def _get(url: str) -> tuple[int, bytes]:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(url, timeout=20) as response:
        return response.status, response.read()


def _through_ssh_to(stage, target: str) -> subprocess.CompletedProcess:
    """`ssh -W TARGET mon1` (a forward of its own) with one HTTP request on it."""
    config = str(stage.state_dir / "ssh_config")
    return subprocess.run(
        ["ssh", "-F", config, "-o", "ControlPath=none", "-W", target, "mon1"],
        input=b"GET /-/ready HTTP/1.0\r\n\r\n",
        capture_output=True,
        timeout=60,
        check=False,
    )


@pytest.mark.control("SSH-03")
@pytest.mark.control("MON-01")
def test_otap_monitor_open_reaches_prometheus_and_alertmanager_and_nothing_else(deployed, stage):
    proc = subprocess.Popen(
        [sys.executable, "-m", "provisioning.cli", "monitor", "open", STAGE],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        said = []
        while not said or not said[-1].startswith("(through"):
            line = proc.stdout.readline()  # otap prints, or fails and exits (EOF) within 45 s
            assert line, f"otap monitor open ended: {proc.wait()} {proc.stderr.read()}"
            said.append(line.strip())
        urls = dict(line.split(": ", 1) for line in said[:-1])
        status, body = _get(urls["Prometheus"] + "api/v1/targets?state=active")
        targets = json.loads(body)["data"]["activeTargets"]
        assert status == 200 and targets
        assert {t["health"] for t in targets} == {"up"}, [
            (t["labels"]["job"], t["labels"]["instance"], t["health"]) for t in targets
        ]
        status, body = _get(urls["Alertmanager"] + "api/v2/status")
        assert status == 200 and json.loads(body)["cluster"]["status"] == "disabled"
        proc.send_signal(signal.SIGINT)  # Ctrl-C
        assert proc.wait(timeout=15) == 130
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    # sshd on mon1 forwards to Prometheus and Alertmanager, to nothing else of the host
    allowed = _through_ssh_to(stage, "127.0.0.1:9090")
    assert allowed.returncode == 0 and allowed.stdout.startswith(b"HTTP/1.0 200"), allowed.stderr
    refused = _through_ssh_to(stage, "127.0.0.1:9115")
    assert refused.returncode != 0 and b"administratively prohibited" in refused.stderr
    refused = _through_ssh_to(stage, f"{stage.hosts['db1'].address}:5432")
    assert refused.returncode != 0 and b"administratively prohibited" in refused.stderr


@pytest.mark.control("MON-08")
def test_otap_alerts_reads_alertmanager_through_the_bastion(deployed):
    proc = otap("alerts", STAGE, "--json", check=False)
    data = json.loads(proc.stdout)
    assert (data["stage"], data["host"], data["watchdog"]) == (STAGE, "mon1", True)
    assert any(a["alertname"] == "Watchdog" for a in data["alerts"])
