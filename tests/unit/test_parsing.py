"""Our own parsing of tool output and our own derived data."""

import ipaddress

import pytest

from provisioning.lab import image, network
from provisioning.stage import OtapError, load_stage
from provisioning.steps import bootstrap, converge

pytestmark = pytest.mark.unit

RECAP = """
PLAY RECAP *********************************************************************
bastion1                   : ok=16   changed=11   unreachable=0    failed=0    skipped=0    rescued=0    ignored=0
web1                       : ok=13   changed=0    unreachable=1    failed=2    skipped=1    rescued=0    ignored=0
"""

PYINFRA = """
--> Results:
    Operation                                  Hosts   Success   Error   No Change
    BOOT-05 | apt proxy (lab only)             4       4         -       -
    Grand total                                32      4         -       28
"""


def test_play_recap():
    hosts = converge.parse_recap(RECAP)
    assert hosts["bastion1"]["changed"] == 11
    assert hosts["web1"] == {
        "ok": 13,
        "changed": 0,
        "unreachable": 1,
        "failed": 2,
        "skipped": 1,
        "rescued": 0,
        "ignored": 0,
    }
    result = converge.Result(0, 1.0, hosts)
    assert not result.ok
    assert result.total("changed") == 11


def test_pyinfra_grand_total():
    assert bootstrap.parse_totals(PYINFRA) == {
        "hosts": 32,
        "changed": 4,
        "errors": 0,
        "unchanged": 28,
    }
    assert bootstrap.parse_totals("no table")["changed"] == 0


def test_etc_hosts_lists_the_stage(monkeypatch, tmp_path):
    monkeypatch.setenv("OTAP_STATE_ROOT", str(tmp_path))
    text = bootstrap.etc_hosts(load_stage("development"), "web1")
    assert "127.0.1.1\tweb1" in text
    assert "10.213.10.12\tdb1" in text


def test_image_key_follows_the_recipe(monkeypatch):
    key = image.image_key()
    assert key == image.image_key()
    monkeypatch.setattr(image, "PACKAGES", (*image.PACKAGES, "vim"))
    assert image.image_key() != key


def test_range_in_use_on_the_machine_is_refused():
    # The loopback network is on every machine: a lab there must be refused.
    with pytest.raises(OtapError, match="already in use on this machine"):
        network.check_range_free(ipaddress.IPv4Network("127.0.0.0/24"), "sc10-br")


def test_names_fit_linux_interface_names():
    assert len(network.bridge_name(255)) <= 15
    assert len(f"{network.prefix(255)}h99") <= 15


def test_mac_is_fixed_per_address():
    assert network.mac_for("10.213.10.11") == "02:5c:0a:d5:0a:0b"


def test_full_disk_is_one_sentence(tmp_path):
    from provisioning.lab.system import check_disk

    with pytest.raises(OtapError, match=r"is full \(\d+ MiB free, the lab needs"):
        check_disk(tmp_path / "not" / "yet", 2**60, "the lab")


def test_missing_tools_say_how_to_install(monkeypatch):
    from provisioning.lab import system

    monkeypatch.setattr(system.shutil, "which", lambda tool: None)
    with pytest.raises(OtapError, match=r"install them with: apt-get install .*debootstrap"):
        system.ensure_tools(install=False)
