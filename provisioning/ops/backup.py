"""`otap backup now|status|drill|snapshots|restore STAGE`: the backups of a stage, from here.

Through provisioning/remote/ (Fabric over OpenSSH, the stage's ssh_config), like
`otap release deploy`; on each backup client (group db), as the admin with sudo:

    now        systemctl start safecoach-backup.service        the nightly job, now, in its unit
    drill      systemctl start safecoach-backup-drill.service  a backup, then the restore drill
    status     safecoach-backup-job status                     newest snapshots and their age
    snapshots  safecoach-backup-job snapshots                  every snapshot in the repository
    restore    safecoach-backup-job restore --database NEW     the newest (or --snapshot) dump
               into a new database beside the live one; with --replace that database then
               becomes the app's (owner, rights, name) and the live one, if any, is kept aside
               as safecoach_replaced_<time> without connections; the app is restarted.

safecoach-backup-job (role backup_client) runs the wrapper as its account in the nightly job's
sandbox. Expected failures are one sentence (OtapError); the wrapper's own output is shown.
With --json, status and snapshots return data instead (status_data, snapshots_data): the
wrapper's JSON for snapshots, its status lines read back by parse_status.
"""

from __future__ import annotations

import json
import re
import time

from provisioning.remote.progress import say
from provisioning.remote.target import Target, healthy, run, targets, web_targets
from provisioning.stage import OtapError, Stage, UsageError

ACTIONS = ("now", "status", "drill", "snapshots", "restore")
# These mirror role defaults: postgresql_app_database, postgresql_app_user, backup_client_user.
APP_DATABASE = "safecoach"
APP_ROLE = "safecoach"
BACKUP_ROLE = "safecoach-backup"
UNITS = {"now": "safecoach-backup.service", "drill": "safecoach-backup-drill.service"}
JOB = "/usr/local/sbin/safecoach-backup-job"
_DB_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_SNAPSHOT = re.compile(r"^(latest|[0-9a-f]{8,64})$")


def check_action(action: str) -> str:
    if action not in ACTIONS:
        raise UsageError(
            f"otap backup has no subcommand {action!r}; use one of {', '.join(ACTIONS)}."
        )
    return action


def restore_name(name: str | None, now: float | None = None) -> str:
    """The new database a restore goes into: NAME, or safecoach_restore_<UTC time>."""
    if name is None:
        stamp = time.strftime("%Y%m%d%H%M%S", time.gmtime(now))
        return f"{APP_DATABASE}_restore_{stamp}"
    if not _DB_NAME.match(name):
        raise UsageError(
            f"{name!r} is not a database name for a restore; use lower-case letters, digits "
            "and _, at most 63, starting with a letter."
        )
    if name == APP_DATABASE:
        raise UsageError(
            f"a restore never goes over the live database {APP_DATABASE}; restore beside it "
            "(leave out --as) and add --replace to switch the app to the restored copy."
        )
    return name


def check_snapshot(snapshot: str | None) -> str | None:
    if snapshot is not None and not _SNAPSHOT.match(snapshot):
        raise UsageError(
            f"{snapshot!r} is not a snapshot id; take one from `otap backup snapshots STAGE`."
        )
    return snapshot


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def replace_sql(restored: str, aside: str) -> str:
    """psql script (as postgres) that makes database `restored` the app's database.

    The restored objects belong to the backup account (pg_restore --no-owner); they go to the
    app's role. Leftover drill databases are dropped first, because REASSIGN OWNED also hands
    over the databases the backup account owns. The live database, if there is one, is closed
    to connections and renamed `aside`, never dropped.
    """
    for name in (restored, aside):
        if not _DB_NAME.match(name) or name == APP_DATABASE:
            raise ValueError(name)
    app, backup, live = _quote(APP_ROLE), _quote(BACKUP_ROLE), _quote(APP_DATABASE)
    new, old = _quote(restored), _quote(aside)
    drills = f"^{APP_DATABASE}_drill_[0-9]{{14}}$"
    # names are checked against _DB_NAME above and quoted; nothing here comes from a person
    return f"""\\set ON_ERROR_STOP on
SELECT format('DROP DATABASE %I', datname) FROM pg_database WHERE datname ~ '{drills}' \\gexec
\\c {restored}
REASSIGN OWNED BY {backup} TO {app};
ALTER SCHEMA public OWNER TO {app};
REVOKE ALL ON SCHEMA public FROM PUBLIC;
\\c postgres
ALTER DATABASE {new} OWNER TO {app};
REVOKE ALL ON DATABASE {new} FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE {new} TO {app};
GRANT CONNECT ON DATABASE {new} TO {backup};
SELECT EXISTS (SELECT FROM pg_database WHERE datname = '{APP_DATABASE}') AS live \\gset
\\if :live
ALTER DATABASE {live} WITH ALLOW_CONNECTIONS false;
SELECT count(pg_terminate_backend(pid)) AS ended FROM pg_stat_activity
 WHERE datname = '{APP_DATABASE}' AND pid <> pg_backend_pid();
DO $$
BEGIN
  FOR attempt IN 1..100 LOOP
    BEGIN
      ALTER DATABASE {live} RENAME TO {old};
      RETURN;
    EXCEPTION WHEN object_in_use THEN
      PERFORM pg_sleep(0.2);
    END;
  END LOOP;
  RAISE EXCEPTION 'database {APP_DATABASE} is still in use after 20 s';
END
$$;
\\endif
ALTER DATABASE {new} RENAME TO {live};
"""  # noqa: S608


