"""Role monitoring: alert rules, Prometheus, Alertmanager and blackbox configs, checked by the
tools the hosts run (Debian 13's promtool 2.53 and amtool 0.28), and every alert fired by
`promtool test rules` on synthetic series (tests/unit/promtool/*.test.yml)."""

import re
import shutil
import subprocess

import pytest
import yaml

from provisioning.stage.paths import REPO
from tests.unit import monitoring_render as mr

pytestmark = [
    pytest.mark.unit,
    pytest.mark.control("MON-03"),
    pytest.mark.control("MON-04"),
    pytest.mark.control("MON-05"),
    pytest.mark.control("MON-09"),
    pytest.mark.control("MON-11"),
]

TESTS = REPO / "tests" / "unit" / "promtool"
DOCS = REPO / "docs" / "monitoring.md"
# labels of the exporters that could name a person: never in an alert's labels or annotations
PERSONAL = ("usename", "client_addr", "email", "user", "username", "phone", "ip")


def _run(*cmd, cwd=None):
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=cwd)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def _alerts(directory):
    for path in mr.render_rules(directory):
        for group in yaml.safe_load(path.read_text())["groups"]:
            yield from group["rules"]


def test_rules_pass_promtool_check(tmp_path):
    promtool = mr.tool("promtool")
    _run(promtool, "check", "rules", *map(str, mr.render_rules(tmp_path)))


def test_every_alert_fires_in_promtool_test_rules(tmp_path):
    promtool = mr.tool("promtool")
    mr.render_rules(tmp_path)
    for test in sorted(TESTS.glob("*.test.yml")):
        shutil.copy(test, tmp_path / test.name)
    _run(
        promtool,
        "test",
        "rules",
        *sorted(p.name for p in tmp_path.glob("*.test.yml")),
        cwd=tmp_path,
    )


def test_every_alert_has_a_test_that_expects_it_to_fire(tmp_path):
    fired = set()
    for test in TESTS.glob("*.test.yml"):
        for case in yaml.safe_load(test.read_text())["tests"]:
            for check in case.get("alert_rule_test") or []:
                if check.get("exp_alerts"):
                    fired.add(check["alertname"])
    assert {rule["alert"] for rule in _alerts(tmp_path)} <= fired


def test_every_alert_has_for_severity_summary_and_a_runbook_in_the_docs(tmp_path):
    anchors = {
        re.sub(r"[^a-z0-9 -]", "", line.lstrip("#").strip().lower()).replace(" ", "-")
        for line in DOCS.read_text().splitlines()
        if line.startswith("### ")
    }
    for rule in _alerts(tmp_path):
        assert "for" in rule, rule["alert"]
        assert rule["labels"]["severity"] in ("critical", "warning", "none"), rule["alert"]
        assert "\n" not in rule["annotations"]["summary"], rule["alert"]
        url = rule["annotations"]["runbook_url"]
        assert url.startswith("docs/monitoring.md#"), rule["alert"]
        assert url.partition("#")[2] in anchors, f"{rule['alert']}: no section for {url}"


def test_no_alert_carries_personal_data(tmp_path):
    for rule in _alerts(tmp_path):
        text = yaml.safe_dump({k: rule.get(k) for k in ("labels", "annotations")})
        for name in PERSONAL:
            assert f"$labels.{name} " not in text and f"{name}:" not in text, rule["alert"]
        assert "$value" not in text, rule["alert"]


def test_the_lab_can_shorten_for_and_the_scrape_interval(tmp_path):
    promtool = mr.tool("promtool")
    files = mr.render_rules(tmp_path, stage="development")
    host = yaml.safe_load(files[0].read_text())["groups"][0]["rules"]
    assert next(r for r in host if r["alert"] == "HostDown")["for"] == "30s"
    _run(promtool, "check", "rules", *map(str, files))
    config = yaml.safe_load(mr.render("prometheus.yml.j2", stage="development"))
    assert config["global"]["scrape_interval"] == "15s"
    lab_mail = yaml.safe_load(mr.render("alertmanager.yml.j2", stage="development"))
    assert (lab_mail["route"]["group_wait"], lab_mail["route"]["group_interval"]) == ("10s", "30s")
    # every real stage keeps the documented ones
    for stage in ("test", "acceptance", "production"):
        production = yaml.safe_load(mr.render("prometheus.yml.j2", stage=stage))
        assert production["global"]["scrape_interval"] == "30s"
        mail = yaml.safe_load(mr.render("alertmanager.yml.j2", stage=stage))
        assert (mail["route"]["group_wait"], mail["route"]["group_interval"]) == ("30s", "5m")
    files = mr.render_rules(tmp_path)
    host = yaml.safe_load(files[0].read_text())["groups"][0]["rules"]
    assert next(r for r in host if r["alert"] == "HostDown")["for"] == "5m"


@pytest.mark.control("MON-01")
@pytest.mark.parametrize("stage", ["development", "test", "acceptance", "production"])
def test_prometheus_config_passes_promtool_check_config(stage, tmp_path):
    promtool = mr.tool("promtool")
    rules = tmp_path / "rules"
    rules.mkdir()
    mr.render_rules(rules, stage=stage)
    text = mr.render("prometheus.yml.j2", stage=stage).replace("/etc/prometheus/rules", str(rules))
    (tmp_path / "prometheus.yml").write_text(text)
    _run(promtool, "check", "config", str(tmp_path / "prometheus.yml"))
    config = yaml.safe_load(text)
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    node = [t["labels"]["instance"] for t in jobs["node"]["static_configs"]]
    assert sorted(node) == sorted(mr.values(stage=stage)["groups"]["all"])
    for job in ("prometheus", "alertmanager", "blackbox"):
        assert jobs[job]["static_configs"][0]["targets"][0].startswith("127.0.0.1:")


@pytest.mark.control("MON-08")
def test_alertmanager_config_passes_amtool_check_config(tmp_path):
    amtool = mr.tool("amtool")
    text = mr.render(
        "alertmanager.yml.j2",
        monitoring_mail_relay="relay.example.org:587",
        monitoring_operators=["ops@example.org", "oncall@example.org"],
    )
    (tmp_path / "alertmanager.yml").write_text(text)
    _run(amtool, "check-config", str(tmp_path / "alertmanager.yml"))
    config = yaml.safe_load(text)
    assert config["global"]["smtp_smarthost"] == "relay.example.org:587"
    assert [c["to"] for c in config["receivers"][0]["email_configs"]] == [
        "ops@example.org",
        "oncall@example.org",
    ]
    assert any(r["source_matchers"] == ['alertname="HostDown"'] for r in config["inhibit_rules"])
