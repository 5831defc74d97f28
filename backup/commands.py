"""The commands of safecoach-backup. Each returns an exit code or raises a known error."""

from __future__ import annotations

import contextlib
import itertools
import json
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, TextIO

from . import metrics, pg
from .config import DB_NAME_RE, Config
from .restic import Outcome, Restic, ResticError, Result, explain

# Exit codes of this tool (documented in docs/backup.md and `safecoach-backup --help`).
EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INCOMPLETE = 3
EXIT_DRILL_MISMATCH = 4
EXIT_NO_REPOSITORY = 10
EXIT_LOCKED = 11
EXIT_WRONG_PASSWORD = 12
EXIT_UNREACHABLE = 13
EXIT_INTERRUPTED = 130

TAG = "safecoach"
DB_TAG = "db"
FILES_TAG = "files"


class CommandError(Exception):
    """An expected failure with a sentence for a person and an exit code."""

    def __init__(self, message: str, exit_code: int = EXIT_FAILURE):
        self.exit_code = exit_code
        super().__init__(message)


@dataclass
class Context:
    config: Config
    restic: Restic
    out: TextIO = field(default_factory=lambda: sys.stdout)
    err: TextIO = field(default_factory=lambda: sys.stderr)
    quiet: bool = False
    progress_interval: float = 10.0
    clock: Callable[[], float] = time.monotonic
    today: Callable[[], date] = lambda: datetime.now(UTC).date()

    def say(self, msg: str) -> None:
        """Progress and phases, on stderr so stdout stays clean for data."""
        if not self.quiet:
            print(f"safecoach-backup: {msg}", file=self.err, flush=True)

    def print(self, msg: str = "") -> None:
        print(msg, file=self.out, flush=True)

    def host_args(self) -> list[str]:
        return ["--host", self.config.host] if self.config.host else []


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"


def _record(ctx: Context, sample: metrics.Sample) -> None:
    if ctx.config.metrics_dir is None:
        return
    try:
        metrics.write(ctx.config.metrics_dir, sample)
    except OSError as exc:
        ctx.say(f"warning: could not write metrics to {ctx.config.metrics_dir}: {exc.strerror}")


# --------------------------------------------------------------------------- init


def cmd_init(ctx: Context) -> int:
    probe = ctx.restic.run(
        ["cat", "config", "--no-lock"], allow=(Outcome.OK, Outcome.NO_REPOSITORY)
    )
    if probe.outcome is Outcome.OK:
        ctx.print(f"The repository at {ctx.config.repository.url} already exists; nothing to do.")
        return EXIT_OK
    ctx.say(f"creating the repository at {ctx.config.repository.url}")
    ctx.restic.run(["init"])
    ctx.print(f"Created the repository at {ctx.config.repository.url}.")
    return EXIT_OK


# --------------------------------------------------------------------------- run


class _ProgressPrinter:
    def __init__(self, ctx: Context, label: str):
        self.ctx, self.label = ctx, label
        self.last = ctx.clock()

    def __call__(self, msg: dict[str, Any]) -> None:
        if msg.get("message_type") != "status":
            return
        now = self.ctx.clock()
        if now - self.last < self.ctx.progress_interval:
            return
        self.last = now
        # backup reports bytes_done, restore bytes_restored
        done = human_bytes(msg.get("bytes_done", msg.get("bytes_restored", 0)))
        pct = msg.get("percent_done")
        total = msg.get("total_bytes")
        share = f" of {human_bytes(total)} ({pct * 100:.0f}%)" if total and pct else ""
        secs = msg.get("seconds_elapsed", 0)
        self.ctx.say(f"{self.label}: {done}{share} read after {secs} s")


def _dump_failure(result: Result, db_name: str) -> str | None:
    """If the backup failed because pg_dump failed, a sentence saying so."""
    text = result.stderr + "\n" + result.error_text()
    if "command failed" not in text and "pg_dump" not in text:
        return None
    lines = [ln.strip() for ln in result.stderr.splitlines() if "pg_dump" in ln and ln.strip()]
    lines = [ln for ln in lines if not ln.startswith("{")]
    why = lines[-1] if lines else result.error_text()
    return (
        f"The dump of database '{db_name}' failed ({why}), so no database snapshot was saved; "
        "fix the cause and run the backup again."
    )


_FATAL = {Outcome.UNREACHABLE, Outcome.WRONG_PASSWORD, Outcome.NO_REPOSITORY, Outcome.LOCKED}


