"""Role ssh: the effective sshd configuration (sshd -T)."""

import pytest


def _effective(host) -> dict[str, str]:
    with host.sudo():
        out = host.check_output("sshd -T -C user=nobody,host=x,addr=203.0.113.1")
    conf: dict[str, str] = {}
    for line in out.splitlines():
        key, _, value = line.partition(" ")
        conf[key] = value
    return conf


def _record(evidence, conf: dict[str, str], *keys: str) -> None:
    """The effective lines the test reads, as evidence for the auditor's report."""
    evidence("sshd -T", {key: conf.get(key) for key in keys})


@pytest.mark.control("SSH-01")
def test_public_keys_only_for_admins_never_root(host, evidence):
    conf = _effective(host)
    _record(
        evidence,
        conf,
        "passwordauthentication",
        "kbdinteractiveauthentication",
        "pubkeyauthentication",
        "permitrootlogin",
        "permitemptypasswords",
        "authenticationmethods",
        "allowgroups",
        "maxauthtries",
        "maxsessions",
        "loglevel",
    )
    assert conf["passwordauthentication"] == "no"
    assert conf["kbdinteractiveauthentication"] == "no"
    assert conf["pubkeyauthentication"] == "yes"
    assert conf["permitrootlogin"] == "no"
    assert conf["permitemptypasswords"] == "no"
    assert conf["authenticationmethods"] == "publickey"
    assert conf["allowgroups"] == "admins"
    assert conf["maxauthtries"] == "3"
    assert conf["maxsessions"] == "2"
    assert conf["loglevel"] == "VERBOSE"


@pytest.mark.control("SSH-01")
def test_the_config_passes_sshd_t_and_has_no_drop_ins(host, evidence):
    with host.sudo():
        assert evidence("sshd -t exit status", host.run("sshd -t").rc) == 0
        found = host.check_output("find /etc/ssh/sshd_config.d -name '*.conf'")
        assert evidence("drop-ins in /etc/ssh/sshd_config.d", found) == ""


@pytest.mark.control("SSH-02")
def test_modern_algorithms_only(host, evidence):
    conf = _effective(host)
    _record(evidence, conf, "kexalgorithms", "ciphers", "macs", "hostkeyalgorithms")
    assert set(conf["kexalgorithms"].split(",")) <= {
        "mlkem768x25519-sha256",
        "sntrup761x25519-sha512",
        "sntrup761x25519-sha512@openssh.com",
    }
    assert all(m.endswith("-etm@openssh.com") for m in conf["macs"].split(","))
    assert not any("cbc" in c or "3des" in c for c in conf["ciphers"].split(","))
    assert conf["hostkeyalgorithms"].startswith("ssh-ed25519")


@pytest.mark.control("SSH-03")
def test_forwarding_only_on_the_bastion_and_to_the_monitoring_uis(
    host, inv_host, stage, role_defaults, evidence
):
    conf = _effective(host)
    _record(
        evidence,
        conf,
        "x11forwarding",
        "allowagentforwarding",
        "permittunnel",
        "allowtcpforwarding",
        "disableforwarding",
        "permitopen",
    )
    assert conf["x11forwarding"] == "no"
    assert conf["allowagentforwarding"] == "no"
    assert conf["permittunnel"] == "no"
    if "bastion" in inv_host.groups:
        assert conf["allowtcpforwarding"] == "local"
        # only to the SSH of the stage's other hosts
        inner = sorted(
            f"{record.address}:22"
            for name, record in stage.hosts.items()
            if name not in stage.groups["bastion"]
        )
        assert sorted(conf["permitopen"].split()) == inner
    elif "monitoring" in inv_host.groups:
        # only to Prometheus and Alertmanager on loopback (otap monitor open)
        values = role_defaults("monitoring")
        uis = sorted(
            f"{values['monitoring_listen_address']}:{values[port]}"
            for port in ("monitoring_prometheus_port", "monitoring_alertmanager_port")
        )
        assert conf["allowtcpforwarding"] == "local"
        assert sorted(conf["permitopen"].split()) == uis
    else:
        assert conf["allowtcpforwarding"] == "no"
        assert conf["disableforwarding"] == "yes"


@pytest.mark.control("SSH-01")
def test_per_source_penalties_exempt_only_the_bastion_behind_it(host, inv_host, stage, evidence):
    conf = _effective(host)
    _record(evidence, conf, "persourcepenalties", "persourcepenaltyexemptlist")
    assert conf["persourcepenalties"] != "no", "sshd's per-source penalties stay on"
    if "bastion" in inv_host.groups:
        assert conf["persourcepenaltyexemptlist"] == "none"
    else:
        bastions = sorted(f"{stage.hosts[name].address}/32" for name in stage.groups["bastion"])
        assert sorted(conf["persourcepenaltyexemptlist"].split(",")) == bastions
