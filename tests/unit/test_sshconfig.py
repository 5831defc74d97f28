"""The stage's one OpenSSH config: ProxyJump through the bastion and pinned host keys."""

import shutil
import subprocess

import pytest

from provisioning.stage import load_stage, sshconfig

pytestmark = pytest.mark.unit


@pytest.fixture
def stage(monkeypatch, tmp_path):
    monkeypatch.setenv("OTAP_STATE_ROOT", str(tmp_path))
    monkeypatch.delenv("OTAP_ADMIN", raising=False)
    return load_stage("development")


def blocks(text):
    out, current = {}, None
    for line in text.splitlines():
        if line.startswith("Host "):
            current = line.split()[1]
            out[current] = []
        elif current and line.strip():
            out[current].append(line.strip())
    return out


def test_every_host_but_the_bastion_jumps_through_it(stage):
    parsed = blocks(sshconfig.render(stage))
    assert "ProxyJump bastion1" not in parsed["bastion1"]
    for name in ("web1", "db1", "backup1", "mon1"):
        assert "ProxyJump bastion1" in parsed[name], name
        assert f"HostName {stage.hosts[name].address}" in parsed[name]


def test_host_keys_are_pinned(stage):
    common = blocks(sshconfig.render(stage))["*"]
    assert "StrictHostKeyChecking yes" in common
    assert f"UserKnownHostsFile {stage.state_dir / 'known_hosts'}" in common
    assert "GlobalKnownHostsFile /dev/null" in common
    assert "PasswordAuthentication no" in common


def test_lab_logs_in_as_the_lab_admin_with_the_lab_key(stage):
    common = blocks(sshconfig.render(stage))["*"]
    assert "User labadmin" in common
    assert f"IdentityFile {stage.state_dir / 'keys' / 'admin_ed25519'}" in common


def test_real_stage_uses_the_person_s_own_account(monkeypatch, tmp_path):
    monkeypatch.setenv("OTAP_STATE_ROOT", str(tmp_path))
    monkeypatch.setenv("OTAP_ADMIN", "alice")
    text = sshconfig.render(load_stage("production"))
    assert "User alice" in text
    assert "IdentityFile" not in text
    assert "HostName 203.0.113.11" in text


def test_known_hosts_lines_name_host_and_address(stage):
    lines = sshconfig.known_hosts_lines(stage, {"web1": ["ssh-ed25519 AAAAweb1"]})
    assert lines == ["web1,10.213.10.11 ssh-ed25519 AAAAweb1"]
    assert sshconfig.write_known_hosts(stage, {"web1": ["ssh-ed25519 AAAAweb1"]})
    assert not sshconfig.write_known_hosts(stage, {"web1": ["ssh-ed25519 AAAAweb1"]})
    assert sshconfig.read_known_hosts(stage) == {"web1": ["ssh-ed25519 AAAAweb1"]}


def test_openssh_reads_the_file_as_intended(stage):
    if not shutil.which("ssh"):
        pytest.fail("the OpenSSH client is missing: apt-get install openssh-client")
    path = sshconfig.write(stage)
    out = subprocess.run(
        ["ssh", "-G", "-F", str(path), "web1"], capture_output=True, text=True, check=True
    ).stdout
    options = dict(line.split(" ", 1) for line in out.splitlines() if " " in line)
    assert options["hostname"] == "10.213.10.11"
    assert options["proxyjump"] == "bastion1"
    assert options["stricthostkeychecking"] == "true"
    assert options["userknownhostsfile"] == str(stage.state_dir / "known_hosts")
    assert options["user"] == "labadmin"
