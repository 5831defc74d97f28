"""The auditor's report on the stage the main job made: verify twice with one change between
(a base package removed from one host), and `otap report diff` names exactly that change.

Named to run right after test_app_deploy, on the same stage (tests/lab/conftest.py: file order).
"""

import json
import subprocess

import pytest

from provisioning.report.runs import runs_of
from tests.lab.conftest import STAGE, otap, ssh

pytestmark = [pytest.mark.lab, pytest.mark.slow]

HOST, PACKAGE = "backup1", "less"  # in role base's base_packages (BASE-01); nothing needs it


def verify_run() -> str:
    """One `otap stage verify`; the name of the run folder it wrote."""
    before = set(runs_of(STAGE))
    otap("stage", "verify", STAGE, "--json", check=False)
    new = sorted(set(runs_of(STAGE)) - before)
    assert len(new) == 1, new
    return new[0]


@pytest.fixture(scope="module")
def changed(deployed, stage):
    """Run A, the package removed from HOST, run B; the package back afterwards."""
    first = verify_run()
    ssh(stage, HOST, f"sudo apt-get remove -y -q {PACKAGE}")
    try:
        second = verify_run()
    finally:
        ssh(stage, HOST, f"sudo apt-get install -y -q --no-install-recommends {PACKAGE}")
    return first, second


def test_the_diff_names_exactly_the_removed_package(changed):
    first, second = changed
    proc = otap("report", "diff", f"{STAGE}@{first}", f"{STAGE}@{second}", "--json", check=False)
    assert proc.returncode == 1, "a control got worse: exit 1\n" + proc.stdout + proc.stderr
    info = json.loads(proc.stdout)
    assert [(s["control"], s["host"], s["old"], s["new"]) for s in info["statuses"]] == [
        ("BASE-01", HOST, "passed", "failed")
    ]
    packages = [
        (e["control"], e["host"], e["name"], json.loads(e["old"]), json.loads(e["new"]))
        for e in info["evidence"]
        if e["name"] in ("package versions", "installed packages")
    ]
    assert [(c, h, n) for c, h, n, _, _ in packages] == [
        ("BASE-01", HOST, "package versions"),
        ("OTAP-01", HOST, "installed packages"),
    ], packages
    for _, _, _, old, new in packages:
        assert list(old) == [PACKAGE] and new in ({}, {PACKAGE: None}), (old, new)
    assert info["hosts_added"] == info["hosts_removed"] == []


def test_every_run_is_kept_with_its_own_report_and_signed_it_checks(changed, stage, tmp_path):
    reports = stage.state_dir / "reports"
    for run in changed:
        folder = reports / run
        assert {"junit.xml", "report.json", "report.html"} <= {p.name for p in folder.iterdir()}
        data = json.loads((folder / "report.json").read_text())
        assert data["stage"] == STAGE and set(data["files"]) == {"junit.xml", "report.html"}
    assert (reports / "latest").resolve().name == changed[1]
    key = tmp_path / "operator"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    otap("report", "sign", f"{STAGE}@{changed[0]}", "--key", str(key))
    check = otap("report", "check", f"{STAGE}@{changed[0]}", "--key", f"{key}.pub", check=False)
    assert check.returncode == 0, check.stdout + check.stderr
