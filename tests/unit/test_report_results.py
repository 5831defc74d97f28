"""The junit contract with the tests: what a real pytest run writes, read back as results."""

import subprocess
import sys
import textwrap

import pytest

from provisioning.report.results import STAGE_WIDE, read
from provisioning.steps.verify import JUNIT_FAMILY

pytestmark = pytest.mark.unit

PYTEST = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:django"]

SUITE = """
import json
import pytest


@pytest.mark.parametrize("name", ["web1", "db1"])
def test_sshd(record_property, name):
    record_property("control", "SSH-01")
    record_property("control", "SSH-03")
    record_property("host", name)
    record_property("evidence", json.dumps({"name": "sshd -T", "value": {"permitrootlogin": "no"}}))
    record_property("evidence", json.dumps(["no", "name"]))
    assert name != "db1", "PermitRootLogin yes on db1"


def test_kernel(record_property):
    record_property("control", "OS-02")
    record_property("host", "web1")
    pytest.skip("not applicable in the lab: containers share the kernel")


def test_audit(record_property):
    record_property("control", "SSH-02")
    record_property("host", "web1")
    pytest.skip("ssh-audit is not installed")


def test_site(record_property):
    record_property("control", "TLS-04")


@pytest.fixture
def unreachable():
    raise OSError("cannot reach mon1")


@pytest.mark.parametrize("h", ["ssh://mon1"])
def test_dos_limits(unreachable, h):
    pass
"""


@pytest.fixture(scope="module")
def junit(tmp_path_factory):
    """The junit file of a real pytest run with verify's junit options."""
    folder = tmp_path_factory.mktemp("suite")
    (folder / "test_suite.py").write_text(textwrap.dedent(SUITE))
    out = folder / "junit.xml"
    proc = subprocess.run(
        [*PYTEST, *JUNIT_FAMILY, f"--junitxml={out}", "test_suite.py"],
        cwd=folder,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    # with the default family (xunit2) pytest warns that record_property is not for it
    assert "incompatible" not in proc.stdout + proc.stderr
    return out


def test_every_status_of_the_contract(junit):
    results = {r.test.split("::", 1)[1]: r for r in read(junit, {})}
    assert set(results) == {
        "test_sshd[web1]",
        "test_sshd[db1]",
        "test_kernel",
        "test_audit",
        "test_site",
        "test_dos_limits[ssh://mon1]",
    }
    web, db = results["test_sshd[web1]"], results["test_sshd[db1]"]
    assert (web.host, web.controls, web.status, web.reason) == (
        "web1",
        ["SSH-01", "SSH-03"],
        "passed",
        None,
    )
    assert web.test == "test_suite.py::test_sshd[web1]"
    assert web.evidence == [
        {"name": "sshd -T", "value": {"permitrootlogin": "no"}},
        {"name": "evidence 2", "value": ["no", "name"]},
    ]
    assert (db.status, db.reason) == ("failed", "AssertionError: PermitRootLogin yes on db1")
    kernel, audit = results["test_kernel"], results["test_audit"]
    assert (kernel.status, kernel.reason) == (
        "not_applicable",
        "not applicable in the lab: containers share the kernel",
    )
    assert (audit.status, audit.reason) == ("not_checked", "ssh-audit is not installed")
    assert (results["test_site"].host, results["test_site"].status) == (STAGE_WIDE, "passed")


def test_a_test_that_broke_before_its_body_takes_its_controls_from_the_catalogue(junit):
    """A fixture's error comes before record_property: no properties at all."""
    verified_by = {"test_suite.py::test_dos_limits": ["FW-04"]}
    [broken] = [r for r in read(junit, verified_by) if "dos_limits" in r.test]
    assert (broken.host, broken.controls, broken.status) == ("mon1", ["FW-04"], "failed")
    assert "cannot reach mon1" in broken.reason


def test_no_junit_file_is_no_results(tmp_path):
    assert read(tmp_path / "junit.xml", {}) == []


def test_a_damaged_junit_file_is_one_sentence(tmp_path):
    from provisioning.stage import OtapError

    (tmp_path / "junit.xml").write_text("<testsuites><testcase")
    with pytest.raises(OtapError, match="is not a readable junit file"):
        read(tmp_path / "junit.xml", {})