# ---- remote ------------------------------------------------------------------------------------


def clients(stage: Stage, host: str | None = None) -> list[Target]:
    names = list(stage.groups.get("db") or [])
    if not names:
        raise OtapError(f"stage {stage.name} has no host in group db, so nothing is backed up.")
    if host is not None:
        if host not in names:
            raise UsageError(
                f"{host} is not a backup client of stage {stage.name}; clients: {', '.join(names)}."
            )
        names = [host]
    return targets(stage, names)


def _run(client: Target, command: str, show: bool = False, stdin: str = ""):
    """Run COMMAND with sudo; never raises for its exit status (the caller decides)."""
    return run(client, command, check=False, stdin=stdin, show=show)


def _last_line(result) -> str:
    """The wrapper's error sentence if it gave one, else the last line of output."""
    lines = ((result.stderr or "") + "\n" + (result.stdout or "")).strip().splitlines()
    text = [line.strip() for line in lines if line.strip()]
    errors = [line for line in text if line.startswith("safecoach-backup: error: ")]
    chosen = errors[-1] if errors else (text[-1] if text else f"exit status {result.exited}")
    return chosen.removeprefix("safecoach-backup: error: ").rstrip(".")


def _require_role(client: Target) -> None:
    found = _run(client, f"test -x {JOB}")
    if found.exited != 0:
        raise OtapError(
            f"{client.host} has no safecoach-backup yet; run `otap stage converge {client.stage.name}` "
            "(roles backup_server and backup_client) first."
        )


def start_unit(client: Target, action: str) -> None:
    unit = UNITS[action]
    what = "backing up now" if action == "now" else "backing up, then the restore drill"
    say(f"{client.host}: {what} ({unit}); this waits until it ends")
    started = time.monotonic()
    result = _run(client, f"systemctl start {unit}")
    invocation = _run(client, f"systemctl show -p InvocationID --value {unit}").stdout.strip()
    log = _run(
        client, f"journalctl --no-pager -o cat -u {unit} _SYSTEMD_INVOCATION_ID={invocation}"
    )
    if log.stdout.strip():
        print(log.stdout.rstrip(), flush=True)
    if result.exited != 0:
        reason = _last_line(log) if log.stdout.strip() else _last_line(result)
        raise OtapError(
            f"{unit} failed on {client.host} ({reason}); see `otap stage ssh {client.stage.name} "
            f"{client.host} -- sudo journalctl -u {unit}`."
        )
    say(f"{client.host}: {unit} succeeded in {time.monotonic() - started:.0f} s")


def job(client: Target, args: str, what: str) -> None:
    say(f"{client.host}: {what}")
    result = _run(client, f"{JOB} {args}", show=True)
    if result.exited != 0:
        raise OtapError(
            f"safecoach-backup {args.split()[0]} failed on {client.host} ({_last_line(result)})."
        )


def restore(
    client: Target, snapshot: str | None, name: str | None, replace: bool, now: float | None = None
) -> str:
    target = restore_name(name, now)
    snap = f" --snapshot {snapshot}" if snapshot else ""
    job(
        client,
        f"restore --database {target}{snap}",
        f"restoring the {'snapshot ' + snapshot if snapshot else 'newest database snapshot'} "
        f"into a new database {target}",
    )
    if not replace:
        say(
            f"{client.host}: database {target} holds the restored data beside the live "
            f"{APP_DATABASE}; check it, then run this again with --replace to switch the app to "
            "a restored copy."
        )
        return target
    aside = f"{APP_DATABASE}_replaced_{time.strftime('%Y%m%d%H%M%S', time.gmtime(now))}"
    say(
        f"{client.host}: switching the app to {target} (owner {APP_ROLE}); the live database, "
        f"if any, is kept as {aside}"
    )
    result = _run(client, "-u postgres psql -X -q -d postgres", stdin=replace_sql(target, aside))
    if result.exited != 0:
        raise OtapError(
            f"switching to the restored database failed on {client.host} ({_last_line(result)});"
            f" the restored copy is {target}, the live database is as it was or named {aside}."
        )
    for web in web_targets(client.stage):
        say(f"{web.host}: restarting the app so it connects to the restored database")
        run(web, "systemctl try-restart safecoach.service", check=False)
        ok, detail = healthy(client.stage, client.stage.hosts[web.host].address)
        if not ok:
            raise OtapError(
                f"the app on {web.host} does not answer after the restore ({detail}); see "
                "`journalctl -u safecoach` there."
            )
        say(f"{web.host}: the app answers over HTTPS ({detail})")
    say(f"{client.host}: {APP_DATABASE} is the restored copy; the old one is {aside}")
    return APP_DATABASE


