#!/usr/bin/env python3
"""Benchmark safecoach-backup on a synthetic database: first backup, incremental backup, drill,
restore (RTO). Prints figures and the machine; asserts nothing.

Usage (as root, or with --dsn for a role that may create databases):
    .venv/bin/python scripts/bench-backup.py [--messages 100000] [--dsn postgresql://...]

The database mimics the app's shape (users, coaching messages with text, JSON and a small
binary column, an access log); it is created with a unique name and dropped afterwards, as are
the repository and scratch databases (in a temporary directory).
"""

from __future__ import annotations

import argparse
import os
import platform
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg
from psycopg import sql

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from backup import cli  # noqa: E402
from backup.pg import drop_with  # noqa: E402

ROLE, ROLE_PASSWORD = "safecoach_backup_test", "safecoach-backup-test-only"


def local_dsn() -> str:
    line = subprocess.run(
        ["pg_lsclusters", "--no-header"],  # noqa: S607
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\n")[0]
    ver, cluster, port, status = line.split()[:4]
    if status != "online":
        subprocess.run(["pg_ctlcluster", ver, cluster, "start"], check=True)  # noqa: S603, S607
    script = (
        f"DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{ROLE}') THEN "
        f"CREATE ROLE {ROLE} LOGIN CREATEDB PASSWORD '{ROLE_PASSWORD}'; END IF; END $$;"
    )
    subprocess.run(  # noqa: S603
        ["runuser", "-u", "postgres", "--", "psql", "-q", "-p", port, "-c", script],  # noqa: S607
        check=True,
        capture_output=True,
    )
    return f"postgresql://{ROLE}:{ROLE_PASSWORD}@127.0.0.1:{port}/postgres"


def populate(conn, messages: int) -> None:
    users = max(messages // 100, 10)
    conn.execute(
        """
        CREATE TABLE accounts_user (
            id bigserial PRIMARY KEY, email text UNIQUE NOT NULL, joined timestamptz NOT NULL);
        CREATE TABLE coaching_message (
            id bigserial PRIMARY KEY, author_id bigint REFERENCES accounts_user(id),
            body text NOT NULL, meta jsonb, attachment bytea, sent timestamptz NOT NULL);
        CREATE TABLE privacy_access_log (id bigserial PRIMARY KEY, who text, what text,
            at timestamptz NOT NULL);
        """
    )
    conn.execute(
        "INSERT INTO accounts_user (email, joined) SELECT 'user' || g || '@example.org', "
        "timestamptz '2025-01-01' + g * interval '1 hour' FROM generate_series(1, %s) g",
        (users,),
    )
    conn.execute(
        "INSERT INTO coaching_message (author_id, body, meta, attachment, sent) "
        "SELECT 1 + g %% %s, "
        "repeat('Hoe ging de oefening deze week? ', 1 + g %% 12) || md5(g::text), "
        "jsonb_build_object('n', g, 'read', g %% 2 = 0), decode(md5(g::text), 'hex'), "
        "timestamptz '2025-02-01' + g * interval '1 minute' FROM generate_series(1, %s) g",
        (users, messages),
    )
    conn.execute(
        "INSERT INTO privacy_access_log (who, what, at) SELECT 'coach' || g %% 50, "
        "'viewed dialogue ' || g, now() FROM generate_series(1, %s) g",
        (messages // 10,),
    )


def timed(label: str, config: Path, *args: str) -> float:
    t0 = time.monotonic()
    code = cli.main(["--config", str(config), "--quiet", *args])
    took = time.monotonic() - t0
    if code != 0:
        sys.exit(f"bench: '{' '.join(args)}' failed with exit {code}")
    return took


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=100_000)
    ap.add_argument("--dsn", default=os.environ.get("SAFECOACH_BACKUP_TEST_DSN"))
    args = ap.parse_args()
    dsn = args.dsn or local_dsn()
    info = psycopg.conninfo.conninfo_to_dict(dsn)
    bindir = subprocess.run(  # noqa: S603
        ["bash", str(REPO_ROOT / "scripts" / "get-restic.sh")],  # noqa: S607
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()[-1]
    restic = str(Path(bindir) / "restic")
    name = f"sbt_bench_{secrets.token_hex(4)}"
    work = Path(tempfile.mkdtemp(prefix="safecoach-bench-"))
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        t0 = time.monotonic()
        with psycopg.connect(dsn, dbname=name) as conn:
            populate(conn, args.messages)
            conn.commit()
            size = conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]
        t_fill = time.monotonic() - t0
        for f, v in (("repo-pw", secrets.token_urlsafe(24)), ("db-pw", info.get("password", ""))):
            (work / f).write_text(v + "\n")
            (work / f).chmod(0o600)
        (work / "metrics").mkdir()
        config = work / "config.toml"
        config.write_text(
            f"""host = "bench"
[repository]
url = "{work}/repo"
password_file = "{work}/repo-pw"
restic = "{restic}"
cache_dir = "{work}/cache"
[database]
name = "{name}"
host = "{info.get("host", "127.0.0.1")}"
port = {info.get("port", 5432)}
user = "{info.get("user", "")}"
password_file = "{work}/db-pw"
[metrics]
textfile_dir = "{work}/metrics"
"""
        )
        timed("init", config, "init")
        first = timed("run", config, "run")
        repo_size = sum(p.stat().st_size for p in (work / "repo").rglob("*") if p.is_file())
        with psycopg.connect(dsn, dbname=name) as conn:
            conn.execute(
                "INSERT INTO coaching_message (author_id, body, sent) "
                "SELECT 1, 'nieuw bericht ' || g, now() FROM generate_series(1, %s) g",
                (max(args.messages // 100, 1),),
            )
        second = timed("run", config, "run")
        repo_size2 = sum(p.stat().st_size for p in (work / "repo").rglob("*") if p.is_file())
        restore = timed("restore", config, "restore", "--database", f"{name}_restored")
        drill = timed("drill", config, "drill")
        check = timed("check", config, "check", "--read-all")
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            for db in (name, f"{name}_restored"):
                drop_with(conn, db)
        shutil.rmtree(work, ignore_errors=True)

    mib = 1024 * 1024
    print(
        f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} cores, "
        f"{platform.platform()}, Python {platform.python_version()}"
    )
    version = subprocess.run([restic, "version"], capture_output=True, text=True, check=False)  # noqa: S603
    print(version.stdout.strip())
    print(
        f"data: {args.messages} messages, database {size / mib:.1f} MiB (filled in {t_fill:.1f} s)"
    )
    print(f"first backup:        {first:6.2f} s, repository {repo_size / mib:.1f} MiB")
    print(
        f"incremental backup:  {second:6.2f} s, repository grew "
        f"{(repo_size2 - repo_size) / mib:.2f} MiB (+1% rows)"
    )
    print(f"restore (RTO, db):   {restore:6.2f} s  (restic dump | pg_restore into a new database)")
    print(f"drill:               {drill:6.2f} s  (restore + compare counts and checksums + drop)")
    print(f"check --read-all:    {check:6.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
