"""The lab's fault drills (tests/lab/test_drills.py, benchmarks/monitoring_drills.py).

Six faults, each on its own host or service so that no inhibition hides one: each must bring its
alert mail to the operators' mailbox on the monitoring host, and its repair the resolution mail.
"""

import email
import email.header
import email.utils
import mailbox
import re
import subprocess
import time
import urllib.parse

MAILBOX = "/var/mail/operators"
TEXTFILE = "/var/lib/prometheus/node-exporter"
DEADLINE = 240  # seconds; the target is under 120 in the lab

# The backup wrapper's own metrics file with its last successful run put 30 hours back (a second
# file with the same series would be refused by the node exporter); the original is kept aside
# and put back by the repair. Where no backup ran yet, the file holds just that one series.
BACKUP_FILE = f"{TEXTFILE}/safecoach_backup.prom"
BACKUP_KEPT = f"{TEXTFILE}/.sc-drill-backup.kept"  # not *.prom: the collector skips it
BACKUP_STALE = (
    "old=$(( $(date +%s) - 30 * 3600 )); "
    f"if sudo test -e {BACKUP_FILE}; then sudo cp -p {BACKUP_FILE} {BACKUP_KEPT} && "
    "sudo sed -i -E "
    "'s/^(safecoach_backup_last_success_timestamp_seconds\\{command=\"run\"\\}) .*/\\1 '$old'/' "
    f"{BACKUP_FILE}; else printf '%s\\n' "
    "'# TYPE safecoach_backup_last_success_timestamp_seconds gauge' "
    '"safecoach_backup_last_success_timestamp_seconds{command=\\"run\\"} $old" '
    f"> /tmp/sc-drill.prom && sudo install -m 0644 /tmp/sc-drill.prom {BACKUP_FILE}; fi"
)
BACKUP_FRESH = (
    f"if sudo test -e {BACKUP_KEPT}; then sudo mv {BACKUP_KEPT} {BACKUP_FILE}; "
    f"else sudo rm -f {BACKUP_FILE}; fi; rm -f /tmp/sc-drill.prom"
)

# name: (alert name, its instance label, the fault, the repair), each run on the host named.
DRILLS = {
    "postgresql stopped": (
        "PostgresqlDown",
        "db1",
        ("db1", "sudo systemctl stop postgresql@17-main"),
        ("db1", "sudo systemctl start postgresql@17-main"),
    ),
    "node exporter stopped": (
        "HostDown",
        "backup1",
        ("backup1", "sudo systemctl stop prometheus-node-exporter"),
        ("backup1", "sudo systemctl start prometheus-node-exporter"),
    ),
    "a systemd unit failed": (
        "SystemdUnitFailed",
        "bastion1",
        ("bastion1", "sudo systemd-run --quiet --unit=sc-drill-failing /bin/false"),
        ("bastion1", "sudo systemctl reset-failed sc-drill-failing"),
    ),
    "the backup went stale": (
        "BackupTooOld",
        "db1",
        ("db1", BACKUP_STALE),
        ("db1", BACKUP_FRESH),
    ),
    "the site is broken (gunicorn stopped behind nginx)": (
        "SiteDown",
        "site",
        ("web1", "sudo systemctl stop safecoach.socket safecoach.service"),
        ("web1", "sudo systemctl start safecoach.socket"),
    ),
    "a certificate close to expiry": (
        "InternalCertificateExpiring",
        "web1",
        (
            "web1",
            # a real certificate valid for two days, read by the host's own reporter
            "cd /tmp && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
            "-keyout sc-drill.key -out sc-drill.crt -days 2 -subj /CN=drill 2>/dev/null && "
            f"sudo /usr/local/sbin/safecoach-textfile --dir {TEXTFILE} "
            "--state-dir /tmp/sc-drill-state --cert drill=/tmp/sc-drill.crt",
        ),
        ("web1", f"sudo rm -f {TEXTFILE}/safecoach_certificates.prom /tmp/sc-drill.*"),
    ),
}


