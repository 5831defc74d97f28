"""Role app on the hosts of group web: account, sandbox, configuration, timers, releases."""

import json
import shlex

import pytest

from tests.infra.facts import timer_facts

pytestmark = pytest.mark.only_on("web")


@pytest.fixture
def app(host, inv_host, role_defaults, stage):
    # A converged web host without a release is not a working stage: fail, do not skip.
    assert host.file("/opt/safecoach/current").exists, (
        f"no release deployed on {inv_host.name}: run `otap release deploy {stage.name}`"
    )
    return role_defaults("app")


@pytest.mark.control("DEP-01")
def test_app_account_has_no_shell_and_no_password(host, app):
    user = host.user("safecoach")
    assert user.shell == "/usr/sbin/nologin"
    with host.sudo():
        shadow = host.check_output("getent shadow safecoach").split(":")[1]
    assert shadow.startswith("!") or shadow == "*"


@pytest.mark.control("DEP-01")
def test_releases_are_root_owned_and_current_is_a_release(host, app):
    root = host.file("/opt/safecoach/releases")
    assert (root.user, root.group, root.mode) == ("root", "root", 0o755)
    current = host.file("/opt/safecoach/current")
    assert current.is_symlink
    target = current.linked_to
    assert target.startswith("/opt/safecoach/releases/")
    assert host.file(f"{target}/manifest.json").user == "root"
    with host.sudo():
        check = host.run(f"cd {target}/dist && sha256sum --quiet -c SHA256SUMS")
    assert check.rc == 0, check.stdout


@pytest.mark.control("DEP-02")
def test_gunicorn_runs_sandboxed_under_systemd(host, app):
    for unit in ("safecoach.socket", "safecoach.service"):
        assert host.service(unit).is_enabled, unit
        assert host.service(unit).is_running, unit
    props = dict(
        line.split("=", 1)
        for line in host.check_output(
            "systemctl show safecoach.service -p User -p NoNewPrivileges -p ProtectSystem "
            "-p PrivateTmp -p CapabilityBoundingSet -p ReadWritePaths -p ProtectHome "
            "-p RestrictNamespaces"
        ).splitlines()
    )
    assert props["User"] == "safecoach"
    assert props["NoNewPrivileges"] == "yes"
    assert props["ProtectSystem"] == "strict"
    assert props["PrivateTmp"] == "yes"
    assert props["ProtectHome"] == "yes"
    assert props["CapabilityBoundingSet"] == ""
    assert props["ReadWritePaths"] == "/var/lib/safecoach"
    workers = host.process.filter(user="safecoach", comm="gunicorn")
    assert len(workers) >= 2


@pytest.mark.control("DEP-02")
def test_gunicorn_is_reachable_only_through_nginx(host, app, role_defaults):
    sock = host.file("/run/safecoach-gunicorn.sock")
    assert sock.is_socket
    assert (sock.user, sock.group, sock.mode) == ("root", "www-data", 0o660)
    tcp = {s.split(":")[-1] for s in host.socket.get_listening_sockets() if s.startswith("tcp")}
    # SSH, HTTP(S), the node and nginx exporters, nginx's internal metrics port (MON-10) and its
    # status on loopback (MON-11)
    exporters = {
        role_defaults("node_exporter")["node_exporter_port"],
        role_defaults("nginx_exporter")["nginx_exporter_port"],
        role_defaults("web")["web_metrics_port"],
        role_defaults("web")["web_status_port"],
    }
    assert tcp <= {"22", "80", "443", *map(str, exporters)}, tcp
    # the app's account itself cannot connect; nginx's can
    denied = host.run(
        'sudo -n -u nobody python3 -c "import socket; s=socket.socket(socket.AF_UNIX); '
        "s.connect('/run/safecoach-gunicorn.sock')\""
    )
    assert denied.rc != 0 and "Permission denied" in denied.stderr


@pytest.mark.control("DEP-03")
def test_environment_and_secrets_are_readable_by_the_app_only(host, app, stage):
    with host.sudo():
        env = host.file("/etc/safecoach/safecoach.env")
        assert (env.user, env.group, env.mode) == ("root", "safecoach", 0o640)
        assert host.file("/etc/safecoach").mode == 0o750
        text = env.content_string
    assert host.run("cat /etc/safecoach/safecoach.env").rc != 0  # not the admin without sudo
    assert "sslmode=verify-full" in text
    assert "SAFECOACH_SECRET_KEY=" in text
    assert "SAFECOACH_DEBUG" not in text
    if stage.lab:
        assert "SAFECOACH_SMS_BACKEND=file" in text
        assert "filebased.EmailBackend" in text
    else:
        assert "SAFECOACH_SMS_BACKEND=http" in text


