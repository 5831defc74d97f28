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
