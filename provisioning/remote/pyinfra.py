"""The one way otap runs pyinfra: a deploy file of steps/pyinfra/ against hosts given here.

The hosts and their data travel to the pyinfra process as JSON in OTAP_PYINFRA_HOSTS, read by
steps/pyinfra/inventory.py, so the stage is read once, by the otap command that runs pyinfra.
Hosts named `@otapssh/<name>` go through OpenSSH (provisioning/remote/pyinfra_openssh.py).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from provisioning.stage import Stage
from provisioning.stage.paths import REPO, venv_tool

DEPLOYS = Path(__file__).resolve().parent.parent / "steps" / "pyinfra"
INVENTORY = DEPLOYS / "inventory.py"


def run_deploy(
    stage: Stage, deploy: str, hosts: list[tuple[str, dict]], log: str, env: dict | None = None
) -> subprocess.CompletedProcess:
    """pyinfra -y DEPLOY on HOSTS; its whole output goes to the stage's log LOG."""
    environ = {
        **os.environ,
        **(env or {}),
        "OTAP_STAGE": stage.name,
        "OTAP_PYINFRA_HOSTS": json.dumps(hosts),
        "PYTHONUNBUFFERED": "1",
    }
    cmd = [venv_tool("pyinfra"), "-y", "--no-wait", str(INVENTORY), str(DEPLOYS / deploy)]
    proc = subprocess.run(cmd, env=environ, cwd=REPO, text=True, capture_output=True, check=False)
    path = stage.log(log)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(proc.stdout + proc.stderr)
    return proc
