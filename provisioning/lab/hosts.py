"""The local lab: the hosts of a lab stage as systemd-nspawn containers on this machine.

Layout of a stage's state folder (/var/lib/safecoach-lab/<stage>/, never in the repository):
  keys/root_ed25519[.pub]   the lab's "provider" root key (day 0 only)
  keys/admin_ed25519[.pub]  the lab admin's key, made into an account by `otap stage bootstrap`
  known_hosts, ssh_config   the stage's pinned host keys and its one OpenSSH config
  acng/                     apt-cacher-ng's config, log and PID file
  hosts/<host>/             host.json, upper/ work/ root/ (overlayfs), supervisor.pid,
                            nspawn.pid, console.log, supervisor.log
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager, suppress
from pathlib import Path

from provisioning.lab import image, network
from provisioning.lab.system import (
    alive,
    check_disk,
    container_processes,
    ensure_tools,
    mounts_under,
    processes_mentioning,
    read_pid,
    require_root,
    run,
    stop_pid,
)
from provisioning.remote.progress import say
from provisioning.stage import OtapError, Stage, UsageError, sshconfig, vault
from provisioning.stage.paths import REPO, cache_root

SUPERVISOR_MARKER = "provisioning.lab.supervisor"
ACNG_PORT = 3142
BOOT_TIMEOUT = 90


def lab_stage(stage: Stage) -> Stage:
    """The stage, if it is a lab stage; one sentence if it is a real one."""
    if not stage.lab:
        raise UsageError(
            f"stage {stage.name} is a real stage, not a lab stage; the lab runs lab stages only "
            "(stage_lab: true), such as development."
        )
    return stage


def hosts_dir(stage: Stage) -> Path:
    return stage.lab_hosts


def host_dir(stage: Stage, host: str) -> Path:
    return hosts_dir(stage) / host


def host_record(stage: Stage, index: int, host: str) -> dict:
    n = stage.lab_index
    hdir = host_dir(stage, host)
    return {
        "name": host,
        "stage": stage.name,
        "address": stage.hosts[host].address,
        "prefixlen": stage.lab_network.prefixlen,
        "bridge": network.bridge_name(n),
        "netns": f"{network.prefix(n)}{host}",
        "veth": f"{network.prefix(n)}h{index}",
        "lower": str(image.rootfs()),
        "upper": str(hdir / "upper"),
        "work": str(hdir / "work"),
        "root": str(hdir / "root"),
    }


@contextmanager
def stage_lock(stage: Stage):
    lock = stage.state_dir.parent / f".{stage.name}.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise OtapError(
                f"another otap command is working on stage {stage.name}; wait for it to finish."
            ) from exc
        yield


# --- status -------------------------------------------------------------------------------


def ssh_answers_inside(netns: str, address: str, timeout: float = 1.0) -> bool:
    """sshd answers on the host's own address, asked from inside its network namespace.

    Once role firewall is in force only the bastion reaches SSH on the other hosts (and only the
    admin networks the bastion), so the controller cannot ask from outside; inside the namespace
    the question goes over loopback, which every rule set lets through.
    """
    probe = (
        "import socket,sys\n"
        "s=socket.create_connection((sys.argv[1],22),timeout=float(sys.argv[2]))\n"
        "s.settimeout(float(sys.argv[2]))\n"
        "sys.exit(0 if s.recv(8).startswith(b'SSH-') else 1)"
    )
    try:
        proc = subprocess.run(
            ["ip", "netns", "exec", netns, sys.executable, "-c", probe, address, str(timeout)],
            capture_output=True,
            timeout=timeout + 5,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return False
    return proc.returncode == 0


def host_state(stage: Stage, host: str) -> str:
    hdir = host_dir(stage, host)
    if not (hdir / "host.json").exists():
        return "absent"
    sup = read_pid(hdir / "supervisor.pid")
    nsp = read_pid(hdir / "nspawn.pid")
    if not alive(sup, str(hdir)):
        return "dead"
    if not alive(nsp, str(hdir / "root")):
        return "restarting"
    netns = f"{network.prefix(stage.lab_index)}{host}"
    return "running" if ssh_answers_inside(netns, stage.hosts[host].address) else "booting"


def acng_running(stage: Stage) -> bool:
    return alive(read_pid(stage.state_dir / "acng" / "pid"), str(stage.state_dir / "acng"))


def status(stage: Stage) -> dict:
    lab_stage(stage)
    hosts = []
    for host in sorted(stage.hosts):
        hdir = host_dir(stage, host)
        reboots = hdir / "reboots"
        hosts.append(
            {
                "name": host,
                "groups": list(stage.hosts[host].groups),
                "address": stage.hosts[host].address,
                "state": host_state(stage, host),
                "reboots": int(reboots.read_text()) if reboots.exists() else 0,
            }
        )
    states = {h["state"] for h in hosts}
    overall = (
        "up"
        if states == {"running"} and acng_running(stage)
        else "down"
        if states == {"absent"} and not stage.state_dir.exists()
        else "degraded"
    )
    return {
        "stage": stage.name,
        "state": overall,
        "network": str(stage.lab_network),
        "controller": stage.controller_address,
        "apt_proxy": f"http://{stage.controller_address}:{ACNG_PORT}",
        "ssh_config": str(stage.ssh_config),
        "hosts": hosts,
    }


def format_status(info: dict) -> str:
    lines = [
        f"stage {info['stage']}: {info['state']}  (network {info['network']}, "
        f"controller {info['controller']})",
        f"{'HOST':<10} {'GROUPS':<12} {'ADDRESS':<15} STATE",
    ]
    for h in info["hosts"]:
        lines.append(f"{h['name']:<10} {','.join(h['groups']):<12} {h['address']:<15} {h['state']}")
    lines.append(f"ssh config: {info['ssh_config']}")
    return "\n".join(lines)


# --- pieces of `up` ---------------------------------------------------------------------------


def ensure_keys(stage: Stage) -> None:
    keys = stage.keys
    keys.mkdir(parents=True, exist_ok=True)
    os.chmod(keys, 0o700)
    for name in ("root_ed25519", "admin_ed25519"):
        if not (keys / name).exists():
            comment = f"{name.split('_')[0]}@safecoach-lab-{stage.name}"
            run(
                [
                    "ssh-keygen",
                    "-q",
                    "-t",
                    "ed25519",
                    "-N",
                    "",
                    "-C",
                    comment,
                    "-f",
                    str(keys / name),
                ]
            )


def start_apt_proxy(stage: Stage) -> None:
    if acng_running(stage):
        return
    adir = stage.state_dir / "acng"
    (adir / "log").mkdir(parents=True, exist_ok=True)
    cache = cache_root() / "apt-cacher-ng" / stage.name
    cache.mkdir(parents=True, exist_ok=True)
    (adir / "acng.conf").write_text(
        "\n".join(
            [
                "# apt proxy of the lab, written by otap lab up",
                f"CacheDir: {cache}",
                f"LogDir: {adir / 'log'}",
                "SupportDir: /usr/lib/apt-cacher-ng",
                f"Port: {ACNG_PORT}",
                f"BindAddress: {stage.controller_address}",
                f"SocketPath: {adir / 'socket'}",
                f"PidFile: {adir / 'acng.pidfile'}",
                "ForeGround: 1",
                "ExThreshold: 4",
                "",
            ]
        )
    )
    with open(adir / "log" / "stdout.log", "ab") as out:
        proc = subprocess.Popen(
            ["apt-cacher-ng", "-c", str(adir)],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    (adir / "pid").write_text(f"{proc.pid}\n")
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            socket.create_connection((stage.controller_address, ACNG_PORT), timeout=1).close()
        except OSError:
            time.sleep(0.2)
            continue
        time.sleep(0.3)
        if proc.poll() is None:
            return
    if proc.poll() is not None:
        raise OtapError(
            f"the apt proxy (apt-cacher-ng) could not listen on {stage.controller_address}:"
            f"{ACNG_PORT} (is another apt-cacher-ng using port {ACNG_PORT}?); see {adir / 'log'}."
        )
    raise OtapError(
        f"the apt proxy (apt-cacher-ng) did not start on {stage.controller_address}:{ACNG_PORT}; "
        f"see {adir / 'log'}."
    )


def prepare_host(stage: Stage, record: dict) -> list[str]:
    """Mount the host's overlay and give it its own identity; returns its public host keys."""
    hdir = Path(record["root"]).parent
    for sub in ("upper", "work", "root"):
        (hdir / sub).mkdir(parents=True, exist_ok=True)
    (hdir / "host.json").write_text(json.dumps(record, indent=2) + "\n")
    root = Path(record["root"])
    if str(root) not in mounts_under(root):
        run(
            [
                "mount",
                "-t",
                "overlay",
                "overlay",
                "-o",
                f"lowerdir={record['lower']},upperdir={record['upper']},workdir={record['work']}",
                str(root),
            ]
        )
    if not list((root / "etc/ssh").glob("ssh_host_*_key")):
        run(["ssh-keygen", "-q", "-A", "-f", str(root)])
    machine_id = root / "etc/machine-id"
    if not machine_id.read_text().strip():
        machine_id.write_text(secrets.token_hex(16) + "\n")
    ssh_dir = root / "root/.ssh"
    ssh_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    pub = (stage.keys / "root_ed25519.pub").read_text()
    (ssh_dir / "authorized_keys").write_text(pub)
    os.chmod(ssh_dir / "authorized_keys", 0o600)
    return [
        " ".join(p.read_text().split()[:2])
        for p in sorted((root / "etc/ssh").glob("ssh_host_*.pub"))
    ]


