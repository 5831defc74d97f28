"""Fixtures for the backup tests: a real restic, a real rest-server, a real PostgreSQL.

Nothing here skips: a missing prerequisite fails the test with a sentence saying what to do.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from backup.pg import drop_with

REPO_ROOT = Path(__file__).resolve().parents[2]
TEST_ROLE = "safecoach_backup_test"
TEST_ROLE_PASSWORD = "safecoach-backup-test-only"  # throwaway, local cluster only
REPO_PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="session")
def restic_bin() -> Path:
    """The directory holding restic >= 0.17 and restic-rest-server, via scripts/get-restic.sh."""
    script = REPO_ROOT / "scripts" / "get-restic.sh"
    proc = subprocess.run(
        ["bash", str(script)], capture_output=True, text=True, timeout=300, check=False
    )
    if proc.returncode != 0:
        pytest.fail(
            f"scripts/get-restic.sh failed (exit {proc.returncode}): {proc.stderr.strip()}; "
            "it needs root (or SAFECOACH_TOOLS set to a writable directory) and Debian's archive.",
            pytrace=False,
        )
    return Path(proc.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="session")
def restic_path(restic_bin: Path) -> str:
    return str(restic_bin / "restic")


# --------------------------------------------------------------------------- PostgreSQL


@dataclass(frozen=True)
class PgServer:
    host: str
    port: int
    user: str
    password: str

    def connect(self, dbname: str = "postgres", autocommit: bool = True):
        return psycopg.connect(
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password,
            dbname=dbname,
            autocommit=autocommit,
            connect_timeout=10,
        )


def _local_cluster() -> tuple[PgServer, tuple[str, str] | None]:
    """Start the local cluster if it is down and make the test role; (server, started)."""
    if os.geteuid() != 0:
        pytest.fail(
            "The backup integration tests need PostgreSQL: set SAFECOACH_BACKUP_TEST_DSN to a "
            "postgresql:// URL of a role with CREATEDB, or run them as root so they can use the "
            "local cluster.",
            pytrace=False,
        )
    if shutil.which("pg_lsclusters") is None:
        pytest.fail(
            "PostgreSQL is not installed: apt-get install postgresql, or set "
            "SAFECOACH_BACKUP_TEST_DSN.",
            pytrace=False,
        )
    out = subprocess.run(
        ["pg_lsclusters", "--no-header"], capture_output=True, text=True, check=True
    ).stdout.split("\n")[0]
    if not out.strip():
        pytest.fail(
            "PostgreSQL has no cluster; create one with: pg_createcluster --start 15 main",
            pytrace=False,
        )
    ver, cluster, port, status = out.split()[:4]
    started = None
    if status != "online":
        subprocess.run(["pg_ctlcluster", ver, cluster, "start"], check=True)
        started = (ver, cluster)
    script = f"""
DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{TEST_ROLE}') THEN
    CREATE ROLE {TEST_ROLE} LOGIN CREATEDB PASSWORD '{TEST_ROLE_PASSWORD}';
  ELSE
    ALTER ROLE {TEST_ROLE} LOGIN CREATEDB PASSWORD '{TEST_ROLE_PASSWORD}';
  END IF;
