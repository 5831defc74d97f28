"""Prometheus textfile metrics for node_exporter's textfile collector.

One file, safecoach_backup.prom, holds the latest figures of every command (run, check, drill).
A command rewrites only its own rows: the others, and its own last-success timestamp when it
failed, are carried over from the previous file. Writes are atomic (write_to_textfile renames a
temporary file) and serialised with a lock file.
"""

from __future__ import annotations

import fcntl
import time
from dataclasses import dataclass
from pathlib import Path

from prometheus_client import CollectorRegistry, Gauge, write_to_textfile
from prometheus_client.parser import text_string_to_metric_families

FILENAME = "safecoach_backup.prom"
PREFIX = "safecoach_backup"
COMMANDS = ("run", "check", "drill")

# name: (help, carried over when the command fails)
GAUGES: dict[str, tuple[str, bool]] = {
    "last_run_timestamp_seconds": ("When the command last finished (Unix time).", False),
    "last_success_timestamp_seconds": ("When the command last succeeded (Unix time).", True),
    "success": ("1 if the command's last run succeeded, else 0.", False),
    "exit_status": ("Exit status of the command's last run (see docs/backup.md).", False),
    "duration_seconds": ("How long the command's last run took.", False),
    "bytes_added": ("Bytes the last backup run added to the repository (before packing).", True),
    "files_new": ("New files in the last backup run's snapshots.", True),
    "snapshots_total": ("Snapshots the last successful backup run created.", True),
}


@dataclass
class Sample:
    command: str
    success: bool
    exit_status: int
    duration: float
    bytes_added: float | None = None
    files_new: float | None = None
    snapshots: float | None = None
    finished: float | None = None


def read_previous(path: Path) -> dict[tuple[str, str], float]:
    """{(gauge, command): value} from an earlier file; empty if there is none or it is garbled."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return {}
    values: dict[tuple[str, str], float] = {}
    try:
        for family in text_string_to_metric_families(text):
            for s in family.samples:
                if s.name.startswith(PREFIX + "_") and "command" in s.labels:
                    values[(s.name[len(PREFIX) + 1 :], s.labels["command"])] = s.value
    except ValueError:
        return {}
    return values


def merge(previous: dict[tuple[str, str], float], sample: Sample) -> dict[tuple[str, str], float]:
    """The new set of values: previous ones, with this command's rows replaced."""
    now = sample.finished if sample.finished is not None else time.time()
    values = {k: v for k, v in previous.items() if k[1] != sample.command}
    cmd = sample.command
    fresh = {
        "last_run_timestamp_seconds": now,
        "success": 1.0 if sample.success else 0.0,
        "exit_status": float(sample.exit_status),
        "duration_seconds": sample.duration,
    }
    if sample.success:
        fresh["last_success_timestamp_seconds"] = now
        if sample.bytes_added is not None:
            fresh["bytes_added"] = sample.bytes_added
        if sample.files_new is not None:
            fresh["files_new"] = sample.files_new
        if sample.snapshots is not None:
            fresh["snapshots_total"] = sample.snapshots
    for name, (_help, carried) in GAUGES.items():
        if name in fresh:
            values[(name, cmd)] = fresh[name]
        elif carried and (name, cmd) in previous:
            values[(name, cmd)] = previous[(name, cmd)]
    return values


def write(directory: Path, sample: Sample) -> Path:
    """Record sample in directory/FILENAME and return the file's path."""
    directory = Path(directory)
    path = directory / FILENAME
    with open(directory / f".{FILENAME}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        values = merge(read_previous(path), sample)
        registry = CollectorRegistry()
        gauges = {
            name: Gauge(f"{PREFIX}_{name}", helptext, ["command"], registry=registry)
            for name, (helptext, _c) in GAUGES.items()
        }
        for (name, cmd), value in sorted(values.items()):
            if name in gauges:
                gauges[name].labels(command=cmd).set(value)
        write_to_textfile(str(path), registry)
        path.chmod(0o644)
    return path
