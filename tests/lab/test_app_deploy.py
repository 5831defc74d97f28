"""The app on the lab: `otap up` deploys it; deploys, failures, rollback and promotion for real.

One bring-up for the module (conftest's `lab`): `otap up` (bootstrap, converge, release build,
deploy with demo data, verify), then releases made from the built one — a second good one, one
whose app cannot start, one with a failing migration, a tampered one — are deployed while a
probe keeps asking the site over HTTPS.
"""

import base64
import io
import json
import re
import shutil
import socket
import ssl
import threading
import time
import zipfile
from pathlib import Path

import pytest

from provisioning.releases import build as release_mod
from tests.lab.conftest import STAGE, otap, ssh

pytestmark = [pytest.mark.lab, pytest.mark.slow]

WEB = "10.213.10.11"


@pytest.fixture(scope="module")
def built(up):
    return release_mod.find(None)


def variant(base, suffix: str, change=None, resum: bool = True):
    """A copy of a built release under a new id, its wheel changed by `change(zipfile)`."""
    version, commit = base.id.split("-", 1)
    new_id = f"{version}.{suffix}-{commit}"
    folder = base.path.parent / new_id
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(base.path, folder)
    if change:
        wheel = folder / base.wheel
        source = zipfile.ZipFile(io.BytesIO(wheel.read_bytes()))
        with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as out:
            for item in source.infolist():
                out.writestr(item, source.read(item.filename))
            change(out)
    manifest = json.loads((folder / release_mod.MANIFEST).read_text())
    manifest["release"] = new_id
    if resum:
        manifest["files"] = release_mod.checksums(folder)
        (folder / release_mod.SUMS).write_text(release_mod.render_sums(manifest["files"]))
    (folder / release_mod.MANIFEST).write_text(json.dumps(manifest, indent=2))
    return new_id


class Probe(threading.Thread):
    """Asks https://<web1>/healthz every 50 ms until stopped; counts failures."""

    def __init__(self, stage):
        super().__init__(daemon=True)
        self.context = ssl.create_default_context(cafile=str(stage.state_dir / "ca" / "ca.crt"))
        self.name_ = stage.vars["public_name"]
        self.ok = 0
        self.failures: list[str] = []
        self.stop = threading.Event()

    def once(self) -> str | None:
        try:
            with (
                socket.create_connection((WEB, 443), timeout=10) as raw,
                self.context.wrap_socket(raw, server_hostname=self.name_) as tls,
            ):
                tls.sendall(
                    f"GET /healthz HTTP/1.1\r\nHost: {self.name_}\r\nConnection: close\r\n\r\n".encode()
                )
                data = b""
                while chunk := tls.recv(4096):
                    data += chunk
        except OSError as exc:
            return str(exc)
        status = data.split(b"\r\n", 1)[0]
        return None if b" 200 " in status else status.decode(errors="replace")

    def run(self):
        deadline = time.monotonic() + 600  # bounded, whatever happens
        while not self.stop.is_set() and time.monotonic() < deadline:
            error = self.once()
            if error:
                self.failures.append(error)
            else:
                self.ok += 1
            time.sleep(0.05)


@pytest.fixture
def probe(stage):
    p = Probe(stage)
    p.start()
    yield p
    p.stop.set()
    p.join(timeout=20)


def current(stage) -> str:
    return ssh(stage, "web1", "readlink /opt/safecoach/current").stdout.strip().rsplit("/", 1)[1]


@pytest.mark.control("DEP-05")
def test_up_deploys_the_app_and_says_where_it_is(up, stage, built):
    out = up.stdout
    assert f"https://{stage.vars['public_name']}/" in out
    assert str(stage.state_dir / "ca" / "ca.crt") in out
    assert "anna.coach@demo.safecoach.test" in out
    assert current(stage) == built.id


