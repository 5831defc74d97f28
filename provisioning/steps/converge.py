"""`otap stage converge STAGE`: ansible-playbook -i inventories/STAGE site.yml, with a summary.

The playbook works on its own too; this adds the stage's ssh_config, a log and the counts of
the PLAY RECAP (changed=0 on a second run is the idempotence check).
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from dataclasses import dataclass, field

from provisioning.remote.progress import say
from provisioning.stage import Stage, sshconfig, vault
from provisioning.stage.paths import REPO, venv_tool

RECAP = re.compile(r"^(?P<host>\S+)\s+:\s+(?P<stats>(?:\w+=\d+\s*)+)$")
# the counts of a PLAY RECAP line, in Ansible's order
RECAP_KEYS = ("ok", "changed", "unreachable", "failed", "skipped", "rescued", "ignored")


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

    def summary(self) -> dict:
        """The PLAY RECAP as data (`otap stage converge --json`): per host and in total."""
        return {
            "ok": self.ok,
            "returncode": self.returncode,
            "seconds": round(self.seconds, 1),
            "hosts": {
                name: {k: stats.get(k, 0) for k in RECAP_KEYS}
                for name, stats in sorted(self.hosts.items())
            },
            "totals": {k: self.total(k) for k in RECAP_KEYS},
        }


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


def converge(
    stage: Stage,
    check: bool = False,
    tags: str | None = None,
    limit: str | None = None,
    playbook: str = "site.yml",
    quiet: bool = False,
) -> Result:
    """Run the playbook against the stage; the output goes to the stage's converge.log."""
    password = vault.vault_password_file(stage)
    sshconfig.write(stage)
    cmd = [venv_tool("ansible-playbook"), "-i", str(stage.path), str(REPO / playbook)]
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
    stage.log("converge").write_text(output)
    result = Result(proc.returncode, time.monotonic() - started, parse_recap(output), output)
    say(
        f"converge of stage {stage.name}: {len(result.hosts)} hosts, "
        f"changed={result.total('changed')}, failed={result.total('failed')}, "
        f"unreachable={result.total('unreachable')} in {result.seconds:.0f} s"
    )
    return result
