"""Day 0 (otap stage bootstrap): admins, sudo, host name, /etc/hosts, apt proxy, pinned host keys."""

import pytest

from provisioning.steps.bootstrap import ADMIN_GROUP


@pytest.mark.control("BOOT-01")
def test_admins_have_accounts_with_their_keys_only(host, stage, evidence):
    for admin in stage.admins():
        user = host.user(admin["name"])
        assert user.exists
        assert ADMIN_GROUP in user.groups
        with host.sudo():
            keys = host.file(f"{user.home}/.ssh/authorized_keys").content_string
        found = [line for line in keys.splitlines() if line.strip()]
        # the key types and comments, not the keys
        evidence(f"{admin['name']} keys", [" ".join(k.split()[:1] + k.split()[2:]) for k in found])
        assert found == [admin["key"]]


@pytest.mark.control("BOOT-01")
def test_admins_have_no_password(host, stage, evidence):
    for admin in stage.admins():
        with host.sudo():
            shadow = host.check_output(f"getent shadow {admin['name']}")
        password = shadow.split(":")[1]
        evidence(f"{admin['name']} password field", password[:1])
        assert password.startswith(("!", "*")), "an admin account has a usable password"


@pytest.mark.control("BOOT-02")
def test_admin_group_has_sudo(host):
    rule = host.file(f"/etc/sudoers.d/{ADMIN_GROUP}")
    assert rule.user == "root"
    assert rule.mode == 0o440
    assert host.run("sudo -n true").rc == 0
    with host.sudo():
        assert host.run("visudo -c").rc == 0


@pytest.mark.control("BOOT-03")
def test_host_name_is_the_inventory_name(host, inv_host, evidence):
    assert evidence("hostname", host.check_output("hostname")) == inv_host.name
    assert host.file("/etc/hostname").content_string.strip() == inv_host.name


@pytest.mark.control("BOOT-03")
def test_etc_hosts_lists_every_host_of_the_stage(host, stage):
    entries = set()
    for line in host.file("/etc/hosts").content_string.splitlines():
        parts = line.split()
        if parts and not parts[0].startswith("#"):
            entries.update((parts[0], name) for name in parts[1:])
    for other in stage.hosts.values():
        assert (other.address, other.name) in entries


@pytest.mark.control("BOOT-04")
def test_tools_need_python_and_sudo(host):
    assert host.package("python3").is_installed
    assert host.package("sudo").is_installed
    assert (
        host.check_output("python3 -c 'import sys; print(sys.version_info >= (3, 11))'") == "True"
    )


@pytest.mark.control("BOOT-05")
def test_apt_proxy_only_in_the_lab(host, stage):
    proxy = host.file("/etc/apt/apt.conf.d/01safecoach-proxy")
    if stage.lab:
        assert stage.vars["apt_proxy"] in proxy.content_string
    else:
        assert not proxy.exists


@pytest.mark.control("BOOT-06")
def test_host_keys_are_pinned(host, inv_host, pinned_keys):
    served = {
        " ".join(line.split()[:2])
        for line in host.check_output("cat /etc/ssh/ssh_host_*_key.pub").splitlines()
    }
    assert served == set(pinned_keys[inv_host.name])
