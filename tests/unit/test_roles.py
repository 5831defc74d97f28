"""site.yml places each role on the hosts of its group (role defaults: tests/unit/test_ansible.py)."""

import pytest
import yaml

from provisioning.stage.paths import REPO

pytestmark = pytest.mark.unit


def test_site_yml_places_the_roles_in_their_groups():
    plays = [p for p in yaml.safe_load((REPO / "site.yml").read_text()) if "hosts" in p]
    roles = {}
    for play in plays:
        roles.setdefault(play["hosts"], []).extend(r["role"] for r in play["roles"])
    assert roles["all"] == ["base", "accounts", "ssh", "firewall"]
    assert roles["bastion"] == ["bastion"]
    assert roles["db"] == ["postgresql", "backup_client"]
    assert roles["web"] == ["app", "web"]
    assert roles["backup"] == ["backup_server"]
