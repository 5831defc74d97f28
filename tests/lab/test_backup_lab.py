"""Offsite backups on the lab: a backup reaches backup1, clients cannot delete, retention and
check run on backup1, the drill finds the backup identical, and a wiped database comes back.

One bring-up for the module (conftest's `lab`), then `otap up` (converge with roles
backup_server and backup_client, deploy with demo data). Everything goes through
`otap backup … development` as a person would, and is checked on the hosts over SSH.
"""

import base64
import http.cookiejar
import json
import re
import ssl
import time
import urllib.parse
import urllib.request

import pytest

from tests.lab.conftest import STAGE, otap, ssh

pytestmark = [pytest.mark.lab, pytest.mark.slow]

BACKUP = "10.213.10.13"
DEMO_PASSWORD = "Demo-Safecoach-2026"  # seed_demo's documented throwaway password


def snapshot_files(stage) -> list[str]:
    out = ssh(stage, "backup1", "sudo ls -1 /srv/restic/db1/snapshots").stdout
    return sorted(out.split())


def on_db1_as_backup_account(stage, python: str) -> str:
    """Run a Python snippet on db1 as the backup account (its secrets readable there only)."""
    encoded = base64.b64encode(python.encode()).decode()
    command = (
        "sudo -u safecoach-backup python3 -c "
        f"'import base64; exec(base64.b64decode(\"{encoded}\"))'"
    )
    return ssh(stage, "db1", command).stdout


class Browser:
    """A signed-in session over HTTPS to web1, verified against the lab's CA."""

    def __init__(self, stage, email: str):
        self.base = f"https://{stage.vars['public_name']}"
        context = ssl.create_default_context(cafile=str(stage.state_dir / "ca" / "ca.crt"))
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPSHandler(context=context),
            urllib.request.HTTPCookieProcessor(self.jar),
        )
        self.email = email
        self.stage = stage

    def get(self, path: str) -> tuple[int, str]:
        try:
            with self.opener.open(self.base + path, timeout=30) as answer:
                return answer.status, answer.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode(errors="replace")

    def sign_in(self) -> None:
        # nginx allows 20 sign-in requests a minute per address (WEB-02): a refused page or a
        # refused form is waited for and tried again, for at most two minutes
        for _ in range(12):  # after a 429 wait for several tokens (one every 3 s)
            status, page = self.get("/account/login/")
            if status == 429:
                time.sleep(10)
                continue
            token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
            form = urllib.parse.urlencode(
                {"csrfmiddlewaretoken": token, "username": self.email, "password": DEMO_PASSWORD}
            ).encode()
            request = urllib.request.Request(  # noqa: S310 - https to the lab only
                self.base + "/account/login/",
                data=form,
                headers={"Referer": self.base + "/account/login/"},
            )
            try:
                with self.opener.open(request, timeout=30) as answer:
                    if answer.url.endswith("/account/login/code/"):  # SMS two-step (demo)
                        self._code_step(answer.read().decode())
                        return
                    assert "/account/login/" not in answer.url, "signed in"
                    return
            except urllib.error.HTTPError as exc:
                if exc.code != 429:
                    raise
            time.sleep(10)
        raise AssertionError("nginx kept refusing the sign-in (429) for two minutes")

    def _code_step(self, page: str) -> None:
        """Every demo account has SMS two-step on: the code is read from the lab's SMS file."""
        line = ssh(self.stage, "web1", "sudo tail -n 1 /var/lib/safecoach/sms.jsonl").stdout
        code = re.search(r"\b(\d{6})\b", json.loads(line)["text"]).group(1)
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
        form = urllib.parse.urlencode({"csrfmiddlewaretoken": token, "code": code}).encode()
        request = urllib.request.Request(  # noqa: S310 - https to the lab only
            self.base + "/account/login/code/",
            data=form,
            headers={"Referer": self.base + "/account/login/code/"},
        )
        with self.opener.open(request, timeout=30) as answer:
            assert "/account/login/" not in answer.url, "signed in with the SMS code"

    def messages(self) -> list[str]:
        status, page = self.get("/dialogue/")
        assert status == 200, status
        return sorted(re.findall(r'class="body"[^>]*>(.*?)</', page, re.S))


@pytest.mark.control("BK-11")
@pytest.mark.control("BK-07")
def test_backup_now_reaches_the_offsite_host(up, stage):
    timer = ssh(stage, "db1", "systemctl is-active safecoach-backup.timer").stdout.strip()
    assert timer == "active"
    before = snapshot_files(stage)
    proc = otap("backup", "now", STAGE, timeout=900)
    assert "safecoach-backup.service succeeded" in proc.stdout
    after = snapshot_files(stage)
    assert len(after) > len(before), "a new snapshot is on backup1"
    listed = otap("backup", "snapshots", STAGE).stdout
    assert "/safecoach.pgdump" in listed and "db1" in listed
    status = otap("backup", "status", STAGE)
    assert "Backups are current." in status.stdout


