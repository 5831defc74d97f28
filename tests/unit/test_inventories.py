"""Stage folders differ only in addresses, sizes and secrets (and the lab's own switches)."""

import pytest
import yaml

from provisioning.stage.paths import INVENTORIES

pytestmark = pytest.mark.unit

STAGES = ["development", "test", "acceptance", "production"]
# The keys whose values may differ between stages: what makes a stage itself.
PER_STAGE = {
    "stage",  # its name
    "stage_lab",  # lab or real
    "lab_network",  # addresses
    "admin_networks",  # addresses
    "apt_proxy",  # addresses (the lab's proxy)
    "admins",  # secrets: who holds a key
    "host_size",  # sizes
    "public_name",  # addresses: the site's name
    "secret_key",  # secrets
    "db_app_password",  # secrets
    "sms_token",  # secrets
    "backup_rest_key",  # secrets
    "backup_repository_key",  # secrets
    "egress",  # addresses (outside services the firewall lets hosts reach)
}


# The vault file holds nothing but the stage's secrets (tests/unit/test_secrets.py); the lab's is
# made by otap and not in the repository.
VAULT = "group_vars/all/vault.yml"


def files_of(stage):
    root = INVENTORIES / stage
    found = (str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
    return sorted(name for name in found if name != VAULT)


def test_same_files_in_every_stage():
    reference = files_of("production")
    for stage in STAGES:
        assert files_of(stage) == reference, stage


def test_group_vars_differ_only_in_per_stage_keys():
    base = INVENTORIES / "production" / "group_vars"
    for path in sorted(base.rglob("*.yml")):
        rel = path.relative_to(base)
        if str(rel) == "all/vault.yml":
            continue
        reference = yaml.safe_load(path.read_text()) or {}
        for stage in STAGES:
            other = yaml.safe_load((INVENTORIES / stage / "group_vars" / rel).read_text()) or {}
            assert set(other) == set(reference), f"{stage}: {rel} has other keys"
            differing = {k for k in reference if reference[k] != other[k]}
            assert differing <= PER_STAGE, f"{stage}: {rel} differs in {differing - PER_STAGE}"


def test_hosts_carry_addresses_only():
    for stage in STAGES:
        data = yaml.safe_load((INVENTORIES / stage / "hosts.yml").read_text())
        groups = data["all"]["children"]
        assert set(groups) == {"bastion", "web", "db", "backup", "monitoring"}, stage
        for group in groups.values():
            for hostvars in (group.get("hosts") or {}).values():
                assert set(hostvars or {}) <= {"ansible_host"}, stage


def test_no_real_stage_uses_the_forbidden_documentation_range():
    for stage in STAGES:
        assert "192.0.2." not in (INVENTORIES / stage / "hosts.yml").read_text()
