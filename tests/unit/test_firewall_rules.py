"""Firewall rule sets rendered from inventory data (no host, no lab)."""

import pytest

from tests.unit.firewall_data import fw, rules, stage_data

pytestmark = [pytest.mark.unit, pytest.mark.control("FW-02")]


def lines(text: str, needle: str) -> list[str]:
    return [line for line in text.splitlines() if needle in line]


@pytest.mark.parametrize("stage", ["development", "test", "acceptance", "production"])
def test_every_host_of_every_stage_gets_default_deny(stage):
    for host in stage_data(stage)["addresses"]:
        out = rules(stage, host)
        for version in ("v4", "v6"):
            for chain in ("INPUT", "FORWARD", "OUTPUT"):
                assert f":{chain} DROP" in out[version]
            assert out[version].rstrip().endswith("COMMIT")


def test_http_only_on_web_and_from_anywhere():
    assert lines(rules("development", "web1")["v4"], "--dports 80,443")
    assert " -s " not in lines(rules("development", "web1")["v4"], "--dports 80,443")[0]
    assert lines(rules("development", "web1")["v6"], "--dports 80,443")
    for host in ("bastion1", "db1", "backup1", "mon1"):
        assert not [
            r for r in lines(rules("development", host)["v4"], "--dports 80,443") if "INPUT" in r
        ], host
    # the monitoring host may reach the site (its probe), the other hosts may not
    probe = lines(rules("development", "mon1")["v4"], "--dports 80,443")
    assert probe and all("-A OUTPUT" in r and "-d 10.213.10.11/32" in r for r in probe), probe
    for host in ("bastion1", "db1", "backup1"):
        assert not lines(rules("development", host)["v4"], "--dports 80,443"), host


def test_ssh_to_the_bastion_from_admin_networks_and_to_others_from_the_bastion():
    bastion = lines(rules("development", "bastion1")["v4"], "--dport 22 ")
    assert next(r for r in bastion if "-A INPUT" in r).startswith("-A INPUT -s 10.213.10.1/32")
    for host in ("web1", "db1", "backup1", "mon1"):
        ssh = [r for r in lines(rules("development", host)["v4"], "--dport 22 ") if "INPUT" in r]
        assert len(ssh) == 1 and "-s 10.213.10.10/32" in ssh[0], host
        assert "--dport 22" not in rules("development", host)["v6"], "no SSH over IPv6"


def test_postgresql_only_from_web_and_web_may_reach_it():
    db = lines(rules("development", "db1")["v4"], "--dport 5432")
    assert db == [r for r in db if "-s 10.213.10.11/32" in r] and db
    web = lines(rules("development", "web1")["v4"], "--dport 5432")
    assert len(web) == 1 and web[0].startswith("-A OUTPUT -d 10.213.10.12/32")


def test_colocated_web_and_db_on_test_need_no_rule_to_themselves():
    app = rules("test", "app1")["v4"]
    assert lines(app, "--dports 80,443")
    assert not lines(app, "--dport 5432"), "web and db share app1: loopback, no network rule"


def test_egress_comes_from_the_stage_and_drops_are_logged_rate_limited():
    out = rules(
        "production",
        "web1",
        egress_destinations={"dns": ["203.0.113.53/32"], "smtp_relay": ["203.0.113.25/32"]},
    )["v4"]
    assert "-A OUTPUT -d 203.0.113.53/32 -p udp --dport 53" in out
    assert "-A OUTPUT -d 203.0.113.25/32 -p tcp --dport 587" in out
    db = rules("production", "db1", egress_destinations={"smtp_relay": ["203.0.113.25/32"]})
    assert "--dport 587" not in db["v4"], "only web sends mail"
    log = lines(out, "sc-fw-out-drop")
    assert log[0].startswith("-A OUTPUT -m limit --limit 6/minute")


def test_dos_limits_in_front_of_http_and_ssh():
    out = rules("development", "web1")["v4"]
    assert "-A INPUT -m conntrack --ctstate INVALID -j DROP" in out
    assert "--hashlimit-above 20/second --hashlimit-burst 40 --hashlimit-mode srcip" in out
    assert "--connlimit-above 50 --connlimit-mask 32" in out
    assert "--hashlimit-name sc-ssh4" in out
    assert "--hashlimit-above 60/minute --hashlimit-burst 60" in out, "inner hosts: via the bastion"
    bastion = rules("development", "bastion1")["v4"]
    assert "--hashlimit-above 10/minute --hashlimit-burst 20" in bastion
    custom = rules("development", "web1", limits={"http": {"connections": 7}})["v4"]
    assert "--connlimit-above 7 " in custom


def test_an_admin_network_that_is_not_a_network_is_refused():
    with pytest.raises(fw.FirewallInputError, match="is not a network"):
        rules("development", "web1", admin_networks=["10.213.10.1/33"])
    with pytest.raises(fw.FirewallInputError, match="is not a network"):
        rules("development", "web1", admin_networks=["10.213.10.5/24"])
    with pytest.raises(fw.FirewallInputError, match="admin_networks is empty"):
        rules("development", "web1", admin_networks=[])


def test_a_port_clash_is_refused():
    services = [
        *stage_data("test")["services"],
        {"name": "metrics", "proto": "tcp", "ports": [5432], "hosts": ["web"], "from": ["db"]},
    ]
    with pytest.raises(fw.FirewallInputError, match="5432/tcp on host app1 is claimed by both"):
        rules("test", "app1", services=services)
    clash_ssh = [{"name": "admin-ui", "ports": [22], "hosts": ["web"], "from": ["world"]}]
    with pytest.raises(fw.FirewallInputError, match="claimed by both ssh and admin-ui"):
        rules("development", "web1", services=clash_ssh)


def test_bad_ports_and_addresses_are_refused():
    with pytest.raises(fw.FirewallInputError, match="ports are numbers"):
        rules("development", "web1", services=[{"name": "x", "ports": [70000], "hosts": ["web"]}])
    with pytest.raises(fw.FirewallInputError, match="not an IP address"):
        data = stage_data("development")["addresses"]
        rules("development", "web1", addresses={**data, "db1": "db.example"})


def test_the_messages_are_one_sentence():
    try:
        rules("development", "web1", admin_networks=["office"])
    except fw.FirewallInputError as exc:
        message = str(exc)
    assert message.count(". ") == 0 and message.endswith(".")
    assert "\n" not in message
