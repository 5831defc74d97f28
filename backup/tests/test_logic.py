"""Unit tests of our own logic: exit-code classes, argv and env, retry with a fake clock,
check rotation, metrics merging, drill comparison. restic is faked here; see test_restic_*.py
for the real thing."""

from __future__ import annotations

import io
from datetime import date, timedelta
from pathlib import Path

import pytest

from backup import commands, metrics, pg
from backup.config import Database, Files, Repository, Retry, load
from backup.restic import (
    Outcome,
    Restic,
    ResticError,
    Result,
    build_argv,
    build_env,
    classify,
    explain,
)

pytestmark = pytest.mark.unit

REPO_SECRET = "repo-secret-do-not-leak"
REST_SECRET = "rest-secret-do-not-leak"
DB_SECRET = "db-secret-do-not-leak"


@pytest.mark.parametrize(
    "code, outcome",
    [
        (0, Outcome.OK),
        (1, Outcome.FAILURE),
        (2, Outcome.FAILURE),
        (3, Outcome.INCOMPLETE),
        (10, Outcome.NO_REPOSITORY),
        (11, Outcome.LOCKED),
        (12, Outcome.WRONG_PASSWORD),
        (130, Outcome.FAILURE),
        (-9, Outcome.FAILURE),
    ],
)
def test_classify(code, outcome):
    assert classify(code) is outcome


@pytest.fixture
def secret_files(tmp_path: Path) -> dict[str, Path]:
    out = {}
    for name, value in (("repo", REPO_SECRET), ("rest", REST_SECRET), ("db", DB_SECRET)):
        p = tmp_path / f"{name}-pw"
        p.write_text(value + "\n")
        p.chmod(0o600)
        out[name] = p
    return out


@pytest.fixture
def config(tmp_path: Path, secret_files) -> Path:
    p = tmp_path / "c.toml"
    p.write_text(
        f"""
host = "db1"
[repository]
url = "rest:https://backup.example.org:8000/db1/"
password_file = "{secret_files["repo"]}"
rest_username = "db1"
rest_password_file = "{secret_files["rest"]}"
lock_retries = 4
lock_retry_delay = 10
lock_retry_max_delay = 15
[database]
name = "safecoach"
host = "127.0.0.1"
user = "safecoach"
password_file = "{secret_files["db"]}"
[files]
paths = ["/srv/safecoach/media"]
exclude = ["*.tmp"]
"""
    )
    return p


def repo(tmp_path: Path, **kw) -> Repository:
    pw = tmp_path / "pw"
    pw.write_text("x")
    return Repository(url=str(tmp_path / "r"), password_file=pw, **kw)


class FakeRunner:
    """Plays back exit codes; records every argv and env it was given."""

    def __init__(self, codes, messages=None):
        self.codes = list(codes)
        self.messages = messages or {}
        self.calls: list[tuple[list[str], dict[str, str]]] = []

    def __call__(self, argv, env, **kw):
        self.calls.append((argv, env))
        code = self.codes.pop(0) if self.codes else 0
        msgs = list(self.messages.get(code, []))
        if "backup" in argv and code in (0, 3):
            msgs.append({"message_type": "summary", "snapshot_id": "ab" * 32, "data_added": 10})
        if code == 11:
            msgs.append({"message_type": "exit_error", "code": 11, "message": "locked by PID 7"})
        return Result(argv, code, msgs, stderr="")


@pytest.mark.control("BK-02")
def test_no_secret_on_any_command_line(config):
    cfg = load(config)
    runner = FakeRunner([0, 0])
    ctx = commands.Context(
        cfg,
        Restic(cfg.repository, runner=runner, check_reachable=False),
        out=io.StringIO(),
        err=io.StringIO(),
    )
    assert commands.cmd_run(ctx) == 0
    assert len(runner.calls) == 2
    for argv, env in runner.calls:
        line = " ".join(argv)
        for secret in (REPO_SECRET, REST_SECRET, DB_SECRET):
            assert secret not in line
        assert env["RESTIC_PASSWORD_FILE"] == str(cfg.repository.password_file)
        assert env["RESTIC_REST_PASSWORD"] == REST_SECRET
        assert env["RESTIC_REST_USERNAME"] == "db1"
        assert "RESTIC_PASSWORD" not in env
    db_argv, db_env = runner.calls[0]
    assert db_env["PGPASSWORD"] == DB_SECRET
    assert "--stdin-from-command" in db_argv
    tail = db_argv[db_argv.index("--") + 1 :]
    assert tail == [
        "pg_dump",
        "--format=custom",
        "--compress=0",
        "--no-password",
        "--dbname",
        "safecoach",
    ]
    assert db_argv[:2] == ["restic", "--json"]
    assert db_argv[db_argv.index("--host") : db_argv.index("--host") + 2] == ["--host", "db1"]
    files_argv, files_env = runner.calls[1]
    assert "PGPASSWORD" not in files_env
    assert files_argv[-2:] == ["--", "/srv/safecoach/media"]
    assert "--exclude" in files_argv