@pytest.mark.control("DEP-04")
def test_retention_and_cleanup_run_on_timers(host, app, evidence):
    for timer in ("safecoach-retention.timer", "safecoach-cleanup.timer"):
        facts = evidence(timer, timer_facts(host, timer))
        assert facts["enabled"] == "enabled" and facts["active"] == "active", timer
        assert facts["next"], f"{timer} has no next run"
    unit = host.file("/etc/systemd/system/safecoach-retention.service").content_string
    assert "erase_inactive" in unit
    cleanup = host.file("/etc/systemd/system/safecoach-cleanup.service").content_string
    assert "clearsessions" in cleanup and "purge_signin_records" in cleanup
    with host.sudo():
        run = host.run("systemctl start safecoach-cleanup.service")
    assert run.rc == 0, run.stderr


@pytest.mark.control("DEP-05")
def test_deploy_record_names_the_current_release(host, app, evidence):
    with host.sudo():  # root's record (umask 027: not world-readable)
        record = json.loads(host.file("/var/lib/safecoach-deploy/record.json").content_string)
    current = host.file("/opt/safecoach/current").linked_to.rsplit("/", 1)[1]
    evidence("release", current)
    assert record["current"] == current
    assert any(e["release"] == current and e["event"] == "verified" for e in record["history"])


def manage(host, *args: str):
    """A management command as the app, with its environment, in its sandbox (role app)."""
    with host.sudo():
        return host.run(shlex.join(["/usr/local/sbin/safecoach-manage", *args]))


@pytest.mark.control("APP-06")
def test_the_app_passes_djangos_deployment_check(host, app, evidence):
    out = manage(host, "check", "--deploy", "--fail-level", "WARNING")
    evidence(
        "manage.py check --deploy --fail-level WARNING",
        (out.stdout + out.stderr).strip().splitlines(),
    )
    assert out.rc == 0, out.stdout + out.stderr


@pytest.mark.control("PRIV-05")
def test_the_retention_job_is_scheduled_and_its_last_run_held(host, app, evidence):
    facts = evidence("safecoach-retention.timer", timer_facts(host, "safecoach-retention.timer"))
    assert facts["enabled"] == "enabled" and facts["active"] == "active"
    assert facts["next"], "safecoach-retention.timer has no next run"
    out = host.check_output(
        "systemctl show safecoach-retention.service -p Result -p ExecMainStatus "
        "-p ExecMainStartTimestamp -p ExecMainExitTimestamp"
    )
    props = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    if not props.get("ExecMainExitTimestamp"):
        # a new host: the nightly run has not come yet since it started; its schedule holds
        evidence("last run of safecoach-retention.service", "none since the host started")
        return
    evidence("last run of safecoach-retention.service", props)
    assert (props["Result"], props["ExecMainStatus"]) == ("success", "0"), props


# The periods the policy sets: the app's environment variable, its setting, and the least and
# the most the policy allows (None: no bound).
PERIODS = {
    # PRIV-05: accounts inactive for two years are erased, after a warning 30 days before
    "SAFECOACH_RETENTION_INACTIVE_DAYS": ("RETENTION_INACTIVE_DAYS", 730, 730),
    "SAFECOACH_RETENTION_NOTICE_DAYS": ("RETENTION_NOTICE_DAYS", 30, 30),
    # PRIV-06: the access log is kept for a set period
    "SAFECOACH_ACCESS_LOG_DAYS": ("PRIVACY_ACCESS_LOG_DAYS", 1, None),
    # AUTH-03: sign-in records expire after 24 hours
    "SAFECOACH_THROTTLE_RETENTION_HOURS": ("SAFECOACH_THROTTLE_RETENTION_HOURS", 1, 24),
}


@pytest.mark.control("PRIV-05")
@pytest.mark.control("PRIV-06")
@pytest.mark.control("AUTH-03")
def test_retention_periods_are_the_policys(host, app, inv_host, evidence):
    with host.sudo():
        text = host.file("/etc/safecoach/safecoach.env").content_string
    lines = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
    on_host = {name: lines.get(name) for name in PERIODS}
    evidence("periods in /etc/safecoach/safecoach.env (None: the app's default)", on_host)
    # the role writes only what the stage asks for (app_extra_environment); nothing else
    asked = inv_host.vars.get("app_extra_environment", app["app_extra_environment"]) or {}
    assert on_host == {name: None if name not in asked else str(asked[name]) for name in PERIODS}
    settings = ", ".join(f"{name!r}: s.{setting}" for name, (setting, *_) in PERIODS.items())
    out = manage(
        host,
        "shell",
        "--no-imports",
        "-c",
        f"import json; from django.conf import settings as s; print(json.dumps({{{settings}}}))",
    )
    assert out.rc == 0, out.stderr
    used = evidence("periods the app uses", json.loads(out.stdout.strip().splitlines()[-1]))
    for name, (_setting, least, most) in PERIODS.items():
        within = least <= used[name] and (most is None or used[name] <= most)
        assert within, f"{name}={used[name]} is not what the policy says"