def start_host(stage: Stage, record: dict) -> None:
    hdir = Path(record["root"]).parent
    for name in ("exit-code", "nspawn.pid"):
        (hdir / name).unlink(missing_ok=True)
    command = [sys.executable, "-m", SUPERVISOR_MARKER, "--host-dir", str(hdir)]
    if Path("/run/systemd/system").is_dir() and shutil.which("systemd-run"):
        # With systemd as PID 1, nspawn --keep-unit wants a unit of its own with a delegated
        # cgroup: a transient scope (systemd-run execs the command, so the PID stays ours).
        unit = f"otap-{stage.name}-{record['name']}"
        scope = ["systemd-run", "--scope", "--quiet", "--collect", "--property=Delegate=yes"]
        command = [*scope, f"--unit={unit}", *command]
    with open(hdir / "supervisor.log", "ab") as out:
        proc = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd="/",
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )
    (hdir / "supervisor.pid").write_text(f"{proc.pid}\n")


def wait_for_ssh(stage: Stage, hosts: list[str], timeout: float | None = None) -> None:
    if timeout is None:
        timeout = float(os.environ.get("OTAP_BOOT_TIMEOUT", BOOT_TIMEOUT))
    deadline = time.monotonic() + timeout
    waiting = set(hosts)
    while waiting and time.monotonic() < deadline:
        for host in sorted(waiting):
            state = host_state(stage, host)
            if state == "dead":
                code = host_dir(stage, host) / "exit-code"
                why = f"exit {code.read_text().strip()}" if code.exists() else "no exit code"
                raise OtapError(
                    f"host {host} of stage {stage.name} died while booting ({why}); see "
                    f"{host_dir(stage, host) / 'console.log'}."
                )
            if state == "running":
                waiting.discard(host)
        time.sleep(0.3)
    if waiting:
        raise OtapError(
            f"host(s) {', '.join(sorted(waiting))} of stage {stage.name} did not answer on SSH "
            f"within {timeout:.0f} s; see their console.log under {hosts_dir(stage)}."
        )