def test_env_scrubs_callers_restic_variables(tmp_path):
    r = repo(tmp_path)
    env = build_env(
        r,
        base={
            "PATH": "/bin",
            "RESTIC_PASSWORD": "leak",
            "RESTIC_REPOSITORY": "/elsewhere",
            "AWS_SECRET_ACCESS_KEY": "leak",
        },
    )
    assert env["PATH"] == "/bin"
    assert "RESTIC_PASSWORD" not in env
    assert "AWS_SECRET_ACCESS_KEY" not in env
    assert env["RESTIC_REPOSITORY"] == r.url
    assert "RESTIC_REST_PASSWORD" not in env


def test_argv_uses_no_cache_unless_a_cache_dir_is_set(tmp_path):
    assert build_argv(repo(tmp_path), ["snapshots"]) == [
        "restic",
        "--json",
        "--no-cache",
        "snapshots",
    ]
    r = repo(tmp_path, cache_dir=tmp_path / "c", restic="/opt/restic")
    assert build_argv(r, ["init"], json_output=False) == ["/opt/restic", "init"]


def test_pg_env_and_dump_argv_keep_the_password_off_argv(secret_files):
    db = Database(name="safecoach", host="10.0.0.5", user="app", password_file=secret_files["db"])
    env = pg.pg_env(db)
    assert env["PGPASSWORD"] == DB_SECRET
    assert env["PGHOST"] == "10.0.0.5"
    assert DB_SECRET not in " ".join(pg.dump_argv(db))


# --------------------------------------------------------------------------- retry


def test_retry_delays_back_off_and_cap():
    assert Retry(attempts=5, initial_delay=10, factor=2, max_delay=30).delays() == [10, 20, 30, 30]
    assert Retry(attempts=1).delays() == []


def test_locked_then_free_retries_with_backoff(tmp_path):
    slept: list[float] = []
    said: list[str] = []
    runner = FakeRunner([11, 11, 0])
    r = Restic(
        repo(tmp_path, retry=Retry(attempts=4, initial_delay=1, factor=3, max_delay=100)),
        runner=runner,
        sleep=slept.append,
        say=said.append,
        check_reachable=False,
    )
    result = r.run(["check"])
    assert result.outcome is Outcome.OK
    assert slept == [1, 3]
    assert len(runner.calls) == 3
    assert "attempt 1 of 4" in said[0]


def test_locked_gives_up_with_a_clear_sentence(tmp_path):
    slept: list[float] = []
    runner = FakeRunner([11, 11, 11])
    r = Restic(
        repo(tmp_path, retry=Retry(attempts=3, initial_delay=5, factor=2, max_delay=60)),
        runner=runner,
        sleep=slept.append,
        check_reachable=False,
    )
    with pytest.raises(ResticError) as info:
        r.run(["check"])
    assert info.value.outcome is Outcome.LOCKED
    assert info.value.exit_code == 11
    assert slept == [5, 10]
    msg = str(info.value)
    assert "locked by another restic process" in msg
    assert "safecoach-backup unlock" in msg
    assert "gave up after 3 attempts over 15 s" in msg


def test_no_retry_when_disabled_or_other_error(tmp_path):
    slept: list[float] = []
    r = Restic(repo(tmp_path), runner=FakeRunner([11]), sleep=slept.append, check_reachable=False)
    with pytest.raises(ResticError):
        r.run(["unlock"], retry_locked=False)
    r = Restic(repo(tmp_path), runner=FakeRunner([12]), sleep=slept.append, check_reachable=False)
    with pytest.raises(ResticError) as info:
        r.run(["snapshots"])
    assert slept == []
    assert info.value.outcome is Outcome.WRONG_PASSWORD


# --------------------------------------------------------------------------- explain


def _explain(tmp_path, code, stderr="", message=None):
    msgs = [{"message_type": "exit_error", "code": code, "message": message}] if message else []
    return explain(
        Result(["restic", "--json", "backup"], code, msgs, stderr=stderr),
        repo(tmp_path, rest_username="db1"),
    )