def _summary(result: Result) -> dict[str, Any]:
    summaries = result.of_type("summary")
    return summaries[-1] if summaries else {}


def cmd_run(ctx: Context) -> int:
    """The nightly job: the database dump, then the app's files; each its own snapshot."""
    cfg = ctx.config
    started = ctx.clock()
    errors: list[str] = []
    host = ctx.host_args()

    parts: list[tuple[str, list[str], dict[str, str] | None]] = []
    if cfg.database is not None:
        db = cfg.database
        parts.append(
            (
                f"database {db.name}",
                [
                    "backup",
                    *host,
                    "--tag",
                    f"{TAG},{DB_TAG}",
                    "--stdin-filename",
                    db.dump_filename,
                    "--stdin-from-command",
                    "--",
                    *pg.dump_argv(db),
                ],
                pg.pg_env(db),
            )
        )
    if cfg.files.paths:
        excludes = [a for pattern in cfg.files.exclude for a in ("--exclude", pattern)]
        parts.append(
            (
                "files",
                ["backup", *host, "--tag", f"{TAG},{FILES_TAG}", *excludes, "--", *cfg.files.paths],
                None,
            )
        )

    try:
        exit_code, added, files_new, snapshots = _run_parts(ctx, parts, errors)
    except KeyboardInterrupt:
        duration = ctx.clock() - started
        _record(ctx, metrics.Sample("run", False, EXIT_INTERRUPTED, duration))
        raise
    duration = ctx.clock() - started
    ok = exit_code == EXIT_OK
    _record(
        ctx,
        metrics.Sample(
            "run",
            ok,
            exit_code,
            duration,
            bytes_added=added if ok else None,
            files_new=files_new if ok else None,
            snapshots=snapshots if ok else None,
        ),
    )
    if errors:
        if len(errors) == 1:
            raise CommandError(errors[0], exit_code)
        raise CommandError(" Also: ".join(errors), exit_code)
    ctx.print(f"Backup finished in {duration:.1f} s: {snapshots} snapshot(s).")
    return EXIT_OK


def _run_parts(
    ctx: Context, parts: list[tuple[str, list[str], dict[str, str] | None]], errors: list[str]
) -> tuple[int, float, float, int]:
    cfg = ctx.config
    exit_code = EXIT_OK
    added = files_new = 0.0
    snapshots = 0
    for label, args, extra_env in parts:
        ctx.say(f"backing up {label}")
        t0 = ctx.clock()
        try:
            result = ctx.restic.run(
                args,
                allow=(Outcome.OK, Outcome.INCOMPLETE),
                extra_env=extra_env,
                on_message=_ProgressPrinter(ctx, f"backup {label}"),
            )
        except ResticError as exc:
            why = None
            if cfg.database is not None and label.startswith("database") and exc.returncode == 1:
                why = _dump_failure(exc.result or Result([], 1), cfg.database.name)
            errors.append(why or str(exc))
            code = exc.exit_code
            exit_code = code if exit_code in (EXIT_OK, EXIT_INCOMPLETE) else exit_code
            if exc.outcome in _FATAL:
                break  # the next part would fail the same way
            continue
        summary = _summary(result)
        snap = summary.get("snapshot_id", "")
        if not snap:
            errors.append(f"restic reported no snapshot for {label}; treat this backup as failed.")
            exit_code = EXIT_FAILURE if exit_code in (EXIT_OK, EXIT_INCOMPLETE) else exit_code
            continue
        snapshots += 1
        added += summary.get("data_added", 0)
        files_new += summary.get("files_new", 0)
        took = ctx.clock() - t0
        if result.outcome is Outcome.INCOMPLETE:
            errors.append(
                f"Snapshot {snap[:8]} of {label} is incomplete: some files could not be read "
                f"({result.error_text()}); fix their permissions or paths and run again."
            )
            if exit_code == EXIT_OK:
                exit_code = EXIT_INCOMPLETE
        ctx.print(
            f"{label}: snapshot {snap[:8]}, {human_bytes(summary.get('total_bytes_processed', 0))}"
            f" read, {human_bytes(summary.get('data_added', 0))} added, {took:.1f} s"
        )
    return exit_code, added, files_new, snapshots


# --------------------------------------------------------------------------- snapshots


def list_snapshots(ctx: Context, *tags: str) -> list[dict[str, Any]]:
    # read-only: no lock, so listing works even while the server prunes
    args = ["snapshots", "--no-lock", *ctx.host_args()]
    for t in tags:
        args += ["--tag", t]
    result = ctx.restic.run(args)
    for m in result.messages:
        if m.get("message_type") == "list":
            return list(m["items"])
    return []


