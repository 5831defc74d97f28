"""Stage folders differ only in addresses, sizes and secrets (and the lab's own switches).

What every stage shares lives once, in the playbook-level group_vars/ beside site.yml.
"""

import pytest
import yaml

from provisioning.stage.paths import INVENTORIES, REPO

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
    "egress",  # addresses (outside services the firewall lets hosts reach)
    "mail_relay_smarthost",  # addresses: where alert mails leave the stage
    "mail_relay_local_mailbox",  # the lab's own switch: alerts kept in a local mailbox
    "monitoring_operators",  # addresses: who gets the alerts
    "monitoring_mail_from",  # addresses: the alerts' sender
    "audit_documents",  # the hosting provider's certificates, for the controls that are not ours
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


SHARED = REPO / "group_vars" / "all"


def test_shared_values_live_once_beside_site_yml():
    # How tools reach the hosts and the names of the secrets: once, for every stage.
    assert (SHARED / "connection.yml").is_file() and (SHARED / "secrets.yml").is_file()
    shared = {}
    for path in SHARED.glob("*.yml"):
        shared.update(yaml.safe_load(path.read_text()) or {})
    assert {"ansible_ssh_common_args", "otap_state_dir", "secret_key"} <= set(shared)
    for stage in STAGES:
        folder = INVENTORIES / stage / "group_vars"
        assert not list(folder.rglob("connection.yml")), stage
        assert not list(folder.rglob("secrets.yml")), stage
        for path in folder.rglob("*.yml"):
            if path.name == "vault.yml":
                continue
            again = set(yaml.safe_load(path.read_text()) or {}) & set(shared)
            assert not again, f"{stage}: {path.name} repeats {again}"
