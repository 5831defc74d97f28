"""One OpenSSH config per stage: every host through the bastion (ProxyJump), host keys pinned.

Ansible (ansible_ssh_common_args: -F FILE), pyinfra (ssh_config_file), testinfra (--ssh-config)
and a person (ssh -F FILE web1) all use the same file.
"""

from __future__ import annotations

import os
from pathlib import Path

from provisioning.stage.inventory import Stage


def admin_user(stage: Stage) -> str | None:
    """The admin account to log in as: $OTAP_ADMIN, else the first admin of a lab stage."""
    if os.environ.get("OTAP_ADMIN"):
        return os.environ["OTAP_ADMIN"]
    admins = stage.vars.get("admins") or []
    if stage.lab and admins:
        return admins[0]["name"]
    return None


def admin_identity(stage: Stage) -> Path | None:
    """The lab's admin key lives in the state dir; on real stages a person uses their own key."""
    if stage.lab:
        return stage.keys / "admin_ed25519"
    return None


def render(stage: Stage) -> str:
    bastion = stage.bastion
    lines = [
        f"# OpenSSH config of stage {stage.name}, written by `otap stage ssh-config {stage.name}`.",
        "# Every host is reached through the bastion; host keys are pinned in UserKnownHostsFile.",
        f"# Use: ssh -F {stage.ssh_config} <host>",
        "",
    ]
    for host in sorted(stage.hosts.values(), key=lambda h: (h.name != bastion.name, h.name)):
        lines.append(f"Host {host.name} {host.address}")
        lines.append(f"    HostName {host.address}")
        if host.name != bastion.name:
            lines.append(f"    ProxyJump {bastion.name}")
        lines.append("")
    lines.append("Host *")
    user = admin_user(stage)
    if user:
        lines.append(f"    User {user}")
    identity = admin_identity(stage)
    if identity:
        lines.append(f"    IdentityFile {identity}")
        lines.append("    IdentitiesOnly yes")
    lines += [
        f"    UserKnownHostsFile {stage.known_hosts}",
        "    GlobalKnownHostsFile /dev/null",
        "    StrictHostKeyChecking yes",
        "    CheckHostIP no",
        "    HashKnownHosts no",
        "    PasswordAuthentication no",
        "    KbdInteractiveAuthentication no",
        f"    ControlPath {stage.control_dir}/%C",
        "    ControlMaster auto",
        "    ControlPersist 60s",
        "    ConnectTimeout 10",
        "    ServerAliveInterval 15",
        "",
    ]
    return "\n".join(lines)


def write(stage: Stage) -> Path:
    path = stage.ssh_config
    path.parent.mkdir(parents=True, exist_ok=True)
    stage.control_dir.mkdir(mode=0o700, exist_ok=True)
    text = render(stage)
    if not path.exists() or path.read_text() != text:
        path.write_text(text)
    return path


def known_hosts_lines(stage: Stage, keys: dict[str, list[str]]) -> list[str]:
    """known_hosts lines for {host: ["ssh-ed25519 AAAA...", ...]}, keyed by name and address."""
    out = []
    for name in sorted(keys):
        host = stage.hosts[name]
        for key in sorted(keys[name]):
            keytype, blob = key.split()[:2]
            out.append(f"{host.name},{host.address} {keytype} {blob}")
    return out


def write_known_hosts(stage: Stage, keys: dict[str, list[str]]) -> bool:
    """Write the stage's known_hosts; returns True when it changed."""
    path = stage.known_hosts
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "\n".join(known_hosts_lines(stage, keys)) + "\n"
    if path.exists() and path.read_text() == text:
        return False
    path.write_text(text)
    return True


def read_known_hosts(stage: Stage) -> dict[str, list[str]]:
    path = stage.known_hosts
    out: dict[str, list[str]] = {}
    if not path.exists():
        return out
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) >= 3 and not line.startswith("#"):
            name = parts[0].split(",")[0]
            out.setdefault(name, []).append(f"{parts[1]} {parts[2]}")
    return out
