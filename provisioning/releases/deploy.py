"""`otap release deploy STAGE`: a built release onto every web host of a stage, through the bastion.

Commands travel over provisioning/remote/ (Fabric over OpenSSH, the stage's ssh_config, pinned
host keys). On each web host, as the admin with sudo:

    /opt/safecoach/releases/<id>/   venv (from the wheelhouse), static, dist (what was uploaded),
                                    manifest.json and test-results.json (when the release carries
                                    the app's test results: tests/infra/test_release_results.py)
    /opt/safecoach/current       -> releases/<id>, switched atomically (rename of a symlink)
    /var/lib/safecoach-deploy/record.json   current, previous and the history of events
                                            (installed, deployed, verified, failed, rolled-back)

DEP-05 | deploy: verify the checksums here, upload, verify them again there, install into a new
release folder, migrate (the running release keeps serving), switch, restart gunicorn behind
its systemd socket (connections wait in the socket, none is refused), health-check over HTTPS
from here; on failure switch back. Promotion reads the record on the source stage's hosts.
"""

from __future__ import annotations

import io
import time

from provisioning.releases import build as releases_mod
from provisioning.releases.record import APP_ROOT, add_event, read_record, write_record
from provisioning.remote.progress import say
from provisioning.remote.target import (
    RemoteFailure,
    Target,
    healthy,
    run,
    unreachable,
    web_targets,
)
from provisioning.stage import OtapError, Stage

ORDER = ("development", "test", "acceptance", "production")
# Stages a release may be deployed to directly; the others take it only by promotion.
DIRECT = ("development", "test")
KEEP = 5

INSTALL = r"""#!/bin/bash
# DEP-05: install an uploaded release; prints one line on failure. Args: SRC ID
set -euo pipefail
src=$1 id=$2 root=/opt/safecoach
dest=$root/releases/$id
cd "$src"
sha256sum --quiet --strict -c SHA256SUMS >/dev/null 2>&1 || { echo "checksum mismatch after upload"; exit 3; }
if [ -f "$dest/.installed" ]; then exit 0; fi
if [ "$(readlink -f $root/current 2>/dev/null)" = "$dest" ]; then echo "refusing to touch the current release"; exit 4; fi
rm -rf "$dest"
mkdir -p "$dest/dist" "$dest/static"
cp -r . "$dest/dist/"
rm -f "$dest/dist/install.sh"
python3 -m venv "$dest/venv"
"$dest/venv/bin/pip" install --quiet --disable-pip-version-check --no-index \
    --find-links "$dest/dist/wheelhouse" --require-hashes -r "$dest/dist/wheelhouse/requirements.txt" \
    || { echo "pip could not install the wheelhouse"; exit 5; }
"$dest/venv/bin/pip" install --quiet --disable-pip-version-check --no-index --no-deps \
    "$dest/dist/$(python3 -c 'import json,sys; print(json.load(open("manifest.json"))["wheel"])')" \
    || { echo "pip could not install the app's wheel"; exit 5; }
tar -xzf "$dest/dist/static.tar.gz" -C "$dest/static" --no-same-owner --no-same-permissions
cp manifest.json "$dest/manifest.json"
if [ -f test-results.json ]; then cp test-results.json "$dest/test-results.json"; fi
chown -R root:root "$dest"
chmod -R u=rwX,go=rX "$dest"
touch "$dest/.installed"
"""


def check_direct_deploy(stage: Stage, release: releases_mod.Release) -> None:
    if stage.name not in DIRECT:
        before = ORDER[ORDER.index(stage.name) - 1] if stage.name in ORDER else "test"
        raise OtapError(
            f"stage {stage.name} takes releases only by promotion; run "
            f"`otap release promote {before} {stage.name}`."
        )
    if release.manifest.get("dirty") and not stage.lab:
        raise OtapError(
            f"release {release.id} was built from uncommitted changes and may go to the lab "
            "only; commit, build again and deploy that."
        )


def upload(target: Target, rel: releases_mod.Release) -> str:
    tmp = run(target, "mktemp -d /tmp/safecoach-release.XXXXXX", sudo=False).stdout.strip()
    run(target, f"mkdir -p {tmp}/wheelhouse", sudo=False)
    names = [*rel.manifest["files"], releases_mod.MANIFEST, releases_mod.SUMS]
    try:
        for name in names:
            target.conn.put(str(rel.path / name), f"{tmp}/{name}")
        target.conn.put(io.StringIO(INSTALL), f"{tmp}/install.sh")
    except (OSError, EOFError) as exc:
        raise unreachable(target.stage, target.host, exc) from exc
    return tmp


