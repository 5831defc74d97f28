"""Releases on a stage with Fabric (filled in by the next commits)."""

from provisioning.errors import OtapError


def _todo(*_args) -> int:
    raise OtapError("deploying is not built yet on this branch.")


deploy = rollback = releases = promote = _todo
