"""The control catalogue (hardening/controls.yml) as the report needs it."""

from __future__ import annotations

from pathlib import Path

import yaml

from provisioning.stage import OtapError
from provisioning.stage.paths import REPO

CATALOGUE = REPO / "hardening" / "controls.yml"
# The suites `otap stage verify` runs; tests elsewhere (tests/unit, tests/app, app/ …) run in CI.
VERIFY_SUITES = "tests/infra/"
# What the report shows of each control: the language-independent part of the catalogue.
SHOWN = ("id", "title", "policy", "references", "note")


def load(path: Path = CATALOGUE) -> list[dict]:
    try:
        return yaml.safe_load(path.read_text())["controls"]
    except (OSError, yaml.YAMLError, KeyError, TypeError) as exc:
        raise OtapError(f"the control catalogue {path} cannot be read ({exc}).") from exc


def shown(control: dict) -> dict:
    return {key: control.get(key) for key in SHOWN} | {
        "references": [str(r) for r in control.get("references") or []]
    }


def ci_only(control: dict) -> list[str]:
    """The tests of CONTROL that verify does not run (they run in CI)."""
    return [t for t in control.get("verified_by") or [] if not t.startswith(VERIFY_SUITES)]


def lab_reason(control: dict) -> str | None:
    """Why the control does not apply in the lab (its `not_applicable: {lab: …}`), or None."""
    return ((control.get("not_applicable") or {}).get("lab") or "").strip() or None


def controls_of_tests(controls: list[dict]) -> dict[str, list[str]]:
    """{test id: [control ids]} from every control's verified_by."""
    out: dict[str, list[str]] = {}
    for control in controls:
        for test in control.get("verified_by") or []:
            out.setdefault(test, []).append(control["id"])
    return out
