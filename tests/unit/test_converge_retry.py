"""A lab converge that failed only on a unit start for lack of a cgroup runs once more."""

import pytest

from provisioning.ops.converge import lab_cgroup_failure
from provisioning.steps.converge import Result, parse_recap

pytestmark = pytest.mark.unit

CGROUP = (
    "[ERROR]: Task failed: Module failed: Unable to start service sysstat.service: Job for "
    "sysstat.service failed because of unavailable resources or another system error.\n"
)
OTHER = "[ERROR]: Task failed: Module failed: the admin network 10.0.0.300/24 is not a network\n"
RECAP = (
    "PLAY RECAP *****\n"
    "db1                        : ok=40   changed=30   unreachable=0    failed=1    skipped=2\n"
    "web1                       : ok=41   changed=31   unreachable=0    failed=0    skipped=2\n"
)


def result(output: str, returncode: int = 2) -> Result:
    return Result(returncode, 1.0, parse_recap(output), output)


def test_a_lab_run_that_failed_only_for_a_cgroup_runs_again():
    assert lab_cgroup_failure(True, result("TASK [base : OS-07 | sysstat]\n" + CGROUP + RECAP))


def test_a_real_stage_never_runs_again():
    assert not lab_cgroup_failure(False, result(CGROUP + RECAP))


def test_any_other_failure_stands():
    assert not lab_cgroup_failure(True, result(CGROUP + OTHER + RECAP))
    assert not lab_cgroup_failure(True, result(OTHER + RECAP))


def test_an_unreachable_host_stands():
    unreachable = RECAP.replace(
        "web1                       : ok=41   changed=31   unreachable=0",
        "web1                       : ok=41   changed=31   unreachable=1",
    )
    assert not lab_cgroup_failure(True, result(CGROUP + unreachable))


def test_a_run_that_passed_is_left_alone():
    passed = RECAP.replace("failed=1", "failed=0")
    assert not lab_cgroup_failure(True, result(passed, returncode=0))
