"""Where things live: the repository, the per-stage state and the machine-wide cache.

State and cache are outside the repository so that CI on the same machine reuses the image and
the package cache, and so that no key ever lands in a commit.
"""

import os
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
INVENTORIES = REPO / "inventories"


def state_root() -> Path:
    """Per-stage state (keys, known_hosts, ssh_config, PID files): /var/lib/safecoach-lab."""
    return Path(os.environ.get("OTAP_STATE_ROOT", "/var/lib/safecoach-lab"))


def cache_root() -> Path:
    """Machine-wide cache (debootstrap images, apt-cacher-ng): /var/cache/safecoach-lab."""
    return Path(os.environ.get("OTAP_CACHE_ROOT", "/var/cache/safecoach-lab"))


def stage_dir(stage: str) -> Path:
    return state_root() / stage


def venv_tool(name: str) -> str:
    """A command of this virtual environment (ansible-playbook, pyinfra …), else from PATH."""
    return shutil.which(name, path=str(Path(sys.executable).parent)) or name
