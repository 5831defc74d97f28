"""Loading stage inventories: groups, addresses, lab settings, and clear errors for bad input."""

import shutil

import pytest

from provisioning.stage import OtapError
from provisioning.stage.inventory import GROUPS, load_stage, stage_names
from provisioning.stage.paths import INVENTORIES

pytestmark = pytest.mark.unit


def test_the_four_stages_exist():
    assert stage_names() == ["acceptance", "development", "production", "test"]


@pytest.mark.parametrize("name", ["development", "test", "acceptance", "production"])
def test_every_stage_has_every_group(name):
    stage = load_stage(name)
    for group in GROUPS:
        assert stage.groups[group], group
    assert stage.bastion.name == "bastion1"


def test_test_stage_colocates_web_and_db():
    stage = load_stage("test")
    assert stage.groups["web"] == stage.groups["db"] == ["app1"]
    assert set(stage.hosts["app1"].groups) == {"web", "db"}


def test_development_is_the_lab():
    stage = load_stage("development")
    assert stage.lab
    assert str(stage.lab_network) == "10.213.10.0/24"
    assert stage.lab_index == 10
    assert stage.controller_address == "10.213.10.1"
    assert len(stage.hosts) == 5


@pytest.mark.parametrize(
    ("name", "network"),
    [("test", "198.51.100."), ("acceptance", "198.51.100."), ("production", "203.0.113.")],
)
def test_real_stages_use_documentation_addresses(name, network):
    stage = load_stage(name)
    assert not stage.lab
    assert all(h.address.startswith(network) for h in stage.hosts.values())


def test_unknown_stage_names_the_known_ones():
    with pytest.raises(OtapError, match=r"unknown stage 'staging'; known stages: acceptance"):
        load_stage("staging")


def test_lab_network_of_a_real_stage_is_refused():
    with pytest.raises(OtapError, match="not a lab stage"):
        _ = load_stage("production").lab_network


@pytest.fixture
def copy_stage(tmp_path):
    def make(name="development"):
        shutil.copytree(INVENTORIES / name, tmp_path / name)
        return tmp_path / name

    return make


def test_two_hosts_with_one_address_clash(copy_stage):
    path = copy_stage()
    hosts = path / "hosts.yml"
    hosts.write_text(hosts.read_text().replace("10.213.10.12", "10.213.10.11"))
    with pytest.raises(OtapError, match="web1 and db1 in stage development clash"):
        load_stage("development", root=path.parent)


def test_invalid_host_name(copy_stage):
    path = copy_stage()
    hosts = path / "hosts.yml"
    hosts.write_text(hosts.read_text().replace("web1:", "Web_1:"))
    with pytest.raises(OtapError, match="not a valid short host name"):
        load_stage("development", root=path.parent)


def test_missing_group(copy_stage):
    path = copy_stage("production")
    hosts = path / "hosts.yml"
    text = hosts.read_text()
    start = text.index("    monitoring:")
    hosts.write_text(text[:start])
    with pytest.raises(OtapError, match="no host in group monitoring"):
        load_stage("production", root=path.parent)


def test_lab_host_outside_the_lab_network(copy_stage):
    path = copy_stage()
    hosts = path / "hosts.yml"
    hosts.write_text(hosts.read_text().replace("10.213.10.14", "10.213.11.14"))
    with pytest.raises(OtapError, match="not a host address of the lab network"):
        load_stage("development", root=path.parent)


def test_controller_address_is_reserved(copy_stage):
    path = copy_stage()
    hosts = path / "hosts.yml"
    hosts.write_text(hosts.read_text().replace("10.213.10.14", "10.213.10.1\n"))
    with pytest.raises(OtapError, match=r"\.1 is the controller's"):
        load_stage("development", root=path.parent)


def test_broken_yaml_is_one_sentence(copy_stage):
    path = copy_stage()
    (path / "hosts.yml").write_text("all:\n  children: [\n")
    with pytest.raises(OtapError, match="is not valid YAML"):
        load_stage("development", root=path.parent)


def test_admin_key_file_is_read_from_the_state_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("OTAP_STATE_ROOT", str(tmp_path))
    keys = tmp_path / "development" / "keys"
    keys.mkdir(parents=True)
    (keys / "admin_ed25519.pub").write_text("ssh-ed25519 AAAAtest labadmin\n")
    stage = load_stage("development")
    assert stage.admins() == [{"name": "labadmin", "key": "ssh-ed25519 AAAAtest labadmin"}]


def test_the_vault_file_is_left_to_ansible(tmp_path):
    """otap reads a stage's variables, never its encrypted secrets."""
    from provisioning.stage.inventory import group_vars

    folder = tmp_path / "group_vars" / "all"
    folder.mkdir(parents=True)
    (folder / "stage.yml").write_text("stage: lab\n")
    (folder / "vault.yml").write_text("$ANSIBLE_VAULT;1.1;AES256\n3132\n")
    assert group_vars(tmp_path, "all") == {"stage": "lab"}
