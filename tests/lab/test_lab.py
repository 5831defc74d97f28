"""The development stage end to end on real containers over real SSH.

One bring-up for the whole module: up, up again, bootstrap twice, SSH and Ansible through the
bastion, reboot a host, recover from killed processes, down with nothing left. Ordered: each
test builds on the one before. (Converging twice and verify: test_hardening, on the stage the
main job made.)
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from provisioning.lab import hosts as labmod
from provisioning.lab import network
from provisioning.lab.system import container_processes, mounts_under
from provisioning.stage.paths import REPO
from tests.lab.conftest import STAGE, otap, ssh

pytestmark = [pytest.mark.lab, pytest.mark.slow]


def status():
    return json.loads(otap("lab", "status", STAGE, "--json").stdout)


def supervisor_pids(stage):
    return {
        h: (stage.state_dir / "hosts" / h / "supervisor.pid").read_text().strip()
        for h in stage.hosts
    }


def test_up_boots_every_host(lab, stage):
    info = status()
    assert info["state"] == "up"
    assert {h["name"]: h["state"] for h in info["hosts"]} == dict.fromkeys(stage.hosts, "running")
    assert "stage development: up" in lab.stdout


def test_up_again_changes_nothing(lab, stage):
    before = supervisor_pids(stage)
    again = otap("lab", "up", STAGE)
    assert "already up; nothing to do" in again.stdout
    assert supervisor_pids(stage) == before


def test_bootstrap_twice_changes_nothing_the_second_time(lab, stage):
    first = otap("stage", "bootstrap", STAGE)
    assert "changed=0" not in first.stdout.splitlines()[-1]
    second = otap("stage", "bootstrap", STAGE)
    assert second.stdout.splitlines()[-1].endswith("changed=0")


def test_admin_reaches_every_host_through_the_bastion(lab, stage):
    bastion = stage.bastion
    for host in stage.hosts:
        out = ssh(stage, host, "id -un; hostname; echo $SSH_CONNECTION; ip route")
        user, name, connection, routes = out.stdout.split("\n", 3)
        assert user == "labadmin"
        assert name == host
        client = connection.split()[0]
        expected = stage.controller_address if host == bastion.name else bastion.address
        assert client == expected, f"{host} was reached from {client}, not via the bastion"
        assert "default" not in routes, "a lab host must have no route out"


def test_ansible_logs_in_as_the_admin_through_the_bastion(lab, stage):
    proc = subprocess.run(
        [
            str(Path(sys.executable).parent / "ansible"),
            "-i",
            f"inventories/{STAGE}",
            "web",
            "-m",
            "ansible.builtin.command",
            "-a",
            "printenv SSH_CONNECTION USER",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"{stage.bastion.address} " in proc.stdout
    assert "labadmin" in proc.stdout


def test_a_rebooted_host_comes_back_with_a_fresh_network(lab, stage):
    boot_id = ssh(stage, "web1", "cat /proc/sys/kernel/random/boot_id").stdout.strip()
    ssh(stage, "web1", "sudo iptables -A INPUT -p tcp --dport 9 -j DROP")
    ssh(stage, "web1", "sudo systemctl reboot", check=False)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        time.sleep(1)
        if (
            labmod.host_state(stage, "web1") == "running"
            and (stage.state_dir / "hosts/web1/reboots").exists()
        ):
            break
    assert labmod.host_state(stage, "web1") == "running"
    after = ssh(stage, "web1", "cat /proc/sys/kernel/random/boot_id").stdout.strip()
    assert after != boot_id
    rules = ssh(stage, "web1", "sudo iptables -S INPUT").stdout
    assert "--dport 9" not in rules, "the network namespace must be new after a reboot"
    assert status()["hosts"][-1]["reboots"] == 1


def test_up_recovers_from_processes_killed_from_outside(lab, stage):
    hosts = stage.state_dir / "hosts"
    containers_before = set(container_processes(stage.state_dir))
    assert len(containers_before) == len(stage.hosts)
    for name in ("db1", "mon1"):
        for pidfile in ("supervisor.pid", "nspawn.pid"):
            os.kill(int((hosts / name / pidfile).read_text()), signal.SIGKILL)
    time.sleep(0.5)
    # The containers of db1 and mon1 run on without their nspawn: orphans up must find.
    assert set(container_processes(stage.state_dir)) == containers_before
    assert status()["state"] == "degraded"
    out = otap("lab", "up", STAGE)
    assert "leftovers of an earlier lab" in out.stdout
    assert status()["state"] == "up"
    containers_after = set(container_processes(stage.state_dir))
    assert len(containers_after) == len(stage.hosts)
    assert not containers_after & containers_before


def test_down_leaves_nothing_behind(lab, stage):
    otap("lab", "down", STAGE)
    n = stage.lab_index
    assert not stage.state_dir.exists()
    assert not (REPO / "inventories" / STAGE / "group_vars" / "all" / "vault.yml").exists()
    assert [ns for ns in network.netns_list() if ns.startswith(network.prefix(n))] == []
    assert [x["ifname"] for x in network.links() if x["ifname"].startswith(network.prefix(n))] == []
    assert mounts_under(Path(str(stage.state_dir))) == []
    assert container_processes(stage.state_dir) == []
    leftovers = subprocess.run(
        ["pgrep", "-f", str(stage.state_dir)],
        capture_output=True,
        text=True,
    ).stdout.split()
    assert leftovers == []
    assert status()["state"] == "down"
