"""Ansible itself agrees with otap: same inventories, a valid playbook, mirrored role defaults.

Values shared by every stage live once in the playbook-level group_vars/ beside site.yml:
ansible-playbook loads them for the playbooks there; `ansible` and `ansible-inventory` only with
--playbook-dir (as every reader here passes it).
"""

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
from tests.unit.shared_vars import SHARED, shared_values

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
        [
            str(BIN / "ansible-inventory"),
            "-i",
            inventory_without_secrets(name, tmp_path),
            "--playbook-dir",
            str(REPO),
            "--list",
        ],
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
            "--playbook-dir",
            str(REPO),
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


def test_testinfra_s_ansible_backend_sees_the_shared_values(tmp_path, monkeypatch):
    # testinfra's ansible:// backend runs `ansible-inventory --list`, which takes the playbook
    # directory from ANSIBLE_PLAYBOOK_DIR (otap stage verify itself uses ssh:// and the ssh_config).
    from testinfra.utils.ansible_runner import AnsibleRunner

    for key, value in {**ENV, "ANSIBLE_PLAYBOOK_DIR": str(REPO)}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("PATH", f"{BIN}:{os.environ['PATH']}")
    monkeypatch.setenv("OTAP_STATE_ROOT", str(tmp_path))
    runner = AnsibleRunner(inventory_without_secrets("development", tmp_path))
    assert runner.get_hosts("web") == ["web1"]
    hostvars = runner.get_variables("web1")
    assert hostvars["ansible_ssh_common_args"] == "-F {{ otap_state_dir }}/ssh_config"
    assert hostvars["ansible_python_interpreter"] == "/usr/bin/python3"


@pytest.mark.parametrize(("cwd", "seen"), [("repository", True), ("elsewhere", False)])
def test_without_playbook_dir_only_the_repository_root_sees_the_shared_values(cwd, seen, tmp_path):
    # ansible-inventory and ansible take the current folder as the playbook directory: run from
    # the repository root (where ansible.cfg is) they see group_vars/; from elsewhere they need
    # --playbook-dir (or ANSIBLE_PLAYBOOK_DIR).
    proc = subprocess.run(
        [
            str(BIN / "ansible-inventory"),
            "-i",
            inventory_without_secrets("development", tmp_path),
            "--host",
            "web1",
        ],
        cwd=REPO if cwd == "repository" else tmp_path,
        capture_output=True,
        text=True,
        env={**ENV, "OTAP_STATE_ROOT": str(tmp_path)},
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert ("ansible_ssh_common_args" in json.loads(proc.stdout)) is seen


@pytest.mark.parametrize("name", STAGES)
@pytest.mark.parametrize("playbook", ["site.yml", "preflight.yml"])
def test_playbooks_pass_the_syntax_check(name, playbook):
    proc = subprocess.run(
        [str(BIN / "ansible-playbook"), "-i", f"inventories/{name}", playbook, "--syntax-check"],
        cwd=REPO,
        capture_output=True,
        text=True,
        env=ENV,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def _defaults(role: str) -> dict:
    return yaml.safe_load((REPO / "roles" / role / "defaults" / "main.yml").read_text()) or {}


def _options(role: str) -> dict:
    specs = yaml.safe_load((REPO / "roles" / role / "meta" / "argument_specs.yml").read_text())
    return specs["argument_specs"]["main"]["options"]


@pytest.mark.parametrize("role", sorted(p.name for p in (REPO / "roles").iterdir()))
def test_argument_specs_mirror_the_defaults(role):
    # Every default is documented; an option that is no default is a shared value (playbook-level
    # group_vars/all) the role reads, documented with the value it has there.
    defaults, options, shared = _defaults(role), _options(role), shared_values()
    assert set(defaults) <= set(options)
    for name, spec in options.items():
        assert name in defaults or name in shared, f"{role}: {name} is set nowhere"
        assert spec["default"] == (defaults[name] if name in defaults else shared[name]), name
        assert spec.get("description"), name


@pytest.mark.parametrize("role", sorted(p.name for p in (REPO / "roles").iterdir()))
def test_role_defaults_do_not_repeat_shared_values(role):
    # A role default would lose to the shared value anyway: one place only.
    assert not set(_defaults(role)) & set(shared_values()), role


def test_shared_values_of_a_role_are_documented_by_that_role():
    # group_vars/all/<role>.yml holds what <role> exposes to every host (its ports, the CA's paths).
    owned = [p for p in SHARED.glob("*.yml") if (REPO / "roles" / p.stem).is_dir()]
    assert owned
    for path in owned:
        for name in yaml.safe_load(path.read_text()):
            assert name in _options(path.stem), f"role {path.stem} does not document {name}"


def test_no_role_re_derives_the_stage_ca_paths():
    for path in (REPO / "roles").rglob("*.yml"):
        text = path.read_text()
        assert "otap_state_dir ~ '/ca'" not in text, path
        assert "stage_ca_dir | default" not in text, path


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


@pytest.mark.parametrize("playbook", sorted((REPO / "molecule").glob("*/converge.yml")))
def test_molecule_plays_load_every_shared_file(playbook):
    # The playbook directory of a molecule scenario is its own folder, not the repository root.
    wanted = sorted(f"../../group_vars/all/{p.name}" for p in SHARED.glob("*.yml"))
    for play in yaml.safe_load(playbook.read_text()):
        assert sorted(play.get("vars_files") or []) == wanted, play["name"]
