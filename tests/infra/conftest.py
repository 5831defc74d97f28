"""testinfra suites: run by `otap verify STAGE` against every host of a stage.

Without --hosts (a plain `pytest` run) these tests are deselected: they would otherwise test the
machine they run on.
"""

import os
from pathlib import Path

import pytest
import yaml

from provisioning import sshconfig
from provisioning.inventory import load_stage

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent


def pytest_collection_modifyitems(config, items):
    if getattr(config.option, "hosts", None):
        return
    ours = [item for item in items if HERE in Path(str(item.fspath)).parents]
    if ours:
        config.hook.pytest_deselected(items=ours)
        items[:] = [item for item in items if item not in ours]


@pytest.fixture(scope="session")
def stage():
    return load_stage(os.environ.get("OTAP_STAGE", "development"))


@pytest.fixture
def inv_host(host, stage):
    """The inventory entry of the host under test."""
    return stage.hosts[host.backend.hostname]


@pytest.fixture(scope="session")
def role_defaults():
    def load(role: str) -> dict:
        return yaml.safe_load((REPO / "roles" / role / "defaults" / "main.yml").read_text())

    return load


@pytest.fixture(scope="session")
def pinned_keys(stage):
    return sshconfig.read_known_hosts(stage)