@pytest.mark.control("DB-02")
def test_postgresql_answers_web_and_refuses_everyone_else(up, stage):
    """A PostgreSQL startup over TLS: from web1 the server asks for SCRAM; from the bastion it
    refuses (pg_hba) or the firewall drops the connection."""
    script = (
        "import socket,ssl,struct,sys\n"
        "try:\n"
        " s=socket.create_connection(('10.213.10.12',5432),timeout=5)\n"
        "except OSError as e:\n print('unreachable',e); sys.exit(0)\n"
        "s.sendall(struct.pack('!ii',8,80877103)); assert s.recv(1)==b'S'\n"
        "c=ssl.create_default_context(); c.check_hostname=False; c.verify_mode=ssl.CERT_NONE\n"
        "t=c.wrap_socket(s)\n"
        "p=b'user\\0safecoach\\0database\\0safecoach\\0\\0'\n"
        "t.sendall(struct.pack('!ii',8+len(p),196608)+p)\n"
        "print(t.recv(1024))\n"
    )
    encoded = base64.b64encode(script.encode()).decode()
    command = f"python3 -c 'import base64; exec(base64.b64decode(\"{encoded}\"))'"
    from_web = ssh(stage, "web1", command).stdout
    assert "SCRAM-SHA-256" in from_web, from_web
    from_bastion = ssh(stage, "bastion1", command).stdout
    assert "unreachable" in from_bastion or "pg_hba.conf" in from_bastion, from_bastion


@pytest.mark.control("DEP-05")
def test_a_deploy_never_stops_the_site(up, stage, built, probe):
    second = variant(built, "1")
    time.sleep(1)
    proc = otap("release", "deploy", STAGE, second, timeout=600)
    time.sleep(1)
    probe.stop.set()
    probe.join(timeout=20)
    assert f"release {second} is live" in proc.stdout
    assert current(stage) == second
    assert probe.ok > 20
    assert probe.failures == []


@pytest.mark.control("DEP-05")
def test_a_release_that_fails_its_health_check_is_rolled_back(up, stage, built, probe):
    running = current(stage)
    broken = variant(
        built, "2", lambda z: z.writestr("safecoach/wsgi.py", "raise RuntimeError('broken')\n")
    )
    proc = otap("release", "deploy", STAGE, broken, check=False, timeout=600)
    probe.stop.set()
    probe.join(timeout=20)
    err = proc.stderr.strip()
    assert proc.returncode == 1
    assert len(err.splitlines()) == 1, err
    assert f"release {broken} failed its health check on web1" in err
    assert f"rolled back to {running}, which answers again." in err
    assert current(stage) == running
    assert probe.once() is None


@pytest.mark.control("DEP-05")
def test_a_failing_migration_leaves_the_running_release_untouched(up, stage, built, probe):
    running = current(stage)
    migration = (
        "from django.db import migrations\n\n"
        "def fail(apps, schema_editor):\n    raise RuntimeError('this migration fails')\n\n"
        "class Migration(migrations.Migration):\n"
        "    dependencies = []\n"
        "    operations = [migrations.RunPython(fail)]\n"
    )

    def add_migration(wheel):
        wheel.writestr("safecoach/migrations/__init__.py", "")
        wheel.writestr("safecoach/migrations/0001_fails.py", migration)

    bad = variant(built, "3", add_migration)
    proc = otap("release", "deploy", STAGE, bad, check=False, timeout=600)
    probe.stop.set()
    probe.join(timeout=20)
    err = proc.stderr.strip()
    assert proc.returncode == 1 and len(err.splitlines()) == 1, err
    assert f"the migration of release {bad} failed on web1" in err
    assert f"the running release {running} is untouched." in err
    assert current(stage) == running
    assert probe.failures == []


@pytest.mark.control("DEP-05")
def test_a_tampered_release_is_refused_before_upload(up, stage, built):
    running = current(stage)
    tampered = variant(built, "4", resum=False)
    path = Path(built.path.parent / tampered / "static.tar.gz")
    path.write_bytes(path.read_bytes() + b"x")
    proc = otap("release", "deploy", STAGE, tampered, check=False)
    assert proc.returncode == 1
    assert proc.stderr.strip().startswith(f"otap: error: checksum mismatch in release {tampered}")
    assert current(stage) == running


