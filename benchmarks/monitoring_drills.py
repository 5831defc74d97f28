"""Benchmark: seconds from each fault to its alert mail and from the repair to the resolution
mail, on the lab's development stage, and Prometheus's memory on the monitoring host.

    .venv/bin/python benchmarks/monitoring_drills.py

The stage must be up, converged and deployed (`otap up development`). The six drills of
tests/lab/drills.py are made at once; the lab's timings are role monitoring's lab defaults (a
15 s scrape, 30 s `for:`, group wait 10 s, group interval 30 s); the target is under 120 s from
fault to alert mail. Every fault is repaired at the end, whatever happens. Figures, not
assertions; traffic stays on the lab's own hosts.
"""

import os
import platform
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from provisioning.stage import load_stage
from tests.lab import drills


def main() -> int:
    stage = load_stage("development")
    if not stage.ssh_config.is_file():
        print("the development stage is not up: run `otap up development` first", file=sys.stderr)
        return 2
    print(f"machine: {os.cpu_count()} cores, {platform.processor() or platform.machine()}")
    before = drills.prometheus_memory(stage)
    started = drills.provoke(stage)
    try:
        firing = drills.wait_for_mails(stage, drills.patterns("firing"), started)
    finally:
        repaired = drills.repair(stage)
    resolved = drills.wait_for_mails(stage, drills.patterns("resolved"), repaired)
    after = drills.prometheus_memory(stage)
    print(f"{'drill':55} {'alert mail':>11} {'resolution':>11}")
    for name in sorted(drills.DRILLS, key=lambda n: firing[n]):
        print(f"{name:55} {firing[name] - started:>9.0f} s {resolved[name] - repaired:>9.0f} s")
    worst = max(firing[n] - started for n in drills.DRILLS)
    print(f"slowest alert mail: {worst:.0f} s (target under 120 s)")
    print(
        f"Prometheus memory on mon1: {before / 2**20:.0f} MiB before, {after / 2**20:.0f} MiB after"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
