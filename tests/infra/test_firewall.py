"""Role firewall: default deny, rules from the inventory, DoS limits, persistence."""

import pytest


def _rules(host, cmd: str) -> str:
    with host.sudo():
        return host.check_output(cmd)


@pytest.mark.control("FW-01")
def test_default_policy_is_drop_for_ipv4_and_ipv6(host, evidence):
    for tool in ("iptables", "ip6tables"):
        rules = _rules(host, f"{tool} -S")
        policies = [line for line in rules.splitlines() if line.startswith("-P ")]
        evidence(f"{tool} policies", policies)
        evidence(f"{tool} rules per chain", _per_chain(rules))
        for chain in ("INPUT", "FORWARD", "OUTPUT"):
            assert f"-P {chain} DROP" in rules, f"{tool} {chain}"


@pytest.mark.control("FW-02")
def test_web_alone_takes_http_from_anywhere(host, inv_host, evidence):
    rules = _rules(host, "iptables -S INPUT")
    http = evidence(
        "INPUT rules for 80,443", [r for r in rules.splitlines() if "--dports 80,443" in r]
    )
    if "web" in inv_host.groups:
        assert http and all(" -s " not in r for r in http)
    else:
        assert not http


@pytest.mark.control("FW-02")
def test_ssh_only_from_the_admin_networks_or_the_bastion(host, inv_host, stage, evidence):
    rules = [r for r in _rules(host, "iptables -S INPUT").splitlines() if "--dport 22 " in r]
    evidence("INPUT rules for 22", rules)
    sources = {r.split(" -s ")[1].split()[0] for r in rules}
    if "bastion" in inv_host.groups:
        expected = {n if "/" in n else f"{n}/32" for n in stage.vars["admin_networks"]}
    else:
        expected = {f"{stage.bastion.address}/32"}
    assert sources == expected
    assert all(" -s " in r for r in rules), "SSH must never be open to anyone"


@pytest.mark.control("FW-02")
def test_postgresql_only_from_web(host, inv_host, stage, evidence):
    rules = [r for r in _rules(host, "iptables -S INPUT").splitlines() if "--dport 5432" in r]
    evidence("INPUT rules for 5432", rules)
    if "db" not in inv_host.groups:
        assert not rules
        return
    web = {f"{stage.hosts[h].address}/32" for h in stage.groups["web"] if h != inv_host.name}
    assert {r.split(" -s ")[1].split()[0] for r in rules} == web


@pytest.mark.control("FW-03")
def test_egress_is_an_allow_list_with_logged_drops(host, evidence):
    rules = _rules(host, "iptables -S OUTPUT")
    evidence("iptables -S OUTPUT", rules.splitlines())
    assert "-P OUTPUT DROP" in rules
    new = [r for r in rules.splitlines() if "--ctstate NEW" in r]
    assert new and all(" -d " in r or " icmp " in r or "-p icmp" in r for r in new)
    log = [r for r in rules.splitlines() if "sc-fw-out-drop" in r]
    assert log and "-m limit" in log[0]


@pytest.mark.control("FW-04")
def test_dos_limits(host, inv_host, evidence):
    rules = _rules(host, "iptables -S")
    evidence("limit rules", [r for r in rules.splitlines() if "limit" in r or "INVALID" in r])
    assert "-A INPUT -m conntrack --ctstate INVALID -j DROP" in rules
    assert "--hashlimit-name sc-ssh4" in rules and "--connlimit-above" in rules
    if "web" in inv_host.groups:
        assert "--hashlimit-name sc-http4" in rules
    assert evidence("net.ipv4.tcp_syncookies", host.sysctl("net.ipv4.tcp_syncookies")) == 1


@pytest.mark.control("FW-05")
def test_rules_in_force_are_the_rendered_and_checked_ones(host, evidence):
    with host.sudo():
        assert host.run("/usr/local/sbin/sc-firewall pending").rc == 1, "rules not confirmed"
        assert host.run("iptables-restore --test /etc/iptables/rules.v4").rc == 0
        assert host.run("ip6tables-restore --test /etc/iptables/rules.v6").rc == 0
        assert host.run("systemctl is-active --quiet sc-firewall-rollback.timer").rc != 0
        live = host.check_output("iptables-save -t filter")
        saved = host.file("/etc/iptables/rules.v4").content_string
    # iptables-save spells rules its own way (-m tcp, rates); the rules per chain must agree.
    assert evidence("rules in force per chain", _per_chain(live)) == _per_chain(saved)


def _per_chain(text: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for line in text.splitlines():
        if line.startswith("-A "):
            chain = line.split()[1]
            counts[chain] = counts.get(chain, 0) + 1
    return counts


@pytest.mark.control("FW-06")
def test_rules_load_at_boot_before_the_network(host, evidence):
    service = host.service("netfilter-persistent")
    assert evidence("netfilter-persistent enabled", service.is_enabled)
    before = host.check_output("systemctl show -p Before --value netfilter-persistent")
    evidence("netfilter-persistent Before=", before)
    assert "network-pre.target" in before
