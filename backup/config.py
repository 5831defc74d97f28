"""Load and validate the safecoach-backup configuration file (TOML, or YAML when PyYAML is there).

Every problem becomes one sentence that names the key, says what is wrong and what to write
instead; all problems are collected and raised together as one ConfigError.
"""

from __future__ import annotations

import os
import re
import stat
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

DEFAULT_PATH = Path("/etc/safecoach-backup/config.toml")
DB_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


class ConfigError(Exception):
    """The configuration file is missing, unreadable or invalid; str() is for a person."""

    def __init__(self, path: Path | str, problems: list[str]):
        self.path = str(path)
        self.problems = problems
        if len(problems) == 1:
            text = f"{self.path}: {problems[0]}"
        else:
            text = f"{self.path} has {len(problems)} problems:\n" + "\n".join(
                f"  - {p}" for p in problems
            )
        super().__init__(text)


@dataclass(frozen=True)
class Retry:
    """Backoff for a locked repository: attempts in total, first delay, factor, cap (seconds)."""

    attempts: int = 5
    initial_delay: float = 10.0
    factor: float = 2.0
    max_delay: float = 120.0

    def delays(self) -> list[float]:
        """The waits between attempts: attempts - 1 of them."""
        out, d = [], self.initial_delay
        for _ in range(max(self.attempts - 1, 0)):
            out.append(min(d, self.max_delay))
            d *= self.factor
        return out


@dataclass(frozen=True)
class Repository:
    url: str
    password_file: Path
    rest_username: str | None = None
    rest_password_file: Path | None = None
    cacert: Path | None = None
    restic: str = "restic"
    cache_dir: Path | None = None
    connect_timeout: float = 10.0
    retry: Retry = field(default_factory=Retry)

    @property
    def is_rest(self) -> bool:
        return self.url.startswith("rest:")

    @property
    def rest_endpoint(self) -> tuple[str, int] | None:
        """(host, port) of a REST server URL, else None."""
        if not self.is_rest:
            return None
        parts = urlsplit(self.url[len("rest:") :])
        port = parts.port or (443 if parts.scheme == "https" else 80)
        return parts.hostname or "", port


@dataclass(frozen=True)
class Database:
    name: str
    host: str | None = None
    port: int = 5432
    user: str | None = None
    password_file: Path | None = None
    pg_dump: str = "pg_dump"
    pg_restore: str = "pg_restore"
    maintenance_db: str = "postgres"

    @property
    def dump_filename(self) -> str:
        return f"{self.name}.pgdump"


@dataclass(frozen=True)
class Files:
    paths: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()


@dataclass(frozen=True)
class Config:
    path: Path
    repository: Repository
    database: Database | None
    files: Files
    check_subsets: int = 7
    metrics_dir: Path | None = None
    max_age_hours: float = 26.0
    host: str | None = None


# --------------------------------------------------------------------------- reading


def _read(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            path, ["the configuration file does not exist; create it (see docs/backup.md)."]
        ) from None
    except PermissionError:
        raise ConfigError(
            path, ["the configuration file cannot be read; run as the backup user or root."]
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(path, [f"the configuration file cannot be read ({exc})."]) from None
    if path.suffix in (".yml", ".yaml"):
        try:
            import yaml
        except ImportError:
            raise ConfigError(
                path, ["YAML needs PyYAML, which is not installed; install it or use TOML."]
            ) from None
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}" if mark else ""
            raise ConfigError(path, [f"this is not valid YAML{where}; fix its syntax."]) from None
        data = {} if data is None else data
    else:
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(path, [f"this is not valid TOML ({exc}); fix its syntax."]) from None
    if not isinstance(data, dict):
        raise ConfigError(path, ["the file must hold a mapping of sections, not a list or value."])
    return data


# --------------------------------------------------------------------------- validation


