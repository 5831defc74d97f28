"""The layers of provisioning/ hold: steps never reach for the lab, nothing reaches into the app.

Both read each module's import statements from its source (ast), so an import inside a function
counts as much as one at the top; the steps' Python modules are imported as well, so a module
that does not import at all fails here too.
"""

import ast
import importlib
from pathlib import Path

import pytest

from provisioning.stage.paths import REPO

pytestmark = pytest.mark.unit

PROVISIONING = REPO / "provisioning"
STEPS = PROVISIONING / "steps"
# pyinfra deploy files run inside pyinfra (they need its host context), so they are read only.
DEPLOY_FILES = STEPS / "pyinfra"
APP_PACKAGES = {"safecoach", "accounts", "organisations", "coaching", "privacy"}


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def package_of(path: Path) -> str:
    name = module_name(path)
    return name if path.name == "__init__.py" else name.rsplit(".", 1)[0]


def imported(path: Path, package: str) -> set[str]:
    """Every module an import statement of PATH names (in PACKAGE), as an absolute name."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)
    return names


def test_no_step_imports_the_lab():
    modules = sorted(STEPS.rglob("*.py"))
    assert len(modules) >= 8, "the steps and their pyinfra deploy files"
    offenders = {}
    for path in modules:
        if DEPLOY_FILES not in path.parents:
            importlib.import_module(module_name(path))
        lab = sorted(
            n
            for n in imported(path, package_of(path))
            if n == "provisioning.lab" or n.startswith("provisioning.lab.")
        )
        if lab:
            offenders[str(path.relative_to(REPO))] = lab
    assert offenders == {}, "steps take a Stage and never import provisioning.lab"


def test_provisioning_never_imports_the_app():
    offenders = {}
    for path in sorted(PROVISIONING.rglob("*.py")):
        app = sorted(n for n in imported(path, package_of(path)) if n.split(".")[0] in APP_PACKAGES)
        if app:
            offenders[str(path.relative_to(REPO))] = app
    assert offenders == {}, "provisioning runs the app's manage.py, it never imports the app"


def test_the_checks_see_imports_inside_functions_and_relative_ones(tmp_path):
    module = tmp_path / "late.py"
    module.write_text(
        "def f():\n    from provisioning.lab import hosts\n    import safecoach.i18n\n"
        "    from ..lab import network\n"
    )
    names = imported(module, "provisioning.steps")
    assert {"provisioning.lab.hosts", "safecoach.i18n", "provisioning.lab.network"} <= names
