"""`otap bootstrap STAGE`: day 0 with pyinfra, the bastion first, then the hosts behind it."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from provisioning import sshconfig
from provisioning.errors import OtapError
from provisioning.inventory import Stage, load_stage
from provisioning.paths import REPO

ADMIN_GROUP = "admins"
DEPLOY = Path(__file__).resolve().parent / "deploys" / "bootstrap.py"
INVENTORY = Path(__file__).resolve().parent / "deploys" / "inventory.py"


def root_key(stage: Stage) -> Path | None:
    """The initial root key: the lab's own, or $OTAP_ROOT_KEY (else the SSH agent)."""
    if os.environ.get("OTAP_ROOT_KEY"):
        return Path(os.environ["OTAP_ROOT_KEY"])
    if stage.lab:
        return stage.state_dir / "keys" / "root_ed25519"
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


def host_keys_dir(stage: Stage) -> Path:
    return stage.state_dir / "hostkeys"


def root_can_log_in(stage: Stage) -> bool:
    """Day 0 logs in as root; once role ssh is in force root cannot (ACC-02, SSH-01)."""
    key = root_key(stage)
    cmd = ["ssh", "-F", str(sshconfig.config_path(stage)), "-o", "BatchMode=yes",
           "-o", "ConnectTimeout=10", "-o", "ControlPath=none", "-l", "root"]  # fmt: skip
    if key:
        cmd += ["-i", str(key)]
    proc = subprocess.run(
        [*cmd, stage.bastion.name, "true"], capture_output=True, timeout=60, check=False
    )
    return proc.returncode == 0


def pyinfra_hosts(stage_name: str, phase: str) -> tuple[Stage, list[tuple[str, dict]]]:
    stage = load_stage(stage_name)
    as_admin = os.environ.get("OTAP_BOOTSTRAP_AS") == "admin"
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
            "ssh_config_file": str(sshconfig.config_path(stage)),
            "ssh_known_hosts_file": str(sshconfig.known_hosts_path(stage)),
            "ssh_strict_host_key_checking": os.environ.get("OTAP_STRICT_HOST_KEYS", "yes"),
            "admins": admins,
            "admin_group": ADMIN_GROUP,
            "apt_proxy": stage.vars.get("apt_proxy") or "",
            "etc_hosts": etc_hosts(stage, name),
            "host_keys_dir": str(host_keys_dir(stage)),
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
    return stage, out


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
    pyinfra = shutil.which("pyinfra", path=str(Path(sys.executable).parent)) or "pyinfra"
    env = {
        **os.environ,
        "OTAP_STAGE": stage.name,
        "OTAP_BOOTSTRAP_PHASE": phase,
        "OTAP_STRICT_HOST_KEYS": "accept-new" if accept_new else "yes",
        "OTAP_BOOTSTRAP_AS": "admin" if as_admin else "root",
        "PYTHONUNBUFFERED": "1",
    }
    cmd = [pyinfra, "-y", "--no-wait", str(INVENTORY), str(DEPLOY)]
    proc = subprocess.run(cmd, env=env, cwd=REPO, text=True, capture_output=True, check=False)
    log = stage.state_dir / f"bootstrap-{phase}.log"
    log.write_text(proc.stdout + proc.stderr)
    totals = parse_totals(proc.stdout + proc.stderr)
    if proc.returncode != 0 or totals["errors"]:
        tail = [ln for ln in (proc.stdout + proc.stderr).splitlines() if ln.strip()][-3:]
        raise OtapError(
            f"bootstrap of stage {stage.name} ({phase}) failed; see {log}. "
            + " / ".join(t.strip() for t in tail)
        )
    return totals


def merge_host_keys(stage: Stage) -> bool:
    """Put the keys the hosts reported into known_hosts; a changed pinned key is an error."""
    pinned = sshconfig.read_known_hosts(stage)
    seen: dict[str, list[str]] = dict(pinned)
    for path in sorted(host_keys_dir(stage).glob("*")):
        keys = [" ".join(line.split()[:2]) for line in path.read_text().splitlines() if line]
        if path.name in pinned and sorted(pinned[path.name]) != sorted(keys):
            raise OtapError(
                f"host {path.name} of stage {stage.name} reports host keys other than the pinned "
                f"ones in {sshconfig.known_hosts_path(stage)}; find out why before going on."
            )
        seen[path.name] = keys
    return sshconfig.write_known_hosts(stage, seen)


def bootstrap(stage_name: str, accept_new_host_keys: bool = False) -> int:
    from provisioning import lab

    stage = load_stage(stage_name)
    lab.require_up(stage)
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
        print(
            f"==> bootstrap {phase}: {totals['hosts']} operation runs, changed={totals['changed']}",
            flush=True,
        )
    merge_host_keys(stage)
    print(
        f"==> bootstrap of stage {stage_name} done in {time.monotonic() - started:.0f} s, "
        f"changed={changed}",
        flush=True,
    )
    return 0
