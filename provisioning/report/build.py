"""report.json of one verify run: the catalogue's controls, each with its status per host.

Status per host, from the tests that ran there (worst first): failed, not_checked, passed;
not_applicable only when every test there was. A control's status is the same over its hosts.
A control no test of the run covered is not_checked (with why); on a lab stage, a control whose
catalogue entry says it does not apply in the lab is not_applicable there unless something
failed; a control with `not_ours` is another party's (`responsible`), with the document the
stage's inventory names for it (`audit_documents`). The schema is provisioning/report/schema.json.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import time
from pathlib import Path

from provisioning.report import catalogue, html
from provisioning.report.results import STAGE_WIDE, Result, read
from provisioning.stage import Stage
from provisioning.stage.paths import REPO

SCHEMA = "safecoach-report/1"
STATUSES = ("passed", "failed", "not_applicable", "not_checked", "not_ours")
# how bad a status is, for the worst over tests and hosts
RANK = {"not_applicable": 0, "passed": 1, "not_checked": 2, "failed": 3}
JUNIT, REPORT, HTML = "junit.xml", "report.json", "report.html"


def utc(when: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(when))


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def inventory_sha256(folder: Path) -> str:
    """The same as `cd FOLDER && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum
    | sha256sum`: every file, its path and content (the vault as the ciphertext it is)."""
    files = sorted(
        f"./{p.relative_to(folder).as_posix()}" for p in folder.rglob("*") if p.is_file()
    )
    lines = "".join(f"{sha256_file(folder / name)}  {name}\n" for name in files)
    return hashlib.sha256(lines.encode()).hexdigest()


def bundle() -> dict:
    """The commit of this checkout, and whether it has uncommitted changes (None: no git)."""

    def git(*args: str) -> str | None:
        try:
            proc = subprocess.run(
                ["git", *args], cwd=REPO, capture_output=True, text=True, check=False
            )
        except OSError:
            return None
        return proc.stdout.strip() if proc.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain") if commit else None
    return {"commit": commit, "dirty": None if status is None else bool(status)}


def _host_entry(results: list[Result]) -> dict:
    status = max((r.status for r in results), key=RANK.__getitem__)
    reasons = list(dict.fromkeys(r.reason for r in results if r.status == status and r.reason))
    return {
        "status": status,
        "reason": "; ".join(reasons) or None,
        "tests": [r.test for r in results],
        "evidence": [e | {"test": r.test} for r in results for e in r.evidence],
    }


def control_entry(control: dict, results: list[Result], lab: bool, documents: dict) -> dict:
    """One control of the report: its catalogue data, its status overall and per host."""
    entry = catalogue.shown(control) | {
        "status": None,
        "reason": None,
        "responsible": None,
        "document": None,
        "ci_tests": catalogue.ci_only(control),
        "hosts": {},
    }
    if control.get("not_ours"):
        return entry | {
            "status": "not_ours",
            "reason": control["not_ours"].strip(),
            "responsible": control.get("responsible"),
            "document": documents.get(control["id"]),
        }
    by_host: dict[str, list[Result]] = {}
    for result in results:
        by_host.setdefault(result.host, []).append(result)
    hosts = {host: _host_entry(mine) for host, mine in sorted(by_host.items())}
    lab_reason = catalogue.lab_reason(control) if lab else None
    if lab_reason and all(h["status"] != "failed" for h in hosts.values()):
        for host in hosts.values():
            host.update(status="not_applicable", reason=lab_reason)
        return entry | {"status": "not_applicable", "reason": lab_reason, "hosts": hosts}
    if not hosts:
        ci = entry["ci_tests"]
        ours = [t for t in control.get("verified_by") or [] if t not in ci]
        why = f"checked in CI only: {', '.join(ci)}" if ci and not ours else None
        return entry | {"status": "not_checked", "reason": why or "no test of this run covered it"}
    status = max((h["status"] for h in hosts.values()), key=RANK.__getitem__)
    reasons = [h["reason"] for h in hosts.values() if h["status"] == status and h["reason"]]
    reason = "; ".join(dict.fromkeys(reasons)) if status != "passed" else None
    return entry | {"status": status, "reason": reason or None, "hosts": hosts}


def summary(controls: list[dict]) -> dict:
    """Counts per policy section (in the catalogue's order) and over all."""

    def counts(mine: list[dict]) -> dict:
        failing = {h for c in mine for h, v in c["hosts"].items() if v["status"] == "failed"}
        return (
            {"controls": len(mine)}
            | {status: sum(c["status"] == status for c in mine) for status in STATUSES}
            | {"hosts_failed": sorted(failing)}
        )

    sections = list(dict.fromkeys(c["policy"] for c in controls))
    return {
        "sections": [
            {"policy": s} | counts([c for c in controls if c["policy"] == s]) for s in sections
        ],
        "totals": counts(controls),
    }


def report_data(
    stage: Stage,
    results: list[Result],
    controls: list[dict],
    started: float,
    finished: float,
    pytest_exit: int | None,
    releases: dict[str, str | None] | None,
) -> dict:
    """The content of report.json, but for `files` (what build() writes beside it)."""
    documents = stage.vars.get("audit_documents") or {}
    per_control: dict[str, list[Result]] = {}
    for result in results:
        for cid in dict.fromkeys(result.controls):
            per_control.setdefault(cid, []).append(result)
    entries = [
        control_entry(c, per_control.get(c["id"], []), stage.lab, documents) for c in controls
    ]
    web = sorted(stage.groups.get("web") or [])
    seen = {r.host for r in results}
    hosts = sorted((set(stage.hosts) | seen) - {STAGE_WIDE})
    if STAGE_WIDE in seen:
        hosts.append(STAGE_WIDE)  # last: the checks of the stage as a whole
    releases_note = None
    if releases is None:
        releases_note = "not read: the caller did not pass the web hosts' releases"
    inventory = stage.path.relative_to(REPO) if stage.path.is_relative_to(REPO) else stage.path
    return {
        "schema": SCHEMA,
        "stage": stage.name,
        "lab": stage.lab,
        "started": utc(started),
        "finished": utc(finished),
        "pytest_exit": pytest_exit,
        "bundle": bundle(),
        "releases": None if releases is None else {h: releases.get(h) for h in web},
        "releases_note": releases_note,
        "inventory": {"path": str(inventory), "sha256": inventory_sha256(stage.path)},
        "hosts": hosts,
        "controls": entries,
        "summary": summary(entries),
        "unknown_controls": sorted(set(per_control) - {c["id"] for c in controls}),
    }


def build(
    stage: Stage,
    run: Path,
    started: float,
    finished: float,
    pytest_exit: int | None,
    releases: dict[str, str | None] | None = None,
    lang: str = "en",
) -> dict:
    """Write report.html and report.json into RUN (beside its junit.xml); the report's data."""
    controls = catalogue.load()
    results = read(run / JUNIT, catalogue.controls_of_tests(controls))
    data = report_data(stage, results, controls, started, finished, pytest_exit, releases)
    data["lang"] = lang
    (run / HTML).write_text(html.render(data, lang))
    data["files"] = {
        name: sha256_file(run / name) for name in (JUNIT, HTML) if (run / name).is_file()
    }
    (run / REPORT).write_text(json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
    return data
