"""`otap verify STAGE`: the testinfra suites of tests/infra against every host of a stage.

They go through the stage's one ssh_config (ProxyJump through the bastion, pinned host keys) as
the admin account; each test carries the control id it verifies (pytest marker `control`).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

from provisioning.remote.progress import say
from provisioning.remote.ssh import close_masters
from provisioning.stage import OtapError, Stage, sshconfig
from provisioning.stage.paths import REPO


def verify(
    stage: Stage,
    extra: list[str] | None = None,
    quiet: bool = False,
    limit: str | None = None,
) -> int:
    stage_name = stage.name
    config = sshconfig.write(stage)
    close_masters(stage)  # verify what a new connection meets
    names = sorted(stage.hosts)
    if limit:
        wanted = {part.strip() for part in limit.split(",") if part.strip()}
        unknown = wanted - set(names) - set(stage.groups)
        if unknown:
            raise OtapError(
                f"stage {stage_name} has no host or group {', '.join(sorted(unknown))}."
            )
        names = [n for n in names if n in wanted or set(stage.hosts[n].groups) & wanted]
    hosts = ",".join(f"ssh://{name}" for name in names)
    report = stage.verify_report
    extra = [a for a in (extra or []) if a != "--"]
    # Suites named after `--` (tests/infra/test_base.py …) replace the whole folder.
    suites = [a for a in extra if a.startswith("tests/infra/")]
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        *([] if suites else [str(REPO / "tests" / "infra")]),
        f"--hosts={hosts}",
        f"--ssh-config={config}",
        # the suite's root conftest loads the app's test world (Django models): not here
        f"--confcutdir={REPO / 'tests' / 'infra'}",
        "-p",
        "no:cacheprovider",
        "-W",
        "ignore::pytest.PytestConfigWarning",
        "-q",
        f"--junitxml={report}",
        *extra,
    ]
    env = {**os.environ, "OTAP_STAGE": stage_name}
    started = time.monotonic()
    proc = subprocess.run(cmd, cwd=REPO, env=env, check=False, capture_output=quiet, text=True)
    say(
        f"verify of stage {stage_name}: {'passed' if proc.returncode == 0 else 'FAILED'} "
        f"in {time.monotonic() - started:.0f} s (report {report})"
    )
    return proc.returncode
