"""`molecule test` for roles base, firewall, ssh and monitoring passes on the lab (driver default)."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from provisioning.stage.paths import REPO
from tests.lab.conftest import STAGE, otap

pytestmark = [pytest.mark.lab, pytest.mark.slow]


def run_molecule(*args: str) -> subprocess.CompletedProcess:
    bindir = str(Path(sys.executable).parent)
    molecule = shutil.which("molecule", path=bindir)
    assert molecule, "molecule is part of the ops extra"
    try:
        proc = subprocess.run(
            [molecule, "test", *args],
            cwd=REPO,
            capture_output=True,
            text=True,
            env={**os.environ, "PATH": f"{bindir}:{os.environ.get('PATH', '')}", "NO_COLOR": "1"},
            timeout=900,
        )
    finally:
        otap("lab", "down", STAGE, check=False)
    return proc


@pytest.mark.parametrize("scenario", ["default", "firewall", "ssh", "monitoring"])
def test_molecule_test_passes(stage, scenario):
    """default = role base; firewall, ssh and monitoring: their own scenarios, idempotence included."""
    proc = run_molecule("-s", scenario)
    tail = (proc.stdout + proc.stderr)[-4000:]
    assert proc.returncode == 0, tail
    assert "idempotence: Executed: Successful" in proc.stdout + proc.stderr, tail
