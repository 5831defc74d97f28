"""The git checkout a release and its test results are made from."""

from __future__ import annotations

import subprocess

from provisioning.stage.errors import OtapError
from provisioning.stage.paths import REPO


def git(*args: str, why: str) -> str:
    """git ARGS in the repository; OtapError with WHY (what needs the commit) if git fails."""
    try:
        return subprocess.run(
            ["git", *args], cwd=REPO, check=True, capture_output=True, text=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError) as exc:
        raise OtapError(f"cannot read the git commit of the checkout; {why}.") from exc


def commit_and_dirty(why: str) -> tuple[str, bool]:
    """The full commit of HEAD and whether tracked files have uncommitted changes."""
    commit = git("rev-parse", "HEAD", why=why)
    return commit, bool(git("status", "--porcelain", "--untracked-files=no", why=why))