# ---- --json: what `backup status` and `backup snapshots` report, as data ------------------------

_REPOSITORY = re.compile(r"^Repository: (?P<url>.+) \((?P<count>\d+) snapshot\(s\)\)$")
_NEWEST = re.compile(
    r"^(?P<what>[^:]+): newest (?P<id>\S+), (?P<age>[\d.]+) h old, (?P<count>\d+) in all$"
)
_NONE_YET = re.compile(r"^(?P<what>[^:]+): no snapshot yet$")
_LAST = re.compile(r"^last (?P<cmd>\S+): (?:ok|FAILED \(exit (?P<exit>\d+)\)) at (?P<at>.+)$")


def parse_status(stdout: str) -> dict:
    """The lines of `safecoach-backup status` (backup/commands.py cmd_status) as data."""
    info: dict = {"repository": None, "snapshots": None, "newest": [], "last_runs": []}
    for raw in stdout.splitlines():
        line = raw.strip()
        if m := _REPOSITORY.match(line):
            info["repository"], info["snapshots"] = m["url"], int(m["count"])
        elif m := _NEWEST.match(line):
            info["newest"].append(
                {
                    "what": m["what"],
                    "id": m["id"],
                    "age_hours": float(m["age"]),
                    "count": int(m["count"]),
                }
            )
        elif m := _NONE_YET.match(line):
            info["newest"].append({"what": m["what"], "id": None, "age_hours": None, "count": 0})
        elif m := _LAST.match(line):
            info["last_runs"].append(
                {
                    "command": m["cmd"],
                    "ok": m["exit"] is None,
                    "exit_status": int(m["exit"] or 0),
                    "at": m["at"],
                }
            )
    return info


def snapshot_summary(snapshot: dict) -> dict:
    """The stable keys of one restic snapshot (restic's JSON, from `safecoach-backup snapshots`)."""
    return {
        "id": snapshot.get("id"),
        "short_id": snapshot.get("short_id"),
        "time": snapshot.get("time"),
        "hostname": snapshot.get("hostname"),
        "tags": list(snapshot.get("tags") or []),
        "paths": list(snapshot.get("paths") or []),
        "bytes": (snapshot.get("summary") or {}).get("total_bytes_processed"),
    }


def status_data(stage: Stage, host: str | None = None) -> dict:
    """`otap backup status STAGE --json`: per backup client, whether its backups are current."""
    out = []
    for client in clients(stage, host):
        _require_role(client)
        result = _run(client, f"{JOB} status")
        current = result.exited == 0
        out.append(
            {
                "host": client.host,
                "current": current,
                **parse_status(result.stdout or ""),
                "problem": None if current else _last_line(result),
            }
        )
    return {"stage": stage.name, "clients": out}


def snapshots_data(stage: Stage, host: str | None = None) -> dict:
    """`otap backup snapshots STAGE --json`: per backup client, its snapshots, oldest first."""
    out = []
    for client in clients(stage, host):
        _require_role(client)
        result = _run(client, f"{JOB} snapshots --json")
        if result.exited != 0:
            raise OtapError(
                f"safecoach-backup snapshots failed on {client.host} ({_last_line(result)})."
            )
        try:
            snaps = json.loads(result.stdout or "[]")
        except ValueError as exc:
            raise OtapError(
                f"safecoach-backup snapshots on {client.host} printed no JSON; see "
                f"`otap backup snapshots {stage.name}`."
            ) from exc
        out.append({"host": client.host, "snapshots": [snapshot_summary(s) for s in snaps]})
    return {"stage": stage.name, "clients": out}


def backup(
    stage: Stage,
    action: str,
    host: str | None = None,
    snapshot: str | None = None,
    name: str | None = None,
    replace: bool = False,
) -> int:
    check_action(action)
    check_snapshot(snapshot)
    if action == "restore":
        restore_name(name)  # refuse a bad name before any connection
    elif snapshot or name or replace:
        raise UsageError("--snapshot, --as and --replace belong to `otap backup restore STAGE`.")
    stage_name = stage.name
    chosen = clients(stage, host)
    if action == "restore" and len(chosen) > 1:
        raise UsageError(
            f"stage {stage_name} has several backup clients; name one with --host "
            f"({', '.join(t.host for t in chosen)})."
        )
    for client in chosen:
        _require_role(client)
        if action in UNITS:
            start_unit(client, action)
        elif action == "status":
            job(client, "status", "newest snapshots and the last runs")
        elif action == "snapshots":
            job(client, "snapshots", "snapshots in the offsite repository")
        else:
            restore(client, snapshot, name, replace)
    return 0