# --- up / down ---------------------------------------------------------------------------------


def leftovers(stage: Stage) -> list[str]:
    """Anything of this stage on the machine: state, mounts, processes, namespaces, links."""
    n = stage.lab_index
    found = []
    found += [f"container process {p}" for p in container_processes(stage.state_dir)]
    if stage.state_dir.exists():
        found.append(f"state {stage.state_dir}")
        found += [f"mount {m}" for m in mounts_under(stage.state_dir)]
        pidfiles = [
            *stage.state_dir.glob("hosts/*/supervisor.pid"),
            *stage.state_dir.glob("hosts/*/nspawn.pid"),
            stage.state_dir / "acng" / "pid",
        ]
        for pidfile in pidfiles:
            pid = read_pid(pidfile)
            if alive(pid, str(pidfile.parent)):
                found.append(f"process {pid}")
    found += [f"netns {ns}" for ns in network.netns_list() if ns.startswith(network.prefix(n))]
    found += [
        f"link {link['ifname']}"
        for link in network.links()
        if link["ifname"].startswith(network.prefix(n))
    ]
    return sorted(set(found))


def up(stage: Stage) -> dict:
    """Bring a lab stage up; idempotent. Returns timings."""
    require_root("otap lab up")
    lab_stage(stage)
    name = stage.name
    ensure_tools()
    timings: dict[str, float | None] = {}
    with stage_lock(stage):
        info = status(stage)
        if info["state"] == "up":
            say(f"stage {name} is already up; nothing to do (otap lab down {name} removes it)")
            timings["already_up"] = 1
            return timings
        if info["state"] == "degraded":
            bad = [f"{h['name']} {h['state']}" for h in info["hosts"] if h["state"] != "running"]
            say(
                f"stage {name} has leftovers of an earlier lab "
                f"({', '.join(bad) or 'apt proxy down'});"
                " removing them first"
            )
            _down(stage, quiet=True)
        else:
            stale = leftovers(stage)
            if stale:
                say(f"removing leftovers of an earlier lab: {', '.join(stale[:6])}")
                _down(stage, quiet=True)
        network.check_range_free(stage.lab_network, network.bridge_name(stage.lab_index))
        check_disk(stage.state_dir.parent, 512 * 2**20, "the lab's hosts")
        started = time.monotonic()
        try:
            _, built = image.ensure_image(log=say)
            timings["image_build"] = built
            t0 = time.monotonic()
            _up(stage)
            timings["lab_up"] = time.monotonic() - t0
        except BaseException:
            say(f"lab up failed; removing what it made of stage {name}")
            _down(stage, quiet=True)
            raise
        timings["total"] = time.monotonic() - started
    return timings


