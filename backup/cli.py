"""safecoach-backup: the command line of the restic wrapper."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

import psycopg

from . import commands as c
from . import config as config_mod
from .pg import DatabaseError
from .restic import Restic, ResticError

EPILOG = """\
exit codes:
  0   success
  1   failure (restic failed, the dump failed, a check found errors, backups not current)
  2   usage or configuration error
  3   the backup saved an incomplete snapshot (some files could not be read)
  4   drill: the restored database differs from the live one
  10  there is no repository at the configured URL (run 'init')
  11  the repository stayed locked after all retries (see 'unlock')
  12  the repository password is wrong
  13  the backup server cannot be reached
  130 interrupted

The configuration file is $SAFECOACH_BACKUP_CONFIG or /etc/safecoach-backup/config.toml;
its schema is in docs/backup.md.
"""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="safecoach-backup",
        description="Encrypted, deduplicated backups of the safecoach database and files with "
        "restic, plus restore drills that prove they come back.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "-c",
        "--config",
        type=Path,
        help="configuration file (TOML, or YAML with PyYAML); "
        "default $SAFECOACH_BACKUP_CONFIG or /etc/safecoach-backup/config.toml",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress messages on stderr")
    p.add_argument(
        "--progress-interval",
        type=float,
        default=None,
        metavar="SECONDS",
        help="seconds between progress lines on long work (default 2 on a terminal, else 30)",
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("init", help="create the repository unless it exists already")
    sub.add_parser("run", help="back up the database dump and the files (the nightly job)")
    sp = sub.add_parser("snapshots", help="list the snapshots")
    sp.add_argument("--json", action="store_true", help="print restic's JSON")
    ck = sub.add_parser("check", help="verify the repository, reading today's data subset")
    ck.add_argument("--read-all", action="store_true", help="read all data, not a subset")
    rs = sub.add_parser("restore", help="restore files to a directory or a dump into a database")
    where = rs.add_mutually_exclusive_group(required=True)
    where.add_argument(
        "--target", type=Path, metavar="DIR", help="empty or new directory for the files"
    )
    where.add_argument("--database", metavar="NAME", help="name of a new database for the dump")
    rs.add_argument(
        "--snapshot", default="latest", metavar="ID", help="snapshot ID (default: the newest)"
    )
    rs.add_argument(
        "--include",
        action="append",
        default=[],
        metavar="PATH",
        help="restore only this path (repeatable)",
    )
    sub.add_parser(
        "drill", help="restore the newest dump into a scratch database and compare with live"
    )
    sub.add_parser("status", help="show the newest snapshots; fail if they are too old")
    sub.add_parser("unlock", help="remove stale locks (never those of running processes)")
    return p


def _terminate(signum, _frame):
    # systemd stops a unit with SIGTERM: unwind like Ctrl-C so cleanup (scratch databases)
    # runs and the failure is recorded.
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if threading.current_thread() is not threading.main_thread():
        return _main(args)
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        return _main(args)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _main(args: argparse.Namespace) -> int:
    err = sys.stderr

    def fail(msg: str, code: int) -> int:
        print(f"safecoach-backup: error: {msg}", file=err, flush=True)
        return code

    try:
        cfg = config_mod.load(args.config)
    except config_mod.ConfigError as exc:
        return fail(str(exc), c.EXIT_USAGE)
    interval = args.progress_interval
    if interval is None:
        interval = 2.0 if err.isatty() else 30.0
    ctx_holder: list[c.Context] = []

    def say(msg: str) -> None:
        if ctx_holder:
            ctx_holder[0].say(msg)

    restic = Restic(cfg.repository, say=say)
    ctx = c.Context(cfg, restic, quiet=args.quiet, progress_interval=interval)
    ctx_holder.append(ctx)
    try:
        if args.command == "init":
            return c.cmd_init(ctx)
        if args.command == "run":
            return c.cmd_run(ctx)
        if args.command == "snapshots":
            return c.cmd_snapshots(ctx, as_json=args.json)
        if args.command == "check":
            return c.cmd_check(ctx, read_all=args.read_all)
        if args.command == "restore":
            return c.cmd_restore(ctx, args.snapshot, args.target, args.database, args.include)
        if args.command == "drill":
            return c.cmd_drill(ctx)
        if args.command == "status":
            return c.cmd_status(ctx)
        if args.command == "unlock":
            return c.cmd_unlock(ctx)
    except ResticError as exc:
        return fail(str(exc), exc.exit_code)
    except c.CommandError as exc:
        return fail(str(exc), exc.exit_code)
    except DatabaseError as exc:
        return fail(str(exc), c.EXIT_FAILURE)
    except psycopg.Error as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        return fail(
            f"PostgreSQL refused a step ({first}); check that [database] user may read every "
            "table and create databases.",
            c.EXIT_FAILURE,
        )
    except KeyboardInterrupt:
        return fail("interrupted; a backup in progress was not saved.", c.EXIT_INTERRUPTED)
    except OSError as exc:
        where = f" ({exc.filename})" if exc.filename else ""
        return fail(f"{exc.strerror or exc}{where}; check the path and permissions.", 1)
    raise AssertionError(args.command)  # pragma: no cover


if __name__ == "__main__":
    sys.exit(main())
