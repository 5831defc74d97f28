"""The lab tests share one bring-up of the development stage (module scope), always torn down."""

import os
import shutil
import subprocess
import sys

import pytest

from provisioning.inventory import load_stage
from provisioning.paths import REPO

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


@pytest.fixture(scope="module")
def up(lab, stage):
    """`otap up` on the fresh lab: converge, release build, deploy with demo data, verify."""
    proc = otap("up", STAGE, timeout=1800, check=False)
    if proc.returncode != 0:
        # the lab fixture removes the state folder: keep the logs for the person reading this
        keep = REPO / ".lab" / "logs"  # git ignores .lab/
        keep.mkdir(parents=True, exist_ok=True)
        for name in ("converge.log", "verify.xml"):
            if (stage.state_dir / name).exists():
                shutil.copy(stage.state_dir / name, keep / name)
        pytest.fail(f"otap up failed (logs in {keep}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def ssh(stage, host: str, command: str, check: bool = True) -> subprocess.CompletedProcess:
    config = stage.state_dir / "ssh_config"
    proc = subprocess.run(
        ["ssh", "-F", str(config), host, command], capture_output=True, text=True, timeout=120
    )
    if check and proc.returncode != 0:
        pytest.fail(f"ssh {host} {command!r} failed ({proc.returncode}): {proc.stderr}")
    return proc
