"""`otap stage converge STAGE`: the converge step, and on a lab stage its one retry.

A lab converge that failed only because a container's systemd could not start a unit for lack
of a cgroup runs once more, saying so; real stages never do.
"""

from __future__ import annotations

from provisioning.remote.progress import say
from provisioning.stage import Stage
from provisioning.steps import converge as step
from provisioning.steps.converge import Result

# In the lab, systemd inside a container now and then fails to start a unit with "unavailable
# resources": the controller's cgroup v1 hierarchy lags behind the container's (its journal says
# "Failed to attach … to compat systemd cgroup"). Real hosts have their own systemd as PID 1.
# A lab converge that failed only that way runs once more; every other failure stands.
LAB_CGROUP_FAILURE = "failed because of unavailable resources or another system error"


def lab_cgroup_failure(lab: bool, result: Result) -> bool:
    """Whether a failed converge of a lab stage failed only on a unit start of that kind."""
    if not lab or result.ok:
        return False
    errors = [
        line for line in result.output.splitlines() if line.startswith("[ERROR]: Task failed")
    ]
    return (
        bool(errors)
        and all(LAB_CGROUP_FAILURE in line for line in errors)
        and result.total("unreachable") == 0
    )


def converge(stage: Stage, **options) -> Result:
    """steps.converge.converge with the same OPTIONS (check, tags, limit, playbook, quiet)."""
    result = step.converge(stage, **options)
    if lab_cgroup_failure(stage.lab, result):
        log = stage.log("converge")
        log.replace(log.with_name("converge-first-run.log"))
        say(
            "a service of a lab container could not start (the controller's cgroup v1; "
            "see LAB_CGROUP_FAILURE in provisioning/ops/converge.py): converging stage "
            f"{stage.name} once more"
        )
        first_seconds = result.seconds
        result = step.converge(stage, **options)
        result.seconds += first_seconds  # the time it took, both runs
    return result
