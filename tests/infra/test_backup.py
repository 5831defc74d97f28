"""Roles backup_server (group backup) and backup_client (group db): the offsite backups."""

import pytest

from tests.infra.facts import timer_facts


@pytest.fixture
def server(host, inv_host, role_defaults):
    return role_defaults("backup_server")


@pytest.fixture
def client(host, inv_host, role_defaults):
    return role_defaults("backup_client")


def unit_props(host, unit: str, *names: str) -> dict:
    out = host.check_output(f"systemctl show {unit} " + " ".join(f"-p {n}" for n in names))
    return dict(line.split("=", 1) for line in out.splitlines())


@pytest.mark.only_on("backup")
@pytest.mark.control("BK-07")
def test_rest_server_runs_append_only_with_private_repos(host, inv_host, server, evidence):
    unit = host.service("restic-rest-server.service")
    assert unit.is_running and unit.is_enabled
    command = host.check_output("systemctl show restic-rest-server.service -p ExecStart")
    evidence("flags", [f for f in command.split() if f.startswith("--")])
    for flag in ("--append-only", "--private-repos", "--tls", "--htpasswd-file"):
        assert flag in command, flag
    listening = [s for s in host.socket.get_listening_sockets() if s.endswith(":8000")]
    assert listening == [f"tcp://{inv_host.address}:8000"]
    repos = host.file("/srv/restic")
    assert (repos.user, repos.mode) == ("restic-rest-server", 0o700)


@pytest.mark.only_on("backup")
@pytest.mark.control("BK-07")
def test_rest_server_is_sandboxed(host, server):
    props = unit_props(
        host,
        "restic-rest-server.service",
        "User",
        "NoNewPrivileges",
        "ProtectSystem",
        "PrivateTmp",
        "ReadWritePaths",
        "CapabilityBoundingSet",
    )
    assert props["User"] == "restic-rest-server"
    assert props["NoNewPrivileges"] == "yes"
    assert props["ProtectSystem"] == "strict"
    assert props["PrivateTmp"] == "yes"
    assert props["ReadWritePaths"] == "/srv/restic"
    assert props["CapabilityBoundingSet"] == ""


@pytest.mark.only_on("backup")
@pytest.mark.control("BK-07")
def test_htpasswd_has_one_bcrypt_user_per_client_and_is_not_world_readable(host, stage, server):
    users = host.file("/etc/restic-rest-server/users.htpasswd")
    assert (users.user, users.group, users.mode) == ("root", "restic-rest-server", 0o640)
    with host.sudo():
        lines = host.check_output("cat /etc/restic-rest-server/users.htpasswd").splitlines()
    assert sorted(line.split(":")[0] for line in lines) == sorted(stage.groups["db"])
    assert all(line.split(":", 1)[1].startswith("$2") for line in lines)
    with host.sudo():  # the TLS folder is closed to others
        key = host.file("/etc/restic-rest-server/tls/key.pem")
        assert (key.user, key.group, key.mode) == ("root", "restic-rest-server", 0o640)
    secrets = host.file("/etc/safecoach-backup-server")
    assert (secrets.user, secrets.mode) == ("root", 0o700)


@pytest.mark.only_on("db")
@pytest.mark.control("BK-08")
def test_rest_server_presents_a_certificate_from_the_stage_ca(host, stage, client):
    backup = stage.hosts[stage.groups["backup"][0]]
    out = host.run(
        f"openssl s_client -connect {backup.address}:8000 -verify_ip {backup.address} "
        "-CAfile /etc/ssl/safecoach-stage-ca.crt -verify_return_error -brief </dev/null"
    )
    assert out.rc == 0, out.stderr
    assert "Verification: OK" in out.stderr
    old = host.run(f"openssl s_client -connect {backup.address}:8000 -tls1_1 -brief </dev/null")
    assert old.rc != 0, "TLS 1.1 must be refused"


@pytest.mark.only_on("backup")
@pytest.mark.control("BK-09")
def test_retention_and_check_timers_are_active_on_the_backup_host(host, stage, server, evidence):
    for client in stage.groups["db"]:
        for job in ("forget", "check"):
            timer = f"safecoach-repo-{job}@{client}.timer"
            facts = evidence(timer, timer_facts(host, timer))
            assert facts["enabled"] == "enabled" and facts["active"] == "active", timer
        with host.sudo():  # root's folder
            password = host.file(f"/etc/safecoach-backup-server/{client}.repository-password")
            assert (password.user, password.mode) == ("root", 0o600)
    props = unit_props(
        host,
        f"safecoach-repo-forget@{stage.groups['db'][0]}.service",
        "User",
        "PrivateNetwork",
        "ProtectSystem",
    )
    assert props["User"] == "restic-rest-server"
    assert props["PrivateNetwork"] == "yes" and props["ProtectSystem"] == "strict"
    # systemctl show prints LoadCredential as [unprintable]: read the unit itself
    unit = host.check_output(f"systemctl cat safecoach-repo-forget@{stage.groups['db'][0]}.service")
    assert "LoadCredential=repository-password:" in unit


