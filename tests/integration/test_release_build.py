"""`otap release build` for real: wheel, wheelhouse for Python 3.13, static files, checksums.

The app is then run from the release's own wheel (not this checkout) to prove that what a host
installs carries its translations, templates and static files.
"""

import json
import os
import subprocess
import sys
import tarfile
import time
import zipfile

import pytest

from provisioning.releases import build as release
from provisioning.releases import test_results
from provisioning.report import catalogue

pytestmark = [pytest.mark.slow, pytest.mark.control("DEP-05")]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("releases")
    # the test results scripts/test would have left for this checkout (none of the app's tests ran)
    results = tmp_path_factory.mktemp("test-results")
    junit = results / "junit.xml"
    junit.write_text('<testsuites><testsuite name="pytest"/></testsuites>')
    commit, dirty = test_results.checkout()
    test_results.write(
        test_results.results(junit, catalogue.load(), commit, dirty, "none", time.time()), results
    )
    return release.build(allow_dirty=True, root=root, say=lambda text: None, results=results)


def test_release_is_named_by_version_and_commit_and_verifies(built):
    version, _, commit = built.id.partition("-")
    assert version == release.project_version()
    assert built.manifest["commit"].startswith(commit.removesuffix(".dirty"))
    assert built.path.name == built.id
    assert release.check(built.path).id == built.id


def test_the_release_carries_the_test_results_of_its_commit(built):
    assert built.manifest["test_results"] == "test-results.json"
    assert built.manifest["test_results_note"] is None
    assert "test-results.json" in built.manifest["files"]
    carried = json.loads((built.path / "test-results.json").read_text())
    assert (carried["commit"], carried["dirty"]) == (
        built.manifest["commit"],
        built.manifest["dirty"],
    )


def test_wheelhouse_is_for_the_hosts_python(built):
    wheels = [
        n for n in built.manifest["files"] if n.startswith("wheelhouse/") and n.endswith(".whl")
    ]
    names = {n.split("/")[1].split("-")[0].lower() for n in wheels}
    assert {"django", "gunicorn", "psycopg", "psycopg_binary", "argon2_cffi"} <= names
    binary = [n for n in wheels if "psycopg_binary" in n]
    assert binary and "cp313" in binary[0] and "x86_64" in binary[0]
    # Nothing built for the controller's Python; a stable-ABI wheel (cryptography's
    # cp311-abi3) is made for every later Python, the hosts' 3.13 included.
    assert all("cp311" not in n or "-abi3-" in n for n in wheels)
    requirements = (built.path / "wheelhouse" / "requirements.txt").read_text()
    assert "--hash=sha256:" in requirements


def test_static_files_are_collected(built):
    with tarfile.open(built.path / "static.tar.gz") as tar:
        names = tar.getnames()
    assert any(n.endswith(".css") for n in names)
    assert any(n.startswith("admin/") for n in names)


def test_the_wheel_carries_compiled_translations_and_runs_on_its_own(built, tmp_path):
    wheel = built.path / built.wheel
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        archive.extractall(tmp_path / "site")  # noqa: S202 (the wheel we just built)
    assert "safecoach/locale/nl/LC_MESSAGES/django.mo" in names
    assert any(n.startswith("safecoach/templates/") for n in names)
    code = (
        "import django; django.setup(); from django.utils import translation; "
        "import safecoach; print(safecoach.__file__); translation.activate('nl'); "
        "print(translation.gettext('Sign in'))"
    )
    env = {
        **os.environ,
        "PYTHONPATH": str(tmp_path / "site"),
        "DJANGO_SETTINGS_MODULE": "safecoach.settings",
        "SAFECOACH_SECRET_KEY": "x" * 60,
    }
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=tmp_path
    )
    assert out.returncode == 0, out.stderr
    where, text = out.stdout.split()
    assert where.startswith(str(tmp_path / "site"))
    assert text == "Inloggen"
