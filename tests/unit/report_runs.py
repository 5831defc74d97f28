"""Verify runs for the report's tests: a run folder made by our own code from a junit file."""

from __future__ import annotations

import json
from pathlib import Path

from provisioning.report import build, runs
from provisioning.stage import load_stage
from provisioning.stage.paths import REPO

FIXTURE = REPO / "tests" / "fixtures" / "report" / "junit.xml"
SCHEMA = json.loads((REPO / "provisioning" / "report" / "schema.json").read_text())
STARTED = 1796526900.0  # 2026-12-06T03:15:00Z


def make_run(
    stage_name: str = "development",
    junit: str | None = None,
    started: float = STARTED,
    releases: dict | None = None,
    lang: str = "en",
) -> Path:
    """A run folder of STAGE under OTAP_STATE_ROOT with JUNIT (default: the fixture), built by
    build.build as verify builds it, and made the latest."""
    stage = load_stage(stage_name)
    run = runs.new_run(stage.reports, started)
    (run / build.JUNIT).write_text(FIXTURE.read_text() if junit is None else junit)
    build.build(stage, run, started, started + 41, 1, releases, lang)
    runs.set_latest(run)
    return run


def report_of(run: Path) -> dict:
    return json.loads((run / build.REPORT).read_text())


def control(report: dict, cid: str) -> dict:
    return next(c for c in report["controls"] if c["id"] == cid)
