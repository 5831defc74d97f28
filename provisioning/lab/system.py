"""Small helpers around processes and commands on the controller."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from provisioning.stage.errors import OtapError

# Debian package that brings each command the lab needs.
TOOLS = {
    "debootstrap": "debootstrap",
    "systemd-nspawn": "systemd-container",
    "apt-cacher-ng": "apt-cacher-ng",
    "ip": "iproute2",
    "ssh": "openssh-client",
    "ssh-keygen": "openssh-client",
    "nsenter": "util-linux",
}


def run(
    cmd: list[str], *, check: bool = True, quiet: bool = True, **kw
) -> subprocess.CompletedProcess:
    """Run a command (never through a shell); on failure raise with its last line of stderr."""
    proc = subprocess.run(cmd, text=True, capture_output=quiet, check=False, **kw)
    if check and proc.returncode != 0:
        detail = (proc.stderr or proc.stdout or "").strip().splitlines()
        raise OtapError(
            f"`{' '.join(cmd)}` failed (exit {proc.returncode}): "
            f"{detail[-1] if detail else 'no output'}"
        )
    return proc


def require_root(what: str) -> None:
    if os.geteuid() != 0:
        raise OtapError(f"{what} needs root (namespaces, mounts, containers); run it with sudo.")


def ensure_tools(install: bool = True) -> None:
    """Install the Debian packages of missing lab tools, or say how to."""
    missing = sorted({pkg for tool, pkg in TOOLS.items() if not shutil.which(tool)})
    if not missing:
        return
    hint = f"apt-get install {' '.join(missing)}"
    if not install or not shutil.which("apt-get"):
        raise OtapError(f"the lab needs {', '.join(missing)}; install them with: {hint}")
    print(f"installing Debian packages the lab needs: {' '.join(missing)}", flush=True)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    ok = subprocess.run(["apt-get", "update", "-q"], capture_output=True, env=env).returncode == 0
    ok = ok and (
        subprocess.run(
            ["apt-get", "install", "-y", "-q", "--no-install-recommends", *missing],
            capture_output=True,
            env=env,
        ).returncode
        == 0
    )
    still = sorted({pkg for tool, pkg in TOOLS.items() if not shutil.which(tool)})
    if not ok or still:
        raise OtapError(
            f"could not install {', '.join(still or missing)}; install them with: {hint}"
        )


def check_disk(path: Path, need_bytes: int, what: str) -> None:
    probe = path
    while not probe.exists():
        probe = probe.parent
    free = shutil.disk_usage(probe).free
    if free < need_bytes:
        raise OtapError(
            f"the disk holding {path} is full ({free // 2**20} MiB free, {what} needs "
            f"{need_bytes // 2**20} MiB); free some space and try again."
        )


def cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def alive(pid: int | None, marker: str | None = None) -> bool:
    """True when pid runs and (if marker is given) its command line contains marker."""
    if not pid:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    if stat.rsplit(")", 1)[-1].split()[0] == "Z":
        return False
    return marker is None or marker in " ".join(cmdline(pid))


def read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def stop_pid(pid: int | None, marker: str, timeout: float = 20.0) -> None:
    """SIGTERM a process we started (checked by marker), then SIGKILL it after timeout."""
    if pid is None or not alive(pid, marker):
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive(pid, marker):
            return
        time.sleep(0.2)
    if alive(pid, marker):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            return
        for _ in range(50):
            if not alive(pid):
                return
            time.sleep(0.1)


def container_processes(path: Path, env: str = "OTAP_LAB_HOST") -> list[int]:
    """PIDs of containers made from under path: their init carries env=<host dir under path>.

    /proc/PID/root cannot tell (a container's root reads as "/"), so the lab marks each
    container's init with an environment variable; killing that init ends the container's
    whole PID namespace.
    """
    out = []
    prefix = f"{env}={path.resolve()}/".encode()
    exact = f"{env}={path.resolve()}".encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if any(v == exact or v.startswith(prefix) for v in environ.split(b"\0")):
            out.append(int(entry.name))
    return out


def mounts_under(path: Path) -> list[str]:
    """Mount points under path, deepest first (from /proc/self/mountinfo)."""
    prefix = str(path.resolve())
    points = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4].replace("\\040", " ")
        if point == prefix or point.startswith(prefix + "/"):
            points.append(point)
    return sorted(set(points), key=len, reverse=True)


def processes_mentioning(text: str, program: str = "ssh") -> list[int]:
    """PIDs of `program` processes whose command line contains text (never this process)."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            comm = (entry / "comm").read_text().strip()
        except OSError:
            continue
        if comm == program and text in " ".join(cmdline(int(entry.name))):
            out.append(int(entry.name))
    return out