def _up(stage: Stage) -> None:
    n = stage.lab_index
    stage.state_dir.mkdir(parents=True, exist_ok=True)
    ensure_keys(stage)
    # The lab's secrets and the password that opens them, before any Ansible run needs them.
    vault.ensure_lab_vault(stage)
    say(f"network: bridge {network.bridge_name(n)} with {stage.controller_address} (no route out)")
    network.ensure_bridge(n, stage.controller_address, stage.lab_network.prefixlen)
    say(f"apt proxy: apt-cacher-ng on {stage.controller_address}:{ACNG_PORT}")
    start_apt_proxy(stage)
    keys: dict[str, list[str]] = {}
    names = sorted(stage.hosts)
    for index, host in enumerate(names, start=1):
        record = host_record(stage, index, host)
        keys[host] = prepare_host(stage, record)
        start_host(stage, record)
    sshconfig.write_known_hosts(stage, keys)
    sshconfig.write(stage)
    say(f"booting {len(names)} hosts: {', '.join(names)}")
    wait_for_ssh(stage, names)
    (stage.state_dir / "lab.json").write_text(
        json.dumps({"stage": stage.name, "up_since": time.time()}, indent=2) + "\n"
    )


def down(stage: Stage) -> list[str]:
    require_root("otap lab down")
    lab_stage(stage)
    with stage_lock(stage):
        return _down(stage)


