"""otap stage patch: acceptance and production take only what has run on test for the soak time."""

import datetime as dt

import pytest

from provisioning.cli import main
from provisioning.steps import patch

pytestmark = [pytest.mark.unit, pytest.mark.control("OTAP-01")]

DPKG_LOG = """\
2026-11-01 10:00:00 startup packages configure
2026-11-01 10:00:01 status installed openssl:amd64 3.5.1-1
2026-11-20 09:00:00 status installed libssl3t64:amd64 3.5.1-2
2026-11-02 08:00:00 status half-configured tzdata:all 2025b-4
2026-11-02 08:00:01 status installed tzdata:all 2025b-4
"""
APT_SIMULATION = """\
NOTE: This is only a simulation!
Inst openssl [3.5.0-1] (3.5.1-1 Debian-Security:13/stable-security [amd64])
Inst libssl3t64 [3.5.0-1] (3.5.1-2 Debian-Security:13/stable-security [amd64])
Inst curl [8.14.1-1] (8.14.1-2 Debian:13/stable [amd64])
Conf openssl (3.5.1-1 Debian-Security:13/stable-security [amd64])
"""


def test_reading_what_ran_on_test_and_what_is_pending():
    history = patch.parse_dpkg_log(DPKG_LOG)
    assert history[("openssl", "3.5.1-1")] == dt.datetime(2026, 11, 1, 10, 0, 1)
    assert history[("tzdata", "2025b-4")] == dt.datetime(2026, 11, 2, 8, 0, 1)
    assert patch.parse_pending(APT_SIMULATION) == {
        "openssl": "3.5.1-1",
        "libssl3t64": "3.5.1-2",
        "curl": "8.14.1-2",
    }


def test_only_soaked_versions_are_allowed():
    history = patch.parse_dpkg_log(DPKG_LOG)
    now = dt.datetime(2026, 11, 25, 9, 0, 0)
    decision = patch.decide(patch.parse_pending(APT_SIMULATION), history, now, dt.timedelta(days=7))
    assert decision.allowed == {"openssl": "3.5.1-1"}
    assert "has not run on test" in decision.refused["curl"]
    assert "wait 48 h more" in decision.refused["libssl3t64"]


def test_a_version_other_than_the_one_test_had_is_refused():
    history = {("openssl", "3.5.1-1"): dt.datetime(2026, 1, 1)}
    decision = patch.decide(
        {"openssl": "3.5.1-9"}, history, dt.datetime(2026, 11, 1), dt.timedelta(days=1)
    )
    assert decision.allowed == {} and "3.5.1-9 has not run on test" in decision.refused["openssl"]


def test_the_command_exists_with_its_options(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["patch", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "--soak-days" in out and "--only-soaked" in out
