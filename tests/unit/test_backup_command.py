"""`otap backup`: arguments, names, one-sentence errors and the switch to a restored database."""

import pytest
import yaml

from provisioning import cli
from provisioning.ops import backup
from provisioning.stage import OtapError, UsageError
from provisioning.stage.paths import REPO

pytestmark = [pytest.mark.unit, pytest.mark.control("BK-12")]


def run_cli(capsys, *argv):
    code = cli.main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def usage_error(capsys, *argv) -> str:
    with pytest.raises(SystemExit) as info:
        cli.main(list(argv))
    assert info.value.code == 2
    return capsys.readouterr().err


def test_a_wrong_verb_is_a_usage_error(capsys):
    assert "invalid choice: 'forget'" in usage_error(capsys, "backup", "forget", "development")
    assert backup.check_action("now") == "now"
    with pytest.raises(UsageError, match="has no subcommand 'forget'; use one of now, status"):
        backup.check_action("forget")


def test_a_wrong_verb_in_the_old_spelling_is_a_usage_error(capsys):
    assert "invalid choice: 'forget'" in usage_error(capsys, "backup", "development", "forget")


def test_restore_options_belong_to_restore(capsys):
    err = usage_error(capsys, "backup", "now", "development", "--replace")
    assert "unrecognized arguments: --replace" in err
    with pytest.raises(UsageError, match="belong to `otap backup restore STAGE`"):
        backup.backup(None, "now", replace=True)


@pytest.mark.parametrize(
    "argv",
    [
        ["backup", "restore", "test", "--snapshot", "abcdef12", "--as", "sc_copy", "--replace"],
        ["backup", "test", "restore", "--snapshot", "abcdef12", "--as", "sc_copy", "--replace"],
        ["backup", "--snapshot", "abcdef12", "test", "restore", "--as", "sc_copy", "--replace"],
    ],
    ids=["new", "old", "old-options-first"],
)
def test_the_parser_takes_restore_options(argv):
    args = cli.parse(cli.build_parser(), argv)
    assert (args.stage, args.verb, args.snapshot, args.name, args.replace) == (
        "test",
        "restore",
        "abcdef12",
        "sc_copy",
        True,
    )
    assert args.func is cli.cmd_backup
    assert getattr(args, "deprecated", None) == (
        None if argv[1] == "restore" else "backup STAGE ACTION"
    )


def test_restore_names():
    assert backup.restore_name(None, now=0) == "safecoach_restore_19700101000000"
    assert backup.restore_name("sc_copy") == "sc_copy"
    with pytest.raises(OtapError, match="never goes over the live database"):
        backup.restore_name("safecoach")
    with pytest.raises(OtapError, match="is not a database name"):
        backup.restore_name("x; DROP DATABASE safecoach")
    with pytest.raises(OtapError, match="is not a snapshot id"):
        backup.check_snapshot("../etc")
    assert backup.check_snapshot("latest") == "latest"


def test_a_stage_without_its_pinned_keys_is_one_sentence(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("OTAP_STATE_ROOT", str(tmp_path))
    code, _, err = run_cli(capsys, "backup", "status", "development")
    assert code == 1
    assert "has no pinned host keys" in err and "otap stage bootstrap development" in err
    assert len(err.strip().splitlines()) == 1


def test_an_unknown_client_is_named(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("OTAP_STATE_ROOT", str(tmp_path))
    code, _, err = run_cli(capsys, "backup", "status", "development", "--host", "web1")
    assert code == 2
    assert "web1 is not a backup client of stage development; clients: db1." in err


def test_the_switch_keeps_the_live_database_aside_and_hands_over_ownership():
    sql = backup.replace_sql("safecoach_restore_1", "safecoach_replaced_1")
    assert '\\c safecoach_restore_1\nREASSIGN OWNED BY "safecoach-backup" TO "safecoach";' in sql
    assert 'ALTER DATABASE "safecoach" WITH ALLOW_CONNECTIONS false;' in sql
    assert 'ALTER DATABASE "safecoach" RENAME TO "safecoach_replaced_1";' in sql
    assert sql.rstrip().endswith('ALTER DATABASE "safecoach_restore_1" RENAME TO "safecoach";')
    assert "DROP DATABASE %I" in sql and "_drill_[0-9]{14}$" in sql
    assert 'DROP DATABASE "safecoach"' not in sql, "the live database is never dropped"
    for bad in ("safecoach", "Robert'); --"):
        with pytest.raises(ValueError):
            backup.replace_sql(bad, "safecoach_replaced_1")


def test_names_mirror_the_role_defaults():
    pg = yaml.safe_load((REPO / "roles/postgresql/defaults/main.yml").read_text())
    client = yaml.safe_load((REPO / "roles/backup_client/defaults/main.yml").read_text())
    assert pg["postgresql_app_database"] == backup.APP_DATABASE
    assert pg["postgresql_app_user"] == backup.APP_ROLE
    assert client["backup_client_user"] == backup.BACKUP_ROLE
    assert client["backup_client_user"] in pg["postgresql_local_peer_users"]


def test_the_failure_reason_is_the_wrappers_sentence():
    class Result:
        exited = 13
        stdout = ""
        stderr = (
            "safecoach-backup: backing up database safecoach\n"
            "safecoach-backup: error: the backup server 10.213.10.13:8000 cannot be reached.\n"
            "some trailing line\n"
        )

    assert backup._last_line(Result()) == ("the backup server 10.213.10.13:8000 cannot be reached")
