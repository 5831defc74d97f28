"""Lab timings for the five hosts of the development stage, on this machine.

Prints: image build (debootstrap, into a throwaway cache so the real one stays), `lab up` from
the cached image, bootstrap, first converge, idempotent re-converge (with its changed count),
verify, and `lab down`. Figures, not assertions: run it as root,

    .venv/bin/python benchmarks/lab.py            # everything (about 3 minutes)
    .venv/bin/python benchmarks/lab.py --no-image # skip the image build

The apt proxy's cache (/var/cache/safecoach-lab/apt-cacher-ng) is kept between runs, as in CI;
the first converge of a machine that never ran the lab also downloads the packages once.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from contextlib import redirect_stdout
from io import StringIO
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from provisioning.lab import hosts as lab
from provisioning.lab import image
from provisioning.ops.converge import converge
from provisioning.stage import load_stage
from provisioning.steps.bootstrap import bootstrap
from provisioning.steps.verify import verify

STAGE = "development"


def machine() -> str:
    cores = os.cpu_count()
    mem = ""
    try:
        kib = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f", {kib / 2**20:.0f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    return f"{platform.node()}: {cores} cores{mem}, Linux {platform.release()}"


def timed(fn, *args, **kwargs):
    started = time.monotonic()
    with redirect_stdout(StringIO()):
        value = fn(*args, **kwargs)
    return time.monotonic() - started, value


def build_image_elsewhere() -> float:
    tmp = Path(tempfile.mkdtemp(prefix="otap-bench-", dir="/var/tmp"))
    old = os.environ.get("OTAP_CACHE_ROOT")
    os.environ["OTAP_CACHE_ROOT"] = str(tmp)
    try:
        _, seconds = image.ensure_image(log=lambda _text: None)
        return float(seconds or 0.0)
    finally:
        if old is None:
            os.environ.pop("OTAP_CACHE_ROOT")
        else:
            os.environ["OTAP_CACHE_ROOT"] = old
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-image", action="store_true", help="skip the image build")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("benchmarks/lab.py needs root (it builds the lab)", file=sys.stderr)
        return 1
    stage = load_stage(STAGE)
    figures: dict[str, float | int | str] = {"machine": machine(), "hosts": 5}
    if not args.no_image:
        figures["image build (debootstrap)"] = build_image_elsewhere()
    timed(lab.down, stage)
    with redirect_stdout(StringIO()):
        image.ensure_image(log=lambda _text: None)
    figures["lab up (cached image)"], _ = timed(lab.up, stage)
    try:
        figures["bootstrap (pyinfra)"], _ = timed(bootstrap, stage)
        seconds, first = timed(converge, stage, quiet=True)
        figures["first converge"] = seconds
        figures["first converge changed"] = first.total("changed")
        seconds, second = timed(converge, stage, quiet=True)
        figures["re-converge"] = seconds
        figures["re-converge changed"] = second.total("changed")
        seconds, code = timed(verify, stage, quiet=True)
        figures["verify (testinfra)"] = seconds
        figures["verify exit code"] = code
    finally:
        figures["lab down"], _ = timed(lab.down, stage)
    width = max(len(k) for k in figures)
    for key, value in figures.items():
        shown = f"{value:7.1f} s" if isinstance(value, float) else str(value)
        print(f"{key:<{width}}  {shown}")
    print(json.dumps({k: round(v, 1) if isinstance(v, float) else v for k, v in figures.items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