@pytest.mark.control("DEP-05")
def test_rollback_and_the_record_of_releases(up, stage, built):
    before = current(stage)
    proc = otap("release", "rollback", STAGE, timeout=300)
    after = current(stage)
    assert after != before
    assert f"release {after} answers over HTTPS" in proc.stdout
    listing = otap("release", "list", STAGE).stdout
    assert f"{after}" in listing and "current" in listing and "verified" in listing
    assert "failed" in listing  # the broken ones are on record
    otap("release", "rollback", STAGE, timeout=300)
    assert current(stage) == before


@pytest.mark.control("DEP-05")
def test_promotion_to_a_stage_not_bootstrapped_is_one_sentence(up, stage):
    proc = otap("release", "promote", STAGE, "test", check=False)
    err = proc.stderr.strip()
    assert proc.returncode == 1 and len(err.splitlines()) == 1, err
    proc = otap("release", "promote", STAGE, "acceptance", check=False)
    assert "out of order" in proc.stderr


@pytest.mark.control("DEP-05")
def test_verify_passes_with_the_app_deployed(up, stage):
    proc = otap("stage", "verify", STAGE, "--", "-rs", timeout=600)
    assert "no release deployed" not in proc.stdout


@pytest.mark.control("TLS-03")
def test_tls_meets_mozilla_intermediate_with_sslyze(up, stage):
    from tests.tools import mozilla_intermediate

    name = stage.vars["public_name"]
    result = mozilla_intermediate(name, WEB, 443, stage.state_dir / "ca" / "ca.crt")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "compliant"


# ---- in a browser: Debian's Chromium against the deployed app on web1 ---------------------------

CHROMIUM = "/usr/bin/chromium"
DEMO_PASSWORD = "Demo-Safecoach-2026"
DEMO = "demo.safecoach.test"


def _spki_pin(cert: Path) -> str:
    """Chromium accepts exactly this certificate (the lab's, from the stage CA) and no other."""
    import base64
    import hashlib

    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    key = x509.load_pem_x509_certificate(cert.read_bytes()).public_key()
    der = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(hashlib.sha256(der).digest()).decode()


@pytest.fixture(scope="module")
def browser(up, stage):
    assert Path(CHROMIUM).exists(), "Debian's Chromium is missing: apt-get install chromium"
    from playwright.sync_api import sync_playwright

    pin = _spki_pin(stage.state_dir / "ca" / "web1-web.crt")
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        f"--ignore-certificate-errors-spki-list={pin}",
    ]
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=flags)
        yield chromium
        chromium.close()


class Person:
    def __init__(self, browser, stage, local: str):
        self.base = f"https://{stage.vars['public_name']}"
        self.email = f"{local}@{DEMO}"
        self.stage = stage
        self.context = browser.new_context(accept_downloads=True)
        self.page = self.context.new_page()

    def go(self, path: str) -> int:
        return self.page.goto(self.base + path).status

    def visit(self, path: str) -> int:
        """Open PATH as a person would when nginx says 429: wait and try again (two minutes at
        most); the status of the page that was finally served."""
        for _ in range(12):
            status = self.go(path)
            if status != 429:
                return status
            time.sleep(10)
        raise AssertionError(f"nginx kept refusing {path} (429) for two minutes")

    def submit(self, path: str, fields: dict[str, str]) -> None:
        """Open PATH, fill FIELDS and submit the form, as a person would when nginx says 429.

        nginx allows 20 requests a minute per address (burst 10) on the sign-in and code pages
        (WEB-02); these tests sign in often from one address, so a refused page or a refused
        form is waited for and tried again, for at most two minutes.
        """
        # After a 429 wait for several tokens (one every 3 s): the page and its form take two.
        for _ in range(12):
            if self.go(path) == 429:
                time.sleep(10)
                continue
            for name, value in fields.items():
                self.page.fill(f"input[name={name}]", value)
            with self.page.expect_navigation() as sent:
                self.page.click("main form button[type=submit]")
            self.page.wait_for_load_state()
            if sent.value is None or sent.value.status != 429:
                return
            time.sleep(10)
        raise AssertionError(f"nginx kept refusing {path} (429) for two minutes")

    def sign_in(self, password: str = DEMO_PASSWORD):
        """Password, then (every demo account has SMS two-step on) the code from the lab's SMS
        file; a refused password stays on the sign-in page."""
        self.submit("/account/login/", {"username": self.email, "password": password})
        if self.path.startswith("/account/login/code/"):
            self.submit(self.path, {"code": last_sms_code(self.stage)})

    @property
    def path(self) -> str:
        return self.page.url.removeprefix(self.base)


