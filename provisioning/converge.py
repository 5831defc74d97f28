"""`otap converge STAGE`: ansible-playbook -i inventories/STAGE site.yml, with a summary.

The playbook works on its own too; this adds the stage's ssh_config, a log and the counts of
the PLAY RECAP (changed=0 on a second run is the idempotence check).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from provisioning import sshconfig
from provisioning.inventory import load_stage
from provisioning.paths import REPO

RECAP = re.compile(r"^(?P<host>\S+)\s+:\s+(?P<stats>(?:\w+=\d+\s*)+)$")


@dataclass
class Result:
    returncode: int
    seconds: float
    hosts: dict[str, dict[str, int]] = field(default_factory=dict)
    output: str = ""

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not any(
            s.get("failed") or s.get("unreachable") for s in self.hosts.values()
        )

    def total(self, key: str) -> int:
        return sum(s.get(key, 0) for s in self.hosts.values())


def parse_recap(output: str) -> dict[str, dict[str, int]]:
    hosts: dict[str, dict[str, int]] = {}
    in_recap = False
    for line in output.splitlines():
        if line.startswith("PLAY RECAP"):
            in_recap = True
            continue
        if in_recap:
            m = RECAP.match(line.strip())
            if m:
                hosts[m["host"]] = {
                    k: int(v) for k, v in (pair.split("=") for pair in m["stats"].split())
                }
    return hosts


# In the lab, systemd inside a container now and then fails to start a unit with "unavailable
# resources": the controller's cgroup v1 hierarchy lags behind the container's (its journal says
# "Failed to attach … to compat systemd cgroup"). Real hosts have their own systemd as PID 1.
# A lab converge that failed only that way runs once more; every other failure stands.
LAB_CGROUP_FAILURE = "failed because of unavailable resources or another system error"


def lab_cgroup_failure(lab: bool, result: Result) -> bool:
    """Whether a failed converge of a lab stage failed only on a unit start of that kind."""
    if not lab or result.ok:
        return False
    errors = [
        line for line in result.output.splitlines() if line.startswith("[ERROR]: Task failed")
    ]
    return (
        bool(errors)
        and all(LAB_CGROUP_FAILURE in line for line in errors)
        and result.total("unreachable") == 0
    )


def tool(name: str) -> str:
    return shutil.which(name, path=str(Path(sys.executable).parent)) or name


def converge(
    stage_name: str,
    check: bool = False,
    tags: str | None = None,
    limit: str | None = None,
    playbook: str = "site.yml",
    quiet: bool = False,
) -> Result:
    stage = load_stage(stage_name)
    result = _run(stage, check, tags, limit, playbook, quiet)
    if lab_cgroup_failure(stage.lab, result):
        log = stage.state_dir / "converge.log"
        log.replace(log.with_name("converge-first-run.log"))
        print(
            f"==> a service of a lab container could not start (the controller's cgroup v1; "
            f"see LAB_CGROUP_FAILURE in {Path(__file__).name}): converging stage {stage_name} "
            "once more",
            flush=True,
        )
        first_seconds = result.seconds
        result = _run(stage, check, tags, limit, playbook, quiet)
        result.seconds += first_seconds  # the time it took, both runs
    return result


def _run(stage, check, tags, limit, playbook, quiet) -> Result:
    from provisioning import lab, secrets

    stage_name = stage.name
    lab.require_up(stage)
    password = secrets.vault_password_file(stage)
    sshconfig.write(stage)
    cmd = [tool("ansible-playbook"), "-i", str(stage.path), str(REPO / playbook)]
    if check:
        cmd += ["--check", "--diff"]
    if tags:
        cmd += ["--tags", tags]
    if limit:
        cmd += ["--limit", limit]
    env = {
        **os.environ,
        "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
        "ANSIBLE_FORCE_COLOR": "0",
        "ANSIBLE_NOCOLOR": "1",
        "PYTHONUNBUFFERED": "1",
        "OTAP_VAULT_PASSWORD_FILE": str(password),
    }
    started = time.monotonic()
    lines: list[str] = []
    with subprocess.Popen(
        cmd, cwd=REPO, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    ) as proc:
        assert proc.stdout is not None  # noqa: S101 (Popen with stdout=PIPE)
        for line in proc.stdout:
            lines.append(line)
            if not quiet:
                print(line, end="", flush=True)
    output = "".join(lines)
    stage.state_dir.mkdir(parents=True, exist_ok=True)
    (stage.state_dir / "converge.log").write_text(output)
    result = Result(proc.returncode, time.monotonic() - started, parse_recap(output), output)
    print(
        f"==> converge of stage {stage_name}: {len(result.hosts)} hosts, "
        f"changed={result.total('changed')}, failed={result.total('failed')}, "
        f"unreachable={result.total('unreachable')} in {result.seconds:.0f} s",
        flush=True,
    )
    return result
