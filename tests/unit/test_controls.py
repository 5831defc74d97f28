"""hardening/controls.yml agrees with the tests and the code that cite it."""

import ast
import re
from pathlib import Path

import pytest
import yaml

from provisioning.stage import load_stage, stage_names
from provisioning.stage.paths import REPO

pytestmark = pytest.mark.unit

CATALOGUE = yaml.safe_load((REPO / "hardening" / "controls.yml").read_text())["controls"]
IDS = [c["id"] for c in CATALOGUE]
FIELDS = {"id", "title", "policy", "references", "implemented_by", "verified_by"}
# A control another party keeps (the datacenter's physical security: the hosting provider's)
# names who and why instead of how it is made and checked.
NOT_OURS_FIELDS = {"id", "title", "policy", "references", "responsible", "not_ours"}


TEST_ROOTS = ["tests", "app", "backup"]


def _control_ids(node) -> list[str]:
    """Control ids named by pytest.mark.control("X") calls anywhere inside `node`."""
    return [
        call.args[0].value
        for call in ast.walk(node)
        if isinstance(call, ast.Call)
        and getattr(call.func, "attr", "") == "control"
        and call.args
        and isinstance(call.args[0], ast.Constant)
    ]


def _test_modules():
    for root in TEST_ROOTS:
        yield from sorted((REPO / root).rglob("test_*.py"))


def marked_tests() -> dict[str, set[str]]:
    """{control id: {"path::test_name" or "path" for a module-wide mark}} from the tests."""
    out: dict[str, set[str]] = {}
    for path in _test_modules():
        tree = ast.parse(path.read_text())
        module = str(path.relative_to(REPO))
        for node in tree.body:
            if isinstance(node, ast.Assign) and any(
                getattr(t, "id", "") == "pytestmark" for t in node.targets
            ):
                for cid in _control_ids(node.value):
                    out.setdefault(cid, set()).add(module)
            elif isinstance(node, ast.FunctionDef):
                for deco in node.decorator_list:
                    for cid in _control_ids(deco):
                        out.setdefault(cid, set()).add(f"{module}::{node.name}")
    return out


def test_ids_are_unique_and_complete():
    assert len(IDS) == len(set(IDS))
    for control in CATALOGUE:
        if "not_ours" in control:
            assert set(control) >= NOT_OURS_FIELDS, control["id"]
            assert "verified_by" not in control, f"{control['id']}: not ours, yet verified here"
        else:
            assert set(control) >= FIELDS, control["id"]
            assert control["verified_by"], f"{control['id']}: no test verifies it"
        assert re.fullmatch(r"[A-Z]+-\d{2}", control["id"])


def test_not_ours_controls_have_a_document_entry_in_every_stage():
    for control in CATALOGUE:
        if "not_ours" in control:
            for stage in stage_names():
                documents = load_stage(stage).vars.get("audit_documents") or {}
                assert control["id"] in documents, f"{stage}: audit_documents[{control['id']}]"


def test_every_marked_test_cites_a_known_control():
    assert set(marked_tests()) <= set(IDS)


def _functions(module: str) -> set[str]:
    tree = ast.parse((REPO / module).read_text())
    return {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}


def test_verified_by_names_tests_that_carry_the_control():
    """Each entry is a module marked for the control, or a test marked itself or by its module."""
    marked = marked_tests()
    for control in CATALOGUE:
        cid, mine = control["id"], marked.get(control["id"], set())
        for entry in control.get("verified_by", []):
            module, _, name = entry.partition("::")
            assert (REPO / module).is_file(), f"{cid}: {module} does not exist"
            if name:
                assert name in _functions(module), f"{cid}: {entry} does not exist"
                assert entry in mine or module in mine, f"{cid}: {entry} has no control mark"
            else:
                assert module in mine, f"{cid}: {module} has no module-wide control mark"


def test_every_marked_test_is_listed_in_the_catalogue():
    for cid, tests in marked_tests().items():
        listed = set(next(c for c in CATALOGUE if c["id"] == cid).get("verified_by", []))
        for test in tests:
            module = test.partition("::")[0]
            covered = (
                test in listed
                or module in listed
                or any(entry.startswith(test + "::") for entry in listed)
            )
            assert covered, f"{test} verifies {cid} but is not in its verified_by"


def test_every_test_in_tests_infra_carries_a_control():
    for path in sorted((REPO / "tests" / "infra").glob("test_*.py")):
        tree = ast.parse(path.read_text())
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
                # a control mark of its own, or on each of its parameters (pytest.param marks)
                assert any(_control_ids(d) for d in node.decorator_list), (
                    f"{path.name}::{node.name}"
                )


def test_task_names_cite_known_controls():
    cited = set()
    sources = [
        *Path(REPO / "roles").rglob("tasks/*.yml"),
        REPO / "provisioning/steps/pyinfra/bootstrap.py",
    ]
    for path in sources:
        cited |= set(re.findall(r"\b([A-Z]{3,5}-\d{2}) \|", path.read_text()))
    assert cited
    assert cited <= set(IDS), cited - set(IDS)
