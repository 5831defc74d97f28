"""The app's controls on a stage: the test results the current release carries, for its commit.

The app's, privacy and sign-in controls are proven by the app's tests, which run in CI
(scripts/test), not on the hosts. The release built from a commit carries the results of those
tests for that commit (provisioning/releases/test_results.py); on each web host they lie beside the
release's manifest. A control holds on the stage when its tests passed on the commit of the
release deployed there; without results for that commit it is not checked, with why.
"""

import json

import pytest

from provisioning.releases import test_results

pytestmark = pytest.mark.only_on("web")

CURRENT = "/opt/safecoach/current"


@pytest.fixture(scope="module")
def release(host):
    """The current release's manifest and its test results (None when it carries none), as root
    reads them on the host."""
    # A converged web host without a release is not a working stage: fail, do not skip.
    assert host.file(CURRENT).exists, f"no release deployed: {CURRENT} does not exist"
    with host.sudo():
        manifest = json.loads(host.file(f"{CURRENT}/manifest.json").content_string)
        carried = host.file(f"{CURRENT}/{test_results.IN_RELEASE}")
        results = json.loads(carried.content_string) if carried.exists else None
    return manifest, results


# The APP, PRIV and AUTH controls whose verified_by names tests that run in CI (the marks inline,
# where tests/unit/test_controls.py reads them; tests/unit/test_test_results.py keeps the list and
# the catalogue in step).
@pytest.mark.parametrize(
    "control",
    [
        pytest.param("APP-01", marks=pytest.mark.control("APP-01")),
        pytest.param("APP-02", marks=pytest.mark.control("APP-02")),
        pytest.param("APP-03", marks=pytest.mark.control("APP-03")),
        pytest.param("APP-04", marks=pytest.mark.control("APP-04")),
        pytest.param("APP-06", marks=pytest.mark.control("APP-06")),
        pytest.param("APP-07", marks=pytest.mark.control("APP-07")),
        pytest.param("PRIV-01", marks=pytest.mark.control("PRIV-01")),
        pytest.param("PRIV-02", marks=pytest.mark.control("PRIV-02")),
        pytest.param("PRIV-03", marks=pytest.mark.control("PRIV-03")),
        pytest.param("PRIV-04", marks=pytest.mark.control("PRIV-04")),
        pytest.param("PRIV-05", marks=pytest.mark.control("PRIV-05")),
        pytest.param("PRIV-06", marks=pytest.mark.control("PRIV-06")),
        pytest.param("AUTH-01", marks=pytest.mark.control("AUTH-01")),
        pytest.param("AUTH-02", marks=pytest.mark.control("AUTH-02")),
        pytest.param("AUTH-03", marks=pytest.mark.control("AUTH-03")),
        pytest.param("AUTH-04", marks=pytest.mark.control("AUTH-04")),
        pytest.param("AUTH-05", marks=pytest.mark.control("AUTH-05")),
    ],
)
def test_the_app_s_tests_passed_on_the_commit_of_the_current_release(release, control, evidence):
    manifest, results = release
    evidence("release", {k: manifest.get(k) for k in ("release", "commit", "dirty")})
    if results is not None:
        evidence(
            "test results",
            {k: results.get(k) for k in ("commit", "dirty", "written", "suite")}
            | {"counts": results.get("controls", {}).get(control)},
        )
    status, why = test_results.verdict(manifest, results, control)
    if status == "not_checked":
        pytest.skip(why)
    assert status == "passed", why