class _Checker:
    def __init__(self, check_secret_modes: bool):
        self.problems: list[str] = []
        self.check_secret_modes = check_secret_modes

    def fail(self, msg: str) -> None:
        self.problems.append(msg)

    def section(self, data: dict, name: str, required: bool) -> dict | None:
        value = data.get(name)
        if value is None:
            if required:
                self.fail(f"section [{name}] is missing; add it (see docs/backup.md).")
            return None
        if not isinstance(value, dict):
            self.fail(f"[{name}] must be a section (a table of keys), not {type(value).__name__}.")
            return None
        return value

    def unknown(self, sec: dict, name: str, allowed: set[str]) -> None:
        for key in sorted(set(sec) - allowed):
            self.fail(
                f"[{name}] has an unknown key '{key}'; allowed are: {', '.join(sorted(allowed))}."
            )

    def string(self, sec: dict, name: str, key: str, required=False, default=None):
        value = sec.get(key)
        if value is None:
            if required:
                self.fail(f"[{name}] {key} is missing; set it to a string.")
            return default
        if not isinstance(value, str) or not value.strip():
            self.fail(f"[{name}] {key} must be a non-empty string, not {value!r}.")
            return default
        return value

    def number(self, sec, name, key, default, *, minimum, integer=False, maximum=None):
        value = sec.get(key)
        if value is None:
            return default
        ok_type = (int,) if integer else (int, float)
        if isinstance(value, bool) or not isinstance(value, ok_type):
            kind = "a whole number" if integer else "a number"
            self.fail(f"[{name}] {key} must be {kind}, not {value!r}.")
            return default
        if value < minimum or (maximum is not None and value > maximum):
            upper = f" and at most {maximum}" if maximum is not None else ""
            self.fail(f"[{name}] {key} must be at least {minimum}{upper}, not {value}.")
            return default
        return value

    def secret_file(self, sec, name, key, required=False) -> Path | None:
        value = self.string(sec, name, key, required=required)
        if value is None:
            return None
        path = Path(value)
        if not path.is_absolute():
            self.fail(f"[{name}] {key} must be an absolute path, not '{value}'.")
            return path
        try:
            st = path.stat()
        except FileNotFoundError:
            self.fail(f"[{name}] {key}: {value} does not exist; create it with mode 0600.")
            return path
        except PermissionError:
            self.fail(f"[{name}] {key}: {value} cannot be read; run as the backup user or root.")
            return path
        if not stat.S_ISREG(st.st_mode):
            self.fail(f"[{name}] {key}: {value} is not a regular file.")
        elif self.check_secret_modes and st.st_mode & 0o077:
            self.fail(
                f"[{name}] {key}: {value} is readable by others (mode "
                f"{stat.S_IMODE(st.st_mode):04o}); run: chmod 600 {value}"
            )
        elif st.st_size == 0:
            self.fail(f"[{name}] {key}: {value} is empty; put the secret in it.")
        return path

    def string_list(self, sec, name, key) -> tuple[str, ...]:
        value = sec.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            self.fail(f"[{name}] {key} must be a list of non-empty strings.")
            return ()
        return tuple(value)


