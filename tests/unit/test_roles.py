"""Every role's defaults are mirrored in meta/argument_specs.yml, with the same values."""

import pytest
import yaml

from provisioning.paths import REPO

pytestmark = pytest.mark.unit

ROLES = sorted(p.parent.parent.name for p in REPO.glob("roles/*/defaults/main.yml"))


@pytest.mark.parametrize("role", ROLES)
def test_defaults_are_mirrored_in_argument_specs(role):
    defaults = yaml.safe_load((REPO / "roles" / role / "defaults/main.yml").read_text()) or {}
    specs = yaml.safe_load((REPO / "roles" / role / "meta/argument_specs.yml").read_text())
    options = specs["argument_specs"]["main"]["options"]
    assert set(options) == set(defaults)
    for name, value in defaults.items():
        assert options[name]["default"] == value, name
        assert options[name]["description"], name


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
