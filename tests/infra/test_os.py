"""Role base, OS baseline: sysctls, updates, time sync, nothing unneeded."""

import pytest


def _in_container(host) -> bool:
    return host.run("systemd-detect-virt --container").rc == 0


@pytest.mark.control("OS-01")
def test_network_sysctls(host, role_defaults):
    assert host.file("/etc/sysctl.d/60-safecoach-network.conf").exists
    if _in_container(host) and host.run("test -w /proc/sys/net/ipv4/tcp_syncookies").rc != 0:
        pytest.skip(
            "not applicable in the lab: the container's /proc/sys is read-only; its network "
            "namespace is set up by the controller"
        )
    for key, value in role_defaults("base")["base_sysctl_network"].items():
        assert host.sysctl(key) == value, key


@pytest.mark.control("OS-02")
def test_kernel_sysctls(host, role_defaults):
    if _in_container(host):
        pytest.skip("not applicable in the lab: a container shares the controller's kernel")
    for key, value in role_defaults("base")["base_sysctl_kernel"].items():
        assert host.sysctl(key) == value, key


@pytest.mark.control("OS-03")
def test_unattended_security_upgrades_on_test_only(host, stage, role_defaults):
    installed = host.package("unattended-upgrades").is_installed
    assert installed == (stage.name in role_defaults("base")["base_unattended_upgrades_stages"])


@pytest.mark.control("OS-04")
def test_time_sync(host):
    assert host.service("systemd-timesyncd").is_enabled
    if _in_container(host):
        pytest.skip("not applicable in the lab: a container cannot set the clock it shares")
    assert host.check_output("timedatectl show -p NTPSynchronized --value") == "yes"


@pytest.mark.control("OS-05")
def test_nothing_unneeded(host, role_defaults):
    for name in role_defaults("base")["base_packages_absent"]:
        assert not host.package(name).is_installed, name


@pytest.mark.control("OS-06")
def test_login_defaults_core_dumps_modules_and_notice(host, role_defaults):
    defaults = role_defaults("base")
    login_defs = host.file("/etc/login.defs").content_string
    for key, value in defaults["base_login_defs"].items():
        assert any(line.split() == [key, str(value)] for line in login_defs.splitlines()), key
    assert (
        "hard core 0" in host.file("/etc/security/limits.d/10-safecoach-core.conf").content_string
    )
    blacklist = host.file("/etc/modprobe.d/safecoach-blacklist.conf").content_string
    for module in defaults["base_modules_disabled"]:
        assert f"install {module} /bin/false" in blacklist
    assert "Authorised use only" in host.file("/etc/issue.net").content_string
    assert host.package("libpam-tmpdir").is_installed


@pytest.mark.control("OS-07")
def test_audit_and_integrity_tools(host, role_defaults):
    defaults = role_defaults("base")
    for name in defaults["base_audit_packages"]:
        assert host.package(name).is_installed, name
    for unit in ("sysstat-collect.timer", "safecoach-debsums.timer", "chkrootkit.timer"):
        assert host.service(unit).is_enabled and host.service(unit).is_running, unit
    with host.sudo():
        for folder in ("/etc/cron.d", "/etc/cron.daily", "/etc/cron.weekly"):
            assert host.file(folder).mode == 0o700, folder
        # the debsums check itself: every installed package file matches its checksum
        check = host.run("debsums --silent")
    assert check.rc == 0, check.stdout + check.stderr


@pytest.mark.control("OS-07")
def test_process_accounting(host):
    if _in_container(host):
        pytest.skip(
            "not applicable in the lab: process accounting is a setting of the kernel the "
            "container shares with the controller"
        )
    assert host.service("acct").is_running
