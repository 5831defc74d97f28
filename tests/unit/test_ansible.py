"""Ansible itself agrees with otap: same inventories, a valid playbook, mirrored role defaults."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from provisioning.stage import load_stage
from provisioning.stage.paths import REPO

pytestmark = pytest.mark.unit

BIN = Path(sys.executable).parent
ENV = {**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1"}
STAGES = ["development", "test", "acceptance", "production"]


def inventory_without_secrets(name: str, tmp_path: Path) -> str:
    """A copy of the stage's inventory without its vault file, whose password these tests lack.

    (The lab's vault file exists once the lab has run and opens only with the lab's password.)
    """
    copy = tmp_path / "inventories" / name
    shutil.copytree(REPO / "inventories" / name, copy, ignore=shutil.ignore_patterns("vault.yml"))
    return str(copy)


@pytest.mark.parametrize("name", STAGES)
def test_ansible_sees_the_hosts_and_groups_otap_sees(name, tmp_path):
    proc = subprocess.run(
        [str(BIN / "ansible-inventory"), "-i", inventory_without_secrets(name, tmp_path), "--list"],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={**ENV, "OTAP_STATE_ROOT": str(tmp_path)},
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    stage = load_stage(name)
    for group, hosts in stage.groups.items():
        assert sorted(data[group]["hosts"]) == sorted(hosts), group
    hostvars = data["_meta"]["hostvars"]
    for host in stage.hosts.values():
        assert hostvars[host.name]["ansible_host"] == host.address
        assert hostvars[host.name]["stage"] == name
        assert hostvars[host.name]["ansible_ssh_common_args"] == (
            "-F {{ otap_state_dir }}/ssh_config"
        )


def test_ansible_uses_the_stage_s_ssh_config(tmp_path):
    # debug runs on the controller: no connection is made.
    proc = subprocess.run(
        [
            str(BIN / "ansible"),
            "-i",
            inventory_without_secrets("development", tmp_path),
            "web1",
            "-m",
            "ansible.builtin.debug",
            "-a",
            "var=ansible_ssh_common_args",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={**ENV, "OTAP_STATE_ROOT": str(tmp_path)},
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"-F {tmp_path}/development/ssh_config" in proc.stdout


@pytest.mark.parametrize("name", STAGES)
def test_site_yml_passes_the_syntax_check(name):
    proc = subprocess.run(
        [str(BIN / "ansible-playbook"), "-i", f"inventories/{name}", "site.yml", "--syntax-check"],
        cwd=REPO,
        capture_output=True,
        text=True,
        env=ENV,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("role", sorted(p.name for p in (REPO / "roles").iterdir()))
def test_argument_specs_mirror_the_defaults(role):
    defaults = yaml.safe_load((REPO / "roles" / role / "defaults" / "main.yml").read_text())
    specs = yaml.safe_load((REPO / "roles" / role / "meta" / "argument_specs.yml").read_text())
    options = specs["argument_specs"]["main"]["options"]
    assert set(options) == set(defaults)
    for name, spec in options.items():
        assert spec["default"] == defaults[name], name
        assert spec.get("description"), name


@pytest.mark.parametrize("role", sorted(p.name for p in (REPO / "roles").iterdir()))
def test_every_default_is_documented(role):
    # Each top-level key sits in a block (no blank line) that starts with a comment.
    documented = False
    for line in (REPO / "roles" / role / "defaults" / "main.yml").read_text().splitlines():
        if not line.strip():
            documented = False
        elif line.startswith("#"):
            documented = True
        elif not line.startswith((" ", "-")):
            assert documented, f"{role}: {line} has no comment"
