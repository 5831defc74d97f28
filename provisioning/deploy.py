"""Releases on a stage with Fabric, through the bastion: deploy, rollback, releases, promote.

Every connection is a Fabric Connection carried by OpenSSH (provisioning/fabric_openssh.py: paramiko
speaks none of the hardened hosts' key exchanges) with the stage's one ssh_config: ProxyJump
through the bastion and the stage's pinned known_hosts, so an unknown host key is refused, never
added. On each web host, as the admin with sudo:

    /opt/safecoach/releases/<id>/   venv (from the wheelhouse), static, dist (what was uploaded)
    /opt/safecoach/current       -> releases/<id>, switched atomically (rename of a symlink)
    /var/lib/safecoach-deploy/record.json   current, previous and the history of events
                                            (installed, deployed, verified, failed, rolled-back)

DEP-05 | deploy: verify the checksums here, upload, verify them again there, install into a new
release folder, migrate (the running release keeps serving), switch, restart gunicorn behind
its systemd socket (connections wait in the socket, none is refused), health-check over HTTPS
from here; on failure switch back. Promotion reads the record on the source stage's hosts.
"""

from __future__ import annotations

import getpass
import io
import json
import socket
import ssl
import time
from dataclasses import dataclass
from pathlib import Path

from provisioning import release as releases_mod
from provisioning import sshconfig
from provisioning.errors import OtapError
from provisioning.inventory import Stage, load_stage

ORDER = ("development", "test", "acceptance", "production")
# Stages a release may be deployed to directly; the others take it only by promotion.
DIRECT = ("development", "test")
APP_ROOT = "/opt/safecoach"
RECORD = "/var/lib/safecoach-deploy/record.json"
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
chown -R root:root "$dest"
chmod -R u=rwX,go=rX "$dest"
touch "$dest/.installed"
"""


@dataclass
class Target:
    stage: Stage
    host: str
    conn: object  # fabric.Connection


# ---- the record kept on the stage's hosts ------------------------------------------------------


def empty_record(stage: str) -> dict:
    return {"stage": stage, "current": None, "previous": None, "history": []}


def add_event(record: dict, release: str, event: str, detail: str = "") -> dict:
    record["history"].append(
        {
            "release": release,
            "event": event,
            "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "by": getpass.getuser(),
            **({"detail": detail} if detail else {}),
        }
    )
    return record


def verified(record: dict) -> list[str]:
    """Releases that were deployed and passed their health check on this stage, oldest first."""
    out: list[str] = []
    for event in record.get("history", []):
        if event["event"] == "verified" and event["release"] not in out:
            out.append(event["release"])
    return out


def check_promotion(source: str, target: str, source_record: dict, release_id: str | None) -> str:
    """The release to promote, or one sentence why not."""
    if source not in ORDER or target not in ORDER:
        raise OtapError(f"promotion goes {' → '.join(ORDER)}; {source} → {target} is not a step.")
    if ORDER.index(target) != ORDER.index(source) + 1:
        wanted = ORDER[ORDER.index(target) - 1] if ORDER.index(target) > 0 else None
        hint = f"promote from {wanted} to {target}" if wanted else f"deploy to {target}"
        raise OtapError(
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


def check_direct_deploy(stage: Stage, release: releases_mod.Release) -> None:
    if stage.name not in DIRECT:
        before = ORDER[ORDER.index(stage.name) - 1] if stage.name in ORDER else "test"
        raise OtapError(
            f"stage {stage.name} takes releases only by promotion; run "
            f"`otap promote {before} {stage.name}`."
        )
    if release.manifest.get("dirty") and not stage.lab:
        raise OtapError(
            f"release {release.id} was built from uncommitted changes and may go to the lab "
            "only; commit, build again and deploy that."
        )


# ---- connections -------------------------------------------------------------------------------


def connect(stage: Stage, host: str):
    """A Fabric connection through the stage's ssh_config (ProxyJump, pinned host keys only)."""
    from provisioning.fabric_openssh import OpenSSHConnection

    known = sshconfig.known_hosts_path(stage)
    if not known.is_file():
        raise OtapError(
            f"stage {stage.name} has no pinned host keys ({known}); run `otap bootstrap "
            f"{stage.name}` first."
        )
    return OpenSSHConnection(host, sshconfig.write(stage), connect_timeout=15)


def _unreachable(stage: Stage, host: str, exc: Exception) -> OtapError:
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return OtapError(
        f"stage {stage.name} is unreachable: cannot reach {host} through "
        f"{stage.bastion.name} ({reason}); check that the stage is up and your SSH key."
    )


def run(target: Target, command: str, sudo: bool = True, check: bool = True, stdin: str = ""):
    from invoke.exceptions import UnexpectedExit

    full = f"sudo -n {command}" if sudo else command
    try:
        kwargs = {"in_stream": io.StringIO(stdin)} if stdin else {"in_stream": False}
        return target.conn.run(full, hide=True, warn=not check, **kwargs)
    except UnexpectedExit as exc:
        raise RemoteFailure(exc.result) from exc
    except (OSError, EOFError) as exc:
        raise _unreachable(target.stage, target.host, exc) from exc