def _down(stage: Stage, quiet: bool = False) -> list[str]:
    """Remove everything of the stage: processes, mounts, namespaces, links, state."""
    removed: list[str] = []
    hdirs = sorted(hosts_dir(stage).glob("*")) if hosts_dir(stage).exists() else []
    # Ask every supervisor to stop (containers power off in parallel), then wait.
    for hdir in hdirs:
        pid = read_pid(hdir / "supervisor.pid")
        if alive(pid, str(hdir)):
            os.kill(pid, signal.SIGTERM)
    for hdir in hdirs:
        stop_pid(read_pid(hdir / "supervisor.pid"), str(hdir), timeout=25)
        stop_pid(read_pid(hdir / "nspawn.pid"), str(hdir / "root"), timeout=5)
        removed.append(f"host {hdir.name}")
    # Containers whose nspawn was killed from outside keep running: kill them by their marker.
    for _ in range(5):
        pids = container_processes(stage.state_dir)
        if not pids:
            break
        for pid in pids:
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            removed.append(f"container process {pid}")
        time.sleep(0.5)
    stop_pid(read_pid(stage.state_dir / "acng" / "pid"), str(stage.state_dir / "acng"), timeout=10)
    # SSH connection-sharing masters (Ansible, testinfra, otap stage ssh) of this stage's hosts.
    for pid in processes_mentioning(f"{stage.state_dir}/"):
        stop_pid(pid, f"{stage.state_dir}/", timeout=3)
        removed.append(f"ssh process {pid}")
    if stage.state_dir.exists():
        for point in mounts_under(stage.state_dir):
            if run(["umount", point], check=False).returncode != 0:
                run(["umount", "-l", point], check=False)
            removed.append(f"mount {point}")
    removed += network.teardown_stage(stage.lab_index)
    if stage.state_dir.exists():
        if mounts_under(stage.state_dir):
            raise OtapError(
                f"could not unmount everything under {stage.state_dir}; check `findmnt` and retry."
            )
        shutil.rmtree(stage.state_dir)
        removed.append(f"state {stage.state_dir}")
    # The lab's vault file opens only with the password just removed: it goes with it.
    secrets_file = vault.vault_file(stage)
    if secrets_file.exists():
        secrets_file.unlink()
        removed.append(f"vault {secrets_file}")
    if not quiet:
        say(f"stage {stage.name} is down" + ("" if removed else " (nothing was up)"))
    return removed


def console(stage: Stage, host: str) -> None:
    """A root shell inside the host's container, without SSH (for when SSH is what broke)."""
    require_root("otap lab console")
    lab_stage(stage)
    name = stage.name
    if host not in stage.hosts:
        raise UsageError(
            f"stage {name} has no host {host}; hosts: {', '.join(sorted(stage.hosts))}."
        )
    hdir = host_dir(stage, host)
    nspawn = read_pid(hdir / "nspawn.pid")
    if not alive(nspawn, str(hdir / "root")):
        raise OtapError(f"host {host} of stage {name} is not running; run `otap lab up {name}`.")
    init = None
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == nspawn:
                init = int(entry.name)
                break
    if init is None:
        raise OtapError(f"host {host} of stage {name} has no running init; see its console.log.")
    os.execvp("nsenter", ["nsenter", "-t", str(init), "-a", "--", "/bin/bash", "-l"])  # noqa: S606


def require_up(stage: Stage) -> None:
    """For commands that need the lab's hosts: one sentence when they are not all running."""
    if not stage.lab:
        return
    bad = [h for h in sorted(stage.hosts) if host_state(stage, h) != "running"]
    if bad:
        raise OtapError(
            f"host(s) {', '.join(bad)} of stage {stage.name} are not running; "
            f"run `otap lab up {stage.name}`."
        )
