"""Role accounts: admins from the inventory, root's password, sudo logged."""

import pytest


@pytest.mark.control("ACC-01")
def test_only_the_inventorys_admins_are_in_the_admin_group(host, stage, evidence):
    members = evidence("admins", host.check_output("getent group admins").split(":")[3])
    assert {m for m in members.split(",") if m} == {a["name"] for a in stage.admins()}
    for admin in stage.admins():
        with host.sudo():
            shadow = host.check_output(f"getent shadow {admin['name']}")
        assert shadow.split(":")[1].startswith("!"), "an admin's password must be locked"


@pytest.mark.control("ACC-02")
def test_root_has_a_password_but_no_ssh_login(host, evidence):
    with host.sudo():
        shadow = host.check_output("getent shadow root")
        assert not host.file("/root/.ssh/authorized_keys").exists
        conf = host.check_output("sshd -T -C user=root,host=x,addr=203.0.113.1")
    # the hash's scheme only, never the hash
    scheme = evidence("root's password scheme", shadow.split(":")[1].split("$")[1:2])
    evidence("sshd -T for root", [line for line in conf.splitlines() if "permitrootlogin" in line])
    assert scheme == ["6"], "root's password comes from the vault"
    assert "permitrootlogin no" in conf


@pytest.mark.control("ACC-03")
def test_sudo_is_logged(host, evidence):
    with host.sudo():
        assert host.run("visudo -c").rc == 0
        host.check_output("true")
        log = host.check_output("tail -n 50 /var/log/sudo.log")
    evidence("sudo log lines", len(log.splitlines()))
    assert "COMMAND=" in log
