"""The results of one verify run, read from pytest's junit file.

The contract with the tests (tests/infra, through pytest's `record_property`; verify runs pytest
with junit_family xunit1, the family that writes properties), per <testcase>:

  <property name="control" value="SSH-01"/>    one per control the test verifies
  <property name="host" value="web1"/>         the inventory host it ran on; none: stage-wide
  <property name="evidence" value="JSON"/>     zero or more: what the test read on the host

Status of a testcase: a <failure> or <error> is failed; a <skipped> whose message starts with
"not applicable" is not applicable, any other skip is not checked (the message is the reason);
otherwise passed. A test that fails before its body ran (a fixture's error) records no
properties: its controls then come from the catalogue's verified_by and its host from the
testinfra id (`test_x[ssh://web1]`).
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

from provisioning.stage import OtapError

STAGE_WIDE = "stage"  # the pseudo-host of checks with no host property
_TESTINFRA_HOST = re.compile(r"\[(?:ssh|paramiko|local)://(?P<host>[A-Za-z0-9_.-]+?)(?:-|\])")


@dataclass
class Result:
    test: str  # tests/infra/test_ssh.py::test_modern_algorithms_only[ssh://web1]
    host: str
    controls: list[str]
    status: str  # passed, failed, not_applicable, not_checked
    reason: str | None = None
    evidence: list[dict] = field(default_factory=list)

    @property
    def function(self) -> str:
        """The test id without its parameters, as the catalogue's verified_by names it."""
        return self.test.split("[", 1)[0]


def read(junit: Path, verified_by: dict[str, list[str]] | None = None) -> list[Result]:
    """Every testcase of JUNIT. VERIFIED_BY ({test id: [control ids]}) names the controls of a
    testcase that recorded none. A missing file is no results (pytest did not get that far)."""
    if not junit.is_file():
        return []
    try:
        root = ET.parse(junit).getroot()  # noqa: S314 (written by our own pytest run)
    except ET.ParseError as exc:
        raise OtapError(f"{junit} is not a readable junit file ({exc}).") from exc
    return [_result(case, verified_by or {}) for case in root.iter("testcase")]


def _test_id(case: ET.Element) -> str:
    name = case.get("name", "")
    path = case.get("file") or case.get("classname", "").replace(".", "/") + ".py"
    return f"{path}::{name}"


def _result(case: ET.Element, verified_by: dict[str, list[str]]) -> Result:
    test = _test_id(case)
    props = [(p.get("name"), p.get("value", "")) for p in case.iter("property")]
    controls = [value for name, value in props if name == "control"]
    hosts = [value for name, value in props if name == "host"]
    evidence = [
        _evidence(value, n)
        for n, value in enumerate((v for name, v in props if name == "evidence"), 1)
    ]
    if not controls:
        controls = list(verified_by.get(test.split("[", 1)[0], []))
    if not hosts:
        found = _TESTINFRA_HOST.search(case.get("name", "")) if not props else None
        hosts = [found["host"] if found else STAGE_WIDE]
    status, reason = _status(case)
    return Result(test, hosts[0], controls, status, reason, evidence)


def _status(case: ET.Element) -> tuple[str, str | None]:
    for tag in ("failure", "error"):
        bad = case.find(tag)
        if bad is not None:
            message = (bad.get("message") or bad.text or "").strip()
            return "failed", (message.splitlines() or [tag])[0]
    skipped = case.find("skipped")
    if skipped is None:
        return "passed", None
    message = (skipped.get("message") or skipped.text or "").strip()
    if message.lower().startswith("not applicable"):
        return "not_applicable", message
    return "not_checked", message or "skipped without a reason"


def _evidence(value: str, number: int) -> dict:
    """{"name", "value"}: the JSON the test wrote; a name of its own when it gave none."""
    try:
        data = json.loads(value)
    except ValueError:
        data = value  # not JSON: kept as the text it is
    if isinstance(data, dict) and "name" in data:
        rest = {k: v for k, v in data.items() if k != "name"}
        return {"name": str(data["name"]), "value": rest.get("value", rest)}
    return {"name": f"evidence {number}", "value": data}
