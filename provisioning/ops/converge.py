"""`otap converge STAGE`: the converge step, and on a lab stage its one retry.

A lab converge that failed only because a container's systemd could not start a unit for lack
of a cgroup (provisioning/lab/cgroup.py) runs once more, saying so; real stages never do.
"""

from __future__ import annotations

from provisioning.lab.cgroup import lab_cgroup_failure
from provisioning.remote.progress import say
from provisioning.stage import Stage
from provisioning.steps import converge as step
from provisioning.steps.converge import Result


def converge(stage: Stage, **options) -> Result:
    """steps.converge.converge with the same OPTIONS (check, tags, limit, playbook, quiet)."""
    result = step.converge(stage, **options)
    if lab_cgroup_failure(stage.lab, result):
        log = stage.log("converge")
        log.replace(log.with_name("converge-first-run.log"))
        say(
            "a service of a lab container could not start (the controller's cgroup v1; "
            "see LAB_CGROUP_FAILURE in provisioning/lab/cgroup.py): converging stage "
            f"{stage.name} once more"
        )
        first_seconds = result.seconds
        result = step.converge(stage, **options)
        result.seconds += first_seconds  # the time it took, both runs
    return result
