"""Lab test fixtures. Modules run in file order and share the lab where they can:

- `deployed` (session): the main job once, `otap up` on a fresh development stage (lab up,
  bootstrap, converge, deploy with demo data, verify); test_app_deploy and test_hardening use it.
- `lab` (module): a fresh bring-up of its own, for test_lab's life-cycle tests.
- test_lab_errors and test_molecule take the lab down and up themselves.
The lab is always taken down at the end.
"""

import os
import shutil
import subprocess
import sys

import pytest

from provisioning.stage import load_stage
from provisioning.stage.paths import REPO

STAGE = "development"


def otap(*args: str, check: bool = True, timeout: float = 900) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [sys.executable, "-m", "provisioning.cli", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if check and proc.returncode != 0:
        pytest.fail(
            f"otap {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
        )
    return proc


@pytest.fixture(scope="session")
def stage():
    if os.geteuid() != 0:
        pytest.skip("the lab needs root")
    return load_stage(STAGE)


@pytest.fixture(scope="module")
def lab(stage):
    """A fresh development stage: down first (clean machine), up, and down again at the end."""
    otap("lab", "down", STAGE)
    up = otap("lab", "up", STAGE)
    try:
        yield up
    finally:
        otap("lab", "down", STAGE, check=False)


@pytest.fixture(scope="session")
def deployed(stage):
    """`otap up` once for the session, on a fresh stage; its output (the URL, accounts, report).

    OTAP_LAB_REUSE=1 (by hand, while working on a module): keep a stage that is up, run
    `otap up` on it, and leave it up afterwards.
    """
    reuse = bool(os.environ.get("OTAP_LAB_REUSE"))
    if not reuse:
        otap("lab", "down", STAGE)
    proc = otap("up", STAGE, timeout=2400, check=False)
    try:
        if proc.returncode != 0:
            # the lab is taken down below: keep the logs for the person reading this
            keep = REPO / ".lab" / "logs"  # git ignores .lab/
            keep.mkdir(parents=True, exist_ok=True)
            if (stage.state_dir / "converge.log").exists():
                shutil.copy(stage.state_dir / "converge.log", keep / "converge.log")
            if stage.verify_report.exists():  # the newest verify run's junit.xml
                shutil.copy(stage.verify_report, keep / "verify.xml")
            pytest.fail(f"otap up failed (logs in {keep}):\n{proc.stdout}\n{proc.stderr}")
        yield proc
    finally:
        if not reuse:
            otap("lab", "down", STAGE, check=False)


@pytest.fixture(scope="session")
def up(deployed):
    """The stage the main job made (alias of `deployed`)."""
    return deployed


def ssh(stage, host: str, command: str, check: bool = True) -> subprocess.CompletedProcess:
    config = stage.state_dir / "ssh_config"
    proc = subprocess.run(
        ["ssh", "-F", str(config), host, command], capture_output=True, text=True, timeout=120
    )
    if check and proc.returncode != 0:
        pytest.fail(f"ssh {host} {command!r} failed ({proc.returncode}): {proc.stderr}")
    return proc
