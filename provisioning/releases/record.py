"""The deploy record on each web host: which release is current, which previous, and the history.

/var/lib/safecoach-deploy/record.json   current, previous and the history of events
                                        (installed, deployed, verified, failed, rolled-back)
"""

from __future__ import annotations

import getpass
import json
import time
from pathlib import Path

from provisioning.remote.target import RemoteFailure, Target, run, targets, web_targets
from provisioning.stage import OtapError, Stage

APP_ROOT = "/opt/safecoach"
RECORD = "/var/lib/safecoach-deploy/record.json"


def empty_record(stage: str) -> dict:
    return {"stage": stage, "current": None, "previous": None, "history": []}


def add_event(record: dict, release: str, event: str, detail: str = "") -> dict:
    record["history"].append(
        {
            "release": release,
            "event": event,
            "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "by": getpass.getuser(),
            **({"detail": detail} if detail else {}),
        }
    )
    return record


def verified(record: dict) -> list[str]:
    """Releases that were deployed and passed their health check on this stage, oldest first."""
    out: list[str] = []
    for event in record.get("history", []):
        if event["event"] == "verified" and event["release"] not in out:
            out.append(event["release"])
    return out


def read_record(target: Target) -> dict:
    result = run(target, f"cat {RECORD}", check=False)
    if result.exited != 0 or not result.stdout.strip():
        return empty_record(target.stage.name)
    try:
        return json.loads(result.stdout)
    except ValueError as exc:
        raise OtapError(
            f"the deploy record {RECORD} on {target.host} is damaged; inspect it by hand."
        ) from exc


def write_record(target: Target, record: dict) -> None:
    text = json.dumps(record, indent=2) + "\n"
    run(target, f"install -d -m 0755 {Path(RECORD).parent}")
    run(target, f"sh -c 'cat > {RECORD}.new && mv -f {RECORD}.new {RECORD}'", stdin=text)


def on_stage(stage: Stage) -> dict:
    """`otap release list STAGE`: per web host the installed releases, which is current, which
    previous, which were verified there, and the last ten events of its record."""
    hosts = []
    for target in web_targets(stage):
        record = read_record(target)
        installed = run(target, f"ls -1 {APP_ROOT}/releases", check=False).stdout.split()
        hosts.append(
            {
                "host": target.host,
                "current": record.get("current"),
                "previous": record.get("previous"),
                "installed": sorted(installed),
                "verified": verified(record),
                "history": record.get("history", [])[-10:],
            }
        )
    return {"stage": stage.name, "hosts": hosts}


def current_on_hosts(stage: Stage) -> dict[str, str | None]:
    """{web host: its current release}, for the verify report; None where no release is
    deployed or the host's record cannot be read (the report shows it so, verify goes on)."""
    out: dict[str, str | None] = {}
    for name in stage.groups.get("web") or []:
        try:
            [target] = targets(stage, [name])
            out[name] = read_record(target).get("current")
        except (OtapError, RemoteFailure):
            out[name] = None
    return out


def format_on_stage(info: dict) -> str:
    lines = []
    for host in info["hosts"]:
        lines.append(f"stage {info['stage']}, host {host['host']}:")
        if not host["installed"]:
            lines.append("  no release installed")
        for rid in host["installed"]:
            marks = [m for m in ("current", "previous") if rid == host[m]]
            marks += ["verified"] if rid in host["verified"] else []
            lines.append(f"  {rid:<28} {', '.join(marks)}")
        for event in host["history"]:
            detail = f"  ({event['detail']})" if event.get("detail") else ""
            lines.append(
                f"    {event['at']}  {event['event']:<12} {event['release']}  by "
                f"{event['by']}{detail}"
            )
    return "\n".join(lines)
