"""`otap up`: the main job. Lab up, bootstrap, converge, verify; then say what was built."""

from __future__ import annotations

import time

from provisioning import bootstrap, converge, lab, sshconfig, verify
from provisioning.errors import OtapError
from provisioning.inventory import load_stage


def up(stage_name: str = "development") -> int:
    stage = load_stage(stage_name)
    if not stage.lab:
        raise OtapError(
            f"`otap up` builds lab stages only; for {stage_name} run bootstrap, converge and "
            "verify one by one."
        )
    figures: dict[str, float] = {}
    t = time.monotonic()
    lab.up(stage_name)
    figures["lab up"] = time.monotonic() - t
    t = time.monotonic()
    bootstrap.bootstrap(stage_name)
    figures["bootstrap"] = time.monotonic() - t
    result = converge.converge(stage_name, quiet=True)
    figures["converge"] = result.seconds
    if not result.ok:
        raise OtapError(
            f"converge of stage {stage_name} failed; see {stage.state_dir / 'converge.log'}."
        )
    t = time.monotonic()
    code = verify.verify(stage_name, extra=["-p", "no:warnings"], quiet=True)
    figures["verify"] = time.monotonic() - t
    if code != 0:
        raise OtapError(
            f"verification of stage {stage_name} failed; run `otap verify {stage_name}` "
            "to see which controls do not hold."
        )
    config = sshconfig.config_path(stage)
    print()
    print(lab.format_status(lab.status(stage_name)))
    print()
    print("timings: " + ", ".join(f"{name} {seconds:.0f} s" for name, seconds in figures.items()))
    print("every host is bootstrapped, converged (site.yml) and verified (tests/infra);")
    print(f"verification report: {stage.state_dir / 'verify.xml'}. Next:")
    admin = sshconfig.admin_user(stage)
    print(f"  ssh -F {config} web1   # as {admin}, through {stage.bastion.name}")
    print(f"  otap converge {stage_name}   # after changing a role")
    print(f"  otap verify {stage_name}     # check every control again")
    print(f"  otap lab down {stage_name}   # remove the lab completely")
    return 0
