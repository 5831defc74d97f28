"""The lab's Debian 13 image: built once with debootstrap, cached by the hash of its recipe.

The cache lives outside the repository (/var/cache/safecoach-lab/images/<hash>/rootfs) so every
checkout and every CI run on this machine reuses it. Hosts never write to it: each host boots an
overlayfs whose lower layer is this rootfs.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import shutil
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path

from provisioning.lab.system import check_disk
from provisioning.stage.errors import OtapError
from provisioning.stage.paths import cache_root

SUITE = "trixie"
MIRROR = "http://deb.debian.org/debian"
VARIANT = "minbase"
# systemd boots the host, sshd lets tools in, python3 (3.13) runs Ansible and testinfra modules,
# sudo and python3-apt are what bootstrap and the apt module need; the rest is for roles.
PACKAGES = (
    "dbus",
    "iproute2",
    "iptables",
    "openssh-server",
    "procps",
    "python3",
    "python3-apt",
    "sudo",
    "systemd",
    "systemd-sysv",
    "tzdata",
)
# Bump when the post-processing below changes: it is part of the cache key.
RECIPE_VERSION = 1
# Units that would fight with converge (apt locks) or make no sense in a container.
MASKED_UNITS = (
    "apt-daily.timer",
    "apt-daily-upgrade.timer",
    "apt-daily.service",
    "apt-daily-upgrade.service",
    "dpkg-db-backup.timer",
    "fstrim.timer",
)


def recipe() -> dict:
    return {
        "suite": SUITE,
        "mirror": MIRROR,
        "variant": VARIANT,
        "packages": sorted(PACKAGES),
        "recipe_version": RECIPE_VERSION,
    }


def image_key() -> str:
    blob = json.dumps(recipe(), sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def image_dir() -> Path:
    return cache_root() / "images" / image_key()


def rootfs() -> Path:
    return image_dir() / "rootfs"


def is_cached() -> bool:
    return (image_dir() / "ready").is_file()


@contextmanager
def _lock(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _post_process(root: Path) -> None:
    """Make the image a template: no host keys, no machine id, no host name, quiet timers."""
    for key in (root / "etc/ssh").glob("ssh_host_*"):
        key.unlink()
    (root / "etc/machine-id").write_text("")
    (root / "var/lib/dbus/machine-id").unlink(missing_ok=True)
    (root / "etc/hostname").unlink(missing_ok=True)
    for unit in MASKED_UNITS:
        link = root / "etc/systemd/system" / unit
        link.unlink(missing_ok=True)
        link.symlink_to("/dev/null")
    for deb in (root / "var/cache/apt/archives").glob("*.deb"):
        deb.unlink()


def ensure_image(log=print) -> tuple[Path, float | None]:
    """Return (rootfs, seconds spent building or None when it came from the cache)."""
    images = cache_root() / "images"
    with _lock(images / ".lock"):
        if is_cached():
            return rootfs(), None
        check_disk(images, 1536 * 2**20, "building the lab image")
        partial = images / f"{image_key()}.partial"
        if partial.exists():
            shutil.rmtree(partial)
        (partial / "rootfs").mkdir(parents=True)
        log(f"building the Debian {SUITE} image (debootstrap, about a minute; cached afterwards)")
        started = time.monotonic()
        build_log = partial / "debootstrap.log"
        cmd = [
            "debootstrap",
            f"--variant={VARIANT}",
            f"--include={','.join(sorted(PACKAGES))}",
            SUITE,
            str(partial / "rootfs"),
            MIRROR,
        ]
        with open(build_log, "w") as out:
            code = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, check=False).returncode
        if code != 0:
            tail = build_log.read_text().strip().splitlines()[-1:] or ["no output"]
            shutil.rmtree(partial, ignore_errors=True)
            raise OtapError(f"debootstrap failed (exit {code}): {tail[0]}")
        _post_process(partial / "rootfs")
        seconds = time.monotonic() - started
        (partial / "recipe.json").write_text(
            json.dumps({**recipe(), "build_seconds": round(seconds, 1)}, indent=2) + "\n"
        )
        final = image_dir()
        if final.exists():
            shutil.rmtree(final)
        partial.rename(final)
        (final / "ready").write_text(time.strftime("%Y-%m-%dT%H:%M:%SZ\n", time.gmtime()))
        return rootfs(), seconds
