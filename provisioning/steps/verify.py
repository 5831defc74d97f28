"""`otap stage verify STAGE`: the testinfra suites of tests/infra against every host of a stage.

They go through the stage's one ssh_config (ProxyJump through the bastion, pinned host keys) as
the admin account; each test carries the control id it verifies (pytest marker `control`) and
records the control, its host and its evidence as junit properties (provisioning/report/results.py).
Every run is kept: stage.reports/<UTC time>/ with junit.xml, report.json and report.html, and
stage.reports/latest links the newest (provisioning/report/).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

from provisioning.remote.progress import say
from provisioning.remote.ssh import close_masters
from provisioning.report import build, runs
from provisioning.stage import Stage, UsageError, sshconfig
from provisioning.stage.paths import REPO

# pytest's exit statuses (pytest.ExitCode); otap turns every one but 0 into its own 1
PYTEST_EXIT = {
    1: "some controls do not hold",
    2: "the run was interrupted",
    3: "pytest failed internally",
    4: "pytest was called wrongly (see the arguments after --)",
    5: "no test was collected",
}


def failure(stage: Stage, returncode: int) -> str:
    """One sentence for a failed verify: pytest's exit status in words, and the report."""
    why = PYTEST_EXIT.get(returncode, f"pytest exited with status {returncode}")
    return f"verify of stage {stage.name} failed: {why}; report {latest_html(stage)}."


def latest_html(stage: Stage) -> Path:
    """report.html of the newest run, by its own folder's name (the `latest` link resolved)."""
    return (stage.reports / runs.LATEST).resolve() / build.HTML


# pytest's default junit family (xunit2) warns that it does not take record_property: the
# tests' control, host and evidence properties (provisioning/report/results.py) need xunit1.
JUNIT_FAMILY = ("-o", "junit_family=xunit1")

JUNIT_COUNTS = (
    ("tests", "tests"),
    ("failed", "failures"),
    ("errors", "errors"),
    ("skipped", "skipped"),
)
_HOST = re.compile(r"\[(?:ssh://|paramiko://|local://)?(?P<host>[A-Za-z0-9_.-]+?)(?:-|\])")


def summary(stage: Stage, returncode: int, report: Path | None = None) -> dict:
    """`otap stage verify --json`: the counts and failed tests of the junit report."""
    report = report or stage.verify_report
    info: dict = {
        "stage": stage.name,
        "ok": returncode == 0,
        "pytest_exit": returncode,
        "report": str(report),
        "html": str(latest_html(stage)),
        "seconds": None,
        "tests": 0,
        "passed": 0,
        "failed": 0,
        "errors": 0,
        "skipped": 0,
        "failures": [],
    }
    try:
        root = ET.parse(report).getroot()  # noqa: S314 (written by our own pytest run)
    except (OSError, ET.ParseError):
        return info
    suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
    for suite in suites:
        info["seconds"] = round((info["seconds"] or 0) + float(suite.get("time", 0)), 1)
        for key, attribute in JUNIT_COUNTS:
            info[key] += int(suite.get(attribute, 0))
        for case in suite.iter("testcase"):
            bad = case.find("failure")
            bad = case.find("error") if bad is None else bad
            if bad is None:
                continue
            name = case.get("name", "")
            host = _HOST.search(name)
            info["failures"].append(
                {
                    "test": f"{case.get('classname', '')}::{name}",
                    "host": host["host"] if host else None,
                    "message": ((bad.get("message") or "").strip().splitlines() or [""])[0],
                }
            )
    info["passed"] = info["tests"] - info["failed"] - info["errors"] - info["skipped"]
    return info


def verify(
    stage: Stage,
    extra: list[str] | None = None,
    quiet: bool = False,
    limit: str | None = None,
    output=None,
    releases: dict[str, str | None] | None = None,
    lang: str = "en",
) -> int:
    """pytest's exit status (PYTEST_EXIT). OUTPUT: where pytest's own output goes when not
    quiet (a file with a descriptor: sys.stderr under --json); None, this terminal. RELEASES:
    {web host: its current release} for the report (releases/record.current_on_hosts); None,
    the report says they were not read. LANG: the language of report.html (en, nl)."""
    stage_name = stage.name
    config = sshconfig.write(stage)
    close_masters(stage)  # verify what a new connection meets
    names = sorted(stage.hosts)
    if limit:
        wanted = {part.strip() for part in limit.split(",") if part.strip()}
        unknown = wanted - set(names) - set(stage.groups)
        if unknown:
            raise UsageError(
                f"stage {stage_name} has no host or group {', '.join(sorted(unknown))}."
            )
        names = [n for n in names if n in wanted or set(stage.hosts[n].groups) & wanted]
    hosts = ",".join(f"ssh://{name}" for name in names)
    started = time.time()
    run = runs.new_run(stage.reports, started)
    junit = run / build.JUNIT
    extra = [a for a in (extra or []) if a != "--"]
    # Suites named after `--` (tests/infra/test_base.py …) replace the whole folder.
    suites = [a for a in extra if a.startswith("tests/infra/")]
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        *([] if suites else [str(REPO / "tests" / "infra")]),
        f"--hosts={hosts}",
        f"--ssh-config={config}",
        # the suite's root conftest loads the app's test world (Django models): not here
        f"--confcutdir={REPO / 'tests' / 'infra'}",
        "-p",
        "no:cacheprovider",
        "-W",
        "ignore::pytest.PytestConfigWarning",
        "-q",
        f"--junitxml={junit}",
        *JUNIT_FAMILY,
        *extra,
    ]
    env = {**os.environ, "OTAP_STAGE": stage_name}
    where = {"capture_output": True} if quiet else {"stdout": output}
    proc = subprocess.run(cmd, cwd=REPO, env=env, check=False, text=True, **where)
    finished = time.time()
    runs.set_latest(run)
    say(
        f"verify of stage {stage_name}: {'passed' if proc.returncode == 0 else 'FAILED'} "
        f"in {finished - started:.0f} s"
    )
    clock = time.monotonic()
    build.build(stage, run, started, finished, proc.returncode, releases, lang)
    say(f"report {run / build.HTML} (built in {time.monotonic() - clock:.1f} s)")
    return proc.returncode
