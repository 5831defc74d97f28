"""`otap stage verify STAGE`: the testinfra suites of tests/infra against every host of a stage.

They go through the stage's one ssh_config (ProxyJump through the bastion, pinned host keys) as
the admin account; each test carries the control id it verifies (pytest marker `control`).
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
    return f"verify of stage {stage.name} failed: {why}; report {stage.verify_report}."


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
) -> int:
    """pytest's exit status (PYTEST_EXIT). OUTPUT: where pytest's own output goes when not
    quiet (a file with a descriptor: sys.stderr under --json); None, this terminal."""
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
    report = stage.verify_report
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
        f"--junitxml={report}",
        *extra,
    ]
    env = {**os.environ, "OTAP_STAGE": stage_name}
    started = time.monotonic()
    where = {"capture_output": True} if quiet else {"stdout": output}
    proc = subprocess.run(cmd, cwd=REPO, env=env, check=False, text=True, **where)
    say(
        f"verify of stage {stage_name}: {'passed' if proc.returncode == 0 else 'FAILED'} "
        f"in {time.monotonic() - started:.0f} s (report {report})"
    )
    return proc.returncode
