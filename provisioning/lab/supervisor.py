"""One supervisor per lab host: boots the container and brings it back after a reboot.

systemd-nspawn exits with status 133 when the container reboots; systemd-nspawn@.service would
restart it, but the controller (and CI) may have no systemd. This process does that job: it
recreates the host's network namespace (so nothing, iptables rules included, survives a reboot
that would not survive one on real hardware), starts systemd-nspawn again and keeps its PID in
the host's state folder. SIGTERM stops the container cleanly (nspawn turns it into a poweroff).

Run by `otap lab up`: python -m provisioning.lab.supervisor --host-dir <state>/hosts/<host>
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from provisioning.lab import network

REBOOT = 133
HOST_ENV = "OTAP_LAB_HOST"
MAX_REBOOTS_PER_MINUTE = 5


def nspawn_command(record: dict) -> list[str]:
    return [
        "systemd-nspawn",
        f"--directory={record['root']}",
        "--boot",
        "--register=no",
        "--keep-unit",
        f"--machine={record['name']}",
        f"--network-namespace-path=/run/netns/{record['netns']}",
        "--capability=CAP_NET_ADMIN,CAP_NET_RAW",
        "--link-journal=no",
        "--timezone=off",
        "--console=read-only",
        # Marks the container's init, so `lab down` finds it even when nspawn was killed.
        f"--setenv={HOST_ENV}={Path(record['root']).parent}",
    ]


def log(host_dir: Path, text: str) -> None:
    with open(host_dir / "supervisor.log", "a") as out:
        out.write(time.strftime("%Y-%m-%dT%H:%M:%SZ ", time.gmtime()) + text + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host-dir", required=True, type=Path)
    args = parser.parse_args(argv)
    host_dir: Path = args.host_dir
    record = json.loads((host_dir / "host.json").read_text())
    stopping = False
    child: subprocess.Popen | None = None

    def on_term(signum, _frame):
        nonlocal stopping
        stopping = True
        if child is not None and child.poll() is None:
            child.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    reboots: list[float] = []
    code = 0
    while not stopping:
        try:
            network.setup_host(record)
        except Exception as exc:  # one line in the log, then the host counts as dead
            log(host_dir, f"could not set up the network namespace: {exc}")
            (host_dir / "exit-code").write_text("network\n")
            code = 1
            break
        with open(host_dir / "console.log", "ab") as console:
            child = subprocess.Popen(
                nspawn_command(record),
                stdin=subprocess.DEVNULL,
                stdout=console,
                stderr=subprocess.STDOUT,
            )
        (host_dir / "nspawn.pid").write_text(f"{child.pid}\n")
        log(host_dir, f"started systemd-nspawn, pid {child.pid}")
        code = child.wait()
        (host_dir / "nspawn.pid").unlink(missing_ok=True)
        if stopping:
            log(host_dir, f"stopped (exit {code})")
            code = 0
            break
        if code == REBOOT:
            now = time.monotonic()
            reboots = [t for t in reboots if now - t < 60] + [now]
            count = (
                int((host_dir / "reboots").read_text()) if (host_dir / "reboots").exists() else 0
            )
            (host_dir / "reboots").write_text(f"{count + 1}\n")
            if len(reboots) > MAX_REBOOTS_PER_MINUTE:
                log(host_dir, "rebooting in a loop; giving up")
                break
            log(host_dir, "container rebooted (exit 133); starting it again")
            continue
        log(host_dir, f"container exited with {code}; not restarting")
        (host_dir / "exit-code").write_text(f"{code}\n")
        break
    network.teardown_host(record)
    return code


if __name__ == "__main__":
    os.umask(0o022)
    sys.exit(main())
