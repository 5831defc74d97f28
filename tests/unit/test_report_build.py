"""report.json from the fixture junit file and the real catalogue, against its schema."""

import hashlib
import subprocess

import jsonschema
import pytest

from provisioning.report import build, catalogue, runs
from provisioning.stage import load_stage
from provisioning.stage.paths import INVENTORIES
from tests.unit.report_runs import SCHEMA, control, make_run, report_of

pytestmark = pytest.mark.unit


@pytest.fixture(autouse=True)
def state(tmp_path, monkeypatch):
    monkeypatch.setenv("OTAP_STATE_ROOT", str(tmp_path))
    return tmp_path


def test_the_report_matches_its_schema_on_a_lab_and_a_real_stage():
    for stage in ("development", "test"):
        report = report_of(make_run(stage, releases={"web1": "0.1.0-abc"}))
        jsonschema.validate(report, SCHEMA, cls=jsonschema.Draft202012Validator)
        assert report["schema"] == "safecoach-report/1"
        assert report["lab"] is (stage == "development")


def test_every_control_of_the_catalogue_is_in_the_report():
    report = report_of(make_run())
    assert [c["id"] for c in report["controls"]] == [c["id"] for c in catalogue.load()]
    assert report["summary"]["totals"]["controls"] == len(catalogue.load())


def test_status_per_host_and_the_worst_over_hosts():
    report = report_of(make_run())
    ssh1, ssh2 = control(report, "SSH-01"), control(report, "SSH-02")
    assert ssh1["status"] == "passed"
    assert set(ssh1["hosts"]) == {"bastion1", "web1", "db1", "backup1", "mon1"}
    assert {h: v["status"] for h, v in ssh2["hosts"].items()} == {
        "bastion1": "passed",
        "web1": "failed",
    }
    assert ssh2["status"] == "failed"
    assert ssh2["hosts"]["web1"]["reason"].startswith("AssertionError: weak key exchange")
    # passed on web1 and not checked on db1: not checked, with the test's own reason
    os5 = control(report, "OS-05")
    assert (os5["status"], os5["reason"]) == (
        "not_checked",
        "dpkg-query did not answer within 30 s",
    )
    # not applicable on one host only is neutral: passed
    assert control(report, "ACC-03")["status"] == "passed"
    # a test that broke in its fixture: its control from the catalogue, its host from its id
    assert control(report, "FW-04")["hosts"]["mon1"]["status"] == "failed"


def test_evidence_is_kept_with_the_test_that_read_it():
    web1 = control(report_of(make_run()), "SSH-01")["hosts"]["web1"]
    test = "tests/infra/test_ssh.py::test_public_keys_only_for_admins_never_root[ssh://web1]"
    assert web1["tests"] == [test]
    assert web1["evidence"][0] == {
        "name": "sshd -T",
        "value": {"permitrootlogin": "no", "pubkeyauthentication": "yes", "allowgroups": "admins"},
        "test": test,
    }


def test_a_check_without_a_host_is_the_stage_s():
    report = report_of(make_run())
    assert list(control(report, "TLS-04")["hosts"]) == ["stage"]
    assert report["hosts"][-1] == "stage"


def test_the_lab_s_not_applicable_entries_apply_on_the_lab_only():
    lab = control(report_of(make_run("development")), "BASE-02")
    reason = catalogue.lab_reason(next(c for c in catalogue.load() if c["id"] == "BASE-02"))
    assert (lab["status"], lab["reason"]) == ("not_applicable", reason)
    assert {v["status"] for v in lab["hosts"].values()} == {"not_applicable"}
    real = control(report_of(make_run("test")), "BASE-02")
    assert real["status"] == "passed"


def test_a_failure_is_never_hidden_by_the_lab_s_not_applicable():
    junit = (
        '<testsuites><testsuite name="pytest"><testcase classname="tests.infra.test_os" '
        'name="test_network_sysctls[ssh://web1]" file="tests/infra/test_os.py">'
        '<properties><property name="control" value="OS-01"/><property name="host" '
        'value="web1"/></properties><failure message="rp_filter is 0"/></testcase>'
        "</testsuite></testsuites>"
    )
    os1 = control(report_of(make_run("development", junit=junit)), "OS-01")
    assert (os1["status"], os1["hosts"]["web1"]["reason"]) == ("failed", "rp_filter is 0")


