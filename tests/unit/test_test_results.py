"""The app's test results per commit: from junit to controls, their names, the release carrying
them, and what the stage's check makes of them."""

import json

import pytest

from provisioning.releases import build as release
from provisioning.releases import test_results
from provisioning.report import catalogue

pytestmark = pytest.mark.unit

COMMIT = "5162cdf82e4d" + "0" * 28
WRITTEN = 1796526900.0  # 2026-12-06T03:15:00Z
CONTROLS = [
    {"id": "PRIV-02", "verified_by": ["app/privacy/tests/test_export.py::test_the_download"]},
    {"id": "APP-07", "verified_by": ["app/coaching/tests/test_bad_input.py"]},
    {"id": "AUTH-04", "verified_by": ["app/accounts/tests/test_totp.py::TestCodes"]},
    {"id": "SSH-01", "verified_by": ["tests/infra/test_ssh.py::test_keys"]},
    {
        "id": "APP-01",
        "verified_by": [
            "tests/app/test_access_matrix.py::test_get",
            "tests/infra/test_release_results.py::test_x",
        ],
    },
]


def case(file: str, name: str, classname: str | None = None, outcome: str = "") -> str:
    module = file.removesuffix(".py").replace("/", ".")
    return (
        f'<testcase classname="{module if classname is None else classname}" name="{name}" '
        f'file="{file}">{outcome}</testcase>'
    )


FAILURE = '<failure message="AssertionError: 500">boom</failure>'
SKIP = '<skipped message="needs PostgreSQL"/>'


def junit(tmp_path, *cases: str):
    path = tmp_path / "junit.xml"
    path.write_text(
        f'<testsuites><testsuite name="pytest">{"".join(cases)}</testsuite></testsuites>'
    )
    return path


def results_of(path, dirty=False):
    return test_results.results(path, CONTROLS, COMMIT, dirty, "pytest -q", WRITTEN)


def test_each_control_counts_the_tests_its_verified_by_names(tmp_path):
    path = junit(
        tmp_path,
        case("app/privacy/tests/test_export.py", "test_the_download"),
        case("app/privacy/tests/test_export.py", "test_the_download_is_logged"),  # not named
        case("app/coaching/tests/test_bad_input.py", "test_a"),  # the whole file is named
        case("app/coaching/tests/test_bad_input.py", "test_b", outcome=SKIP),
        case("tests/app/test_access_matrix.py", "test_get[coach-/dialogue/]"),  # parametrised
        case("tests/app/test_access_matrix.py", "test_get[client-/notes/]"),
        case("tests/app/test_access_matrix.py", "test_getter"),  # another function
        case(
            "app/accounts/tests/test_totp.py",
            "test_a_code",
            classname="app.accounts.tests.test_totp.TestCodes",
        ),
    )
    data = results_of(path)
    assert {k: data[k] for k in ("schema", "commit", "dirty", "written", "suite")} == {
        "schema": "safecoach-test-results/1",
        "commit": COMMIT,
        "dirty": False,
        "written": "2026-12-06T03:15:00Z",
        "suite": "pytest -q",
    }
    counts = {cid: (c["passed"], c["failed"], c["skipped"]) for cid, c in data["controls"].items()}
    assert counts == {
        "PRIV-02": (1, 0, 0),
        "APP-07": (1, 0, 1),
        "AUTH-04": (1, 0, 0),
        "APP-01": (2, 0, 0),
    }
    assert data["totals"] == {"tests": 8, "passed": 7, "failed": 0, "skipped": 1}
    # SSH-01 is checked on the hosts, not here; APP-01's infra test is no test of this suite
    assert data["controls"]["APP-01"]["not_run"] == []


def test_a_failing_test_fails_its_control_and_is_named(tmp_path):
    name = "test_get[manager-/dialogue/1/]"
    path = junit(
        tmp_path,
        case("tests/app/test_access_matrix.py", name, outcome=FAILURE),
        case("tests/app/test_access_matrix.py", "test_get[coach-/]"),
    )
    app = results_of(path)["controls"]["APP-01"]
    assert (app["passed"], app["failed"]) == (1, 1)
    assert app["tests"] == [f"tests/app/test_access_matrix.py::{name}"]


def test_a_file_that_did_not_import_fails_every_control_that_names_tests_in_it(tmp_path):
    broken = (
        '<testcase classname="" name="app.privacy.tests.test_export" '
        'file="app/privacy/tests/test_export.py"><error message="collection failure"/></testcase>'
    )
    data = results_of(junit(tmp_path, broken))
    assert data["controls"]["PRIV-02"]["failed"] == 1
    assert data["controls"]["PRIV-02"]["tests"] == ["app/privacy/tests/test_export.py"]
    assert data["controls"]["APP-07"]["not_run"] == ["app/coaching/tests/test_bad_input.py"]


def test_junit_without_file_attributes_maps_by_classname(tmp_path):
    xunit2 = '<testcase classname="app.coaching.tests.test_bad_input" name="test_a"/>'
    assert results_of(junit(tmp_path, xunit2))["controls"]["APP-07"]["passed"] == 1


