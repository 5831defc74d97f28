"""hardening/controls.yml agrees with the tests and the code that cite it."""

import ast
import re
from pathlib import Path

import pytest
import yaml

from provisioning.paths import REPO

pytestmark = pytest.mark.unit

CATALOGUE = yaml.safe_load((REPO / "hardening" / "controls.yml").read_text())["controls"]
IDS = [c["id"] for c in CATALOGUE]
FIELDS = {"id", "title", "policy", "references", "implemented_by", "verified_by"}


def marked_tests() -> dict[str, set[str]]:
    """{control id: {"tests/infra/x.py::test_y", ...}} from @pytest.mark.control decorators."""
    out: dict[str, set[str]] = {}
    for path in sorted((REPO / "tests" / "infra").glob("test_*.py")):
        tree = ast.parse(path.read_text())
        for node in tree.body:
            if not isinstance(node, ast.FunctionDef):
                continue
            for deco in node.decorator_list:
                if (
                    isinstance(deco, ast.Call)
                    and getattr(deco.func, "attr", "") == "control"
                    and deco.args
                ):
                    ref = f"{path.relative_to(REPO)}::{node.name}"
                    out.setdefault(deco.args[0].value, set()).add(ref)
    return out


def test_ids_are_unique_and_complete():
    assert len(IDS) == len(set(IDS))
    for control in CATALOGUE:
        assert set(control) >= FIELDS, control["id"]
        assert re.fullmatch(r"[A-Z]+-\d{2}", control["id"])


def test_every_marked_test_cites_a_known_control():
    assert set(marked_tests()) <= set(IDS)


def test_verified_by_lists_exactly_the_marked_tests():
    marked = marked_tests()
    for control in CATALOGUE:
        assert set(control["verified_by"]) == marked.get(control["id"], set()), control["id"]


def test_every_test_in_tests_infra_carries_a_control():
    for path in sorted((REPO / "tests" / "infra").glob("test_*.py")):
        tree = ast.parse(path.read_text())
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
                assert any(
                    isinstance(d, ast.Call) and getattr(d.func, "attr", "") == "control"
                    for d in node.decorator_list
                ), f"{path.name}::{node.name}"


def test_task_names_cite_known_controls():
    cited = set()
    sources = [
        *Path(REPO / "roles").rglob("tasks/*.yml"),
        REPO / "provisioning/deploys/bootstrap.py",
    ]
    for path in sources:
        cited |= set(re.findall(r"\b([A-Z]{3,5}-\d{2}) \|", path.read_text()))
    assert cited
    assert cited <= set(IDS), cited - set(IDS)
