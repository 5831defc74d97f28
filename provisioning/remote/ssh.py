"""OpenSSH with the stage's one config: every host through the bastion, host keys pinned."""

from __future__ import annotations

import subprocess
from pathlib import Path

from provisioning.stage import OtapError, Stage


def ssh_command(config: Path, *options: str) -> list[str]:
    """`ssh -F CONFIG OPTIONS…`: the start of every ssh command otap runs."""
    return ["ssh", "-F", str(config), *options]


def run_on(stage: Stage, host: str, command: str, timeout: float = 300) -> str:
    """Run COMMAND on HOST as the admin and return its output; one sentence if it fails."""
    proc = subprocess.run(
        [*ssh_command(stage.ssh_config), host, command],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if proc.returncode != 0:
        raise OtapError(f"cannot read {host} of stage {stage.name}: {proc.stderr.strip()[-200:]}")
    return proc.stdout


def close_masters(stage: Stage) -> None:
    """End the stage's shared SSH connections (ControlMaster), so that the next connection is new.

    A shared connection keeps the sshd settings it was opened under: after converge changed sshd
    (ForceCommand on the bastion, algorithms), verify must see what a new connection sees.
    """
    folder = stage.control_dir
    if not folder.is_dir() or not any(folder.iterdir()):
        return
    for host in stage.hosts.values():
        subprocess.run(
            [*ssh_command(stage.ssh_config), "-O", "exit", host.name],
            capture_output=True,
            timeout=15,
            check=False,
        )
