"""PostgreSQL side of backups: dump arguments, scratch databases, restore and comparison."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg import sql

from .config import Database
from .restic import read_secret


class DatabaseError(Exception):
    """A database step failed; str() is one sentence for a person."""


def pg_env(db: Database) -> dict[str, str]:
    """libpq environment for pg_dump and pg_restore: no password on a command line."""
    env = {"PGCONNECT_TIMEOUT": "10"}
    if db.host:
        env["PGHOST"] = db.host
    env["PGPORT"] = str(db.port)
    if db.user:
        env["PGUSER"] = db.user
    if db.password_file:
        env["PGPASSWORD"] = read_secret(db.password_file)
    return env


def dump_argv(db: Database) -> list[str]:
    """pg_dump in custom format, uncompressed (restic compresses and deduplicates better)."""
    return [db.pg_dump, "--format=custom", "--compress=0", "--no-password", "--dbname", db.name]


def connect(db: Database, dbname: str | None = None, autocommit: bool = False):
    kwargs: dict[str, Any] = {"dbname": dbname or db.name, "port": db.port, "connect_timeout": 10}
    if db.host:
        kwargs["host"] = db.host
    if db.user:
        kwargs["user"] = db.user
    if db.password_file:
        kwargs["password"] = read_secret(db.password_file)
    try:
        return psycopg.connect(autocommit=autocommit, **kwargs)
    except psycopg.OperationalError as exc:
        first = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise DatabaseError(
            f"Cannot connect to database '{kwargs['dbname']}' ({first}); check [database] "
            "host, port, user and password_file."
        ) from None


def scratch_name(db: Database, now: datetime | None = None) -> str:
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%d%H%M%S")
    return f"{db.name[:40]}_drill_{stamp}"


def leftover_scratch_databases(db: Database) -> list[str]:
    """Scratch databases of earlier drills that were killed before they could drop them."""
    prefix = f"{db.name[:40]}_drill_"
    with connect(db, db.maintenance_db, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT datname FROM pg_database WHERE starts_with(datname, %s)", (prefix,)
        ).fetchall()
    return sorted(
        name
        for (name,) in rows
        if len(name) == len(prefix) + 14 and name[len(prefix) :].isdigit() and name != db.name
    )


def database_exists(db: Database, name: str) -> bool:
    with connect(db, db.maintenance_db, autocommit=True) as conn:
        row = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        return row is not None


def create_database(db: Database, name: str) -> None:
    with connect(db, db.maintenance_db, autocommit=True) as conn:
        try:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        except psycopg.errors.DuplicateDatabase:
            raise DatabaseError(
                f"Database '{name}' already exists; choose another name or drop it first."
            ) from None
        except psycopg.errors.InsufficientPrivilege:
            raise DatabaseError(
                f"The database user may not create database '{name}'; grant it CREATEDB."
            ) from None


def drop_database(db: Database, name: str) -> None:
    if name == db.name:
        raise DatabaseError(f"Refusing to drop the live database '{name}'.")
    with connect(db, db.maintenance_db, autocommit=True) as conn:
        drop_with(conn, name)


def drop_with(conn, name: str, attempts: int = 20, sleep=time.sleep) -> None:
    """DROP DATABASE on an autocommit connection, robust against transient connections.

    A plain DROP makes autovacuum workers (busy with a freshly restored database) leave;
    WITH (FORCE) ends other sessions but cannot end autovacuum workers as a non-superuser, so
    it is the fallback for sessions only, and a refusal is retried briefly.
    """
    ident = sql.Identifier(name)
    for attempt in range(attempts):
        try:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(ident))
            return
        except psycopg.errors.ObjectInUse:
            pass
        try:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(ident))
            return
        except (psycopg.errors.ObjectInUse, psycopg.errors.InsufficientPrivilege):
            if attempt == attempts - 1:
                raise DatabaseError(
                    f"Cannot drop database '{name}': other sessions stay connected to it; "
                    "end them and drop it by hand."
                ) from None
            sleep(0.5)


def restore_stream(
    dump_cmd: list[str], dump_env: dict[str, str], db: Database, target: str
) -> tuple[int, str, int, str]:
    """Pipe dump_cmd's stdout (restic dump) into pg_restore on target.

    Returns (dump exit code, dump stderr, pg_restore exit code, pg_restore stderr).
    """
    restore_cmd = [
        db.pg_restore,
        "--no-owner",
        "--no-privileges",
        "--exit-on-error",
        "--no-password",
        "--dbname",
        target,
    ]
    restore_env = {**os.environ, **pg_env(db)}
    dumper = subprocess.Popen(
        dump_cmd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=dump_env,
    )
    dump_err: list[bytes] = []
    t = threading.Thread(target=lambda: dump_err.append(dumper.stderr.read()), daemon=True)
    t.start()
    try:
        restorer = subprocess.Popen(
            restore_cmd,
            stdin=dumper.stdout,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=restore_env,
        )
    except FileNotFoundError:
        dumper.kill()
        dumper.wait()
        raise DatabaseError(
            f"pg_restore was not found at '{db.pg_restore}'; install postgresql-client or set "
            "[database] pg_restore."
        ) from None
    dumper.stdout.close()
    try:
        _out, r_err = restorer.communicate()
    except BaseException:  # interrupted: stop both, so the caller can drop the database
        for proc in (restorer, dumper):
            proc.terminate()
        for proc in (restorer, dumper):
            proc.wait()
        raise
    if restorer.returncode != 0 and dumper.poll() is None:
        dumper.kill()
    dumper.wait()
    t.join()
    return (
        dumper.returncode,
        b"".join(dump_err).decode("utf-8", "replace"),
        restorer.returncode,
        r_err.decode("utf-8", "replace"),
    )


@dataclass(frozen=True)
class TableFacts:
    rows: int
    checksum: str


def table_facts(db: Database, dbname: str) -> dict[str, TableFacts]:
    """{schema.table: (row count, order-independent checksum)} for every user table."""
    facts: dict[str, TableFacts] = {}
    with connect(db, dbname) as conn:
        tables = conn.execute(
            """
            SELECT n.nspname, c.relname FROM pg_class c
            JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema')
              AND n.nspname NOT LIKE 'pg_toast%' AND n.nspname NOT LIKE 'pg_temp%'
            ORDER BY 1, 2
            """
        ).fetchall()
        for schema, table in tables:
            # Order-independent and streaming (constant memory, no sort): the sums of the two
            # 64-bit halves of each row's md5. PostgreSQL sums bigints as numeric: no overflow.
            query = sql.SQL(
                "SELECT count(*),"
                " coalesce(sum(('x' || substr(md5(t::text), 1, 16))::bit(64)::bigint), 0),"
                " coalesce(sum(('x' || substr(md5(t::text), 17, 16))::bit(64)::bigint), 0)"
                " FROM {}.{} AS t"
            ).format(sql.Identifier(schema), sql.Identifier(table))
            rows, high, low = conn.execute(query).fetchone()
            facts[f"{schema}.{table}"] = TableFacts(int(rows), f"{high}:{low}")
    return facts


def sequence_values(db: Database, dbname: str) -> dict[str, int | None]:
    """{schema.sequence: last value (None if never used)}: restored IDs must not collide."""
    with connect(db, dbname) as conn:
        rows = conn.execute(
            "SELECT schemaname, sequencename, last_value FROM pg_sequences ORDER BY 1, 2"
        ).fetchall()
    return {f"{schema}.{name}": value for schema, name, value in rows}


def database_facts(db: Database, dbname: str) -> tuple[dict[str, TableFacts], dict]:
    return table_facts(db, dbname), sequence_values(db, dbname)


def compare_sequences(live: dict[str, int | None], restored: dict[str, int | None]) -> list[str]:
    diffs = []
    for name in sorted(set(live) | set(restored)):
        if name not in restored:
            diffs.append(f"sequence {name} is in the live database but not in the restored one")
        elif name not in live:
            diffs.append(f"sequence {name} is in the restored database but not in the live one")
        elif live[name] != restored[name]:
            diffs.append(f"sequence {name} is at {live[name]} live but {restored[name]} restored")
    return diffs


def compare(live: dict[str, TableFacts], restored: dict[str, TableFacts]) -> list[str]:
    """Differences between two table_facts results, one sentence each; empty if identical."""
    diffs = []
    for name in sorted(set(live) - set(restored)):
        diffs.append(f"table {name} is in the live database but not in the restored one")
    for name in sorted(set(restored) - set(live)):
        diffs.append(f"table {name} is in the restored database but not in the live one")
    for name in sorted(set(live) & set(restored)):
        a, b = live[name], restored[name]
        if a.rows != b.rows:
            diffs.append(f"table {name} has {a.rows} rows live but {b.rows} restored")
        elif a.checksum != b.checksum:
            diffs.append(f"table {name} has the same row count but different contents")
    return diffs
