"""Monitoring and alerting (monitoring.yml): exporters, Prometheus, Alertmanager, the mail relay.

Evidence is what the hosts do: services running, the addresses they answer on, Prometheus's own
view of its targets and rules (asked on the monitoring host), and an alert mail in the lab's
mailbox. Waits are for events (a target up, a mail delivered), each with a deadline.
"""

import json
import time
import urllib.parse

import pytest


def fetch(host, url: str, timeout: int = 10) -> tuple[int, str]:
    """(status, body) of an HTTP GET made on HOST itself (python3 is on every host)."""
    script = (
        "import sys, urllib.request, urllib.error\n"
        "try:\n"
        f"    r = urllib.request.urlopen(sys.argv[1], timeout={timeout})\n"
        "    print(r.status); print(r.read().decode())\n"
        "except urllib.error.HTTPError as e:\n"
        "    print(e.code); print(e.read().decode())\n"
    )
    out = host.check_output("python3 -c %s %s", script, url)
    status, _, body = out.partition("\n")
    return int(status), body


def api(host, monitoring, path: str):
    status, body = fetch(host, f"http://127.0.0.1:{monitoring['monitoring_prometheus_port']}{path}")
    assert status == 200, body[:200]
    return json.loads(body)["data"]


def listening_on(host, port) -> list[str]:
    return sorted(s for s in host.socket.get_listening_sockets() if s.endswith(f":{port}"))


def exporter_metrics(host, inv_host, unit: str, port: int) -> str:
    """The exporter runs, listens on the host's internal address alone and answers there."""
    service = host.service(unit)
    assert service.is_running and service.is_enabled, unit
    assert listening_on(host, port) == [f"tcp://{inv_host.address}:{port}"], unit
    status, body = fetch(host, f"http://{inv_host.address}:{port}/metrics")
    assert status == 200, unit
    return body


def wait_for(check, deadline: float, what: str):
    """Poll CHECK (returns a truthy value when the event happened) until DEADLINE seconds."""
    end = time.monotonic() + deadline
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > end:
            pytest.fail(f"{what} did not happen within {deadline:.0f} s")
        time.sleep(2)


@pytest.fixture
def monitoring(role_defaults):
    return role_defaults("monitoring")


@pytest.mark.control("MON-02")
def test_node_exporter_listens_on_the_internal_address_only(host, inv_host, role_defaults):
    port = role_defaults("node_exporter")["node_exporter_port"]
    body = exporter_metrics(host, inv_host, "prometheus-node-exporter", port)
    # the textfile collector reads safecoach-textfile's report (security fixes, reboot)
    assert "safecoach_reboot_required" in body
    assert "node_systemd_unit_state" in body  # the systemd collector (failed units)


@pytest.mark.only_on("db")
@pytest.mark.control("MON-03")
def test_postgres_exporter_logs_in_and_listens_on_the_internal_address_only(
    host, inv_host, role_defaults
):
    port = role_defaults("postgres_exporter")["postgres_exporter_port"]
    body = exporter_metrics(host, inv_host, "prometheus-postgres-exporter", port)
    assert "\npg_up 1" in body, "the exporter cannot log in to PostgreSQL"
    with host.sudo("postgres"):
        roles = host.check_output(
            "psql -X -tA -c %s",
            "SELECT string_agg(b.rolname, ',') FROM pg_auth_members m "
            "JOIN pg_roles r ON r.oid = m.member JOIN pg_roles b ON b.oid = m.roleid "
            "WHERE r.rolname = 'prometheus'",
        )
    assert roles.strip() == "pg_monitor"


@pytest.mark.only_on("web")
@pytest.mark.control("MON-11")
def test_nginx_exporter_reads_nginx_and_listens_on_the_internal_address_only(
    host, inv_host, role_defaults
):
    port = role_defaults("nginx_exporter")["nginx_exporter_port"]
    body = exporter_metrics(host, inv_host, "prometheus-nginx-exporter", port)
    assert "\nnginx_up 1" in body, "the exporter cannot read nginx's stub_status"
    assert "nginx_connections_accepted" in body
    # nginx's status page itself is on loopback alone
    status = role_defaults("web")["web_status_port"]
    assert listening_on(host, status) == [f"tcp://127.0.0.1:{status}"]


