"""testinfra suites: run by `otap stage verify STAGE` against every host of a stage.

Without --hosts (a plain `pytest` run) these tests are deselected: they would otherwise test the
machine they run on.
"""

import json
import os
from pathlib import Path

import pytest
import yaml

from provisioning.stage import load_stage, sshconfig

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "only_on(group): the check belongs to the hosts of this inventory group"
    )
    config.addinivalue_line(
        "markers", "not_on(group): the check belongs to every host outside this inventory group"
    )


def pytest_collection_modifyitems(config, items):
    ours = [item for item in items if HERE in Path(str(item.fspath)).parents]
    if not getattr(config.option, "hosts", None):
        drop = ours
    else:
        # A check of one group's role is not run on the other hosts at all (rather than shown as
        # skipped): the report lists what applies to each host.
        stage = load_stage(os.environ.get("OTAP_STAGE", "development"))
        drop = [item for item in ours if not _applies(item, stage)]
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = [item for item in items if item not in drop]


def _applies(item, stage) -> bool:
    only, outside = item.get_closest_marker("only_on"), item.get_closest_marker("not_on")
    callspec = getattr(item, "callspec", None)
    if (only, outside) == (None, None) or callspec is None:
        return True
    if "_testinfra_host" not in callspec.params:
        return True
    name = callspec.params["_testinfra_host"].backend.hostname
    host = stage.hosts.get(name)
    if host is None:
        return True
    if only is not None and only.args[0] not in host.groups:
        return False
    return outside is None or outside.args[0] not in host.groups


@pytest.fixture(autouse=True)
def _report_properties(request, record_property):
    """Each test names, in the junit report, the controls it verifies and the host it ran on
    (the auditor's report, provisioning/report, reads them)."""
    seen = []
    for marker in request.node.iter_markers("control"):
        if marker.args[0] not in seen:
            seen.append(marker.args[0])
            record_property("control", marker.args[0])
    callspec = getattr(request.node, "callspec", None)
    if callspec is not None and "_testinfra_host" in callspec.params:
        record_property("host", callspec.params["_testinfra_host"].backend.hostname)


@pytest.fixture
def evidence(record_property):
    """evidence(name, value) -> value: what the test read on the host, kept in the junit report
    for the auditor (a JSON value; never an expectation restated, never a secret)."""

    def note(name: str, value):
        record_property("evidence", json.dumps({"name": name, "value": value}, default=str))
        return value

    return note


@pytest.fixture(scope="session")
def stage():
    return load_stage(os.environ.get("OTAP_STAGE", "development"))


@pytest.fixture
def inv_host(host, stage):
    """The inventory entry of the host under test."""
    return stage.hosts[host.backend.hostname]


@pytest.fixture(scope="session")
def role_defaults():
    """A role's defaults and the values every role sees (playbook-level group_vars/all beside
    site.yml: the ports and paths a role exposes to every host, such as postgresql_port)."""

    def load(role: str) -> dict:
        shared: dict = {}
        for path in sorted((REPO / "group_vars" / "all").glob("*.yml")):
            shared.update(yaml.safe_load(path.read_text()) or {})
        own = yaml.safe_load((REPO / "roles" / role / "defaults" / "main.yml").read_text())
        return {**shared, **own}

    return load


@pytest.fixture(scope="session")
def group_values():
    """The playbook-level values of a host's groups (group_vars/<group>.yml beside site.yml)."""

    def load(inv_host) -> dict:
        values: dict = {}
        for group in sorted(inv_host.groups):
            path = REPO / "group_vars" / f"{group}.yml"
            if path.is_file():
                values.update(yaml.safe_load(path.read_text()) or {})
        return values

    return load


@pytest.fixture(scope="session")
def pinned_keys(stage):
    return sshconfig.read_known_hosts(stage)
