"""Benchmark: offsite backups on the lab (db1 → backup1 over TLS), with the demo data scaled up.

    .venv/bin/python benchmarks/backup_lab.py [--messages 100000]

Needs the development stage up with the app deployed (`otap up`). Makes Carla's dialogue hold
--messages extra messages (seed_demo on web1), then times, through `otap backup now|restore development`:
the first backup after the growth, a second (incremental) one with nothing changed, a restore
into a new database beside the live one (the RTO of the database, without the switch), and
reads the repository's size on backup1. Prints the figures with the machine; asserts nothing.
The restored copy is dropped afterwards; the extra messages stay unless they were already there
(seed_demo only adds what is missing). scripts/bench-backup.py measures the wrapper alone against
a local repository.
"""

import argparse
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
STAGE = "development"


def otap(*args: str) -> tuple[float, str]:
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "provisioning.cli", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=3600,
        check=False,
    )
    took = time.monotonic() - started
    if proc.returncode != 0:
        sys.exit(f"otap {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    return took, proc.stdout


def ssh(config: Path, host: str, command: str) -> str:
    proc = subprocess.run(
        ["ssh", "-F", str(config), host, command],
        capture_output=True,
        text=True,
        timeout=3600,
        check=False,
    )
    if proc.returncode != 0:
        sys.exit(f"ssh {host} {command!r} failed: {proc.stderr.strip()}")
    return proc.stdout


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=100_000)
    args = parser.parse_args()
    from provisioning.stage import load_stage

    stage = load_stage(STAGE)
    config = stage.ssh_config
    if not config.is_file():
        sys.exit(f"stage {STAGE} is not up ({config} is missing); run `otap up` first.")

    print(f"seeding Carla's dialogue up to {args.messages} extra messages on web1 …", flush=True)
    started = time.monotonic()
    ssh(config, "web1", f"sudo safecoach-manage seed_demo --messages {args.messages}")
    seeded = time.monotonic() - started
    size_db = ssh(
        config,
        "db1",
        "sudo -u postgres psql -X -tA -d safecoach -c \"SELECT pg_size_pretty(pg_database_size('safecoach')), "
        '(SELECT count(*) FROM coaching_message)"',
    ).strip()

    def repo_size() -> str:
        return ssh(config, "backup1", "sudo du -sh /srv/restic/db1").split()[0]

    before = repo_size()
    first, _ = otap("backup", "now", STAGE)
    after_first = repo_size()
    second, _ = otap("backup", "now", STAGE)
    after_second = repo_size()
    name = f"safecoach_bench_{int(time.time())}"
    restore, _ = otap("backup", "restore", STAGE, "--as", name)
    ssh(config, "db1", f"sudo -u postgres psql -X -q -c 'DROP DATABASE IF EXISTS {name}'")

    cpus = os.cpu_count()
    load = os.getloadavg()[0]
    print(f"\nmachine: {platform.node()}, {cpus} CPUs, load {load:.1f}, {platform.platform()}")
    print(
        f"lab: db1 → backup1 (restic over TLS to restic-rest-server), seeding took {seeded:.0f} s"
    )
    print(f"database: {size_db.replace('|', ', messages: ')}")
    print(f"{'figure':<44} {'seconds':>8}  repository on backup1")
    print(f"{'first backup after the growth':<44} {first:8.1f}  {before} → {after_first}")
    print(f"{'second backup, nothing changed (incremental)':<44} {second:8.1f}  → {after_second}")
    print(f"{'restore into a new database (RTO, no switch)':<44} {restore:8.1f}")
    print("(each figure includes otap's SSH round trips through the bastion, about 1–2 s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
