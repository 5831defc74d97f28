"""`otap stage patch STAGE`: staged OS patching with pyinfra (OTAP-01).

- test: security and other updates are installed (unattended-upgrades does so daily as well);
  what ran and since when is read back from the test hosts' dpkg logs, the record that every
  later stage is checked against.
- acceptance, production: only package versions that have run on test for the soak time are
  installed, pinned to that version. Any pending update that test has not had long enough is
  refused: nothing is installed and the command says which packages and how long to wait
  (or, with --only-soaked, the soaked ones are installed and the rest wait).
- development (the lab) comes before test and takes every update, like test.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import re
from dataclasses import dataclass, field

from provisioning.remote.progress import say
from provisioning.remote.pyinfra import run_deploy
from provisioning.remote.ssh import run_on
from provisioning.stage import OtapError, Stage, load_stage, sshconfig

DEFAULT_SOAK_DAYS = 7
SOURCE_STAGE = "test"
_DPKG = re.compile(
    r"^(?P<date>\d{4}-\d{2}-\d{2}) (?P<time>\d{2}:\d{2}:\d{2}) status installed "
    r"(?P<pkg>[^:\s]+)(?::\S+)? (?P<version>\S+)$"
)
_INST = re.compile(r"^Inst (?P<pkg>\S+) (?:\[(?P<old>[^\]]+)\] )?\((?P<new>\S+) ")


def parse_dpkg_log(text: str) -> dict[tuple[str, str], dt.datetime]:
    """{(package, version): first time it was installed} from dpkg.log lines."""
    seen: dict[tuple[str, str], dt.datetime] = {}
    for line in text.splitlines():
        m = _DPKG.match(line.strip())
        if not m:
            continue
        when = dt.datetime.fromisoformat(f"{m['date']}T{m['time']}")
        key = (m["pkg"], m["version"])
        if key not in seen or when < seen[key]:
            seen[key] = when
    return seen


def parse_pending(text: str) -> dict[str, str]:
    """{package: new version} from `apt-get -s upgrade` (simulated) output."""
    out = {}
    for line in text.splitlines():
        m = _INST.match(line)
        if m:
            out[m["pkg"]] = m["new"]
    return out


@dataclass
class Decision:
    allowed: dict[str, str] = field(default_factory=dict)
    refused: dict[str, str] = field(default_factory=dict)  # package: why


def decide(
    pending: dict[str, str],
    history: dict[tuple[str, str], dt.datetime],
    now: dt.datetime,
    soak: dt.timedelta,
) -> Decision:
    """Which pending updates have run on test for at least `soak`."""
    decision = Decision()
    for pkg, version in sorted(pending.items()):
        since = history.get((pkg, version))
        if since is None:
            decision.refused[pkg] = f"{version} has not run on {SOURCE_STAGE}"
        elif now - since < soak:
            wait = soak - (now - since)
            hours = math.ceil(wait.total_seconds() / 3600)
            decision.refused[pkg] = (
                f"{version} has run on {SOURCE_STAGE} only since {since:%Y-%m-%d %H:%M}; wait {hours} h more"
            )
        else:
            decision.allowed[pkg] = version
    return decision


def test_history(stage: Stage) -> dict[tuple[str, str], dt.datetime]:
    """What ran on every host of test: a version counts from when the last host got it."""
    merged: dict[tuple[str, str], dt.datetime] = {}
    per_host = []
    for host in sorted(stage.hosts):
        per_host.append(parse_dpkg_log(run_on(stage, host, "zcat -f /var/log/dpkg.log*")))
    for history in per_host:
        for key, when in history.items():
            merged[key] = max(merged.get(key, when), when)
    return merged


def pending_updates(stage: Stage, host: str) -> dict[str, str]:
    return parse_pending(
        run_on(
            stage,
            host,
            "sudo apt-get -qq -o DPkg::Lock::Timeout=300 update && apt-get -s -o Debug::NoLocking=1 upgrade",
        )
    )


def run_pyinfra(stage: Stage, packages: dict[str, dict[str, str]], upgrade_all: bool) -> None:
    # Through OpenSSH (provisioning/remote/pyinfra_openssh.py): paramiko cannot reach hardened
    # hosts; every host as the admin of the stage's ssh_config, with sudo.
    hosts = [
        (f"@otapssh/{name}", {"ssh_config_file": str(stage.ssh_config), "_sudo": True})
        for name in sorted(stage.hosts)
    ]
    env = {
        "OTAP_PATCH_PACKAGES": json.dumps(packages),
        "OTAP_PATCH_ALL": "1" if upgrade_all else "",
    }
    proc = run_deploy(stage, "patch.py", hosts, log="patch", env=env)
    if proc.returncode != 0:
        raise OtapError(f"patching stage {stage.name} failed; see {stage.log('patch')}.")


def patch(
    stage: Stage, soak_days: float | None = None, only_soaked: bool = False, dry_run: bool = False
) -> int:
    if soak_days is None:
        soak_days = float(os.environ.get("OTAP_SOAK_DAYS", DEFAULT_SOAK_DAYS))
    soak = dt.timedelta(days=soak_days)
    sshconfig.write(stage)
    if stage.name == SOURCE_STAGE or stage.lab:
        if not dry_run:
            run_pyinfra(stage, {}, upgrade_all=True)
        say(f"stage {stage.name}: updates installed; later stages may take them after {soak}")
        return 0
    history = test_history(load_stage(SOURCE_STAGE))
    now = dt.datetime.now()
    plan: dict[str, dict[str, str]] = {}
    refused: dict[str, dict[str, str]] = {}
    for host in sorted(stage.hosts):
        decision = decide(pending_updates(stage, host), history, now, soak)
        plan[host], refused[host] = decision.allowed, decision.refused
    for host in sorted(stage.hosts):
        for pkg, why in refused[host].items():
            print(f"{host}: refused {pkg}: {why}")
        for pkg, version in plan[host].items():
            print(f"{host}: {pkg} {version}")
    if any(refused.values()) and not only_soaked:
        count = sum(len(r) for r in refused.values())
        raise OtapError(
            f"refusing to patch stage {stage.name}: {count} pending update(s) have not run on "
            f"{SOURCE_STAGE} for {soak} (listed above); patch {SOURCE_STAGE} first and wait, or "
            "pass --only-soaked to install only the soaked ones."
        )
    if not dry_run and any(plan.values()):
        run_pyinfra(stage, plan, upgrade_all=False)
    say(f"stage {stage.name}: {sum(len(p) for p in plan.values())} update(s) installed")
    return 0