def switch(target: Target, release_id: str) -> None:
    run(
        target,
        f"sh -c 'ln -sfn releases/{release_id} {APP_ROOT}/.current.new && "
        f"mv -Tf {APP_ROOT}/.current.new {APP_ROOT}/current'",
    )
    # a release that never started may have tripped systemd's start limit: clear it first
    run(target, "systemctl reset-failed safecoach.service safecoach.socket", check=False)
    run(target, "systemctl start safecoach.socket")
    run(target, "systemctl enable --quiet safecoach.service")
    run(target, "systemctl restart safecoach.service", check=False)


def prune(target: Target, record: dict) -> None:
    keep = {record.get("current"), record.get("previous")}
    listed = run(target, f"ls -1t {APP_ROOT}/releases", check=False).stdout.split()
    for old in [r for r in listed if r not in keep][KEEP:]:
        if releases_mod.valid_release_id(old):
            run(target, f"rm -rf {APP_ROOT}/releases/{old}", check=False)


def deploy(
    stage: Stage, release_id: str | None = None, demo: bool = False, promoted: bool = False
) -> int:
    stage_name = stage.name
    rel = releases_mod.find(release_id)
    if not promoted:
        check_direct_deploy(stage, rel)
    if demo and not stage.lab:
        raise OtapError("demo data goes to lab stages only.")
    targets = web_targets(stage)
    started = time.monotonic()
    for index, target in enumerate(targets):
        _deploy_one(target, rel, migrate=index == 0, demo=demo and index == 0)
    say(
        f"release {rel.id} is live on stage {stage_name} "
        f"({', '.join(t.host for t in targets)}) in {time.monotonic() - started:.0f} s"
    )
    return 0


def _deploy_one(target: Target, rel: releases_mod.Release, migrate: bool, demo: bool) -> None:
    stage, host = target.stage, target.host
    record = read_record(target)
    running = record.get("current")
    say(f"{host}: uploading release {rel.id} ({len(rel.manifest['files'])} files)")
    tmp = upload(target, rel)
    try:
        say(f"{host}: checking checksums and installing into {APP_ROOT}/releases/{rel.id}")
        try:
            run(target, f"bash {tmp}/install.sh {tmp} {rel.id}")
        except RemoteFailure as failure:
            add_event(record, rel.id, "failed", f"install: {failure.line}")
            write_record(target, record)
            raise OtapError(
                f"release {rel.id} could not be installed on {host} ({failure.line}); "
                f"{_still(running)}"
            ) from None
    finally:
        run(target, f"rm -rf {tmp}", check=False)
    add_event(record, rel.id, "installed")
    release_dir = f"{APP_ROOT}/releases/{rel.id}"
    if migrate:
        say(f"{host}: migrating the database (the running release keeps serving)")
        try:
            run(
                target,
                f"/usr/local/sbin/safecoach-manage --release {release_dir} migrate --noinput",
            )
        except RemoteFailure as failure:
            add_event(record, rel.id, "failed", f"migrate: {failure.line}")
            write_record(target, record)
            run(target, f"rm -rf {release_dir}", check=False)
            raise OtapError(
                f"the migration of release {rel.id} failed on {host} ({failure.line}); "
                f"{_still(running)}"
            ) from None
    if demo:
        say(f"{host}: demo data")
        run(target, f"/usr/local/sbin/safecoach-manage --release {release_dir} seed_demo")
    say(f"{host}: switching current to {rel.id} and restarting gunicorn behind its socket")
    switch(target, rel.id)
    ok, detail = healthy(stage, stage.hosts[host].address)
    if not ok:
        add_event(record, rel.id, "failed", f"health check: {detail}")
        if running:
            switch(target, running)
            back, _ = healthy(stage, stage.hosts[host].address)
            add_event(record, running, "rolled-back", f"after {rel.id} failed")
            write_record(target, record)
            state = "answers again" if back else "does not answer either: look at it now"
            raise OtapError(
                f"release {rel.id} failed its health check on {host} ({detail}); rolled back "
                f"to {running}, which {state}."
            )
        write_record(target, record)
        raise OtapError(
            f"release {rel.id} failed its health check on {host} ({detail}) and there is no "
            "earlier release to roll back to; see `journalctl -u safecoach` on the host."
        )
    if running != rel.id:
        record["previous"] = running
    record["current"] = rel.id
    add_event(record, rel.id, "deployed")
    add_event(record, rel.id, "verified", f"health check over HTTPS: {detail}")
    write_record(target, record)
    prune(target, record)
    say(f"{host}: release {rel.id} answers over HTTPS ({detail})")


def _still(running: str | None) -> str:
    return (
        f"the running release {running} is untouched."
        if running
        else "nothing was running and nothing was switched."
    )