@pytest.mark.control("BK-07")
def test_a_client_cannot_forget_or_delete_snapshots(up, stage):
    before = snapshot_files(stage)
    victim = before[-1]
    probe = f"""
import base64, json, ssl, urllib.request
pw = open('/etc/safecoach-backup/rest-password').read().strip()
ctx = ssl.create_default_context(cafile='/etc/ssl/safecoach-stage-ca.crt')
auth = 'Basic ' + base64.b64encode(('db1:' + pw).encode()).decode()
out = {{}}
for name, path in [('delete', '/db1/snapshots/{victim}'), ('other', '/db2/config')]:
    method = 'DELETE' if name == 'delete' else 'GET'
    req = urllib.request.Request('https://{BACKUP}:8000' + path, method=method,
                                 headers={{'Authorization': auth}})
    try:
        out[name] = urllib.request.urlopen(req, context=ctx, timeout=20).status
    except urllib.error.HTTPError as exc:
        out[name] = exc.code
print(json.dumps(out))
"""
    answers = json.loads(on_db1_as_backup_account(stage, probe))
    assert answers["delete"] == 403, answers
    assert answers["other"] in (401, 403, 404), "private repositories: db1 sees only /db1/"
    forget = ssh(
        stage,
        "db1",
        "sudo -u safecoach-backup sh -c 'RESTIC_PASSWORD_FILE=/etc/safecoach-backup/"
        'repository-password RESTIC_REST_USERNAME=db1 RESTIC_REST_PASSWORD="$(cat '
        '/etc/safecoach-backup/rest-password)" restic --no-cache --cacert '
        f"/etc/ssl/safecoach-stage-ca.crt -r rest:https://{BACKUP}:8000/db1/ forget "
        f"{victim[:8]} 2>&1'",
        check=False,
    )
    assert snapshot_files(stage) == before, f"nothing was removed: {forget.stdout}"


@pytest.mark.control("BK-09")
def test_server_side_retention_and_check_run_on_the_backup_host(up, stage):
    for job in ("forget", "check"):
        active = ssh(stage, "backup1", f"systemctl is-active safecoach-repo-{job}@db1.timer")
        assert active.stdout.strip() == "active"
        run = ssh(stage, "backup1", f"sudo systemctl start safecoach-repo-{job}@db1.service")
        assert run.returncode == 0
        metric = ssh(
            stage,
            "backup1",
            f"cat /var/lib/prometheus/node-exporter/safecoach_backup_server_{job}_db1.prom",
        ).stdout
        assert f'safecoach_backup_server_success{{job="{job}",repository="db1"}} 1' in metric
    assert snapshot_files(stage), "retention keeps the newest snapshots"


@pytest.mark.control("BK-12")
def test_drill_finds_the_backup_identical(up, stage):
    proc = otap("backup", "drill", STAGE, timeout=900)
    assert "Drill passed" in proc.stdout and "matches the live database" in proc.stdout
    leftovers = ssh(
        stage,
        "db1",
        'sudo -u postgres psql -X -tA -c "SELECT count(*) FROM pg_database '
        "WHERE datname LIKE 'safecoach_drill_%'\"",
    ).stdout.strip()
    assert leftovers == "0"


@pytest.mark.control("BK-12")
def test_destroy_and_restore_brings_the_app_data_back(up, stage):
    carla = Browser(stage, "carla@demo.safecoach.test")
    carla.sign_in()
    before = carla.messages()
    assert before, "Carla's dialogue has messages to lose"
    otap("backup", "now", STAGE, timeout=900)
    wipe = (
        "sudo -u postgres psql -X -q -v ON_ERROR_STOP=1 -c 'DROP DATABASE safecoach WITH (FORCE)'"
    )
    ssh(stage, "db1", wipe)
    assert Browser(stage, "carla@demo.safecoach.test").get("/healthz")[0] != 200
    proc = otap("backup", "restore", STAGE, "--replace", timeout=900)
    assert "answers over HTTPS" in proc.stdout
    again = Browser(stage, "carla@demo.safecoach.test")
    again.sign_in()
    assert again.messages() == before
    # the restored database is the app's again: owner, rights, and the next backup works
    owner = ssh(
        stage,
        "db1",
        'sudo -u postgres psql -X -tA -c "SELECT pg_get_userbyid(datdba) FROM pg_database '
        "WHERE datname = 'safecoach'\"",
    ).stdout.strip()
    assert owner == "safecoach"
    otap("backup", "now", STAGE, timeout=900)
