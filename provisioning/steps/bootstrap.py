"""`otap stage bootstrap STAGE`: day 0 with pyinfra, the bastion first, then the hosts behind it."""

from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path

from provisioning.remote.progress import say
from provisioning.remote.pyinfra import run_deploy
from provisioning.remote.ssh import ssh_command
from provisioning.stage import OtapError, Stage, sshconfig

ADMIN_GROUP = "admins"


def root_key(stage: Stage) -> Path | None:
    """The initial root key: the lab's own, or $OTAP_ROOT_KEY (else the SSH agent)."""
    if os.environ.get("OTAP_ROOT_KEY"):
        return Path(os.environ["OTAP_ROOT_KEY"])
    if stage.lab:
        return stage.keys / "root_ed25519"
    return None


def etc_hosts(stage: Stage, name: str) -> str:
    lines = [
        f"# Managed by otap bootstrap (stage {stage.name}).",
        "127.0.0.1\tlocalhost",
        f"127.0.1.1\t{name}",
        "::1\tlocalhost ip6-localhost ip6-loopback",
        "ff02::1\tip6-allnodes",
        "ff02::2\tip6-allrouters",
        "",
    ]
    for host in sorted(stage.hosts.values(), key=lambda h: h.address):
        lines.append(f"{host.address}\t{host.name}")
    return "\n".join(lines) + "\n"


def root_can_log_in(stage: Stage) -> bool:
    """Day 0 logs in as root; once role ssh is in force root cannot (ACC-02, SSH-01)."""
    key = root_key(stage)
    cmd = ssh_command(
        stage.ssh_config,
        *("-o", "BatchMode=yes", "-o", "ConnectTimeout=10", "-o", "ControlPath=none"),
        *("-l", "root"),
    )
    if key:
        cmd += ["-i", str(key)]
    proc = subprocess.run(
        [*cmd, stage.bastion.name, "true"], capture_output=True, timeout=60, check=False
    )
    return proc.returncode == 0


def pyinfra_hosts(
    stage: Stage, phase: str, accept_new: bool = False, as_admin: bool = False
) -> list[tuple[str, dict]]:
    """The hosts of one phase, `bastion` (reached directly) or `inner` (through the bastion).

    Day 0 logs in as root with the initial key (OTAP_ROOT_KEY: the provider's, or the lab's);
    a host hardened already is reached as the admin with sudo (`as_admin`).
    """
    admins = stage.admins()
    bastion = stage.bastion.name
    key = root_key(stage)
    out = []
    for name in sorted(stage.hosts):
        if (phase == "bastion") != (name == bastion):
            continue
        data = {
            "groups": list(stage.hosts[name].groups),
            "ssh_hostname": name,
            "ssh_user": "root",
            "ssh_config_file": str(stage.ssh_config),
            "ssh_known_hosts_file": str(stage.known_hosts),
            "ssh_strict_host_key_checking": "accept-new" if accept_new else "yes",
            "admins": admins,
            "admin_group": ADMIN_GROUP,
            "apt_proxy": stage.vars.get("apt_proxy") or "",
            "etc_hosts": etc_hosts(stage, name),
            "host_keys_dir": str(stage.host_keys),
        }
        if as_admin:
            # A hardened host: root cannot log in and paramiko speaks none of its key exchanges,
            # so day 0 runs again as the admin with sudo, through OpenSSH and the ssh_config.
            for k in [k for k in data if k.startswith("ssh_") and k != "ssh_config_file"]:
                del data[k]
            data["_sudo"] = True
            out.append((f"@otapssh/{name}", data))
            continue
        if key:
            data["ssh_key"] = str(key)
        out.append((name, data))
    return out


def parse_totals(output: str) -> dict[str, int]:
    """pyinfra's closing 'Grand total' row: hosts, changed (Success), errors, unchanged."""
    for line in reversed(output.splitlines()):
        if "Grand total" in line:
            cells = re.findall(r"(?<![\w-])(\d+|-)(?![\w-])", line.split("Grand total", 1)[1])
            values = [0 if c == "-" else int(c) for c in cells][:4]
            values += [0] * (4 - len(values))
            return dict(zip(("hosts", "changed", "errors", "unchanged"), values, strict=True))
    return {"hosts": 0, "changed": 0, "errors": 0, "unchanged": 0}


def run_phase(stage: Stage, phase: str, accept_new: bool, as_admin: bool = False) -> dict[str, int]:
    hosts = pyinfra_hosts(stage, phase, accept_new, as_admin)
    proc = run_deploy(stage, "bootstrap.py", hosts, log=f"bootstrap-{phase}")
    totals = parse_totals(proc.stdout + proc.stderr)
    if proc.returncode != 0 or totals["errors"]:
        tail = [ln for ln in (proc.stdout + proc.stderr).splitlines() if ln.strip()][-3:]
        raise OtapError(
            f"bootstrap of stage {stage.name} ({phase}) failed; see {stage.log(f'bootstrap-{phase}')}. "
            + " / ".join(t.strip() for t in tail)
        )
    return totals


def merge_host_keys(stage: Stage) -> bool:
    """Put the keys the hosts reported into known_hosts; a changed pinned key is an error."""
    pinned = sshconfig.read_known_hosts(stage)
    seen: dict[str, list[str]] = dict(pinned)
    for path in sorted(stage.host_keys.glob("*")):
        keys = [" ".join(line.split()[:2]) for line in path.read_text().splitlines() if line]
        if path.name in pinned and sorted(pinned[path.name]) != sorted(keys):
            raise OtapError(
                f"host {path.name} of stage {stage.name} reports host keys other than the pinned "
                f"ones in {stage.known_hosts}; find out why before going on."
            )
        seen[path.name] = keys
    return sshconfig.write_known_hosts(stage, seen)


def bootstrap(stage: Stage, accept_new_host_keys: bool = False) -> int:
    stage_name = stage.name
    admins = stage.admins()
    if not admins or not all(a["key"] for a in admins):
        raise OtapError(
            f"stage {stage_name} needs at least one admin with an SSH public key in "
            f"inventories/{stage_name}/group_vars/all/stage.yml (admins)."
        )
    sshconfig.write(stage)
    started = time.monotonic()
    changed = 0
    as_admin = not root_can_log_in(stage)
    for phase in ("bastion", "inner"):
        totals = run_phase(stage, phase, accept_new_host_keys, as_admin)
        changed += totals["changed"]
        say(f"bootstrap {phase}: {totals['hosts']} operation runs, changed={totals['changed']}")
    merge_host_keys(stage)
    say(
        f"bootstrap of stage {stage_name} done in {time.monotonic() - started:.0f} s, "
        f"changed={changed}"
    )
    return 0