def test_a_control_no_test_ran_says_why():
    report = report_of(make_run("test"))
    assert control(report, "ACC-01")["reason"] == "no test of this run covered it"
    ci_only = {"id": "X-01", "title": "t", "policy": "p", "verified_by": ["app/x/tests/test_y.py"]}
    entry = build.control_entry(ci_only, [], False, {})
    assert (entry["status"], entry["reason"]) == (
        "not_checked",
        "checked in CI only: app/x/tests/test_y.py",
    )


RELEASE_RESULTS = (
    '<testsuites><testsuite name="pytest"><testcase classname="tests.infra.test_release_results" '
    'name="test_the_app_s_tests_passed_on_the_commit_of_the_current_release[ssh://web1-{cid}]" '
    'file="tests/infra/test_release_results.py"><properties><property name="control" '
    'value="{cid}"/><property name="host" value="web1"/></properties>{outcome}</testcase>'
    "</testsuite></testsuites>"
)


def test_the_app_s_controls_are_checked_on_the_stage_by_the_release_s_test_results():
    passed = report_of(make_run("test", junit=RELEASE_RESULTS.format(cid="PRIV-01", outcome="")))
    privacy = control(passed, "PRIV-01")
    assert (privacy["status"], list(privacy["hosts"])) == ("passed", ["web1"])
    assert privacy["ci_tests"][0].startswith("app/privacy/tests/")
    skip = '<skipped message="no test result for commit abc: run scripts/test on this commit"/>'
    missing = report_of(make_run("test", junit=RELEASE_RESULTS.format(cid="APP-01", outcome=skip)))
    assert (control(missing, "APP-01")["status"], control(missing, "APP-01")["reason"]) == (
        "not_checked",
        "no test result for commit abc: run scripts/test on this commit",
    )
    # not in the run (--limit): not covered, no longer "checked in CI only"
    assert control(missing, "PRIV-01")["reason"] == "no test of this run covered it"


def test_not_ours_names_who_and_the_stage_s_document():
    report = report_of(make_run("production", junit="<testsuites/>"))
    phys = control(report, "PHYS-01")
    assert (phys["status"], phys["responsible"]) == ("not_ours", "hosting provider")
    assert phys["document"] == load_stage("production").vars["audit_documents"]["PHYS-01"]
    assert phys["reason"].startswith("Physical security of the datacenter")
    assert report["summary"]["totals"]["not_ours"] == 1


def test_summary_per_policy_section():
    report = report_of(make_run())
    sections = {s["policy"]: s for s in report["summary"]["sections"]}
    assert set(sections) == {c["policy"] for c in catalogue.load()}
    traffic = sections["Beveiliging van dataverkeer"]
    assert (traffic["failed"], traffic["hosts_failed"]) == (1, ["web1"])  # SSH-02
    assert sections["Firewalls"]["hosts_failed"] == ["mon1"]  # FW-04
    assert sum(s["controls"] for s in sections.values()) == len(catalogue.load())


def test_the_inventory_hash_is_the_shell_s():
    folder = INVENTORIES / "development"
    shell = subprocess.run(
        ["sh", "-c", "find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum"],
        cwd=folder,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()[0]
    assert build.inventory_sha256(folder) == shell
    assert report_of(make_run())["inventory"]["sha256"] == shell


def test_files_lists_the_sha256_of_every_other_file():
    run = make_run()
    files = report_of(run)["files"]
    assert set(files) == {"junit.xml", "report.html"}
    for name, digest in files.items():
        assert hashlib.sha256((run / name).read_bytes()).hexdigest() == digest


def test_the_releases_are_the_caller_s_or_null_with_a_note():
    assert report_of(make_run(releases={"web1": "0.1.0-abc"}))["releases"] == {"web1": "0.1.0-abc"}
    report = report_of(make_run())
    assert report["releases"] is None and "not read" in report["releases_note"]


def test_every_run_is_kept_and_latest_is_the_newest(state):
    first = make_run(started=1796526900.0)
    second = make_run(started=1796526900.0)  # the same second: a name of its own
    third = make_run(started=1796530500.0)
    assert [p.name for p in (first, second, third)] == [
        "20261206T031500Z",
        "20261206T031500Z-2",
        "20261206T041500Z",
    ]
    assert runs.runs_of("development") == [p.name for p in (first, second, third)]
    stage = load_stage("development")
    assert stage.verify_report.resolve() == third / "junit.xml"
    assert (stage.reports / "latest").readlink().name == third.name