def test_an_unreadable_junit_file_is_one_sentence(tmp_path):
    bad = tmp_path / "junit.xml"
    bad.write_text("<testsuites>")
    with pytest.raises(test_results.OtapError, match=r"is not a readable junit file .*again\.$"):
        results_of(bad)


def test_clean_and_dirty_checkouts_are_kept_apart(tmp_path):
    assert test_results.key(COMMIT, False) == COMMIT
    assert test_results.path_for(COMMIT, True, tmp_path) == tmp_path / f"{COMMIT}-dirty.json"
    path = junit(tmp_path, case("app/coaching/tests/test_bad_input.py", "test_a"))
    clean = test_results.write(results_of(path), tmp_path / "results")
    dirty = test_results.write(results_of(path, dirty=True), tmp_path / "results")
    assert (clean.name, dirty.name) == (f"{COMMIT}.json", f"{COMMIT}-dirty.json")
    assert json.loads(dirty.read_text())["dirty"] is True


def test_record_refuses_results_when_the_checkout_changed_while_the_tests_ran(capsys):
    commit, dirty = test_results.checkout()
    stale = "0" * 40
    assert test_results.main(["record", "junit.xml", "--key", stale]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"test results: the checkout changed while the tests ran ({stale} ")
    assert test_results.key(commit, dirty) in err and err.count("\n") == 1


# ---- the release ---------------------------------------------------------------------------


def test_the_release_carries_the_results_of_its_commit(tmp_path):
    folder = tmp_path / "results"
    test_results.write(results_of(junit(tmp_path)), folder)
    work = tmp_path / "release"
    work.mkdir()
    fields, note = release.add_test_results(work, COMMIT, False, folder)
    assert fields == {"test_results": "test-results.json", "test_results_note": None}
    assert note.startswith(f"test results of commit {COMMIT}, written 2026-12-06T03:15:00Z")
    assert json.loads((work / "test-results.json").read_text())["commit"] == COMMIT
    assert "test-results.json" in release.checksums(work)  # listed in SHA256SUMS and the manifest


def test_a_release_without_results_says_so_and_a_dirty_one_takes_only_dirty_results(tmp_path):
    folder = tmp_path / "results"
    test_results.write(results_of(junit(tmp_path)), folder)  # the clean checkout's
    work = tmp_path / "release"
    work.mkdir()
    fields, note = release.add_test_results(work, COMMIT, True, folder)
    assert fields == {
        "test_results": None,
        "test_results_note": f"no test result for commit {COMMIT} with uncommitted changes: "
        "run scripts/test on this commit",
    }
    assert note == fields["test_results_note"]
    assert not (work / "test-results.json").exists()


def test_results_of_another_commit_under_this_name_are_not_carried(tmp_path):
    folder = tmp_path / "results"
    other = test_results.write(results_of(junit(tmp_path)) | {"commit": "f" * 40}, folder)
    other.rename(folder / f"{COMMIT}.json")
    found, note = test_results.for_release(COMMIT, False, folder)
    assert found is None and "holds another run" in note


# ---- the stage's check (tests/infra/test_release_results.py) -------------------------------

MANIFEST = {"release": "0.1.0-5162cdf82e4d", "commit": COMMIT, "dirty": False}


def carried(**counts) -> dict:
    control = {"passed": 3, "failed": 0, "skipped": 0, "tests": [], "not_run": []} | counts
    return {"commit": COMMIT, "dirty": False, "controls": {"APP-01": control}}


def test_the_check_passes_fails_or_says_why_it_cannot_tell():
    assert test_results.verdict(MANIFEST, carried(), "APP-01") == (
        "passed",
        f"3 test(s) of APP-01 passed on commit {COMMIT}",
    )
    failing = carried(failed=1, tests=["tests/app/test_access_matrix.py::test_get[x]"])
    status, why = test_results.verdict(MANIFEST, failing, "APP-01")
    assert status == "failed" and why.endswith("test_get[x]")
    assert test_results.verdict(MANIFEST, carried(passed=0, skipped=2), "APP-01")[0] == (
        "not_checked"
    )
    assert test_results.verdict(MANIFEST, carried(), "PRIV-01")[0] == "not_checked"
    other = carried() | {"commit": "f" * 40}
    assert test_results.verdict(MANIFEST, other, "APP-01")[0] == "failed"


def test_without_results_the_check_skips_with_the_commit_and_not_as_not_applicable():
    note = f"no test result for commit {COMMIT}: run scripts/test on this commit"
    assert test_results.verdict(MANIFEST | {"test_results_note": note}, None, "APP-01") == (
        "not_checked",
        note,
    )
    status, why = test_results.verdict(MANIFEST, None, "APP-01")  # a release from before
    assert status == "not_checked"
    assert why.startswith(f"no test result for commit {COMMIT}: release 0.1.0-5162cdf82e4d")


def test_the_stage_s_check_covers_every_app_control_that_is_checked_in_ci():
    check = "tests/infra/test_release_results.py::"
    for control in catalogue.load():
        if control["id"].split("-")[0] in ("APP", "PRIV", "AUTH") and catalogue.ci_only(control):
            assert any(t.startswith(check) for t in control["verified_by"]), control["id"]
