"""`otap release rollback STAGE`: every web host back to its previous release, health-checked."""

from __future__ import annotations

from provisioning.releases.deploy import switch
from provisioning.releases.record import APP_ROOT, add_event, read_record, write_record
from provisioning.remote.progress import say
from provisioning.remote.target import healthy, run, web_targets
from provisioning.stage import OtapError, Stage


def rollback(stage: Stage) -> int:
    stage_name = stage.name
    for target in web_targets(stage):
        record = read_record(target)
        current, previous = record.get("current"), record.get("previous")
        if not previous:
            raise OtapError(
                f"stage {stage_name} has no earlier release on {target.host} to roll back to."
            )
        exists = run(target, f"test -f {APP_ROOT}/releases/{previous}/.installed", check=False)
        if exists.exited != 0:
            raise OtapError(
                f"release {previous} is no longer installed on {target.host}; deploy it again."
            )
        say(f"{target.host}: switching back from {current} to {previous}")
        switch(target, previous)
        ok, detail = healthy(stage, stage.hosts[target.host].address)
        record["current"], record["previous"] = previous, current
        add_event(record, previous, "rolled-back", f"from {current}")
        if ok:
            add_event(record, previous, "verified", f"health check over HTTPS: {detail}")
        write_record(target, record)
        if not ok:
            raise OtapError(
                f"rolled back to {previous} on {target.host}, but it fails its health check "
                f"({detail}); look at `journalctl -u safecoach` there."
            )
        say(f"{target.host}: release {previous} answers over HTTPS")
    return 0
