"""`otap release build`: everything a host needs to run one version of the app, offline.

A release is a folder named by version and commit, `dist/releases/<version>-<commit>/`:

    safecoach-<version>-py3-none-any.whl   the app (with compiled translations)
    wheelhouse/*.whl                        its runtime dependencies, for the hosts' Python 3.13
    static.tar.gz                           collected static files, served by nginx
    test-results.json                       the app's test results for this commit, when
                                            scripts/test left them (releases/test_results.py);
                                            without them the manifest says why (test_results_note)
    SHA256SUMS                              `sha256sum -c` format, checked on the controller and
                                            again on the host after upload
    manifest.json                           version, commit, build time, target Python, files,
                                            test_results (the file's name or null)

Hosts have no route to PyPI: the wheelhouse is downloaded here with pip for the hosts' Python
(`--python-version 3.13 --only-binary=:all: --platform manylinux…`), pinned and hash-checked
by requirements.lock.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from provisioning.releases import test_results
from provisioning.releases.checkout import commit_and_dirty
from provisioning.remote.progress import say
from provisioning.stage.errors import OtapError, UsageError
from provisioning.stage.paths import REPO

# The hosts: Debian 13 (trixie), CPython 3.13, glibc 2.41, x86_64.
HOST_PYTHON = "3.13"
# pip does not widen an explicit manylinux_2_X platform to older ones: list every tag glibc 2.41
# accepts, newest first.
HOST_PLATFORMS = (
    *(f"manylinux_2_{minor}_x86_64" for minor in range(41, 4, -1)),
    "manylinux2014_x86_64",
    "manylinux2010_x86_64",
    "manylinux1_x86_64",
)
MANIFEST = "manifest.json"
SUMS = "SHA256SUMS"
STATIC = "static.tar.gz"
_RELEASE_ID = re.compile(r"^\d+\.\d+\.\d+(?:[.a-z0-9]*)-[0-9a-f]{7,40}(?:\.dirty)?$")


def releases_root() -> Path:
    """Where built releases live: $OTAP_RELEASES or dist/releases in the repository."""
    return Path(os.environ.get("OTAP_RELEASES", REPO / "dist" / "releases"))


def valid_release_id(text: str) -> bool:
    return bool(_RELEASE_ID.match(text))


@dataclass
class Release:
    path: Path
    manifest: dict

    @property
    def id(self) -> str:
        return self.manifest["release"]

    @property
    def version(self) -> str:
        return self.manifest["version"]

    @property
    def wheel(self) -> str:
        return self.manifest["wheel"]


# ---- checksums ---------------------------------------------------------------------------------


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def checksums(folder: Path) -> dict[str, str]:
    """{relative path: sha256} of every file in the release but the manifest and the sums."""
    out = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        rel = path.relative_to(folder).as_posix()
        if rel not in (MANIFEST, SUMS):
            out[rel] = sha256(path)
    return out


def render_sums(files: dict[str, str]) -> str:
    return "".join(f"{digest}  {name}\n" for name, digest in sorted(files.items()))


def parse_sums(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        digest, _, name = line.partition("  ")
        if not re.fullmatch(r"[0-9a-f]{64}", digest) or not name:
            raise ValueError(line)
        out[name] = digest
    return out


def check(folder: Path) -> Release:
    """Check a release folder against its manifest; raise OtapError with one sentence if not."""
    manifest_path = folder / MANIFEST
    if not manifest_path.is_file():
        raise OtapError(f"{folder} is not a release: it has no {MANIFEST}; build one first.")
    try:
        manifest = json.loads(manifest_path.read_text())
        listed: dict[str, str] = dict(manifest["files"])
        sums = parse_sums((folder / SUMS).read_text())
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise OtapError(
            f"release {folder.name} has a damaged {MANIFEST} or {SUMS}; build it again."
        ) from exc
    if sums != listed:
        raise OtapError(
            f"release {folder.name}: {SUMS} and {MANIFEST} disagree; build the release again."
        )
    present = {
        p.relative_to(folder).as_posix()
        for p in folder.rglob("*")
        if p.is_file() and p.name not in (MANIFEST, SUMS)
    }
    missing = sorted(set(listed) - present)
    extra = sorted(present - set(listed))
    if missing:
        raise OtapError(
            f"release {folder.name} is incomplete: {missing[0]} is missing; build it again."
        )
    if extra:
        raise OtapError(
            f"release {folder.name} holds {extra[0]}, which its manifest does not list; "
            "build the release again."
        )
    for name, digest in sorted(listed.items()):
        if sha256(folder / name) != digest:
            raise OtapError(
                f"checksum mismatch in release {folder.name}: {name} is not the file that was "
                "built; do not deploy it, build the release again."
            )
    return Release(folder, manifest)


def find(release_id: str | None = None, root: Path | None = None) -> Release:
    """A verified release by id, or the newest built one when no id is given."""
    root = root or releases_root()
    if release_id is None:
        built = sorted(
            (p for p in root.glob("*") if (p / MANIFEST).is_file()),
            key=lambda p: (p / MANIFEST).stat().st_mtime,
        )
        if not built:
            raise OtapError(f"no release built yet in {root}; run `otap release build` first.")
        return check(built[-1])
    if not valid_release_id(release_id) or not (root / release_id).is_dir():
        known = ", ".join(sorted(p.name for p in root.glob("*") if (p / MANIFEST).is_file()))
        raise UsageError(
            f"release {release_id} does not exist in {root} (built: {known or 'none'}); "
            "run `otap release build` or pick one of those."
        )
    return check(root / release_id)


def list_built(root: Path | None = None) -> list[dict]:
    root = root or releases_root()
    out = []
    for path in sorted(root.glob("*")):
        manifest = path / MANIFEST
        if manifest.is_file():
            try:
                out.append(json.loads(manifest.read_text()))
            except ValueError:
                continue
    return sorted(out, key=lambda m: m.get("built_at", ""))


# ---- building ----------------------------------------------------------------------------------


def project_version() -> str:
    import tomllib

    return tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]


def lock_entries(lock_text: str) -> dict[str, str]:
    """{normalised name: the full requirement block (name==version and its hashes)}."""
    entries: dict[str, str] = {}
    block: list[str] = []
    for line in lock_text.splitlines():
        if re.match(r"^[A-Za-z0-9]", line):
            block = [line]
            name = re.split(r"[=\[ ;]", line, maxsplit=1)[0]
            entries[normalise(name)] = ""
            current = normalise(name)
        elif line.startswith("    --hash") and block:
            block.append(line)
        else:
            continue
        entries[current] = "\n".join(block)
    return {k: v.rstrip(" \\") for k, v in entries.items()}


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def host_environment() -> dict[str, str]:
    """PEP 508 marker values of the hosts (Debian 13, CPython 3.13 on Linux x86_64)."""
    return {
        "implementation_name": "cpython",
        "implementation_version": "3.13.5",
        "os_name": "posix",
        "platform_machine": "x86_64",
        "platform_python_implementation": "CPython",
        "platform_system": "Linux",
        "python_full_version": "3.13.5",
        "python_version": HOST_PYTHON,
        "sys_platform": "linux",
        "extra": "",
    }


def runtime_closure(dependencies: list[str], requires_of) -> list[str]:
    """Normalised names of the dependencies and theirs, for the hosts' environment.

    `requires_of(name)` gives a package's own requirement strings (its metadata).
    """
    from packaging.requirements import Requirement

    env = host_environment()
    seen: set[str] = set()
    todo = list(dependencies)
    while todo:
        req = Requirement(todo.pop())
        if req.marker is not None and not req.marker.evaluate(env):
            continue
        name = normalise(req.name)
        extras_needed = set(req.extras)
        key = name + ("[" + ",".join(sorted(extras_needed)) + "]" if extras_needed else "")
        if key in seen:
            continue
        seen.add(key)
        seen.add(name)
        for text in requires_of(name):
            sub = Requirement(text)
            if sub.marker is None:
                todo.append(text)
                continue
            for extra in extras_needed or {""}:
                if sub.marker.evaluate({**env, "extra": extra}):
                    todo.append(str(Requirement(text)).split(";")[0])
                    break
    return sorted(n for n in seen if "[" not in n)


def _installed_requires(name: str) -> list[str]:
    from importlib import metadata

    try:
        return metadata.requires(name) or []
    except metadata.PackageNotFoundError as exc:
        raise OtapError(
            f"dependency {name} is not installed in this virtual environment; "
            "install requirements.lock first (scripts/up does)."
        ) from exc


def runtime_requirements() -> str:
    """requirements.lock reduced to the app's runtime dependencies, hashes kept."""
    import tomllib

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    names = runtime_closure(project["dependencies"], _installed_requires)
    lock = lock_entries((REPO / "requirements.lock").read_text())
    missing = [n for n in names if n not in lock]
    if missing:
        raise OtapError(
            f"{missing[0]} is a runtime dependency but not pinned in requirements.lock; "
            "regenerate the lock."
        )
    return "\n".join(lock[n] for n in names) + "\n"


