"""Fault drills on the stage the main job made: each fault must bring its alert mail to the
operators' mailbox, and the repair its resolution mail (the drills: tests/lab/drills.py).

All six faults are made at once, then the test waits for the mails: events, not sleeps. The lab's
timings (a 15 s scrape, 30 s `for:`, Alertmanager's group wait 10 s and group interval 30 s: role
monitoring's lab defaults) bring each within two minutes; the seconds from fault to mail are
printed (benchmarks/monitoring_drills.py prints them with Prometheus's memory).
"""

import re

import pytest

from tests.lab import drills

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