@pytest.mark.only_on("web")
@pytest.mark.control("MON-10")
def test_app_metrics_are_refused_to_everyone_but_the_monitoring_hosts(
    host, inv_host, role_defaults
):
    port = role_defaults("web")["web_metrics_port"]
    assert listening_on(host, port) == [f"tcp://{inv_host.address}:{port}"]
    # the web host itself is not a monitoring host: nginx refuses it
    status, _ = fetch(host, f"http://{inv_host.address}:{port}/metrics")
    assert status == 403
    # the public site never serves them
    out = host.check_output(
        "curl -sk -o /dev/null -w '%%{http_code}' https://%s/metrics", inv_host.address
    )
    assert out == "404"


@pytest.mark.only_on("monitoring")
@pytest.mark.control("MON-01")
def test_prometheus_alertmanager_and_blackbox_listen_on_loopback_only(host, monitoring):
    for unit, port in [
        ("prometheus", monitoring["monitoring_prometheus_port"]),
        ("prometheus-alertmanager", monitoring["monitoring_alertmanager_port"]),
        ("prometheus-blackbox-exporter", monitoring["monitoring_blackbox_port"]),
    ]:
        service = host.service(unit)
        assert service.is_running and service.is_enabled, unit
        assert listening_on(host, port) == [f"tcp://127.0.0.1:{port}"], unit
    # cluster-less: no gossip port
    assert listening_on(host, 9094) == []
    status, _ = fetch(
        host, f"http://127.0.0.1:{monitoring['monitoring_alertmanager_port']}/-/ready"
    )
    assert status == 200


@pytest.mark.only_on("monitoring")
@pytest.mark.control("MON-01")
def test_every_target_of_the_inventory_is_up(host, monitoring, stage):
    def all_up():
        targets = api(host, monitoring, "/api/v1/targets?state=active")["activeTargets"]
        down = [(t["labels"]["job"], t["labels"]["instance"], t["lastError"]) for t in targets]
        down = [d for d, t in zip(down, targets, strict=True) if t["health"] != "up"]
        return (targets, down) if targets and not down else None

    targets, _ = wait_for(all_up, 90, "every target up")
    seen = {(t["labels"]["job"], t["labels"]["instance"]) for t in targets}
    assert {("node", name) for name in stage.hosts} <= seen
    assert {("postgres", name) for name in stage.groups["db"]} <= seen
    assert {("app", name) for name in stage.groups["web"]} <= seen
    assert ("blackbox-site", "site") in seen


@pytest.mark.only_on("monitoring")
@pytest.mark.control("MON-04")
def test_every_rule_file_is_loaded(host, monitoring):
    groups = api(host, monitoring, "/api/v1/rules")["groups"]
    files = {g["file"].rsplit("/", 1)[-1] for g in groups}
    assert files == {f"{name}.yml" for name in ["host", "site", "postgresql", "backup", "security"]}
    alerts = {r["name"] for g in groups for r in g["rules"] if r["type"] == "alerting"}
    assert {"HostDown", "PostgresqlDown", "BackupTooOld", "Watchdog"} <= alerts
    assert all(g["rules"] and all(r["health"] != "err" for r in g["rules"]) for g in groups)


@pytest.mark.only_on("monitoring")
@pytest.mark.control("MON-08")
def test_the_relay_listens_on_loopback_only_and_the_watchdog_mail_arrives(host, stage):
    assert host.service("postfix").is_running
    assert listening_on(host, 25) and all(
        s in ("tcp://127.0.0.1:25", "tcp://::1:25") for s in listening_on(host, 25)
    )
    relay = stage.vars.get("mail_relay_local_mailbox")
    if not relay:
        pytest.skip("not applicable: this stage mails its smarthost, not a local mailbox")
    mailbox = f"/var/mail/{relay}"

    def watchdog_mail():
        with host.sudo():
            return host.file(mailbox).exists and "Watchdog" in host.file(mailbox).content_string

    wait_for(watchdog_mail, 120, "the Watchdog's alert mail")
    with host.sudo():
        text = host.file(mailbox).content_string
    assert "runbook" in text.lower()


# ---- the promises the alerts keep, as Prometheus sees them on this stage ------------------------