def _run(cmd: list[str], what: str, **kwargs) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True, **kwargs)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        raise OtapError(f"{what} failed: {tail[0]}")


def add_test_results(work: Path, commit: str, dirty: bool, results: Path) -> tuple[dict, str]:
    """Copy the test results of COMMIT from the folder RESULTS into the release folder WORK.
    The manifest's fields that say whether it carries them (if not, why), and a line saying so."""
    found, note = test_results.for_release(commit, dirty, results)
    if found is None:
        return {"test_results": None, "test_results_note": note}, note
    shutil.copyfile(found, work / test_results.IN_RELEASE)
    return {"test_results": test_results.IN_RELEASE, "test_results_note": None}, note


def build(
    allow_dirty: bool = False,
    root: Path | None = None,
    say=say,
    results: Path = test_results.FOLDER,
) -> Release:
    """Build the release of this checkout into ROOT, with the test results of its commit that
    scripts/test left in RESULTS (the build does not run the tests)."""
    root = root or releases_root()
    version = project_version()
    full_commit, dirty = commit_and_dirty("build releases from a git checkout")
    commit = full_commit[:12]
    if dirty and not allow_dirty:
        raise OtapError(
            "the checkout has uncommitted changes; commit them (a release is named by its "
            "commit) or pass --allow-dirty for a lab-only build."
        )
    release_id = f"{version}-{commit}" + (".dirty" if dirty else "")
    target = root / release_id
    started = time.monotonic()
    root.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{release_id}.", dir=root))
    try:
        # translations first: the wheel carries the .mo files (pyproject force-include)
        _manage(["compiletranslations"], "compiling the translations")
        say(f"release {release_id}: building the wheel")
        _run(
            [
                sys.executable,
                "-m",
                "pip",
                "wheel",
                "--no-deps",
                "--disable-pip-version-check",
                "--quiet",
                "--wheel-dir",
                str(work),
                str(REPO),
            ],
            "building the app's wheel",
        )
        wheels = list(work.glob("safecoach-*.whl"))
        if len(wheels) != 1:
            raise OtapError("building the app's wheel gave no single safecoach wheel.")
        say(f"release {release_id}: wheelhouse for Python {HOST_PYTHON} on Debian 13")
        reqs = work / "requirements.txt"
        reqs.write_text(runtime_requirements())
        wheelhouse = work / "wheelhouse"
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--disable-pip-version-check",
            "--require-hashes",
            "--no-deps",
            "--only-binary=:all:",
            "--python-version",
            HOST_PYTHON,
            "--implementation",
            "cp",
            "--dest",
            str(wheelhouse),
            "-r",
            str(reqs),
        ]
        for platform in HOST_PLATFORMS:
            cmd += ["--platform", platform]
        _run(cmd, "downloading the wheelhouse (pip download)")
        reqs.rename(wheelhouse / "requirements.txt")
        say(f"release {release_id}: static files")
        _collect_static(work / STATIC)
        carried, note = add_test_results(work, full_commit, dirty, results)
        say(f"release {release_id}: {note}")
        files = checksums(work)
        manifest = {
            "release": release_id,
            "version": version,
            "commit": full_commit,
            "dirty": dirty,
            "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "python": HOST_PYTHON,
            "platform": "manylinux_2_41_x86_64 (Debian 13)",
            "wheel": wheels[0].name,
            "files": files,
            **carried,
        }
        (work / SUMS).write_text(render_sums(files))
        (work / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        if target.exists():
            shutil.rmtree(target)
        work.rename(target)
    finally:
        if work.exists():
            shutil.rmtree(work)
    release = check(target)
    size = sum(p.stat().st_size for p in target.rglob("*") if p.is_file())
    say(
        f"release {release_id} built in {time.monotonic() - started:.0f} s: "
        f"{len(release.manifest['files'])} files, {size / 1e6:.1f} MB, {target}"
    )
    return release


def _manage(args: list[str], what: str, **env: str) -> None:
    """The app's manage.py in a process of its own: provisioning never imports the app."""
    environ = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "safecoach.settings",
        "SAFECOACH_DEBUG": "1",
        "PYTHONPATH": str(REPO / "app"),
        **env,
    }
    _run([sys.executable, str(REPO / "app" / "manage.py"), *args], what, env=environ)


def _collect_static(archive: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        static = Path(tmp) / "static"
        _manage(
            ["collectstatic", "--noinput", "--verbosity", "0"],
            "collecting static files",
            SAFECOACH_STATIC_ROOT=str(static),
        )
        with tarfile.open(archive, "w:gz") as tar:
            for path in sorted(static.rglob("*")):
                info = tar.gettarinfo(str(path), arcname=path.relative_to(static).as_posix())
                info.uid = info.gid = 0
                info.uname = info.gname = "root"
                info.mtime = 0
                if path.is_file():
                    with path.open("rb") as handle:
                        tar.addfile(info, handle)
                else:
                    tar.addfile(info)
