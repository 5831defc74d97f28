"""`otap stage patch`: on test every update; elsewhere only the pinned, soaked versions (OTAP-01)."""

import json
import os

from pyinfra import host
from pyinfra.operations import apt

_plan = json.loads(os.environ.get("OTAP_PATCH_PACKAGES") or "{}")

apt.update(name="OTAP-01 | package index", cache_time=0)

if os.environ.get("OTAP_PATCH_ALL"):
    apt.upgrade(name="OTAP-01 | test takes every update first", auto_remove=False)
elif _plan.get(host.name):
    apt.packages(
        name="OTAP-01 | only versions that have run on test for the soak time",
        packages=[f"{pkg}={version}" for pkg, version in sorted(_plan[host.name].items())],
        update=False,
        no_recommends=True,
    )