def series(host, monitoring, query: str) -> list[dict]:
    """The instant vector of QUERY: [{labels, value}]."""
    data = api(host, monitoring, f"/api/v1/query?query={urllib.parse.quote(query)}")
    return [{**r["metric"], "value": float(r["value"][1])} for r in data["result"]]


def rules_named(host, monitoring, names: set[str]) -> dict[str, str]:
    """{alert: its state} of the alerting rules NAMES that Prometheus evaluates (health ok)."""
    groups = api(host, monitoring, "/api/v1/rules")["groups"]
    return {
        r["name"]: r["state"]
        for g in groups
        for r in g["rules"]
        if r["type"] == "alerting" and r["name"] in names and r["health"] == "ok"
    }


@pytest.mark.only_on("monitoring")
@pytest.mark.control("MON-05")
def test_every_certificate_is_watched_with_its_expiry(host, monitoring, stage, evidence):
    now = float(host.check_output("date +%s"))
    days = {}
    for row in series(host, monitoring, "probe_ssl_earliest_cert_expiry"):
        days[f"{row['job']} {row['instance']} {row.get('endpoint', '')}".strip()] = row["value"]
    for row in series(host, monitoring, "safecoach_tls_certificate_not_after_timestamp_seconds"):
        days[f"textfile {row['instance']} {row['endpoint']}"] = row["value"]
    days = evidence("days left", {k: round((v - now) / 86400, 1) for k, v in sorted(days.items())})
    assert "blackbox-site site" in days
    wanted = {f"textfile {h} postgresql" for h in stage.groups["db"]}
    wanted |= {f"textfile {h} backup-rest" for h in stage.groups["backup"]}
    assert wanted <= set(days), sorted(wanted - set(days))
    rules = evidence(
        "alert rules",
        rules_named(host, monitoring, {"SiteCertificateExpiring", "InternalCertificateExpiring"}),
    )
    assert set(rules) == {"SiteCertificateExpiring", "InternalCertificateExpiring"}


@pytest.mark.only_on("monitoring")
@pytest.mark.control("MON-06")
@pytest.mark.control("MON-07")
def test_every_host_reports_its_updates_logs_and_logins(host, monitoring, stage, evidence):
    pending = series(host, monitoring, "safecoach_apt_upgrades_pending")
    reboot = series(host, monitoring, "safecoach_reboot_required")
    evidence(
        "pending updates", sorted((r["instance"], r.get("origin", ""), r["value"]) for r in pending)
    )
    evidence("reboot required", {r["instance"]: r["value"] for r in reboot})
    assert {r["instance"] for r in pending} >= set(stage.hosts)
    assert {r["instance"] for r in reboot} >= set(stage.hosts)
    # the log host knows when each other host last sent logs; the bastion counts failed logins
    now = float(host.check_output("date +%s"))
    logs = series(host, monitoring, "safecoach_log_last_received_timestamp_seconds")
    seen = evidence(
        "minutes since each host's last log line",
        {r["host"]: round((now - r["value"]) / 60, 1) for r in logs},
    )
    assert set(seen) >= set(stage.hosts) - set(stage.groups["monitoring"]), seen
    failures = series(host, monitoring, "safecoach_ssh_auth_failures")
    evidence("failed SSH logins in the window", {r["instance"]: r["value"] for r in failures})
    assert {r["instance"] for r in failures} >= set(stage.groups["bastion"])
    names = {
        "FirewallRolledBack",
        "SshLoginFailures",
        "LogsStopped",
        "SecurityUpdatesWaiting",
        "RebootRequired",
    }
    assert set(evidence("alert rules", rules_named(host, monitoring, names))) == names


@pytest.mark.only_on("monitoring")
@pytest.mark.control("MON-09")
def test_the_backup_alerts_watch_the_backups_metrics(host, monitoring, evidence):
    names = {"BackupTooOld", "BackupDrillTooOld", "BackupCheckFailed"}
    assert set(evidence("alert rules", rules_named(host, monitoring, names))) == names
    timers = series(
        host, monitoring, 'node_systemd_unit_state{name=~"safecoach-backup.*timer",state="active"}'
    )
    evidence("backup timers active", {f"{r['instance']} {r['name']}": r["value"] for r in timers})
