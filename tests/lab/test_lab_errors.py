"""Bad input to the lab: one clear sentence, and nothing half made."""

import os
import subprocess
import sys

import pytest

from provisioning.lab import hosts as labmod
from provisioning.stage.paths import REPO
from tests.lab.conftest import STAGE, otap

pytestmark = pytest.mark.lab


def otap_env(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "provisioning.cli", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=600,
    )


def one_sentence(proc: subprocess.CompletedProcess, status: int = 1) -> str:
    """The one line on stderr of a command that failed (1) or was asked wrongly (2)."""
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == status, proc.stdout + proc.stderr
    assert len(lines) == 1 and lines[0].startswith("otap: error: "), proc.stderr
    return lines[0]


@pytest.fixture
def clean(stage):
    otap("lab", "down", STAGE)
    yield
    otap("lab", "down", STAGE, check=False)
    assert labmod.leftovers(stage) == []


def test_a_failed_up_leaves_nothing_behind(stage, clean):
    # Hosts that do not answer in time (a boot timeout of zero) make `up` fail after it has
    # made the bridge, the apt proxy, the overlays and the containers.
    proc = otap_env({"OTAP_BOOT_TIMEOUT": "0"}, "lab", "up", STAGE)
    assert "did not answer on SSH" in one_sentence(proc)
    assert "removing what it made" in proc.stdout
    assert labmod.leftovers(stage) == []


def test_a_range_in_use_is_refused_before_anything_is_made(stage, clean):
    # A link of our own (an empty bridge) with an address in the lab's range; sends nothing.
    subprocess.run(["ip", "link", "add", "otaptest0", "type", "bridge"], check=True)
    try:
        subprocess.run(["ip", "addr", "add", "10.213.10.250/24", "dev", "otaptest0"], check=True)
        proc = otap_env({}, "lab", "up", STAGE)
        assert "already in use on this machine (otaptest0" in one_sentence(proc)
        assert labmod.leftovers(stage) == []
    finally:
        subprocess.run(["ip", "link", "del", "otaptest0"], check=False)


def test_lab_commands_refuse_a_real_stage(stage):
    assert "not a lab stage" in one_sentence(otap_env({}, "lab", "up", "production"), status=2)


def test_commands_on_a_stage_that_is_down(stage, clean):
    for verb in ("bootstrap", "converge", "verify"):
        command = ["stage", verb, STAGE]
        message = one_sentence(otap_env({}, *command))
        assert f"run `otap lab up {STAGE}`" in message, command