class RemoteFailure(Exception):
    def __init__(self, result):
        super().__init__(result.stdout)
        self.result = result

    @property
    def line(self) -> str:
        text = (self.result.stdout.strip() or self.result.stderr.strip()).splitlines()
        return text[-1] if text else f"exit status {self.result.exited}"


def web_targets(stage: Stage) -> list[Target]:
    names = stage.groups.get("web") or []
    return [Target(stage, name, connect(stage, name)) for name in names]


def read_record(target: Target) -> dict:
    result = run(target, f"cat {RECORD}", check=False)
    if result.exited != 0 or not result.stdout.strip():
        return empty_record(target.stage.name)
    try:
        return json.loads(result.stdout)
    except ValueError as exc:
        raise OtapError(
            f"the deploy record {RECORD} on {target.host} is damaged; inspect it by hand."
        ) from exc


def write_record(target: Target, record: dict) -> None:
    text = json.dumps(record, indent=2) + "\n"
    run(target, f"install -d -m 0755 {Path(RECORD).parent}")
    run(target, f"sh -c 'cat > {RECORD}.new && mv -f {RECORD}.new {RECORD}'", stdin=text)


# ---- health ------------------------------------------------------------------------------------


def stage_ca(stage: Stage) -> Path:
    return stage.state_dir / "ca" / "ca.crt"


def health_once(stage: Stage, address: str, timeout: float = 5.0) -> tuple[bool, str]:
    """GET https://<public name>/healthz from here, connecting to the web host's address."""
    name = str(stage.vars.get("public_name") or address)
    context = ssl.create_default_context(
        cafile=str(stage_ca(stage)) if stage.lab and stage_ca(stage).is_file() else None
    )
    try:
        with (
            socket.create_connection((address, 443), timeout=timeout) as raw,
            context.wrap_socket(raw, server_hostname=name) as tls,
        ):
            tls.sendall(
                f"GET /healthz HTTP/1.1\r\nHost: {name}\r\nConnection: close\r\n\r\n".encode()
            )
            data = b""
            while chunk := tls.recv(4096):
                data += chunk
    except (OSError, ssl.SSLError) as exc:
        return False, str(exc) or type(exc).__name__
    status = data.split(b"\r\n", 1)[0].decode(errors="replace")
    body = data.split(b"\r\n\r\n", 1)[-1]
    if " 200 " in status + " " and body.strip() == b"ok":
        return True, status
    return False, status or "no answer"


def healthy(stage: Stage, address: str, seconds: float = 45, needed: int = 3) -> tuple[bool, str]:
    """`needed` good answers in a row within `seconds`."""
    deadline = time.monotonic() + seconds
    good, last = 0, "no answer"
    while time.monotonic() < deadline:
        ok, last = health_once(stage, address)
        good = good + 1 if ok else 0
        if good >= needed:
            return True, last
        time.sleep(0.5 if ok else 1.0)
    return False, last


# ---- the steps ---------------------------------------------------------------------------------


def say(text: str) -> None:
    print(f"==> {text}", flush=True)


def upload(target: Target, rel: releases_mod.Release) -> str:
    tmp = run(target, "mktemp -d /tmp/safecoach-release.XXXXXX", sudo=False).stdout.strip()
    run(target, f"mkdir -p {tmp}/wheelhouse", sudo=False)
    names = [*rel.manifest["files"], releases_mod.MANIFEST, releases_mod.SUMS]
    try:
        for name in names:
            target.conn.put(str(rel.path / name), f"{tmp}/{name}")
        target.conn.put(io.StringIO(INSTALL), f"{tmp}/install.sh")
    except (OSError, EOFError) as exc:
        raise _unreachable(target.stage, target.host, exc) from exc
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
    stage_name: str, release_id: str | None = None, demo: bool = False, promoted: bool = False
) -> int:
    stage = load_stage(stage_name)
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
            run(target, f"/usr/local/sbin/safecoach-manage --release {release_dir} migrate "
                        "--noinput")  # fmt: skip
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


def rollback(stage_name: str) -> int:
    stage = load_stage(stage_name)
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


def releases(stage_name: str) -> int:
    stage = load_stage(stage_name)
    for target in web_targets(stage):
        record = read_record(target)
        installed = run(target, f"ls -1 {APP_ROOT}/releases", check=False).stdout.split()
        ok = set(verified(record))
        print(f"stage {stage_name}, host {target.host}:")
        if not installed:
            print("  no release installed")
        for rid in sorted(installed):
            marks = []
            if rid == record.get("current"):
                marks.append("current")
            if rid == record.get("previous"):
                marks.append("previous")
            if rid in ok:
                marks.append("verified")
            print(f"  {rid:<28} {', '.join(marks)}")
        for event in record.get("history", [])[-10:]:
            detail = f"  ({event['detail']})" if event.get("detail") else ""
            print(f"    {event['at']}  {event['event']:<12} {event['release']}  by {event['by']}"
                  f"{detail}")  # fmt: skip
    return 0


def promote(source: str, target: str, release_id: str | None = None) -> int:
    if source not in ORDER or target not in ORDER:
        check_promotion(source, target, {}, release_id)
    source_stage = load_stage(source)
    load_stage(target)
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
    return deploy(target, rid, promoted=True)
