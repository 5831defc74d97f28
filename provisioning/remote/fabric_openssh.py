"""A Fabric Connection whose commands and uploads travel over OpenSSH.

Fabric's own transport is paramiko, which offers none of the post-quantum hybrid key exchanges
that role ssh allows (SSH-02: ssh-audit warns about every other one), so it cannot reach a
hardened host. This Connection keeps Fabric's interface (`run`, `sudo`-free `run`, `put`, the
invoke `Result` and `UnexpectedExit`) and carries each call with `ssh -F <ssh_config> HOST` and
`scp -F <ssh_config>`: the stage's one SSH path, shared with Ansible, pyinfra and testinfra
(ProxyJump through the bastion, pinned host keys, connection sharing).
"""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

from fabric import Connection
from invoke import Context
from invoke.exceptions import UnexpectedExit

from provisioning.remote.ssh import ssh_command


class OpenSSHConnection(Connection):
    """fabric.Connection for HOST of an ssh_config; nothing goes through paramiko."""

    def __init__(self, host: str, ssh_config: Path, connect_timeout: int = 15):
        super().__init__(host, connect_timeout=connect_timeout)
        self.ssh_config = Path(ssh_config)
        self.timeout = connect_timeout

    def _ssh(self) -> list[str]:
        return ssh_command(
            self.ssh_config, "-o", "BatchMode=yes", "-o", f"ConnectTimeout={self.timeout}"
        )

    def open(self):  # paramiko is never opened: each call is an OpenSSH process
        return None

    def run(self, command: str, **kwargs):
        """Run COMMAND on the host with Fabric's semantics (hide, warn, in_stream, Result)."""
        line = shlex.join([*self._ssh(), self.original_host, "--", command])
        warn = kwargs.pop("warn", False)
        kwargs.setdefault("in_stream", False)  # never the terminal's stdin unless given
        result = Context.run(self, line, warn=True, **kwargs)
        if result.exited == 255:  # ssh itself failed: the host was not reached
            lines = (result.stderr or "").strip().splitlines()
            raise OSError(lines[-1] if lines else f"ssh to {self.original_host} failed")
        if not result.ok and not warn:
            raise UnexpectedExit(result)
        return result

    def put(self, local, remote: str):
        """Upload a local path or a file-like object to REMOTE (a path on the host)."""
        if hasattr(local, "read"):
            data = local.read()
            data = data.encode() if isinstance(data, str) else data
            return self._write(data, remote)
        proc = subprocess.run(
            [
                "scp",
                "-q",
                "-F",
                str(self.ssh_config),
                "-o",
                "BatchMode=yes",
                str(local),
                f"{self.original_host}:{remote}",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            raise OSError(proc.stderr.strip() or f"scp of {local} failed")
        return None

    def _write(self, data: bytes, remote: str):
        proc = subprocess.run(
            [*self._ssh(), self.original_host, "--", f"cat > {shlex.quote(remote)}"],
            input=data,
            capture_output=True,
            check=False,
        )
        if proc.returncode != 0:
            raise OSError(
                proc.stderr.decode(errors="replace").strip() or f"upload to {remote} failed"
            )
        return None
