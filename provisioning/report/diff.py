"""`otap report diff A B`: what changed between two runs (report.json of each).

Per control and host: a changed status, and evidence whose value differs (by its name). A
change is worse when a host goes from passed to not_checked or failed, or from not_checked to
failed; not_applicable and not_ours are neutral. A host (or control) that only one run has is
listed as added or removed, and not compared.
"""

from __future__ import annotations

import json
from pathlib import Path

RANK = {"passed": 0, "not_checked": 1, "failed": 2}  # not_applicable, not_ours: neutral


def worse(old: str, new: str) -> bool:
    return old in RANK and new in RANK and RANK[new] > RANK[old]


def _statuses(control: dict, hosts: set[str]) -> dict[str, str]:
    """The status of CONTROL on each of HOSTS: its own there, else the control's overall."""
    return {h: control["hosts"].get(h, {}).get("status", control["status"]) for h in hosts}


def _evidence(control: dict, host: str) -> dict[str, str]:
    """{evidence name: the value as compact JSON} of CONTROL on HOST."""
    items = control["hosts"].get(host, {}).get("evidence", [])
    return {e["name"]: json.dumps(e["value"], sort_keys=True) for e in items}


def narrowed(old: str | None, new: str | None) -> tuple[str | None, str | None]:
    """Two evidence values (compact JSON); of two objects (package versions, settings) only the
    keys whose values differ, so that one package among hundreds stands out."""
    if old is None or new is None:
        return old, new
    before, after = json.loads(old), json.loads(new)
    if not (isinstance(before, dict) and isinstance(after, dict)):
        return old, new
    keys = sorted(k for k in set(before) | set(after) if before.get(k, ...) != after.get(k, ...))
    return (
        json.dumps({k: before[k] for k in keys if k in before}, sort_keys=True),
        json.dumps({k: after[k] for k in keys if k in after}, sort_keys=True),
    )


def diff(a: dict, b: dict, a_name: str = "A", b_name: str = "B") -> dict:
    hosts_a, hosts_b = set(a["hosts"]), set(b["hosts"])
    both = hosts_a & hosts_b
    old_controls = {c["id"]: c for c in a["controls"]}
    statuses, evidence = [], []
    for new in b["controls"]:
        old = old_controls.get(new["id"])
        if old is None:
            continue
        mine = both & (set(old["hosts"]) | set(new["hosts"]))
        old_status, new_status = _statuses(old, mine), _statuses(new, mine)
        if not mine and old["status"] != new["status"]:
            old_status, new_status = {"-": old["status"]}, {"-": new["status"]}
        for host in sorted(old_status):
            before, after = old_status[host], new_status[host]
            if before != after:
                statuses.append(
                    {
                        "control": new["id"],
                        "host": host if host != "-" else None,
                        "old": before,
                        "new": after,
                        "worse": worse(before, after),
                    }
                )
        for host in sorted(mine):
            old_ev, new_ev = _evidence(old, host), _evidence(new, host)
            for name in sorted(set(old_ev) | set(new_ev)):
                if old_ev.get(name) != new_ev.get(name):
                    before, after = narrowed(old_ev.get(name), new_ev.get(name))
                    evidence.append(
                        {
                            "control": new["id"],
                            "host": host,
                            "name": name,
                            "old": before,
                            "new": after,
                        }
                    )
    return {
        "a": {"run": a_name, "stage": a["stage"], "started": a["started"]},
        "b": {"run": b_name, "stage": b["stage"], "started": b["started"]},
        "statuses": statuses,
        "evidence": evidence,
        "hosts_added": sorted(hosts_b - hosts_a),
        "hosts_removed": sorted(hosts_a - hosts_b),
        "controls_added": sorted({c["id"] for c in b["controls"]} - set(old_controls)),
        "controls_removed": sorted(set(old_controls) - {c["id"] for c in b["controls"]}),
        "worse": any(s["worse"] for s in statuses),
    }


def load(run: Path) -> dict:
    return json.loads((run / "report.json").read_text())


def format_diff(info: dict) -> str:
    a, b = info["a"], info["b"]
    lines = [
        f"A: {a['run']} (stage {a['stage']}, {a['started']})",
        f"B: {b['run']} (stage {b['stage']}, {b['started']})",
    ]
    for key in ("hosts_added", "hosts_removed", "controls_added", "controls_removed"):
        if info[key]:
            lines.append(f"{key.replace('_', ' ')}: {', '.join(info[key])}")
    if info["statuses"]:
        lines.append("status changed:")
    for s in info["statuses"]:
        where = f" on {s['host']}" if s["host"] else ""
        mark = "  (worse)" if s["worse"] else ""
        lines.append(f"  {s['control']}{where}: {s['old']} → {s['new']}{mark}")
    if info["evidence"]:
        lines.append("evidence changed:")
    for e in info["evidence"]:
        old = "(none)" if e["old"] is None else e["old"]
        new = "(none)" if e["new"] is None else e["new"]
        lines.append(f"  {e['control']} on {e['host']}, {e['name']}: {old} → {new}")
    if len(lines) == 2:
        lines.append("no control, evidence or host changed")
    return "\n".join(lines)
