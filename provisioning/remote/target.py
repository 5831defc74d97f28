"""Commands on a stage's hosts from here, with Fabric carried by OpenSSH.

Every connection is a Fabric Connection over OpenSSH (fabric_openssh.py: paramiko speaks none of
the hardened hosts' key exchanges) with the stage's one ssh_config: ProxyJump through the bastion
and the stage's pinned known_hosts, so an unknown host key is refused, never added. Commands run
as the admin, with sudo unless asked otherwise.
"""

from __future__ import annotations

import io
import socket
import ssl
import time
from dataclasses import dataclass

from provisioning.stage import OtapError, Stage, sshconfig


@dataclass
class Target:
    """One host of a stage and the connection to it."""

    stage: Stage
    host: str
    conn: object  # fabric.Connection


def targets(stage: Stage, names: list[str]) -> list[Target]:
    return [Target(stage, name, connect(stage, name)) for name in names]


def connect(stage: Stage, host: str):
    """A Fabric connection through the stage's ssh_config (ProxyJump, pinned host keys only)."""
    from provisioning.remote.fabric_openssh import OpenSSHConnection

    known = stage.known_hosts
    if not known.is_file():
        raise OtapError(
            f"stage {stage.name} has no pinned host keys ({known}); run `otap stage "
            f"bootstrap {stage.name}` first."
        )
    return OpenSSHConnection(host, sshconfig.write(stage), connect_timeout=15)


def unreachable(stage: Stage, host: str, exc: Exception) -> OtapError:
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return OtapError(
        f"stage {stage.name} is unreachable: cannot reach {host} through "
        f"{stage.bastion.name} ({reason}); check that the stage is up and your SSH key."
    )


def run(
    target: Target,
    command: str,
    sudo: bool = True,
    check: bool = True,
    stdin: str = "",
    show: bool = False,
):
    """COMMAND on the target's host; RemoteFailure if it fails and `check`, else its Result.

    `show` lets its output through to the terminal as it comes.
    """
    from invoke.exceptions import UnexpectedExit

    full = f"sudo -n {command}" if sudo else command
    try:
        stream = io.StringIO(stdin) if stdin else False
        return target.conn.run(full, hide=not show, warn=not check, in_stream=stream)
    except UnexpectedExit as exc:
        raise RemoteFailure(exc.result) from exc
    except (OSError, EOFError) as exc:
        raise unreachable(target.stage, target.host, exc) from exc


class RemoteFailure(Exception):
    def __init__(self, result):
        super().__init__(result.stdout)
        self.result = result

    @property
    def line(self) -> str:
        text = (self.result.stdout.strip() or self.result.stderr.strip()).splitlines()
        return text[-1] if text else f"exit status {self.result.exited}"


def web_targets(stage: Stage) -> list[Target]:
    return targets(stage, stage.groups.get("web") or [])


def health_once(stage: Stage, address: str, timeout: float = 5.0) -> tuple[bool, str]:
    """GET https://<public name>/healthz from here, connecting to the web host's address."""
    name = str(stage.vars.get("public_name") or address)
    context = ssl.create_default_context(
        cafile=str(stage.ca_cert) if stage.lab and stage.ca_cert.is_file() else None
    )
    try:
        with (
            socket.create_connection((address, 443), timeout=timeout) as raw,
            context.wrap_socket(raw, server_hostname=name) as tls,
        ):
            tls.sendall(
                f"GET /healthz HTTP/1.1\r\nHost: {name}\r\nConnection: close\r\n\r\n".encode()
            )
            data = b""
            while chunk := tls.recv(4096):
                data += chunk
    except (OSError, ssl.SSLError) as exc:
        return False, str(exc) or type(exc).__name__
    status = data.split(b"\r\n", 1)[0].decode(errors="replace")
    body = data.split(b"\r\n\r\n", 1)[-1]
    if " 200 " in status + " " and body.strip() == b"ok":
        return True, status
    return False, status or "no answer"


def healthy(stage: Stage, address: str, seconds: float = 45, needed: int = 3) -> tuple[bool, str]:
    """`needed` good answers in a row within `seconds`."""
    deadline = time.monotonic() + seconds
    good, last = 0, "no answer"
    while time.monotonic() < deadline:
        ok, last = health_once(stage, address)
        good = good + 1 if ok else 0
        if good >= needed:
            return True, last
        time.sleep(0.5 if ok else 1.0)
    return False, last
