"""The app's test results for one commit, which the release built from that commit carries.

scripts/test writes them after the tests on SQLite, from pytest's junit file, under
`.test-results/` in the repository (git-ignored): `<commit>.json` for a checkout without
uncommitted changes, `<commit>-dirty.json` for one with them. `otap release build` copies the
file of its commit into the release as test-results.json; the hosts keep it beside the
release's manifest, where tests/infra/test_release_results.py reads it for the auditor's report.

    {"schema": "safecoach-test-results/1", "commit": SHA, "dirty": false,
     "written": "2026-12-06T03:15:00Z", "suite": the pytest command,
     "controls": {"APP-01": {"passed": 12, "failed": 0, "skipped": 0,
                             "tests": [the failed tests], "not_run": [verified_by entries
                             no test of the run matched]}, …},
     "totals": {"tests": …, "passed": …, "failed": …, "skipped": …}}

A control is in the file when its verified_by names tests outside tests/infra (the tests that run
in CI); a junit testcase counts for a control when an entry names its file, or its file and
function (parameters `name[…]` count for `name`). A file that failed to import counts as failed
for every entry in it.

    python -m provisioning.releases.test_results key
    python -m provisioning.releases.test_results record JUNIT [--suite TEXT] [--key KEY]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

from provisioning.releases.checkout import commit_and_dirty
from provisioning.report import catalogue
from provisioning.stage.errors import OtapError
from provisioning.stage.paths import REPO

SCHEMA = "safecoach-test-results/1"
FOLDER = REPO / ".test-results"
IN_RELEASE = "test-results.json"  # its name in a release folder and beside it on the hosts


def key(commit: str, dirty: bool) -> str:
    """The results' name for a checkout: its commit, with `-dirty` for uncommitted changes."""
    return commit + ("-dirty" if dirty else "")


def path_for(commit: str, dirty: bool, folder: Path = FOLDER) -> Path:
    return folder / f"{key(commit, dirty)}.json"


def checkout() -> tuple[str, bool]:
    """The commit of this checkout and whether it has uncommitted changes to tracked files
    (as the release build counts them)."""
    return commit_and_dirty("test results are kept per commit, so run the tests in a git checkout")


# ---- from junit to results ---------------------------------------------------------------------


def test_id(case: ET.Element) -> str:
    """`path::function[params]` (`path::Class::function[params]` in a class); a module that
    failed to import is its `path` alone."""
    classname, name = case.get("classname", ""), case.get("name", "")
    if not classname:  # a collection error: name is the module, dotted
        return case.get("file") or name.replace(".", "/") + ".py"
    path = case.get("file") or classname.replace(".", "/") + ".py"
    inner = classname.removeprefix(path.removesuffix(".py").replace("/", ".")).strip(".")
    return "::".join(part for part in (path, inner, name) if part)


def outcome(case: ET.Element) -> str:
    if case.find("failure") is not None or case.find("error") is not None:
        return "failed"
    return "skipped" if case.find("skipped") is not None else "passed"


def covers(entry: str, test: str) -> bool:
    """Whether a verified_by ENTRY names TEST (its parameters aside), or TEST is a whole file
    that holds the entry."""
    test = test.split("[", 1)[0]
    return test == entry or test.startswith(entry + "::") or entry.startswith(test + "::")


def read_cases(junit: Path) -> list[tuple[str, str]]:
    """(test id, outcome) of every testcase of JUNIT."""
    try:
        root = ET.parse(junit).getroot()  # noqa: S314 (written by our own pytest run)
    except (OSError, ET.ParseError) as exc:
        raise OtapError(
            f"{junit} is not a readable junit file ({exc}); run the tests again."
        ) from exc
    return [(test_id(case), outcome(case)) for case in root.iter("testcase")]


def control_results(control: dict, cases: list[tuple[str, str]]) -> dict:
    entries = catalogue.ci_only(control)
    mine = [(test, result) for test, result in cases if any(covers(e, test) for e in entries)]
    return {
        "passed": sum(result == "passed" for _, result in mine),
        "failed": sum(result == "failed" for _, result in mine),
        "skipped": sum(result == "skipped" for _, result in mine),
        "tests": [test for test, result in mine if result == "failed"],
        "not_run": [e for e in entries if not any(covers(e, test) for test, _ in cases)],
    }


