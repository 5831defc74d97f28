"""Deploys and promotion: the rules, stated as data (no host needed)."""

import pytest

from provisioning import cli
from provisioning.releases import deploy, promote, record
from provisioning.releases.build import Release
from provisioning.remote import target
from provisioning.stage import OtapError, load_stage

pytestmark = [pytest.mark.unit, pytest.mark.control("DEP-05")]

A, B = "0.1.0-aaaaaaaaaaaa", "0.2.0-bbbbbbbbbbbb"


def history(*events, current=None):
    rec = record.empty_record("test")
    for release, event in events:
        record.add_event(rec, release, event)
    rec["current"] = current
    return rec


def test_promotion_in_order_of_the_verified_current_release():
    rec = history((A, "installed"), (A, "deployed"), (A, "verified"), current=A)
    assert promote.check_promotion("test", "acceptance", rec, None) == A
    assert promote.check_promotion("acceptance", "production", rec, A) == A
    assert promote.check_promotion("development", "test", rec, None) == A


@pytest.mark.parametrize(
    ("source", "target"),
    [
        ("test", "production"),
        ("development", "production"),
        ("acceptance", "test"),
        ("production", "acceptance"),
        ("development", "acceptance"),
        ("test", "test"),
    ],
)
def test_promotion_out_of_order_is_refused_in_one_sentence(source, target):
    rec = history((A, "verified"), current=A)
    with pytest.raises(OtapError) as info:
        promote.check_promotion(source, target, rec, None)
    message = str(info.value)
    assert "out of order" in message and "\n" not in message and message.endswith(".")


def test_unverified_release_is_not_promoted():
    rec = history((A, "verified"), (B, "installed"), (B, "failed"), (A, "rolled-back"), current=A)
    with pytest.raises(OtapError, match=f"release {B} was never deployed and verified on test"):
        promote.check_promotion("test", "acceptance", rec, B)


def test_a_verified_release_no_longer_current_is_not_promoted():
    rec = history((A, "verified"), (B, "verified"), current=B)
    with pytest.raises(OtapError, match="no longer current"):
        promote.check_promotion("test", "acceptance", rec, A)


def test_nothing_deployed_on_the_source():
    with pytest.raises(OtapError, match="has no release deployed"):
        promote.check_promotion("test", "acceptance", record.empty_record("test"), None)


def test_unknown_stage_in_promotion():
    with pytest.raises(OtapError, match="not a step"):
        promote.check_promotion("staging", "production", {}, None)


def manifest(dirty=False):
    return Release(None, {"release": A, "version": "0.1.0", "dirty": dirty, "files": {}})


def test_acceptance_and_production_take_releases_only_by_promotion():
    for name, before in (("acceptance", "test"), ("production", "acceptance")):
        with pytest.raises(OtapError, match=f"otap release promote {before} {name}"):
            deploy.check_direct_deploy(load_stage(name), manifest())
    deploy.check_direct_deploy(load_stage("test"), manifest())
    deploy.check_direct_deploy(load_stage("development"), manifest())


def test_a_dirty_build_goes_to_the_lab_only():
    deploy.check_direct_deploy(load_stage("development"), manifest(dirty=True))
    with pytest.raises(OtapError, match="lab only"):
        deploy.check_direct_deploy(load_stage("test"), manifest(dirty=True))


def test_verified_lists_each_release_once():
    rec = history((A, "verified"), (B, "verified"), (A, "verified"))
    assert record.verified(rec) == [A, B]


def test_cli_promotion_out_of_order_is_one_line_without_connecting(capsys):
    assert cli.main(["release", "promote", "test", "production"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert err.startswith("otap: error: promotion from test to production is out of order")


def test_cli_unknown_release_is_one_line(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("OTAP_RELEASES", str(tmp_path))
    assert cli.main(["release", "deploy", "development", "9.9.9-0000000"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "does not exist" in err


def test_cli_direct_deploy_to_production_is_refused(capsys, tmp_path, monkeypatch):
    from tests.unit.test_release import make_release

    monkeypatch.setenv("OTAP_RELEASES", str(tmp_path))
    make_release(tmp_path)
    assert cli.main(["release", "deploy", "production"]) == 1
    err = capsys.readouterr().err.strip()
    assert "takes releases only by promotion" in err


def test_health_check_of_an_address_where_nothing_answers():
    stage = load_stage("development")
    ok, detail = target.health_once(stage, "127.0.0.1", timeout=1)
    assert not ok and detail
