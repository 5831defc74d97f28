"""The run folders of a stage: <state>/<stage>/reports/<UTC time>/, and `latest`, the newest.

A run is named by the time verify started (20261206T031500Z); nothing in it is ever written
again, except a report in another language that `otap report html` adds beside it.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from provisioning.stage import UsageError, stage_names
from provisioning.stage.paths import stage_dir

LATEST = "latest"
REPORT = "report.json"


def run_name(when: float) -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(when))


def new_run(reports: Path, when: float) -> Path:
    """A new, empty run folder under REPORTS, named after WHEN (a suffix when that is taken)."""
    reports.mkdir(parents=True, exist_ok=True)
    name, n = run_name(when), 1
    while True:
        folder = reports / (name if n == 1 else f"{name}-{n}")
        try:
            folder.mkdir()
            return folder
        except FileExistsError:
            n += 1


def set_latest(run: Path) -> None:
    """Point the `latest` link beside RUN at it (replaced in one step)."""
    link = run.parent / LATEST
    new = run.parent / f".{LATEST}.{os.getpid()}"
    new.unlink(missing_ok=True)
    new.symlink_to(run.name)
    os.replace(new, link)


def runs_of(stage: str) -> list[str]:
    """The run folder names of STAGE, oldest first."""
    reports = stage_dir(stage) / "reports"
    if not reports.is_dir():
        return []
    return sorted(p.name for p in reports.iterdir() if (p / REPORT).is_file() and p.name != LATEST)


def resolve(spec: str) -> Path:
    """The run folder SPEC names: a folder, a stage (its latest run) or STAGE@RUN."""
    path = Path(spec)
    if path.is_dir():
        if (path / REPORT).is_file():
            return path.resolve()
        raise UsageError(f"{spec} is no report run folder: it has no {REPORT}.")
    stage, _, run = spec.partition("@")
    if stage not in stage_names():
        raise UsageError(
            f"{spec!r} is neither a run folder nor a stage (or STAGE@RUN); "
            f"stages: {', '.join(stage_names())}."
        )
    folder = stage_dir(stage) / "reports" / (run or LATEST)
    if not (folder / REPORT).is_file():
        known = runs_of(stage)
        runs = f"its runs: {', '.join(known[-5:])}" if known else "it has none yet"
        raise UsageError(f"stage {stage} has no report run {run or LATEST} ({runs}).")
    return folder.resolve()
