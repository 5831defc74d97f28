"""Roles log_client and log_server: every host's journal reaches the stage's log host over TLS."""

import secrets
import time

import pytest
import testinfra


@pytest.fixture(scope="module")
def log_host(stage):
    """The stage's log host (group monitoring), reached like every other host."""
    name = stage.groups["monitoring"][0]
    return testinfra.get_host(f"ssh://{name}", ssh_config=str(stage.ssh_config))


@pytest.mark.control("LOG-01")
@pytest.mark.not_on("monitoring")
def test_the_journal_reaches_the_log_host_over_tls(host, inv_host, stage, log_host):
    log_name = stage.groups["monitoring"][0]
    with host.sudo():
        main = host.file("/etc/rsyslog.conf").content_string
        conf = host.file("/etc/rsyslog.d/60-log-host.conf").content_string
        assert host.run("rsyslogd -N1 -f /etc/rsyslog.conf").rc == 0
    assert host.service("rsyslog").is_enabled and host.service("rsyslog").is_running
    # TLS, and the log host must show a certificate from the stage's CA with its name
    assert 'streamDriverMode="1"' in conf and 'streamDriverAuthMode="x509/name"' in conf
    assert f'streamDriverPermittedPeers="{log_name}"' in conf
    # nothing written locally (the journal is the local log), and no rule but that one
    assert "omfile" not in main + conf
    assert 'include(file="/etc/rsyslog.d/60-log-host.conf" mode="required")' in main
    # a line logged here arrives on the log host, filed under this host's inventory name
    marker = f"safecoach-verify-{secrets.token_hex(6)}"
    host.run(f"logger -t safecoach-verify {marker}")
    folder = f"/var/log/remote/{inv_host.name}"
    deadline = time.monotonic() + 30
    found = None
    with log_host.sudo():
        while time.monotonic() < deadline:
            found = log_host.run(f"grep -rl {marker} {folder}")
            if found.rc == 0:
                break
            time.sleep(1)
    assert found is not None and found.rc == 0, f"{marker} did not reach {log_name}:{folder}"


@pytest.mark.control("LOG-02")
@pytest.mark.only_on("monitoring")
def test_the_log_host_files_each_host_apart_and_keeps_them_private(host, stage, role_defaults):
    defaults = role_defaults("log_server")
    with host.sudo():
        assert host.run("rsyslogd -N1 -f /etc/rsyslog.conf").rc == 0
        # TLS listener on the internal address only
        address = stage.hosts[stage.groups["monitoring"][0]].address
        assert host.socket(f"tcp://{address}:{defaults['log_server_port']}").is_listening
        assert not host.socket(f"tcp://0.0.0.0:{defaults['log_server_port']}").is_listening
        folder = host.file(defaults["log_server_dir"])
        assert (folder.user, folder.group, folder.mode) == ("root", "adm", 0o750)
        for name in stage.hosts:
            if name in stage.groups["monitoring"]:
                continue
            files = host.check_output(
                f"find {defaults['log_server_dir']}/{name} -type f -name '*.log'"
            )
            assert files, f"no logs of {name}"
            for path in files.split():
                log = host.file(path)
                assert (log.user, log.group, log.mode) == ("root", "adm", 0o640), path
        assert host.file("/etc/rsyslog-tls/key.pem").mode == 0o600
    assert host.service("rsyslog").is_running
    timer = host.service("safecoach-log-retention.timer")
    assert timer.is_enabled and timer.is_running
