"""Role bastion: every session logged and recorded."""

import pytest


@pytest.mark.control("BAS-01")
def test_every_session_on_the_bastion_is_logged(host, inv_host):
    with host.sudo():
        conf = host.check_output("sshd -T -C user=nobody,host=x,addr=203.0.113.1")
    if "bastion" not in inv_host.groups:
        assert "forcecommand none" in conf
        return
    assert "forcecommand /usr/local/sbin/sc-session" in conf
    assert host.file("/var/log/bastion-sessions").is_directory
    with host.sudo():
        journal = host.check_output("journalctl -t sc-session -n 20 --no-pager")
    assert "command of" in journal