def test_explain_sentences(tmp_path):
    e = _explain(tmp_path, 12, message="Fatal: wrong password or no key found")
    assert e.exit_code == 12 and "does not open the repository" in str(e)
    e = _explain(tmp_path, 10, message="Fatal: repository does not exist")
    assert e.exit_code == 10 and "safecoach-backup init" in str(e)
    e = _explain(tmp_path, 3, message="Warning: at least one source file could not be read")
    assert e.exit_code == 3 and "incomplete snapshot" in str(e)
    e = _explain(tmp_path, 1, message="unexpected HTTP response (401): 401 Unauthorized")
    assert e.exit_code == 1 and "refused the REST credentials of user 'db1'" in str(e)
    e = _explain(tmp_path, 1, stderr="write /r/data/x: no space left on device")
    assert "disk is full" in str(e)
    e = _explain(tmp_path, 1, message="dial tcp 10.0.0.1:8000: connect: connection refused")
    assert e.exit_code == 13 and "Cannot reach the backup server" in str(e)
    e = _explain(tmp_path, 1, stderr="unknown flag: --stdin-from-command")
    assert "too old for this tool" in str(e) and "0.17 or newer" in str(e)
    assert not e.generic
    e = _explain(tmp_path, 1, message="Fatal: something new")
    assert e.generic
    assert str(e) == "restic backup failed with exit status 1: Fatal: something new"


# --------------------------------------------------------------------------- check rotation


def test_check_subset_rotates_over_all_subsets():
    start = date(2026, 1, 1)
    seen = [commands.check_subset(start + timedelta(days=i), 7) for i in range(7)]
    assert sorted(seen) == [f"{n}/7" for n in range(1, 8)]
    assert commands.check_subset(start, 0) is None
    assert commands.check_subset(start, 1) == "1/1"


def test_check_passes_todays_subset(tmp_path):
    runner = FakeRunner([0])
    cfg = load_local(tmp_path)
    ctx = commands.Context(
        cfg,
        Restic(cfg.repository, runner=runner, check_reachable=False),
        out=io.StringIO(),
        err=io.StringIO(),
        today=lambda: date(2026, 1, 1),
    )
    assert commands.cmd_check(ctx) == 0
    expected = commands.check_subset(date(2026, 1, 1), 7)
    assert f"--read-data-subset={expected}" in runner.calls[0][0]


def load_local(tmp_path: Path):
    pw = tmp_path / "pw"
    pw.write_text("x")
    pw.chmod(0o600)
    (tmp_path / "m").mkdir(exist_ok=True)
    c = tmp_path / "c.toml"
    c.write_text(
        f'[repository]\nurl = "{tmp_path}/r"\npassword_file = "{pw}"\n'
        f'[files]\npaths = ["/etc/hostname"]\n[metrics]\ntextfile_dir = "{tmp_path}/m"\n'
    )
    return load(c)


def test_run_without_snapshot_id_is_a_failure(tmp_path):
    def runner(argv, env, **kw):
        return Result(argv, 0, [{"message_type": "summary"}])

    cfg = load_local(tmp_path)
    ctx = commands.Context(
        cfg,
        Restic(cfg.repository, runner=runner, check_reachable=False),
        out=io.StringIO(),
        err=io.StringIO(),
    )
    with pytest.raises(commands.CommandError) as info:
        commands.cmd_run(ctx)
    assert "reported no snapshot" in str(info.value)
    values = metrics.read_previous(tmp_path / "m" / metrics.FILENAME)
    assert values[("success", "run")] == 0


# --------------------------------------------------------------------------- metrics


def test_metrics_merge_keeps_last_success_and_other_commands(tmp_path):
    d = tmp_path
    metrics.write(d, metrics.Sample("run", True, 0, 12.5, bytes_added=4096, finished=1000.0))
    metrics.write(d, metrics.Sample("check", True, 0, 3.0, finished=1100.0))
    metrics.write(d, metrics.Sample("run", False, 12, 0.4, finished=2000.0))
    v = metrics.read_previous(d / metrics.FILENAME)
    assert v[("last_success_timestamp_seconds", "run")] == 1000.0
    assert v[("last_run_timestamp_seconds", "run")] == 2000.0
    assert v[("exit_status", "run")] == 12
    assert v[("success", "run")] == 0
    assert v[("bytes_added", "run")] == 4096
    assert v[("duration_seconds", "run")] == 0.4
    assert v[("success", "check")] == 1
    text = (d / metrics.FILENAME).read_text()
    assert "# TYPE safecoach_backup_last_success_timestamp_seconds gauge" in text
    assert 'safecoach_backup_exit_status{command="run"} 12.0' in text


def test_metrics_survive_a_garbled_file(tmp_path):
    (tmp_path / metrics.FILENAME).write_text("garbage {{{\n")
    metrics.write(tmp_path, metrics.Sample("drill", True, 0, 1.0, finished=5.0))
    v = metrics.read_previous(tmp_path / metrics.FILENAME)
    assert v[("success", "drill")] == 1