END $$;
"""
    subprocess.run(
        ["runuser", "-u", "postgres", "--", "psql", "-q", "-p", port, "-v", "ON_ERROR_STOP=1"],
        input=script,
        text=True,
        check=True,
        capture_output=True,
    )
    return PgServer("127.0.0.1", int(port), TEST_ROLE, TEST_ROLE_PASSWORD), started


@pytest.fixture(scope="session")
def pg_server():
    dsn = os.environ.get("SAFECOACH_BACKUP_TEST_DSN")
    started = None
    if dsn:
        info = psycopg.conninfo.conninfo_to_dict(dsn)
        server = PgServer(
            str(info.get("host", "127.0.0.1")),
            int(info.get("port", 5432)),
            str(info.get("user", "")),
            str(info.get("password", "")),
        )
    else:
        server, started = _local_cluster()
    try:
        with server.connect() as conn:
            conn.execute("SELECT 1")
    except psycopg.OperationalError as exc:
        pytest.fail(
            f"Cannot connect to PostgreSQL at {server.host}:{server.port} as {server.user} "
            f"({str(exc).strip()}); fix SAFECOACH_BACKUP_TEST_DSN or start the cluster.",
            pytrace=False,
        )
    yield server
    if started:
        subprocess.run(["pg_ctlcluster", *started, "stop"], check=False)


def _populate(conn, rows: int) -> None:
    conn.execute(
        """
        CREATE TABLE accounts_user (
            id bigserial PRIMARY KEY, email text UNIQUE NOT NULL, joined timestamptz NOT NULL);
        CREATE TABLE coaching_message (
            id bigserial PRIMARY KEY, author_id bigint REFERENCES accounts_user(id),
            body text NOT NULL, meta jsonb, attachment bytea, sent timestamptz NOT NULL);
        CREATE SCHEMA privacy;
        CREATE TABLE privacy.access_log (id serial PRIMARY KEY, who text, what text);
        CREATE TABLE empty_table (x int);
        """
    )
    conn.execute(
        "INSERT INTO accounts_user (email, joined) SELECT 'user' || g || '@example.org', "
        "timestamptz '2025-01-01' + g * interval '1 hour' FROM generate_series(1, 50) g"
    )
    conn.execute(
        "INSERT INTO coaching_message (author_id, body, meta, attachment, sent) "
        "SELECT 1 + g %% 50, 'Bericht ' || g || ' — é ü ∑ ' || md5(g::text), "
        "jsonb_build_object('n', g, 'tags', jsonb_build_array('a', g)), "
        "decode(md5(g::text), 'hex'), timestamptz '2025-02-01' + g * interval '1 minute' "
        "FROM generate_series(1, %s) g",
        (rows,),
    )
    conn.execute(
        "INSERT INTO privacy.access_log (who, what) "
        "SELECT 'coach' || g, 'viewed ' || g FROM generate_series(1, 20) g"
    )


@pytest.fixture
def live_db(pg_server: PgServer):
    """A fresh, populated database with a unique name; dropped afterwards."""
    name = f"sbt_{secrets.token_hex(5)}"
    with pg_server.connect() as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    with pg_server.connect(name, autocommit=False) as conn:
        _populate(conn, 2000)
        conn.commit()
    yield name
    with pg_server.connect() as conn:
        rows = conn.execute(
            "SELECT datname FROM pg_database WHERE datname = %s OR datname LIKE %s",
            (name, f"{name}\\_%"),
        ).fetchall()
        for (db,) in rows:
            drop_with(conn, db)


# --------------------------------------------------------------------------- config files


def secret_file(path: Path, value: str) -> Path:
    path.write_text(value + "\n")
    path.chmod(0o600)
    return path


def toml_value(v) -> str:
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    return str(v)


def write_toml(path: Path, data: dict) -> Path:
    lines = []
    for key, value in data.items():
        if not isinstance(value, dict):
            lines.append(f"{key} = {toml_value(value)}")
    for section, values in data.items():
        if isinstance(values, dict):
            lines.append(f"\n[{section}]")
            lines += [f"{k} = {toml_value(v)}" for k, v in values.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def make_config(tmp_path: Path, restic_path: str):
    """make_config(repository=..., database=..., files=..., ...) -> path of a config file."""
    counter = iter(range(1000))

    def make(**sections) -> Path:
        n = next(counter)
        repo = {
            "url": str(tmp_path / "repo"),
            "password_file": str(secret_file(tmp_path / f"repo-password-{n}", REPO_PASSWORD)),
            "restic": restic_path,
            "cache_dir": str(tmp_path / "cache"),
            "lock_retries": 2,
            "lock_retry_delay": 0.2,
        }
        repo.update(sections.pop("repository", {}))
        data: dict = {"host": "db-test", "repository": repo}
        (tmp_path / "metrics").mkdir(exist_ok=True)
        data["metrics"] = {"textfile_dir": str(tmp_path / "metrics")}
        data.update(sections)
        return write_toml(tmp_path / f"config-{n}.toml", data)

    return make


@pytest.fixture
def database_section(pg_server: PgServer, live_db: str, tmp_path: Path) -> dict:
    pw = secret_file(tmp_path / "db-password", pg_server.password)
    return {
        "name": live_db,
        "host": pg_server.host,
        "port": pg_server.port,
        "user": pg_server.user,
        "password_file": str(pw),
    }


# --------------------------------------------------------------------------- rest-server


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def htpasswd_line(user: str, password: str) -> str:
    try:
        import bcrypt

        hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=5)).decode()
    except ImportError:  # rest-server also takes {SHA}; fine for a throwaway test user
        hashed = "{SHA}" + base64.b64encode(hashlib.sha1(password.encode()).digest()).decode()  # noqa: S324
    return f"{user}:{hashed}\n"


@dataclass(frozen=True)
class RestServer:
    url: str
    port: int
    user: str
    password: str
    data: Path


@pytest.fixture
def rest_server(restic_bin: Path, tmp_path: Path):
    """A real restic-rest-server on 127.0.0.1, append-only, private repos, one htpasswd user."""
    data = tmp_path / "rest-data"
    data.mkdir()
    user, password = "db-test", secrets.token_urlsafe(16)
    htpasswd = tmp_path / "htpasswd"
    htpasswd.write_text(htpasswd_line(user, password))
    port = free_port()
    log = open(tmp_path / "rest-server.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [
            str(restic_bin / "restic-rest-server"),
            "--path",
            str(data),
            "--listen",
            f"127.0.0.1:{port}",
            "--append-only",
            "--private-repos",
            "--htpasswd-file",
            str(htpasswd),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                log.close()
                pytest.fail(
                    "restic-rest-server did not start: "
                    + (tmp_path / "rest-server.log").read_text(errors="replace"),
                    pytrace=False,
                )
            time.sleep(0.05)
    yield RestServer(f"rest:http://127.0.0.1:{port}/{user}/", port, user, password, data)
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    log.close()