def results(
    junit: Path, controls: list[dict], commit: str, dirty: bool, suite: str, written: float
) -> dict:
    """The results file's content for the run in JUNIT on COMMIT."""
    cases = read_cases(junit)
    return {
        "schema": SCHEMA,
        "commit": commit,
        "dirty": dirty,
        "written": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(written)),
        "suite": suite,
        "controls": {c["id"]: control_results(c, cases) for c in controls if catalogue.ci_only(c)},
        "totals": {
            "tests": len(cases),
            **{n: sum(r == n for _, r in cases) for n in ("passed", "failed", "skipped")},
        },
    }


def write(data: dict, folder: Path = FOLDER) -> Path:
    path = path_for(data["commit"], data["dirty"], folder)
    folder.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    return path


# ---- in a release ------------------------------------------------------------------------------


def for_release(commit: str, dirty: bool, folder: Path = FOLDER) -> tuple[Path | None, str]:
    """The results file a release of COMMIT carries, or None; and one sentence saying which."""
    path = path_for(commit, dirty, folder)
    which = f"commit {commit}" + (" with uncommitted changes" if dirty else "")
    if not path.is_file():
        return None, f"no test result for {which}: run scripts/test on this commit"
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None, f"no test result for {which}: {path} cannot be read; run scripts/test again"
    if data.get("schema") != SCHEMA or (data.get("commit"), data.get("dirty")) != (commit, dirty):
        return None, f"no test result for {which}: {path} holds another run; run scripts/test"
    return path, f"test results of {which}, written {data.get('written')}"


def verdict(manifest: dict, data: dict | None, control: str) -> tuple[str, str]:
    """What a release's results say of CONTROL: (passed, failed or not_checked, one sentence)."""
    commit = manifest.get("commit")
    if data is None:
        note = manifest.get("test_results_note")
        return "not_checked", note or (
            f"no test result for commit {commit}: release {manifest.get('release')} was built "
            "without one; run scripts/test on this commit and build the release again"
        )
    if (data.get("commit"), data.get("dirty")) != (commit, manifest.get("dirty")):
        return "failed", (
            f"the release's test results are of commit {data.get('commit')}, the release was "
            f"built from {commit}"
        )
    counts = data.get("controls", {}).get(control)
    if counts is None:
        return "not_checked", f"the test results of commit {commit} do not name {control}"
    if counts["failed"]:
        return "failed", (
            f"{counts['failed']} test(s) of {control} failed on commit {commit}: "
            + ", ".join(counts["tests"])
        )
    if not counts["passed"]:
        return "not_checked", f"no test of {control} ran and passed on commit {commit}"
    return "passed", f"{counts['passed']} test(s) of {control} passed on commit {commit}"


# ---- the command scripts/test calls ------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m provisioning.releases.test_results")
    verbs = parser.add_subparsers(dest="verb", required=True)
    verbs.add_parser("key", help="print the key of this checkout: COMMIT or COMMIT-dirty")
    record = verbs.add_parser("record", help="write .test-results/KEY.json from a junit file")
    record.add_argument("junit", type=Path)
    record.add_argument("--suite", default="pytest", help="the pytest command that ran")
    record.add_argument("--key", help="the key before the tests ran: refuse if it changed")
    args = parser.parse_args(argv)
    try:
        commit, dirty = checkout()
        if args.verb == "key":
            print(key(commit, dirty))
            return 0
        if args.key and args.key != key(commit, dirty):
            raise OtapError(
                f"the checkout changed while the tests ran ({args.key} before, "
                f"{key(commit, dirty)} now); run the tests again."
            )
        data = results(args.junit, catalogue.load(), commit, dirty, args.suite, time.time())
        path = write(data)
    except OtapError as exc:
        print(f"test results: {exc}", file=sys.stderr)
        return 1
    failing = sorted(cid for cid, c in data["controls"].items() if c["failed"])
    print(
        f"test results of {key(commit, dirty)}: {path}"
        + (f"; failing: {', '.join(failing)}" if failing else "")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
