"""Integration tests against a real restic, a real restic-rest-server and a real PostgreSQL.

Nothing is mocked. restic comes from scripts/get-restic.sh; PostgreSQL from
SAFECOACH_BACKUP_TEST_DSN or the local cluster (see conftest.py).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from psycopg import sql

from backup import cli, metrics
from backup.config import load
from backup.restic import Outcome, Restic, ResticError

pytestmark = pytest.mark.slow


def run_cli(capsys, config: Path, *args: str) -> tuple[int, str, str]:
    code = cli.main(["--config", str(config), "--progress-interval", "0.5", *args])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def metric(config: Path, name: str, command: str) -> float | None:
    cfg = load(config)
    return metrics.read_previous(cfg.metrics_dir / metrics.FILENAME).get((name, command))


def restic_env(config: Path) -> dict[str, str]:
    from backup.restic import build_env

    return build_env(load(config).repository)


def snapshots(config: Path, tag: str | None = None) -> list[dict]:
    cfg = load(config)
    r = Restic(cfg.repository)
    args = ["snapshots", "--no-lock"] + (["--tag", tag] if tag else [])
    result = r.run(args)
    return next(m["items"] for m in result.messages if m.get("message_type") == "list")


@pytest.fixture
def files_dir(tmp_path: Path) -> Path:
    d = tmp_path / "media"
    (d / "uploads").mkdir(parents=True)
    (d / "uploads" / "exercise.txt").write_text("Oefening 1: adem rustig in en uit.\n")
    (d / "uploads" / "binary.bin").write_bytes(os.urandom(200_000))
    (d / "skip.tmp").write_text("scratch")
    return d


@pytest.mark.control("BK-01")
@pytest.mark.control("BK-04")
@pytest.mark.control("BK-05")
@pytest.mark.control("BK-06")
def test_local_repository_full_cycle(
    capsys, make_config, database_section, files_dir, tmp_path, pg_server, live_db
):
    cfg = make_config(
        database=database_section,
        files={"paths": [str(files_dir)], "exclude": ["*.tmp"]},
        check={"read_data_subsets": 3},
    )
    # status before anything exists: no repository
    code, _out, err = run_cli(capsys, cfg, "status")
    assert code == 10, err
    assert "There is no restic repository" in err and "safecoach-backup init" in err

    code, out, _ = run_cli(capsys, cfg, "init")
    assert code == 0 and "Created the repository" in out
    code, out, _ = run_cli(capsys, cfg, "init")
    assert code == 0 and "already exists" in out

    t0 = time.monotonic()
    code, out, err = run_cli(capsys, cfg, "run")
    took = time.monotonic() - t0
    assert code == 0, err
    assert f"database {live_db}: snapshot" in out and "files: snapshot" in out
    assert "backing up database" in err  # progress/phase output
    with capsys.disabled():
        print(f"\nFIGURE backup run (db 2000 messages + files): {took:.2f} s")

    db_snaps = snapshots(cfg, "db")
    assert len(db_snaps) == 1
    assert db_snaps[0]["paths"] == [f"/{live_db}.pgdump"]
    assert db_snaps[0]["hostname"] == "db-test"
    assert db_snaps[0]["summary"]["total_bytes_processed"] > 100_000

    assert metric(cfg, "success", "run") == 1
    assert metric(cfg, "exit_status", "run") == 0
    assert metric(cfg, "bytes_added", "run") > 0
    assert metric(cfg, "last_success_timestamp_seconds", "run") > time.time() - 60

    code, out, _ = run_cli(capsys, cfg, "snapshots")
    assert code == 0 and "2 snapshot(s)." in out and "safecoach,db" in out
    code, out, _ = run_cli(capsys, cfg, "snapshots", "--json")
    assert code == 0 and sorted(s["tags"][1] for s in json.loads(out)) == ["db", "files"]
    code, out, _ = run_cli(capsys, cfg, "unlock")
    assert code == 0 and "The repository has no locks." in out

    code, out, err = run_cli(capsys, cfg, "check")
    assert code == 0, err
    assert "Repository check passed (data subset " in out
    assert metric(cfg, "success", "check") == 1

    code, out, _ = run_cli(capsys, cfg, "status")
    assert code == 0 and "Backups are current." in out and "last run: ok" in out

    # restore files into a new directory; the excluded file is not there
    target = tmp_path / "restored"
    code, out, err = run_cli(capsys, cfg, "restore", "--target", str(target))
    assert code == 0, err
    got = target / str(files_dir).lstrip("/")
    assert (got / "uploads" / "exercise.txt").read_text() == (
        files_dir / "uploads" / "exercise.txt"
    ).read_text()
    assert (got / "uploads" / "binary.bin").read_bytes() == (
        files_dir / "uploads" / "binary.bin"
    ).read_bytes()
    assert not (got / "skip.tmp").exists()
    code, _out, err = run_cli(capsys, cfg, "restore", "--target", str(target))
    assert code == 2 and "not an empty directory" in err
    only = tmp_path / "only-one"
    wanted = str(files_dir / "uploads" / "exercise.txt")
    code, out, err = run_cli(capsys, cfg, "restore", "--target", str(only), "--include", wanted)
    assert code == 0 and "item(s)" in out, err
    assert [p.name for p in only.rglob("*") if p.is_file()] == ["exercise.txt"]

    # restore the dump into a new database; the live one is refused
    code, _out, err = run_cli(capsys, cfg, "restore", "--database", live_db)
    assert code == 2 and "Refusing to restore over the live database" in err
    copy = f"{live_db}_copy"
    code, out, err = run_cli(capsys, cfg, "restore", "--database", copy)
    assert code == 0, err
    with pg_server.connect(copy) as conn:
        assert conn.execute("SELECT count(*) FROM coaching_message").fetchone()[0] == 2000
        assert conn.execute("SELECT count(*) FROM privacy.access_log").fetchone()[0] == 20
    code, _out, err = run_cli(capsys, cfg, "restore", "--database", copy)
    assert code == 2 and "already exists" in err

    # the drill restores into a scratch database, finds it identical, and drops it; it also
    # drops scratch databases that a killed drill left behind
    leftover = f"{live_db}_drill_20200101000000"
    with pg_server.connect() as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(leftover)))
    t0 = time.monotonic()
    code, out, err = run_cli(capsys, cfg, "drill")
    took = time.monotonic() - t0
    assert code == 0, err
    assert "Drill passed" in out and "4 tables" in out and "2070 rows" in out
    assert "3 sequences" in out
    assert f"dropping '{leftover}', left behind by an interrupted drill" in err
    with capsys.disabled():
        print(f"\nFIGURE drill (restore + compare, 2070 rows): {took:.2f} s")
    assert metric(cfg, "success", "drill") == 1
    with pg_server.connect() as conn:
        left = conn.execute(
            "SELECT count(*) FROM pg_database WHERE datname LIKE %s", (f"{live_db}\\_drill%",)
        ).fetchone()[0]
    assert left == 0

    # a change after the backup makes the drill report the difference (exit 4)
    with pg_server.connect(live_db) as conn:
        conn.execute("UPDATE coaching_message SET body = 'changed' WHERE id = 7")
        conn.execute("SELECT nextval('coaching_message_id_seq')")
    code, _out, err = run_cli(capsys, cfg, "drill")
    assert code == 4, err
    assert "public.coaching_message has the same row count but different contents" in err
    assert "sequence public.coaching_message_id_seq is at 2001 live but 2000 restored" in err
    assert metric(cfg, "success", "drill") == 0
    assert metric(cfg, "exit_status", "drill") == 4


@pytest.mark.control("BK-03")
def test_rest_server_append_only_refuses_forget(
    capsys, make_config, database_section, rest_server, tmp_path
):
    rest_pw = tmp_path / "rest-pw"
    rest_pw.write_text(rest_server.password)
    rest_pw.chmod(0o600)
    cfg = make_config(
        repository={
            "url": rest_server.url,
            "rest_username": rest_server.user,
            "rest_password_file": str(rest_pw),
        },
        database=database_section,
    )
    assert run_cli(capsys, cfg, "init")[0] == 0
    code, _out, err = run_cli(capsys, cfg, "run")
    assert code == 0, err
    assert (rest_server.data / rest_server.user / "config").exists()
    assert run_cli(capsys, cfg, "run")[0] == 0
    before = snapshots(cfg)
    assert len(before) == 2

    # A client (an intruder on the db host) cannot delete: the server answers 403 to every
    # removal. restic forget by ID even exits 0 while failing, so the proof is the server's
    # refusal and the snapshots that are still there.
    r = Restic(load(cfg).repository)
    result = r.attempt(["forget", before[0]["id"]])
    assert "403 Forbidden" in result.stderr
    result = r.attempt(["forget", "--keep-last", "1", "--prune"])
    assert result.outcome is Outcome.FAILURE
    assert "403 Forbidden" in result.stderr
    with pytest.raises(ResticError) as info:
        r.run(["forget", "--keep-last", "1"])
    assert "403 forbidden" in str(info.value)
    after = snapshots(cfg)
    assert sorted(s["id"] for s in after) == sorted(s["id"] for s in before)

    # check (which takes and removes an exclusive lock) and the drill work through it too
    code, out, err = run_cli(capsys, cfg, "check", "--read-all")
    assert code == 0 and "all data" in out, err
    code, _out, err = run_cli(capsys, cfg, "drill")
    assert code == 0, err

    # wrong REST credentials: one sentence naming the user
    rest_pw.write_text("not-the-password")
    code, _out, err = run_cli(capsys, cfg, "snapshots")
    assert code == 1
    assert f"refused the REST credentials of user '{rest_server.user}'" in err

    # another user's repository is private
    other = make_config(
        repository={
            "url": rest_server.url.replace(f"/{rest_server.user}/", "/someone-else/"),
            "rest_username": rest_server.user,
            "rest_password_file": str(rest_pw),
        },
        database=database_section,
    )
    rest_pw.write_text(rest_server.password)
    code, _out, err = run_cli(capsys, other, "init")
    assert code != 0 and "error:" in err


@pytest.mark.control("BK-06")
def test_unreachable_server_fails_fast(capsys, make_config, database_section, tmp_path):
    from backup.tests.conftest import free_port

    port = free_port()
    rest_pw = tmp_path / "rest-pw"
    rest_pw.write_text("x")
    rest_pw.chmod(0o600)
    cfg = make_config(
        repository={
            "url": f"rest:http://127.0.0.1:{port}/db-test/",
            "rest_username": "db-test",
            "rest_password_file": str(rest_pw),
            "connect_timeout": 2,
        },
        database=database_section,
    )
    t0 = time.monotonic()
    code, _out, err = run_cli(capsys, cfg, "run")
    assert time.monotonic() - t0 < 10
    assert code == 13
    assert f"Cannot reach the backup server at 127.0.0.1:{port}" in err
    assert "connection refused" in err.lower()
    assert metric(cfg, "success", "run") == 0
    assert metric(cfg, "exit_status", "run") == 13


@pytest.mark.control("BK-02")
@pytest.mark.control("BK-06")
def test_wrong_repository_password(capsys, make_config, files_dir, tmp_path):
    cfg = make_config(files={"paths": [str(files_dir)]})
    assert run_cli(capsys, cfg, "init")[0] == 0
    assert run_cli(capsys, cfg, "run")[0] == 0
    wrong = tmp_path / "wrong-pw"
    wrong.write_text("not the password")
    wrong.chmod(0o600)
    bad = make_config(repository={"password_file": str(wrong)}, files={"paths": [str(files_dir)]})
    for command in ("run", "snapshots"):
        code, _out, err = run_cli(capsys, bad, command)
        assert code == 12, (command, err)
        assert f"The password in {wrong} does not open the repository" in err
    assert metric(bad, "exit_status", "run") == 12
    assert metric(bad, "last_success_timestamp_seconds", "run") > 0  # from the earlier good run
    code, out, err = run_cli(capsys, cfg, "status")
    assert code == 1 and "last run: FAILED (exit 12)" in out
    assert "Backups are not current: the last run failed with exit 12" in err


@pytest.mark.control("BK-01")
@pytest.mark.control("BK-06")
def test_dump_failing_midway_saves_no_snapshot(
    capsys, make_config, database_section, tmp_path, live_db
):
    # a real pg_dump whose output is cut off after 4 kB, then a non-zero exit
    broken = tmp_path / "pg_dump_broken"
    broken.write_text(
        '#!/bin/sh\npg_dump "$@" | head -c 4096\necho "pg_dump: error: cut" >&2\nexit 1\n'
    )
    broken.chmod(0o755)
    good = make_config(database=database_section)
    assert run_cli(capsys, good, "init")[0] == 0
    assert run_cli(capsys, good, "run")[0] == 0
    assert len(snapshots(good, "db")) == 1

    cfg = make_config(database={**database_section, "pg_dump": str(broken)})
    code, _out, err = run_cli(capsys, cfg, "run")
    assert code == 1
    assert f"The dump of database '{live_db}' failed" in err
    assert "no database snapshot was saved" in err
    assert len(snapshots(cfg, "db")) == 1  # still only the good one
    assert metric(cfg, "success", "run") == 0
    assert metric(cfg, "exit_status", "run") == 1

    # a dump of a database that does not exist fails the same way
    cfg = make_config(database={**database_section, "name": f"{live_db}_missing"})
    code, _out, err = run_cli(capsys, cfg, "run")
    assert code == 1
    assert "does not exist" in err and "no database snapshot was saved" in err
    assert len(snapshots(cfg, "db")) == 1


@pytest.mark.control("BK-06")
def test_incomplete_snapshot_is_a_warning_of_its_own(capsys, make_config, files_dir):
    # /proc/self/mem cannot be read: restic saves the rest and exits 3
    cfg = make_config(files={"paths": [str(files_dir), "/proc/self/mem"]})
    assert run_cli(capsys, cfg, "init")[0] == 0
    code, _out, err = run_cli(capsys, cfg, "run")
    assert code == 3
    assert "is incomplete: some files could not be read" in err
    assert metric(cfg, "success", "run") == 0
    assert metric(cfg, "exit_status", "run") == 3
    assert metric(cfg, "last_success_timestamp_seconds", "run") is None


def _hold_lock(config: Path, seconds: int) -> subprocess.Popen:
    """A real restic backup that holds a (shared) lock while its command sleeps."""
    cfg = load(config)
    proc = subprocess.Popen(
        [
            cfg.repository.restic,
            "backup",
            "--tag",
            "holder",
            "--stdin-filename",
            "hold",
            "--stdin-from-command",
            "--",
            "sleep",
            str(seconds),
        ],
        env=restic_env(config),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    locks_dir = Path(cfg.repository.url) / "locks"
    deadline = time.monotonic() + 15
    while not any(locks_dir.iterdir()):
        assert time.monotonic() < deadline, "the lock holder never took its lock"
        time.sleep(0.05)
    return proc


@pytest.mark.control("BK-06")
def test_locked_repository_retries_then_fails_then_unlock(capsys, make_config, files_dir):
    cfg = make_config(
        files={"paths": [str(files_dir)]},
        repository={"lock_retries": 3, "lock_retry_delay": 0.3},
    )
    assert run_cli(capsys, cfg, "init")[0] == 0

    # held longer than all retries: exit 11 with a sentence (check needs an exclusive lock)
    holder = _hold_lock(cfg, 30)
    try:
        code, _out, err = run_cli(capsys, cfg, "check")
        assert code == 11, err
        assert "locked by another restic process" in err
        assert "gave up after 3 attempts" in err
        assert "attempt 1 of 3, retrying" in err
        assert metric(cfg, "exit_status", "check") == 11

        # unlock removes only stale locks: the running holder's lock stays
        code, out, _ = run_cli(capsys, cfg, "unlock")
        assert code == 0 and "Removed 0 stale lock(s); 1 lock(s)" in out
    finally:
        os.killpg(holder.pid, signal.SIGKILL)  # dies without removing its lock: now stale
        holder.wait()
    locks = Path(load(cfg).repository.url) / "locks"
    assert len(list(locks.iterdir())) == 1
    code, out, _ = run_cli(capsys, cfg, "unlock")
    assert code == 0 and "Removed 1 stale lock(s)" in out
    assert list(locks.iterdir()) == []

    # held briefly: the retries outlast it and the check succeeds
    slow = make_config(
        files={"paths": [str(files_dir)]},
        repository={"lock_retries": 15, "lock_retry_delay": 0.5, "lock_retry_max_delay": 1},
    )
    holder = _hold_lock(slow, 3)
    try:
        code, out, err = run_cli(capsys, slow, "check")
    finally:
        holder.wait(timeout=30)
    assert code == 0, err
    assert "retrying in" in err and "Repository check passed" in out, err


@pytest.mark.control("BK-06")
def test_status_fails_when_backups_are_missing(capsys, make_config, files_dir, database_section):
    cfg = make_config(files={"paths": [str(files_dir)]}, database=database_section)
    assert run_cli(capsys, cfg, "init")[0] == 0
    code, _out, err = run_cli(capsys, cfg, "status")
    assert code == 1
    assert "Backups are not current: there is no database" in err
    code, _out, err = run_cli(capsys, cfg, "drill")
    assert code == 1 and "no database snapshot yet; run a backup first" in err


def test_missing_restic_binary_is_a_sentence(capsys, make_config, files_dir, tmp_path):
    cfg = make_config(
        files={"paths": [str(files_dir)]}, repository={"restic": str(tmp_path / "no-restic")}
    )
    code, _out, err = run_cli(capsys, cfg, "init")
    assert code == 1 and "restic was not found at" in err


def test_database_unreachable_for_drill(capsys, make_config, database_section, files_dir):
    from backup.tests.conftest import free_port

    bad = make_config(database={**database_section, "port": free_port()})
    code, _out, err = run_cli(capsys, bad, "drill")
    assert code == 1 and "Cannot connect to database" in err
    assert metric(bad, "success", "drill") == 0


def test_sql_identifier_sanity(pg_server, live_db):
    # the fixture database is real and populated
    with pg_server.connect(live_db) as conn:
        n = conn.execute(
            sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier("accounts_user"))
        ).fetchone()[0]
    assert n == 50


@pytest.mark.control("BK-05")
def test_corrupt_pack_file_is_found(capsys, make_config, files_dir):
    cfg = make_config(files={"paths": [str(files_dir)]})
    assert run_cli(capsys, cfg, "init")[0] == 0
    assert run_cli(capsys, cfg, "run")[0] == 0
    packs = sorted(
        (Path(load(cfg).repository.url) / "data").rglob("*"), key=lambda p: p.stat().st_size
    )
    biggest = [p for p in packs if p.is_file()][-1]
    biggest.chmod(0o644)
    raw = bytearray(biggest.read_bytes())
    for i in range(100, len(raw), 997):
        raw[i] ^= 0xFF
    biggest.write_bytes(bytes(raw))
    code, _out, err = run_cli(capsys, cfg, "check", "--read-all")
    assert code == 1
    assert "The repository check found errors" in err
    assert metric(cfg, "success", "check") == 0
    assert metric(cfg, "exit_status", "check") == 1


@pytest.mark.control("BK-01")
@pytest.mark.control("BK-02")
def test_sigterm_during_backup_stops_cleanly(make_config, database_section, tmp_path):
    # systemd stops the unit with SIGTERM: no snapshot, restic's lock removed, exit 130 recorded
    slow_dump = tmp_path / "pg_dump_slow"
    slow_dump.write_text('#!/bin/sh\npg_dump "$@"\nexec sleep 60\n')
    slow_dump.chmod(0o755)
    cfg = make_config(database={**database_section, "pg_dump": str(slow_dump)})
    env = {**os.environ, "SAFECOACH_BACKUP_CONFIG": str(cfg)}
    cmd = [sys.executable, "-m", "backup.cli"]
    assert subprocess.run([*cmd, "init"], env=env, capture_output=True, check=False).returncode == 0
    proc = subprocess.Popen(
        [*cmd, "run"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    locks = Path(load(cfg).repository.url) / "locks"
    deadline = time.monotonic() + 15
    while not any(locks.iterdir()):
        assert time.monotonic() < deadline and proc.poll() is None, proc.stderr.read()
        time.sleep(0.05)
    time.sleep(0.5)
    # while restic and the dump run, no process shows a secret on its command line
    from backup.tests.conftest import REPO_PASSWORD

    secrets_ = [REPO_PASSWORD, Path(database_section["password_file"]).read_text().strip()]
    seen = 0
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            text = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        seen += "restic" in text or "pg_dump" in text
        for secret in secrets_:
            assert secret not in text, f"a secret is visible in {cmdline}"
    assert seen >= 1  # restic, whose argv carries the pg_dump command line too
    t0 = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    _out, err = proc.communicate(timeout=40)
    assert time.monotonic() - t0 < 35
    assert proc.returncode == 130, err
    assert "interrupted; a backup in progress was not saved" in err
    assert "Traceback" not in err
    assert list(locks.iterdir()) == []
    assert snapshots(cfg) == []
    assert metric(cfg, "exit_status", "run") == 130


@pytest.mark.control("BK-01")
@pytest.mark.control("BK-06")
def test_full_disk_is_a_sentence_and_saves_no_snapshot(make_config, files_dir, tmp_path):
    # The repository lives on a 1 MiB tmpfs, mounted in a private mount namespace of the
    # command (unshare -m), so nothing outside this test sees it.
    repo = tmp_path / "small-disk"
    repo.mkdir()
    (files_dir / "big.bin").write_bytes(os.urandom(3 * 1024 * 1024))
    cfg = make_config(repository={"url": str(repo / "repo")}, files={"paths": [str(files_dir)]})
    py = sys.executable
    script = (
        'mount -t tmpfs -o size=1m tmpfs "$1" || exit 99\n'
        '"$2" -m backup.cli init >/dev/null || exit 98\n'
        '"$2" -m backup.cli run >"$3/run.out" 2>"$3/run.err"; echo $? >"$3/run.rc"\n'
        '"$2" -m backup.cli -q snapshots --json >"$3/snaps.json"\n'
    )
    proc = subprocess.run(
        [
            "unshare",
            "-m",
            "--propagation",
            "private",
            "sh",
            "-c",
            script,
            "sh",
            str(repo),
            py,
            str(tmp_path),
        ],
        env={**os.environ, "SAFECOACH_BACKUP_CONFIG": str(cfg)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, f"could not set up the small disk: {proc.stderr}"
    err = (tmp_path / "run.err").read_text()
    assert (tmp_path / "run.rc").read_text().strip() == "1", err
    assert "because a disk is full" in err and "no space left on device" in err
    assert "Traceback" not in err
    assert json.loads((tmp_path / "snaps.json").read_text()) == []
    assert metric(cfg, "success", "run") == 0


@pytest.mark.control("BK-06")
def test_drill_refused_by_postgres_is_a_sentence(
    capsys, make_config, database_section, pg_server, live_db
):
    cfg = make_config(database=database_section)
    assert run_cli(capsys, cfg, "init")[0] == 0
    assert run_cli(capsys, cfg, "run")[0] == 0
    with pg_server.connect(live_db) as conn:  # the owner takes its own read right away
        conn.execute(
            sql.SQL("REVOKE SELECT ON coaching_message FROM {}").format(
                sql.Identifier(pg_server.user)
            )
        )
    code, _out, err = run_cli(capsys, cfg, "drill")
    assert code == 1, err
    assert "PostgreSQL refused a step (permission denied for table coaching_message)" in err
    assert metric(cfg, "success", "drill") == 0
    with pg_server.connect() as conn:
        left = conn.execute(
            "SELECT count(*) FROM pg_database WHERE datname LIKE %s", (f"{live_db}\\_drill%",)
        ).fetchone()[0]
    assert left == 0