def validate(data: dict[str, Any], path: Path, *, check_secret_modes: bool = True) -> Config:
    """Turn parsed data into a Config, or raise ConfigError listing every problem."""
    c = _Checker(check_secret_modes)
    c.unknown(data, "top level", {"repository", "database", "files", "check", "metrics", "host"})

    repo = c.section(data, "repository", required=True) or {}
    c.unknown(
        repo,
        "repository",
        {
            "url",
            "password_file",
            "rest_username",
            "rest_password_file",
            "cacert",
            "restic",
            "cache_dir",
            "connect_timeout",
            "lock_retries",
            "lock_retry_delay",
            "lock_retry_max_delay",
        },
    )
    url = c.string(repo, "repository", "url", required=True)
    if url is not None:
        if url.startswith("rest:"):
            parts = urlsplit(url[len("rest:") :])
            try:
                port_ok = parts.port is None or parts.port > 0
            except ValueError:
                port_ok = False
            if parts.scheme not in ("http", "https") or not parts.hostname or not port_ok:
                c.fail(
                    f"[repository] url must look like rest:https://HOST:PORT/USER/, not '{url}'."
                )
            elif parts.username or parts.password:
                c.fail(
                    "[repository] url must not contain credentials; put the user in "
                    "rest_username and the password in rest_password_file."
                )
        elif ":" in url.split("/", 1)[0] and not url.startswith("/"):
            c.fail(
                "[repository] url must be a rest: URL or an absolute local path; other restic "
                f"backends are not supported here, got '{url}'."
            )
        elif not url.startswith("/"):
            c.fail(f"[repository] url must be an absolute path or a rest: URL, not '{url}'.")
    password_file = c.secret_file(repo, "repository", "password_file", required=True)
    rest_user = c.string(repo, "repository", "rest_username")
    rest_pw = c.secret_file(repo, "repository", "rest_password_file")
    if (rest_user is None) != (rest_pw is None):
        c.fail(
            "[repository] rest_username and rest_password_file go together; set both or neither."
        )
    if rest_user is not None and url is not None and not url.startswith("rest:"):
        c.fail("[repository] rest_username is only for a rest: URL; remove it or fix url.")
    cacert = c.string(repo, "repository", "cacert")
    if cacert is not None and not Path(cacert).is_file():
        c.fail(f"[repository] cacert: {cacert} does not exist; put the server's CA file there.")
    retry = Retry(
        attempts=c.number(repo, "repository", "lock_retries", 5, minimum=1, integer=True) or 5,
        initial_delay=float(c.number(repo, "repository", "lock_retry_delay", 10.0, minimum=0)),
        max_delay=float(c.number(repo, "repository", "lock_retry_max_delay", 120.0, minimum=0)),
    )
    cache_dir = c.string(repo, "repository", "cache_dir")
    repository = Repository(
        url=url or "",
        password_file=password_file or Path(),
        rest_username=rest_user,
        rest_password_file=rest_pw,
        cacert=Path(cacert) if cacert else None,
        restic=c.string(repo, "repository", "restic", default="restic"),
        cache_dir=Path(cache_dir) if cache_dir else None,
        connect_timeout=float(
            c.number(repo, "repository", "connect_timeout", 10.0, minimum=0.1, maximum=600)
        ),
        retry=retry,
    )

    database = None
    db = c.section(data, "database", required=False)
    if db is not None:
        c.unknown(
            db,
            "database",
            {
                "name",
                "host",
                "port",
                "user",
                "password_file",
                "pg_dump",
                "pg_restore",
                "maintenance_db",
            },
        )
        name = c.string(db, "database", "name", required=True)
        if name is not None and not DB_NAME_RE.match(name):
            c.fail(
                f"[database] name '{name}' is not a plain PostgreSQL name; use letters, digits "
                "and underscores (at most 63)."
            )
        database = Database(
            name=name or "",
            host=c.string(db, "database", "host"),
            port=c.number(db, "database", "port", 5432, minimum=1, maximum=65535, integer=True),
            user=c.string(db, "database", "user"),
            password_file=c.secret_file(db, "database", "password_file"),
            pg_dump=c.string(db, "database", "pg_dump", default="pg_dump"),
            pg_restore=c.string(db, "database", "pg_restore", default="pg_restore"),
            maintenance_db=c.string(db, "database", "maintenance_db", default="postgres"),
        )

    fs = c.section(data, "files", required=False) or {}
    c.unknown(fs, "files", {"paths", "exclude"})
    paths = c.string_list(fs, "files", "paths")
    for p in paths:
        if not p.startswith("/"):
            c.fail(f"[files] paths: '{p}' must be an absolute path.")
    files = Files(paths=paths, exclude=c.string_list(fs, "files", "exclude"))
    if database is None and not files.paths and "repository" in data:
        c.fail("nothing to back up: add a [database] section or [files] paths.")

    chk = c.section(data, "check", required=False) or {}
    c.unknown(chk, "check", {"read_data_subsets"})
    subsets = c.number(chk, "check", "read_data_subsets", 7, minimum=0, maximum=1000, integer=True)

    met = c.section(data, "metrics", required=False) or {}
    c.unknown(met, "metrics", {"textfile_dir", "max_age_hours"})
    metrics_dir = c.string(met, "metrics", "textfile_dir")
    # A missing directory is only warned about when writing: metrics must never stop a backup.
    if metrics_dir is not None and not metrics_dir.startswith("/"):
        c.fail(f"[metrics] textfile_dir must be an absolute path, not '{metrics_dir}'.")
    max_age = c.number(met, "metrics", "max_age_hours", 26.0, minimum=1)

    host = data.get("host")
    if host is not None and (not isinstance(host, str) or not host):
        c.fail("host must be a non-empty string (the name snapshots are recorded under).")
        host = None

    if c.problems:
        raise ConfigError(path, c.problems)
    return Config(
        path=path,
        repository=repository,
        database=database,
        files=files,
        check_subsets=subsets,
        metrics_dir=Path(metrics_dir) if metrics_dir else None,
        max_age_hours=float(max_age),
        host=host,
    )


def load(path: Path | str | None = None) -> Config:
    """Read and validate the file at path (default: $SAFECOACH_BACKUP_CONFIG or DEFAULT_PATH)."""
    if path is None:
        path = os.environ.get("SAFECOACH_BACKUP_CONFIG") or DEFAULT_PATH
    path = Path(path)
    return validate(_read(path), path)