@pytest.mark.only_on("db")
@pytest.mark.control("BK-10")
def test_backup_account_and_its_database_role_have_least_privilege(host, client, evidence):
    user = host.user("safecoach-backup")
    assert user.shell == "/usr/sbin/nologin"
    with host.sudo("postgres"):
        row = host.check_output(
            'psql -X -tA -c "SELECT rolsuper, rolcreatedb, rolcreaterole, rolreplication, '
            "rolbypassrls, pg_has_role('safecoach-backup', 'pg_read_all_data', 'MEMBER'), "
            "rolpassword IS NULL FROM pg_authid WHERE rolname = 'safecoach-backup'\""
        )
    evidence("super|createdb|createrole|replication|bypassrls|read_all_data|no password", row)
    assert row == "f|t|f|f|f|t|t"
    assert host.file("/usr/local/bin/safecoach-backup").mode == 0o755
    code = host.file("/usr/local/lib/safecoach-backup/backup/cli.py")
    assert (code.user, code.mode & 0o022) == ("root", 0)  # root's, nobody else may write it
    # ... and the account that runs it can read it: the wrapper starts as safecoach-backup.
    with host.sudo("safecoach-backup"):
        started = host.run("/usr/local/bin/safecoach-backup --help")
    assert started.rc == 0, started.stderr


@pytest.mark.only_on("db")
@pytest.mark.control("BK-02")
def test_backup_secrets_are_readable_by_the_backup_account_only(host, client):
    folder = host.file("/etc/safecoach-backup")
    assert (folder.user, folder.group, folder.mode) == ("root", "safecoach-backup", 0o750)
    with host.sudo():  # the folder is closed to others
        for name in ("repository-password", "rest-password"):
            secret = host.file(f"/etc/safecoach-backup/{name}")
            assert (secret.user, secret.mode) == ("safecoach-backup", 0o600), name
        config = host.file("/etc/safecoach-backup/config.toml")
        assert (config.user, config.group, config.mode) == ("root", "safecoach-backup", 0o640)
        assert "password =" not in config.content_string, "no secret in the configuration"


@pytest.mark.only_on("db")
@pytest.mark.control("BK-11")
def test_nightly_and_drill_timers_are_enabled_and_active(host, client, evidence):
    for timer in ("safecoach-backup.timer", "safecoach-backup-drill.timer"):
        facts = evidence(timer, timer_facts(host, timer))
        assert facts["enabled"] == "enabled" and facts["active"] == "active", timer
        assert facts["next"], f"{timer} has no next run"
    props = unit_props(host, "safecoach-backup.timer", "Persistent", "RandomizedDelayUSec")
    assert props["Persistent"] == "yes"
    assert props["RandomizedDelayUSec"] not in ("0", "")


@pytest.mark.only_on("db")
@pytest.mark.control("BK-11")
def test_backup_service_is_sandboxed_with_the_narrowest_writable_paths(host, client):
    props = unit_props(
        host,
        "safecoach-backup.service",
        "User",
        "NoNewPrivileges",
        "ProtectSystem",
        "ProtectHome",
        "PrivateTmp",
        "ReadWritePaths",
        "CapabilityBoundingSet",
    )
    assert props["User"] == "safecoach-backup"
    assert props["NoNewPrivileges"] == "yes"
    assert props["ProtectSystem"] == "strict"
    assert props["ProtectHome"] == "yes" and props["PrivateTmp"] == "yes"
    assert props["CapabilityBoundingSet"] == ""
    assert set(props["ReadWritePaths"].split()) == {
        "/var/lib/prometheus/node-exporter",
        "/var/cache/safecoach-backup",
    }


# ---- what the backups did on this stage (the stage's own evidence, not CI's) --------------------

# BK-01: the nightly backup's last success may be at most this old (the alert's threshold, MON-09)
BACKUP_AGE_HOURS = 26
# BK-04, BK-12: the weekly restore drill's (the alert's threshold)
DRILL_AGE_DAYS = 8


def backup_metrics(
    host, directory: str, prefix: str, files: str = ""
) -> dict[tuple[str, str], float]:
    """{(metric, command or job): value} of the metrics PREFIX_* in DIRECTORY's textfiles FILES
    (default: PREFIX*.prom)."""
    with host.sudo():
        text = host.run(f"cat {directory}/{files or prefix + '*.prom'}").stdout
    values = {}
    for line in text.splitlines():
        if line.startswith(prefix) and "{" in line:
            name, rest = line.split("{", 1)
            labels, _, value = rest.partition("} ")
            label = dict(part.split("=", 1) for part in labels.split(",") if "=" in part)
            key = label.get("command", label.get("job", "")).strip('"')
            values[(name[len(prefix) + 1 :], key)] = float(value)
    return values