# --------------------------------------------------------------------------- drill comparison


def test_compare_reports_each_difference():
    t = pg.TableFacts
    live = {"public.a": t(3, "x"), "public.b": t(2, "y"), "public.c": t(1, "z")}
    restored = {"public.a": t(3, "x"), "public.b": t(2, "DIFF"), "public.d": t(0, "")}
    diffs = pg.compare(live, restored)
    assert diffs == [
        "table public.c is in the live database but not in the restored one",
        "table public.d is in the restored database but not in the live one",
        "table public.b has the same row count but different contents",
    ]
    assert pg.compare(live, dict(live)) == []
    assert "3 rows live but 1 restored" in pg.compare({"a": t(3, "x")}, {"a": t(1, "x")})[0]


def test_scratch_name_is_valid_and_distinct():
    from datetime import UTC, datetime

    db = Database(name="safecoach")
    name = pg.scratch_name(db, datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))
    assert name == "safecoach_drill_20260102030405"
    assert name != db.name


def test_files_default_is_empty():
    assert Files().paths == ()


def test_progress_lines_are_throttled(tmp_path):
    now = [0.0]
    err = io.StringIO()
    cfg = load_local(tmp_path)
    ctx = commands.Context(
        cfg,
        Restic(cfg.repository, runner=FakeRunner([]), check_reachable=False),
        out=io.StringIO(),
        err=err,
        progress_interval=10,
        clock=lambda: now[0],
    )
    show = commands._ProgressPrinter(ctx, "backup files")
    status = {
        "message_type": "status",
        "bytes_done": 3 * 1024**2,
        "total_bytes": 6 * 1024**2,
        "percent_done": 0.5,
        "seconds_elapsed": 12,
    }
    for t in (1, 5, 11, 12, 25):
        now[0] = t
        show(status)
    show({"message_type": "summary"})
    lines = err.getvalue().splitlines()
    assert lines == ["safecoach-backup: backup files: 3.0 MiB of 6.0 MiB (50%) read after 12 s"] * 2
    ctx.quiet = True
    now[0] = 100
    show(status)
    assert len(err.getvalue().splitlines()) == 2


def test_missing_metrics_dir_only_warns(tmp_path):
    cfg = load_local(tmp_path)
    (tmp_path / "m").rmdir()
    err = io.StringIO()
    ctx = commands.Context(
        cfg,
        Restic(cfg.repository, runner=FakeRunner([0]), check_reachable=False),
        out=io.StringIO(),
        err=err,
    )
    assert commands.cmd_run(ctx) == 0
    assert "warning: could not write metrics to" in err.getvalue()


@pytest.mark.parametrize(
    "value",
    [
        "2026-11-27T05:20:00.123456789Z",
        "2026-11-27T06:20:00.123456789+01:00",
        "2026-11-27T00:20:00.5-05:00",
        "2026-11-27T05:20:00Z",
    ],
)
def test_restic_times_keep_their_offset_whatever_the_zone(value):
    """restic prints local time with an offset; nanoseconds must not swallow the offset."""
    from datetime import UTC, datetime

    from backup.commands import _parse_time

    parsed = _parse_time(value)
    assert parsed.tzinfo is not None
    assert parsed.astimezone(UTC).replace(microsecond=0) == datetime(
        2026, 11, 27, 5, 20, tzinfo=UTC
    )


def test_compare_sequences():
    assert pg.compare_sequences({"public.a_id_seq": 5}, {"public.a_id_seq": 5}) == []
    assert pg.compare_sequences(
        {"public.a_id_seq": 6, "public.b": None}, {"public.a_id_seq": 5}
    ) == [
        "sequence public.a_id_seq is at 6 live but 5 restored",
        "sequence public.b is in the live database but not in the restored one",
    ]


def test_progress_understands_restore_status(tmp_path):
    now = [100.0]
    err = io.StringIO()
    cfg = load_local(tmp_path)
    ctx = commands.Context(
        cfg,
        Restic(cfg.repository, runner=FakeRunner([]), check_reachable=False),
        out=io.StringIO(),
        err=err,
        progress_interval=1,
        clock=lambda: now[0],
    )
    show = commands._ProgressPrinter(ctx, "restore")
    now[0] = 102.0
    show(
        {
            "message_type": "status",
            "bytes_restored": 2048,
            "total_bytes": 4096,
            "percent_done": 0.5,
            "seconds_elapsed": 3,
        }
    )
    assert "restore: 2.0 KiB of 4.0 KiB (50%) read after 3 s" in err.getvalue()
