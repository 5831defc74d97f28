"""Shared data for the firewall unit tests: the plugin loaded by path, inventory data."""

import importlib.util

import yaml

from provisioning.stage import load_stage
from provisioning.stage.paths import REPO
from tests.unit.shared_vars import resolve, shared_values

_spec = importlib.util.spec_from_file_location(
    "safecoach_firewall", REPO / "roles/firewall/filter_plugins/safecoach_firewall.py"
)
fw = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fw)

# The role's defaults as Ansible sees them: service ports from the roles that own them.
DEFAULTS = resolve(
    yaml.safe_load((REPO / "roles/firewall/defaults/main.yml").read_text()), shared_values()
)


def stage_data(name: str) -> dict:
    stage = load_stage(name)
    groups = {g: list(h) for g, h in stage.groups.items()}
    groups["all"] = sorted(stage.hosts)
    return {
        "groups": groups,
        "addresses": {h.name: h.address for h in stage.hosts.values()},
        "admin_networks": stage.vars["admin_networks"],
        "services": DEFAULTS["firewall_services"],
        "egress": DEFAULTS["firewall_egress"],
        "egress_destinations": stage.vars.get("egress") or {},
    }


def rules(name: str, host: str, **change) -> dict[str, str]:
    data = {**stage_data(name), **change}
    return fw.ruleset(host, **data)