def ssh(stage, host: str, command: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        ["ssh", "-F", str(stage.ssh_config), host, command],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if check and proc.returncode != 0:
        raise RuntimeError(f"ssh {host} {command!r} failed ({proc.returncode}): {proc.stderr}")
    return proc


def subjects(stage) -> list[tuple[float, str]]:
    """(arrival time, subject) of every mail in the operators' mailbox, oldest first."""
    text = ssh(stage, "mon1", f"sudo cat {MAILBOX} 2>/dev/null || true").stdout
    out = []
    for raw in re.split(r"(?m)^From (?=\S+ )", text)[1:]:
        message = email.message_from_string("From " + raw, _class=mailbox.mboxMessage)
        stamp = email.utils.parsedate_to_datetime(message["Date"]).timestamp()
        out.append(
            (stamp, str(email.header.make_header(email.header.decode_header(message["Subject"]))))
        )
    return out


def wait_for_mails(stage, wanted: dict[str, str], since: float) -> dict[str, float]:
    """Wait until a mail whose subject matches each pattern arrived after SINCE; their times."""
    found: dict[str, float] = {}
    end = time.monotonic() + DEADLINE
    while True:
        for stamp, subject in subjects(stage):
            for name, pattern in wanted.items():
                if name not in found and stamp >= since - 1 and re.search(pattern, subject):
                    found[name] = stamp
        if len(found) == len(wanted):
            return found
        if time.monotonic() > end:
            missing = sorted(set(wanted) - set(found))
            raise TimeoutError(
                f"no mail within {DEADLINE} s for: {missing}; mails: {subjects(stage)}"
            )
        time.sleep(3)


def active_alerts(stage) -> set[tuple[str, str]]:
    """The drills' (alert, instance) pairs that Prometheus holds pending or firing now.

    SystemdUnitFailed is left out: its mail group lists each failed unit, so a new failed unit
    is mailed even while another unit of the host already fails.
    """
    wanted = {(a, i) for a, i, _f, _r in DRILLS.values() if a != "SystemdUnitFailed"}
    names = "|".join(sorted({a for a, _i in wanted}))
    query = urllib.parse.quote(f'ALERTS{{alertname=~"{names}"}}')
    script = (
        "import json, urllib.request; r = json.load(urllib.request.urlopen("
        f"'http://127.0.0.1:9090/api/v1/query?query={query}', timeout=10)); "
        "print(' '.join(m['metric']['alertname'] + '/' + m['metric'].get('instance', '') "
        "for m in r['data']['result']))"
    )
    found = ssh(stage, "mon1", f'python3 -c "{script}"').stdout.split()
    return {tuple(item.split("/", 1)) for item in found} & wanted


def wait_until_quiet(stage) -> None:
    """Wait until none of the drills' alerts is pending or firing (a fresh stage's site is down
    until the app is deployed), so that each drill's alert starts anew."""
    end = time.monotonic() + DEADLINE
    while active := active_alerts(stage):
        if time.monotonic() > end:
            raise TimeoutError(f"the stage is not quiet after {DEADLINE} s: {sorted(active)}")
        time.sleep(3)


def provoke(stage) -> float:
    """Make every fault once the stage is quiet; returns when they were made."""
    wait_until_quiet(stage)
    started = time.time()
    for _alert, _instance, (host, command), _repair in DRILLS.values():
        ssh(stage, host, command)
    return started


def repair(stage) -> float:
    """Undo every fault (each repair is safe to run twice); returns when."""
    repaired = time.time()
    for _alert, _instance, _fault, (host, command) in DRILLS.values():
        ssh(stage, host, command, check=False)
    return repaired


def patterns(state: str) -> dict[str, str]:
    """Each drill's mail subject, as Alertmanager writes it: "[FIRING:1] ALERT INSTANCE …"."""
    firing, resolved = r"\[FIRING:\d+\]", r"\[RESOLVED\]"
    out = {}
    for name, (alert, instance, _f, _r) in DRILLS.items():
        head = firing if state == "firing" else resolved
        if state == "resolved" and alert == "SystemdUnitFailed":
            # the host's mail group also lists any other failed unit (in the lab, a unit systemd
            # could not spawn): then the repair is mailed as the group's new, smaller firing list
            head = rf"(?:{resolved}|{firing})"
        out[name] = rf"{head} {alert} {re.escape(instance)}\b"
    return out


def prometheus_memory(stage) -> int:
    """Prometheus's resident memory on the monitoring host, in bytes (its main process's VmRSS:
    the lab's containers keep no memory figure in the unit's cgroup)."""
    pid = ssh(stage, "mon1", "systemctl show prometheus -p MainPID --value").stdout.strip()
    status = ssh(stage, "mon1", f"cat /proc/{pid}/status", check=False).stdout
    found = re.search(r"^VmRSS:\s+(\d+) kB", status, re.M)
    return int(found.group(1)) * 1024 if found else 0
