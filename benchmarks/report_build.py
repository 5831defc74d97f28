"""How long verify's report takes to build: a figure, not an assertion.

A junit file as verify writes it for the development lab: every control of the catalogue on
every host (5), each with two pieces of evidence, some failed and skipped; then build.build
(report.json and report.html) timed over a few runs. Run: .venv/bin/python -m benchmarks.report_build
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path
from xml.sax.saxutils import quoteattr

from provisioning.report import build, catalogue
from provisioning.stage import load_stage

RUNS = 5


def junit_text(hosts: list[str]) -> str:
    cases = []
    for n, control in enumerate(catalogue.load()):
        for host in hosts:
            evidence = [
                {"name": "config", "value": {f"key{i}": f"value {i} on {host}" for i in range(20)}},
                {"name": "command output", "value": "\n".join(f"line {i}" for i in range(60))},
            ]
            props = [("control", control["id"]), ("host", host)]
            props += [("evidence", json.dumps(e)) for e in evidence]
            body = "".join(
                f"<property name={quoteattr(k)} value={quoteattr(v)}/>" for k, v in props
            )
            outcome = ""
            if n % 17 == 0:
                outcome = '<failure message="AssertionError: not so">trace</failure>'
            elif n % 11 == 0:
                outcome = '<skipped message="not applicable in the lab: shared kernel"/>'
            name = f"test_{control['id'].lower().replace('-', '_')}[ssh://{host}]"
            cases.append(
                f'<testcase classname="tests.infra.test_x" name="{name}" file="tests/infra/'
                f'test_x.py" time="0.1"><properties>{body}</properties>{outcome}</testcase>'
            )
    return f'<testsuites><testsuite name="pytest">{"".join(cases)}</testsuite></testsuites>'


def main() -> None:
    stage = load_stage("development")
    text = junit_text(sorted(stage.hosts))
    seconds = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(RUNS):
            run = Path(tmp) / str(i)
            run.mkdir()
            (run / build.JUNIT).write_text(text)
            clock = time.monotonic()
            build.build(stage, run, time.time(), time.time(), 1, {"web1": "0.1.0-abc"})
            seconds.append(time.monotonic() - clock)
        sizes = {
            name: (run / name).stat().st_size for name in (build.JUNIT, build.REPORT, build.HTML)
        }
    controls = len(catalogue.load())
    print(
        f"machine: {platform.node()}, {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    )
    print(
        f"junit: {controls} controls x {len(stage.hosts)} hosts = {controls * len(stage.hosts)} testcases, 2 evidence each"
    )
    print("sizes: " + ", ".join(f"{k} {v / 1e6:.1f} MB" for k, v in sizes.items()))
    print(
        f"report build over {RUNS} runs: min {min(seconds):.2f} s, median {statistics.median(seconds):.2f} s, max {max(seconds):.2f} s"
    )


if __name__ == "__main__":
    main()