def _parse_time(value: str) -> datetime:
    # restic writes RFC 3339 with nanoseconds; Python wants at most microseconds.
    head, _, rest = value.partition(".")
    if not rest:
        return datetime.fromisoformat(value)
    digits = "".join(itertools.takewhile(str.isdigit, rest))
    tz = rest[len(digits) :]
    return datetime.fromisoformat(f"{head}.{digits[:6]:0<6}{tz.replace('Z', '+00:00')}")


def cmd_snapshots(ctx: Context, as_json: bool = False) -> int:
    snaps = list_snapshots(ctx)
    if as_json:
        ctx.print(json.dumps(snaps, indent=2))
        return EXIT_OK
    if not snaps:
        ctx.print("The repository has no snapshots yet.")
        return EXIT_OK
    ctx.print(f"{'ID':8}  {'TIME (UTC)':19}  {'HOST':16}  {'TAGS':18}  {'SIZE':>10}  PATHS")
    for s in snaps:
        when = _parse_time(s["time"]).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
        size = human_bytes((s.get("summary") or {}).get("total_bytes_processed", 0))
        ctx.print(
            f"{s['short_id']:8}  {when:19}  {s.get('hostname', ''):16}  "
            f"{','.join(s.get('tags') or []):18}  {size:>10}  {' '.join(s.get('paths', []))}"
        )
    ctx.print(f"{len(snaps)} snapshot(s).")
    return EXIT_OK


# --------------------------------------------------------------------------- check


def check_subset(day: date, subsets: int) -> str | None:
    """Which n/N of the pack files to read today: rotates so N days read everything."""
    if subsets <= 0:
        return None
    return f"{day.toordinal() % subsets + 1}/{subsets}"


def cmd_check(ctx: Context, read_all: bool = False) -> int:
    started = ctx.clock()
    args = ["check"]
    subset = None if read_all else check_subset(ctx.today(), ctx.config.check_subsets)
    if read_all:
        args.append("--read-data")
        ctx.say("checking the repository structure and reading all data")
    elif subset:
        args.append(f"--read-data-subset={subset}")
        ctx.say(f"checking the repository structure and reading data subset {subset}")
    else:
        ctx.say("checking the repository structure")
    exit_code = EXIT_OK
    try:
        result = ctx.restic.run(args, allow=(Outcome.OK, Outcome.FAILURE))
        if result.outcome is Outcome.FAILURE:
            exit_code = EXIT_FAILURE
            cause = explain(result, ctx.config.repository)
            if not cause.generic:
                raise cause
            raise CommandError(
                f"The repository check found errors ({result.error_text()}); run the next "
                "backup to a fresh repository and repair this one on the backup host (see "
                "'Damaged repository' in docs/backup.md).",
                EXIT_FAILURE,
            )
    except ResticError as exc:
        exit_code = exc.exit_code
        raise
    finally:
        _record(
            ctx, metrics.Sample("check", exit_code == EXIT_OK, exit_code, ctx.clock() - started)
        )
    what = "all data" if read_all else (f"data subset {subset}" if subset else "structure only")
    ctx.print(f"Repository check passed ({what}) in {ctx.clock() - started:.1f} s.")
    return EXIT_OK


# --------------------------------------------------------------------------- restore / drill


def _latest(ctx: Context, tag: str, what: str) -> dict[str, Any]:
    snaps = list_snapshots(ctx, f"{TAG},{tag}")
    if not snaps:
        raise CommandError(f"The repository has no {what} snapshot yet; run a backup first.")
    return max(snaps, key=lambda s: s["time"])


def _find(ctx: Context, snapshot: str, tag: str, what: str) -> dict[str, Any]:
    if snapshot == "latest":
        return _latest(ctx, tag, what)
    for s in list_snapshots(ctx):
        if s["id"].startswith(snapshot) or s.get("short_id") == snapshot:
            if tag not in (s.get("tags") or []):
                raise CommandError(f"Snapshot {snapshot} is not a {what} snapshot.", EXIT_USAGE)
            return s
    raise CommandError(
        f"There is no snapshot {snapshot}; list them with 'safecoach-backup snapshots'.",
        EXIT_USAGE,
    )


