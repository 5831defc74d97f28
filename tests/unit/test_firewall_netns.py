"""The rendered rules load with iptables-restore --test in a network namespace of our own.

The namespace is made for the test (sc-hard-test-<pid>) and deleted afterwards; the machine's own
iptables and the lab's namespaces are never touched. Needs root and iptables; skipped otherwise.
"""

import os
import shutil
import subprocess

import pytest

from tests.unit.firewall_data import rules, stage_data

pytestmark = [pytest.mark.unit, pytest.mark.control("FW-05")]


@pytest.fixture(scope="module")
def netns():
    if os.geteuid() != 0 or not shutil.which("ip") or not shutil.which("iptables-restore"):
        pytest.skip("needs root, ip and iptables-restore")
    name = f"sc-hard-test-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        yield name
    finally:
        subprocess.run(["ip", "netns", "delete", name], check=False)


def restore(netns, tool: str, text: str, test: bool = True) -> subprocess.CompletedProcess:
    cmd = ["ip", "netns", "exec", netns, tool, *(["--test"] if test else [])]
    return subprocess.run(cmd, input=text, capture_output=True, text=True, check=False)


@pytest.mark.parametrize("stage", ["development", "test", "production"])
def test_every_rendered_rule_set_loads(netns, stage):
    for host in stage_data(stage)["addresses"]:
        out = rules(stage, host)
        v4 = restore(netns, "iptables-restore", out["v4"])
        assert v4.returncode == 0, f"{stage}/{host}: {v4.stderr}"
        v6 = restore(netns, "ip6tables-restore", out["v6"])
        assert v6.returncode == 0, f"{stage}/{host}: {v6.stderr}"


def test_a_broken_rule_file_is_refused(netns):
    broken = rules("development", "web1")["v4"].replace("--hashlimit-name sc-http4", "")
    refused = restore(netns, "iptables-restore", broken)
    assert refused.returncode != 0
    assert "must be specified" in refused.stderr


def test_rules_apply_atomically_inside_the_namespace(netns):
    good = rules("development", "web1")["v4"]
    assert restore(netns, "iptables-restore", good, test=False).returncode == 0
    before = subprocess.run(
        ["ip", "netns", "exec", netns, "iptables-save"], capture_output=True, text=True
    ).stdout
    broken = good.replace("COMMIT", "-A INPUT -j NO-SUCH-CHAIN\nCOMMIT")
    assert restore(netns, "iptables-restore", broken, test=False).returncode != 0
    after = subprocess.run(
        ["ip", "netns", "exec", netns, "iptables-save"], capture_output=True, text=True
    ).stdout
    strip = lambda s: [ln for ln in s.splitlines() if not ln.startswith("#")]  # noqa: E731
    assert strip(after) == strip(before), "a failed load must leave the rules in force as they were"