def last_sms_code(stage) -> str:
    line = ssh(stage, "web1", "sudo tail -n 1 /var/lib/safecoach/sms.jsonl").stdout
    text = json.loads(line)["text"]
    return "".join(ch for ch in text if ch.isdigit())[:6]


@pytest.mark.browser
@pytest.mark.control("DEP-05")
def test_browser_coach_writes_client_reads_manager_cannot(browser, stage):
    anna = Person(browser, stage, "anna.coach")
    anna.sign_in()
    anna.go("/clients/")
    anna.page.click("text=Carla Bakker")
    anna.page.wait_for_url("**/dialogue/*/")
    dialogue = anna.page.url.removeprefix(anna.base)
    note = f"Bericht uit de lab-browsertest {time.time():.0f}"
    anna.page.fill("textarea[name=body]", note)
    anna.page.click("main form button[type=submit]")
    anna.page.wait_for_load_state()

    carla = Person(browser, stage, "carla")
    carla.sign_in()
    carla.go("/dialogue/")
    assert note in carla.page.locator(".message .body").all_inner_texts()

    manager = Person(browser, stage, "manager")
    manager.sign_in()
    assert manager.go(dialogue) == 404
    assert manager.go("/organisation/people/") == 200
    assert note not in manager.page.content()


@pytest.mark.browser
@pytest.mark.control("DEP-03")
def test_browser_sign_in_with_an_sms_code_from_the_lab_file(browser, stage):
    """The demo organisation requires two-step: the password alone does not sign in; the code
    texted to Daan's documented number (+31 6 1234 5605, in the lab's SMS file) does."""
    daan = Person(browser, stage, "daan")
    daan.submit("/account/login/", {"username": daan.email, "password": DEMO_PASSWORD})
    daan.page.wait_for_url("**/account/login/code/**")
    sent = json.loads(ssh(stage, "web1", "sudo tail -n 1 /var/lib/safecoach/sms.jsonl").stdout)
    assert sent["to"] == "+31612345605"
    # Not yet in: the dialogue sends him back to the sign-in page (which nginx may rate-limit
    # after the burst of sign-in requests: `visit` waits for it to be served).
    assert daan.visit("/dialogue/") == 200 and "/account/login" in daan.page.url
    daan.submit("/account/login/code/", {"code": last_sms_code(stage)})
    assert daan.go("/dialogue/") == 200  # a client's /dialogue/ leads to /dialogue/<id>/
    assert re.fullmatch(r"/dialogue/\d+/", daan.path), daan.path


@pytest.mark.browser
@pytest.mark.control("DEP-05")
def test_browser_client_downloads_export_and_deletes_account(browser, stage, tmp_path):
    eva = Person(browser, stage, "eva")
    eva.sign_in()
    eva.go("/privacy/mine/export/")
    eva.page.fill("input[name=password]", DEMO_PASSWORD)
    with eva.page.expect_download() as download_info:
        eva.page.click("main form button[type=submit]")
    archive = tmp_path / "export.zip"
    download_info.value.save_as(archive)
    with zipfile.ZipFile(archive) as zipped:
        names = zipped.namelist()
        profile = zipped.read(next(n for n in names if n.endswith("profile.json"))).decode()
    assert eva.email in profile

    eva.go("/privacy/mine/delete/")
    eva.page.fill("input[name=password]", DEMO_PASSWORD)
    confirm = eva.page.locator("main form input[type=text], main form input[type=email]")
    confirm.first.fill(eva.email)
    eva.page.click("main form button[type=submit]")
    eva.page.wait_for_load_state()

    gone = Person(browser, stage, "eva")
    gone.sign_in()
    assert "/account/login/" in gone.page.url  # the account is gone: sign-in fails
