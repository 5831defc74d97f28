"""Bad input stops converge in the preflight play, on the controller, with one sentence.

ansible-playbook runs preflight.yml (the first play of site.yml) against a copy of the
production inventory, whose documentation-range addresses answer nobody: any attempt to contact
a host would show as UNREACHABLE.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from provisioning.stage.paths import INVENTORIES, REPO

pytestmark = [pytest.mark.unit, pytest.mark.control("FW-02")]

BIN = Path(sys.executable).parent


def preflight(tmp_path, stage_vars: dict | None = None, *extra: str):
    inventory = tmp_path / "production"
    shutil.copytree(INVENTORIES / "production", inventory)
    if stage_vars:
        path = inventory / "group_vars/all/stage.yml"
        data = yaml.safe_load(path.read_text())
        data.update(stage_vars)
        path.write_text(yaml.safe_dump(data))
    proc = subprocess.run(
        [str(BIN / "ansible-playbook"), "-i", str(inventory), "preflight.yml", *extra],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={**os.environ, "ANSIBLE_NOCOLOR": "1", "OTAP_STATE_ROOT": str(tmp_path / "state")},
        timeout=300,
    )
    out = proc.stdout + proc.stderr
    assert "UNREACHABLE" not in out, "the preflight must not contact any host"
    return proc.returncode, out


def test_an_admin_network_that_is_not_a_network_stops_the_run(tmp_path):
    code, out = preflight(tmp_path, {"admin_networks": ["203.0.113.200/33"]})
    assert code != 0
    assert "admin network '203.0.113.200/33' is not a network" in out


def test_a_port_clash_stops_the_run(tmp_path):
    services = [{"name": "metrics", "ports": [22], "hosts": ["web"], "from": ["monitoring"]}]
    code, out = preflight(tmp_path, None, "-e", json.dumps({"firewall_services": services}))
    assert code != 0
    assert "port 22/tcp on host web1 is claimed by both ssh and metrics" in out


def test_a_placeholder_root_password_stops_the_run(tmp_path):
    code, out = preflight(tmp_path, {"admins": [{"name": "alice", "ssh_public_key": "x"}]})
    assert code != 0
    assert "Stage production has no usable root password" in out


@pytest.mark.control("MON-08")
def test_a_stage_whose_alerts_cannot_be_delivered_stops_in_the_preflight(tmp_path):
    # the earlier checks pass (an admin, a usable root password); the alert settings are empty
    quiet = {"mail_relay_smarthost": "", "mail_relay_local_mailbox": "", "monitoring_operators": []}
    admins = {"admins": [{"name": "ops", "ssh_public_key": "ssh-ed25519 AAAA ops"}]}
    code, out = preflight(
        tmp_path, {**quiet, **admins}, "-e", "vault_root_password=a-usable-root-password-xxxxxxxx"
    )
    assert code != 0
    assert "has no mail relay or no operators for its alerts" in out
    # with operators but neither a smarthost nor a local mailbox: the relay's own sentence
    code, out = preflight(
        tmp_path / "again",
        {**quiet, **admins, "monitoring_operators": ["ops@safecoach.example"]},
        "-e",
        "vault_root_password=a-usable-root-password-xxxxxxxx",
    )
    assert code != 0
    assert "has no way to deliver alert mails" in out
    # monitoring.yml alone starts with the same preflight, before any play that touches a host
    first = yaml.safe_load((REPO / "monitoring.yml").read_text())[0]
    assert first.get("ansible.builtin.import_playbook") == "preflight.yml"