def _restore_database(ctx: Context, snap: dict[str, Any], target: str) -> None:
    db = ctx.config.database
    if db is None:
        raise CommandError("The configuration has no [database] section.", EXIT_USAGE)
    path = next((p for p in snap.get("paths", []) if p.endswith(".pgdump")), None)
    if path is None:
        raise CommandError(f"Snapshot {snap['short_id']} holds no database dump.")
    wait = sum(ctx.config.repository.retry.delays())
    argv = ctx.restic.argv(
        ["--retry-lock", f"{max(int(wait), 1)}s", "dump", snap["id"], path], json_output=False
    )
    dump_rc, dump_err, rest_rc, rest_err = pg.restore_stream(argv, ctx.restic.env(), db, target)
    if dump_rc != 0:
        result = Result(argv, dump_rc, stderr=dump_err)
        for line in dump_err.splitlines():
            if line.startswith("{"):
                with contextlib.suppress(json.JSONDecodeError):
                    result.messages.append(json.loads(line))
        raise explain(result, ctx.config.repository)
    if rest_rc != 0:
        why = next(
            (ln for ln in rest_err.splitlines() if "error" in ln.lower()),
            rest_err.strip().splitlines()[-1] if rest_err.strip() else f"exit {rest_rc}",
        )
        raise CommandError(
            f"pg_restore into '{target}' failed ({why.strip()}); the dump in snapshot "
            f"{snap['short_id']} may be damaged: run 'safecoach-backup check --read-all'."
        )


def cmd_restore(
    ctx: Context, snapshot: str, target: Path | None, database: str | None, include: list[str]
) -> int:
    started = ctx.clock()
    if database is not None:
        db = ctx.config.database
        if db is None:
            raise CommandError("The configuration has no [database] section.", EXIT_USAGE)
        if database == db.name:
            raise CommandError(
                f"Refusing to restore over the live database '{database}'; restore into a new "
                "database, check it, then switch (see docs/backup.md).",
                EXIT_USAGE,
            )
        if not DB_NAME_RE.match(database):
            raise CommandError(f"'{database}' is not a plain database name.", EXIT_USAGE)
        snap = _find(ctx, snapshot, DB_TAG, "database")
        if pg.database_exists(db, database):
            raise CommandError(
                f"Database '{database}' already exists; choose a new name or drop it first.",
                EXIT_USAGE,
            )
        ctx.say(f"restoring snapshot {snap['short_id']} into database '{database}'")
        pg.create_database(db, database)
        try:
            _restore_database(ctx, snap, database)
        except BaseException:
            pg.drop_database(db, database)
            raise
        ctx.print(
            f"Restored snapshot {snap['short_id']} ({snap['time'][:19]}) into database "
            f"'{database}' in {ctx.clock() - started:.1f} s."
        )
        return EXIT_OK

    if target is None:
        raise CommandError("Give --target DIR or --database NAME.", EXIT_USAGE)
    target = target.resolve()
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise CommandError(
            f"{target} exists and is not an empty directory; restore into a new or empty one.",
            EXIT_USAGE,
        )
    snap = _find(ctx, snapshot, FILES_TAG, "files")
    ctx.say(f"restoring snapshot {snap['short_id']} to {target}")
    args = ["restore", snap["id"], "--target", str(target)]
    for pattern in include:
        args += ["--include", pattern]
    result = ctx.restic.run(args, on_message=_ProgressPrinter(ctx, "restore"))
    summary = _summary(result)
    ctx.print(
        f"Restored snapshot {snap['short_id']} to {target}: "
        f"{summary.get('files_restored', 0)} item(s), "
        f"{human_bytes(summary.get('bytes_restored', 0))} in {ctx.clock() - started:.1f} s."
    )
    return EXIT_OK


