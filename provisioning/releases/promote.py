"""`otap release promote SOURCE TARGET`: the release verified on one stage, deployed to the next."""

from __future__ import annotations

from provisioning.releases.deploy import ORDER, deploy
from provisioning.releases.record import read_record, verified
from provisioning.remote.progress import say
from provisioning.remote.target import web_targets
from provisioning.stage import OtapError, UsageError, load_stage


def check_promotion(source: str, target: str, source_record: dict, release_id: str | None) -> str:
    """The release to promote, or one sentence why not."""
    if source not in ORDER or target not in ORDER:
        raise UsageError(f"promotion goes {' → '.join(ORDER)}; {source} → {target} is not a step.")
    if ORDER.index(target) != ORDER.index(source) + 1:
        wanted = ORDER[ORDER.index(target) - 1] if ORDER.index(target) > 0 else None
        hint = f"promote from {wanted} to {target}" if wanted else f"deploy to {target}"
        raise UsageError(
            f"promotion from {source} to {target} is out of order (the order is "
            f"{' → '.join(ORDER[1:])}); {hint} instead."
        )
    release_id = release_id or source_record.get("current")
    if not release_id:
        raise OtapError(f"stage {source} has no release deployed; deploy one there first.")
    if release_id not in verified(source_record):
        raise OtapError(
            f"release {release_id} was never deployed and verified on {source}; deploy it there "
            "and let its health check pass before promoting it."
        )
    if source_record.get("current") != release_id:
        raise OtapError(
            f"release {release_id} was verified on {source} but is no longer current there "
            f"({source_record.get('current')} is); promote the current one or deploy it again."
        )
    return release_id


def promote(source: str, target: str, release_id: str | None = None) -> int:
    if source not in ORDER or target not in ORDER:
        check_promotion(source, target, {}, release_id)
    source_stage = load_stage(source)
    target_stage = load_stage(target)
    # order first: no connection is needed to refuse a step out of order
    if ORDER.index(target) != ORDER.index(source) + 1:
        check_promotion(source, target, {}, release_id)
    records = [read_record(t) for t in web_targets(source_stage)]
    chosen = {check_promotion(source, target, record, release_id) for record in records}
    if len(chosen) != 1:
        raise OtapError(
            f"the web hosts of {source} run different releases ({', '.join(sorted(chosen))}); "
            "deploy one release to all of them first."
        )
    rid = chosen.pop()
    say(f"promoting release {rid}: verified on {source}, now to {target}")
    return deploy(target_stage, rid, promoted=True)
