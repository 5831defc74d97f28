"""Role base: packages, time zone, persistent journal, apt settings."""

import pytest


@pytest.mark.control("BASE-01")
def test_base_packages_are_installed(host, role_defaults, evidence):
    versions = {}
    for name in role_defaults("base")["base_packages"]:
        package = host.package(name)
        versions[name] = package.version if package.is_installed else None
    evidence("package versions", versions)
    assert None not in versions.values(), [name for name, v in versions.items() if v is None]


@pytest.mark.control("BASE-02")
def test_time_zone(host, role_defaults, evidence):
    zone = role_defaults("base")["base_timezone"]
    localtime = host.file("/etc/localtime")
    assert localtime.is_symlink
    assert evidence("/etc/localtime", localtime.linked_to) == f"/usr/share/zoneinfo/{zone}"
    assert host.file("/etc/timezone").content_string.strip() == zone


@pytest.mark.control("BASE-03")
def test_journal_is_persistent(host, evidence):
    assert host.file("/var/log/journal").is_directory
    conf = host.file("/etc/systemd/journald.conf.d/10-safecoach.conf").content_string
    assert "Storage=persistent" in conf
    assert host.service("systemd-journald").is_running
    with host.sudo():
        header = host.check_output("journalctl --header --system -n 0")
    path = [line for line in header.splitlines() if line.strip().startswith("File path")]
    evidence("journal file", path)
    assert "/var/log/journal/" in header


@pytest.mark.control("BASE-04")
def test_apt_sources_include_security_updates(host, role_defaults, evidence):
    suite = role_defaults("base")["base_apt_suite"]
    assert not host.file("/etc/apt/sources.list").exists
    sources = host.file("/etc/apt/sources.list.d/debian.sources").content_string
    evidence("suites", [line for line in sources.splitlines() if line.startswith("Suites:")])
    assert f"Suites: {suite}-security" in sources
    assert f"{suite}-updates" in sources


@pytest.mark.control("BASE-04")
def test_apt_installs_no_recommends(host, evidence):
    dump = evidence("apt-config", host.check_output("apt-config dump APT::Install-Recommends"))
    assert 'APT::Install-Recommends "false"' in dump