def cmd_drill(ctx: Context) -> int:
    """Restore the newest database snapshot into a scratch database and compare with live."""
    db = ctx.config.database
    if db is None:
        raise CommandError("The configuration has no [database] section to drill.", EXIT_USAGE)
    started = ctx.clock()
    exit_code = EXIT_FAILURE
    try:
        for old in pg.leftover_scratch_databases(db):
            ctx.say(f"dropping '{old}', left behind by an interrupted drill")
            pg.drop_database(db, old)
        snap = _latest(ctx, DB_TAG, "database")
        scratch = pg.scratch_name(db)
        ctx.say(f"restoring snapshot {snap['short_id']} ({snap['time'][:19]}) into '{scratch}'")
        pg.create_database(db, scratch)
        try:
            t0 = ctx.clock()
            _restore_database(ctx, snap, scratch)
            restore_took = ctx.clock() - t0
            ctx.say("comparing tables, row counts and checksums with the live database")
            with ThreadPoolExecutor(max_workers=2) as pool:  # both databases at once
                live_f = pool.submit(pg.database_facts, db, db.name)
                restored_f = pool.submit(pg.database_facts, db, scratch)
                (live, live_seq), (restored, restored_seq) = live_f.result(), restored_f.result()
        finally:
            pg.drop_database(db, scratch)
        diffs = pg.compare(live, restored) + pg.compare_sequences(live_seq, restored_seq)
        rows = sum(f.rows for f in restored.values())
        if diffs:
            exit_code = EXIT_DRILL_MISMATCH
            shown = "; ".join(diffs[:5]) + (
                f"; and {len(diffs) - 5} more" if len(diffs) > 5 else ""
            )
            raise CommandError(
                f"The restored snapshot {snap['short_id']} differs from the live database: "
                f"{shown}. If the database changed since the backup, run a backup and drill "
                "again; otherwise treat the backup as broken.",
                EXIT_DRILL_MISMATCH,
            )
        exit_code = EXIT_OK
    except ResticError as exc:
        exit_code = exc.exit_code
        raise
    except pg.DatabaseError as exc:
        raise CommandError(str(exc)) from None
    finally:
        _record(
            ctx, metrics.Sample("drill", exit_code == EXIT_OK, exit_code, ctx.clock() - started)
        )
    ctx.print(
        f"Drill passed: snapshot {snap['short_id']} restored in {restore_took:.1f} s and matches "
        f"the live database ({len(restored)} tables, {rows} rows, checksums equal, "
        f"{len(restored_seq)} sequences); "
        f"{ctx.clock() - started:.1f} s in all."
    )
    return EXIT_OK


# --------------------------------------------------------------------------- status / unlock


def cmd_status(ctx: Context) -> int:
    cfg = ctx.config
    now = datetime.now(UTC)
    snaps = list_snapshots(ctx)
    ctx.print(f"Repository: {cfg.repository.url} ({len(snaps)} snapshot(s))")
    problems = []
    wanted = []
    if cfg.database is not None:
        wanted.append((DB_TAG, f"database {cfg.database.name}"))
    if cfg.files.paths:
        wanted.append((FILES_TAG, "files"))
    for tag, label in wanted:
        mine = [s for s in snaps if tag in (s.get("tags") or [])]
        if not mine:
            ctx.print(f"  {label}: no snapshot yet")
            problems.append(f"there is no {label} snapshot yet")
            continue
        newest = max(mine, key=lambda s: s["time"])
        age_h = (now - _parse_time(newest["time"])).total_seconds() / 3600
        ctx.print(f"  {label}: newest {newest['short_id']}, {age_h:.1f} h old, {len(mine)} in all")
        if age_h > cfg.max_age_hours:
            problems.append(
                f"the newest {label} snapshot is {age_h:.0f} h old "
                f"(limit {cfg.max_age_hours:.0f} h)"
            )
    if cfg.metrics_dir is not None:
        prev = metrics.read_previous(cfg.metrics_dir / metrics.FILENAME)
        for cmd in metrics.COMMANDS:
            ts = prev.get(("last_run_timestamp_seconds", cmd))
            if ts is None:
                continue
            ok = prev.get(("success", cmd)) == 1.0
            when = datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M")
            status = prev.get(("exit_status", cmd), 0)
            ctx.print(f"  last {cmd}: {'ok' if ok else f'FAILED (exit {status:.0f})'} at {when}")
            if not ok:
                problems.append(f"the last {cmd} failed with exit {status:.0f} at {when} UTC")
    if problems:
        raise CommandError(
            "Backups are not current: " + "; ".join(problems) + ". Check the nightly timer "
            "and its log (journalctl -u safecoach-backup).",
            EXIT_FAILURE,
        )
    ctx.print("Backups are current.")
    return EXIT_OK


def cmd_unlock(ctx: Context) -> int:
    """Remove stale locks only (restic unlock without --remove-all)."""
    before = ctx.restic.run(["list", "locks"], json_output=False, retry_locked=False)
    count = len([ln for ln in before.stdout.splitlines() if ln.strip()])
    if count == 0:
        ctx.print("The repository has no locks.")
        return EXIT_OK
    ctx.restic.run(["unlock"], json_output=False, retry_locked=False)
    after = ctx.restic.run(["list", "locks"], json_output=False, retry_locked=False)
    left = len([ln for ln in after.stdout.splitlines() if ln.strip()])
    ctx.print(f"Removed {count - left} stale lock(s); {left} lock(s) of running processes remain.")
    return EXIT_OK