def command_facts(metrics: dict, command: str, now: float) -> dict | None:
    """One command's last run as the wrapper recorded it; None when it never ran here."""
    if ("last_run_timestamp_seconds", command) not in metrics:
        return None
    success = metrics.get(("last_success_timestamp_seconds", command))
    return {
        "success": metrics.get(("success", command)) == 1,
        "exit_status": int(metrics.get(("exit_status", command), -1)),
        "hours_since_success": None if not success else round((now - success) / 3600, 1),
    }


@pytest.fixture
def backups(host, role_defaults):
    """The backup wrapper's own metrics on a db host, and the time on the host."""
    directory = role_defaults("node_exporter")["node_exporter_textfile_dir"]
    now = float(host.check_output("date +%s"))
    return backup_metrics(host, directory, "safecoach_backup"), now


@pytest.mark.only_on("db")
@pytest.mark.control("BK-01")
@pytest.mark.control("BK-06")
def test_the_nightly_backup_succeeded_within_a_day(host, backups, evidence):
    metrics, now = backups
    timer = evidence("safecoach-backup.timer", timer_facts(host, "safecoach-backup.timer"))
    run = evidence("last backup run", command_facts(metrics, "run", now))
    if run is None:
        pytest.skip(
            f"no backup has run on this stage yet: the nightly timer's first run is {timer['next']}"
        )
    assert run["success"], f"the last backup failed with exit status {run['exit_status']}"
    assert run["hours_since_success"] <= BACKUP_AGE_HOURS, run


@pytest.mark.only_on("db")
@pytest.mark.control("BK-04")
@pytest.mark.control("BK-12")
def test_the_weekly_restore_drill_succeeded_within_eight_days(host, backups, evidence):
    metrics, now = backups
    timer = evidence(
        "safecoach-backup-drill.timer", timer_facts(host, "safecoach-backup-drill.timer")
    )
    drill = evidence("last restore drill", command_facts(metrics, "drill", now))
    if drill is None:
        pytest.skip(
            f"no restore drill has run on this stage yet: its timer's first run is {timer['next']}"
        )
    assert drill["success"], f"the last drill failed with exit status {drill['exit_status']}"
    assert drill["hours_since_success"] <= DRILL_AGE_DAYS * 24, drill


@pytest.mark.only_on("backup")
@pytest.mark.control("BK-05")
def test_the_repository_checks_ran_and_found_nothing(host, stage, role_defaults, evidence):
    directory = role_defaults("node_exporter")["node_exporter_textfile_dir"]
    now = float(host.check_output("date +%s"))
    never = []
    for client in stage.groups["db"]:
        timer = f"safecoach-repo-check@{client}.timer"
        facts = evidence(timer, timer_facts(host, timer))
        assert facts["enabled"] == "enabled" and facts["next"], facts
        files = f"safecoach_backup_server_check_{client}.prom"
        metrics = backup_metrics(host, directory, "safecoach_backup_server", files)
        check = evidence(
            f"last check of {client}'s repository", command_facts(metrics, "check", now)
        )
        if check is None:
            never.append(f"{client} (first at {facts['next']})")
            continue
        assert check["success"], f"the last check of {client}'s repository failed"
    if never:
        pytest.skip(f"no repository check has run on this stage yet for {', '.join(never)}")


# Sent by the db host with its own REST credentials: DELETE of a snapshot that does not exist. A
# server in append-only mode refuses every delete (403) before it looks; an ordinary one would
# answer 404. Nothing can be lost either way. The password is read on the host and never leaves it.
_DELETE = """
import base64, ssl, sys, tomllib, urllib.error, urllib.request
repo = tomllib.load(open("/etc/safecoach-backup/config.toml", "rb"))["repository"]
secret = open(repo["rest_password_file"]).read().strip()
token = base64.b64encode(f"{repo['rest_username']}:{secret}".encode()).decode()
url = repo["url"][len("rest:"):].rstrip("/") + "/snapshots/" + "0" * 64
request = urllib.request.Request(url, method="DELETE", headers={"Authorization": "Basic " + token})
try:
    urllib.request.urlopen(request, context=ssl.create_default_context(cafile=repo["cacert"]), timeout=20)
    print(200)
except urllib.error.HTTPError as exc:
    print(exc.code)
"""


@pytest.mark.only_on("db")
@pytest.mark.control("BK-03")
def test_the_backup_server_refuses_this_clients_delete(host, evidence):
    with host.sudo():
        status = host.check_output("python3 -c %s", _DELETE)
    evidence("DELETE of an absent snapshot with this host's REST credentials", status)
    assert status == "403", "the backup server let a client delete (not append-only)"
