"""Role systemd_sandbox: one sandbox for every safecoach service and job, at least as strict as
the copies each role kept before (app, backup_client, backup_server, log_server, base)."""

import shutil
import subprocess

import pytest

from provisioning.stage.paths import REPO
from tests.unit import sandbox

pytestmark = [pytest.mark.unit, pytest.mark.control("DEP-02")]

# What each unit had before the roles shared one sandbox (their own copies, line by line).
COMMON = [
    "NoNewPrivileges=yes",
    "ProtectSystem=strict",
    "ProtectHome=yes",
    "PrivateTmp=yes",
    "PrivateDevices=yes",
    "ProtectKernelTunables=yes",
    "ProtectKernelModules=yes",
    "ProtectKernelLogs=yes",
    "ProtectControlGroups=yes",
    "ProtectClock=yes",
    "ProtectHostname=yes",
    "ProtectProc=invisible",
    "RestrictNamespaces=yes",
    "RestrictRealtime=yes",
    "RestrictSUIDSGID=yes",
    "LockPersonality=yes",
    "RemoveIPC=yes",
    "SystemCallArchitectures=native",
    "SystemCallFilter=@system-service",
    "SystemCallFilter=~@privileged",
    "SystemCallErrorNumber=EPERM",
    "CapabilityBoundingSet=",
    "AmbientCapabilities=",
]
BEFORE = {
    ("app", "app_sandbox"): [
        *COMMON,
        *["User=safecoach", "Group=safecoach", "EnvironmentFile=/etc/safecoach/safecoach.env"],
        *["WorkingDirectory=/var/lib/safecoach", "UMask=0027", "ReadWritePaths=/var/lib/safecoach"],
        "ProcSubset=pid",
        "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6",
    ],
    ("backup_client", "backup_client_sandbox"): [
        *COMMON,
        *["User=safecoach-backup", "Group=safecoach-backup", "UMask=0022"],
        "Environment=SAFECOACH_BACKUP_CONFIG=/etc/safecoach-backup/config.toml",
        "ReadWritePaths=/var/lib/prometheus/node-exporter /var/cache/safecoach-backup",
        "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6",
    ],
    ("backup_server", "backup_server_sandbox"): [
        *COMMON,
        *["UMask=0077", "ProcSubset=pid", "MemoryDenyWriteExecute=yes"],
    ],
    ("log_server", "log_server_sandbox"): [
        *["ProtectSystem=strict", "ReadWritePaths=/var/log/remote", "PrivateTmp=yes"],
        *["PrivateNetwork=yes", "NoNewPrivileges=yes"],
    ],
    # ProtectHome was read-only: now yes (no package installs files below /home or /root)
    ("base", "base_debsums_sandbox"): [
        *["ProtectSystem=strict", "ProtectHome=yes", "PrivateTmp=yes", "PrivateNetwork=yes"],
        "NoNewPrivileges=yes",
    ],
}
VALUES = {"backup_client_files": []}


@pytest.mark.parametrize(("role", "fact"), sorted(BEFORE))
def test_every_unit_keeps_at_least_the_hardening_it_had(role, fact):
    now = sandbox.directives(sandbox.render(role, fact, VALUES))
    assert sorted(set(BEFORE[(role, fact)]) - set(now)) == []
    assert len(now) == len(set(now)), "no directive twice"


def test_root_jobs_gain_the_whole_sandbox_with_the_least_capability():
    debsums = sandbox.directives(sandbox.render("base", "base_debsums_sandbox"))
    assert "CapabilityBoundingSet=CAP_DAC_READ_SEARCH" in debsums
    cleanup = sandbox.directives(sandbox.render("log_server", "log_server_sandbox"))
    assert "CapabilityBoundingSet=" in cleanup and "SystemCallFilter=~@privileged" in cleanup
    for lines in (debsums, cleanup):
        assert "RestrictAddressFamilies=AF_UNIX" in lines and "MemoryDenyWriteExecute=yes" in lines


def test_backup_client_reads_other_accounts_files_only_when_it_backs_files_up():
    files = sandbox.directives(
        sandbox.render("backup_client", "backup_client_sandbox", {"backup_client_files": ["/x"]})
    )
    assert "CapabilityBoundingSet=CAP_DAC_READ_SEARCH" in files
    assert "AmbientCapabilities=CAP_DAC_READ_SEARCH" in files


def test_no_role_keeps_a_copy_of_the_sandbox():
    for path in (REPO / "roles").rglob("*"):
        if path.is_file() and "systemd_sandbox" not in path.parts:
            text = path.read_text()
            assert "SystemCallFilter=" not in text, path
            assert "ProtectSystem=" not in text, path


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="systemd-analyze is not installed")
@pytest.mark.parametrize(("role", "fact"), sorted(BEFORE))
def test_systemd_accepts_the_directives(role, fact, tmp_path):
    unit = tmp_path / f"sc-sandbox-{role}.service"
    unit.write_text(
        "[Unit]\nDescription=sandbox check\n[Service]\nType=oneshot\nExecStart=/bin/true\n"
        + sandbox.render(role, fact, VALUES)
    )
    proc = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", str(unit)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    problems = [
        line
        for line in proc.stderr.splitlines()
        if unit.name in line and ("Unknown" in line or "Failed to parse" in line)
    ]
    assert problems == [], proc.stderr
