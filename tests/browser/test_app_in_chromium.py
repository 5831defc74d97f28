"""The app as people use it, in a real browser: sign-in with SMS two-step, the dialogue,
separation of roles, the privacy export, deleting an account."""

import json
import zipfile
from pathlib import Path

import pytest
from django.conf import settings

from accounts.models import User
from coaching.models import Message
from tests.fixtures.world import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _last_sms_code():
    lines = Path(settings.SAFECOACH_SMS_FILE).read_text().splitlines()
    text = json.loads(lines[-1])["text"]
    return "".join(ch for ch in text if ch.isdigit())[:6]


def test_a_coach_and_a_client_talk_and_the_manager_cannot_listen(world, visitor):
    coach = visitor()
    coach.sign_in(world.coach_a.email, PASSWORD)
    assert coach.go(f"/dialogue/{world.client_a.pk}/") == 200
    coach.page.fill("textarea[name=body]", "Hoe ging de oefening <b>deze</b> week?")
    coach.page.click("main form button[type=submit]")
    coach.page.wait_for_url(f"**/dialogue/{world.client_a.pk}/")
    assert Message.objects.filter(body__startswith="Hoe ging de oefening").count() == 1

    client = visitor()
    client.sign_in(world.client_a.email, PASSWORD)
    client.go("/dialogue/")
    shown = client.page.locator(".message .body").all_inner_texts()
    assert "Hoe ging de oefening <b>deze</b> week?" in shown  # as text, not as markup

    manager = visitor()
    manager.sign_in(world.manager.email, PASSWORD)
    assert manager.go(f"/dialogue/{world.client_a.pk}/") == 404
    assert manager.go("/organisation/people/") == 200
    assert "Hoe ging de oefening" not in manager.page.content()


def test_sign_in_with_an_sms_code(world, visitor):
    person = visitor()
    person.sign_in(world.client_a.email, PASSWORD)
    person.go("/account/two-step/sms/")
    person.page.fill("input[name=phone]", "+31612345678")
    person.page.click("main form button[type=submit]")
    person.page.fill("input[name=code]", _last_sms_code())
    person.page.click("main form button[type=submit]")
    person.page.wait_for_load_state()
    assert User.objects.get(pk=world.client_a.pk).two_factor.is_on

    again = visitor()
    again.sign_in(world.client_a.email, PASSWORD)
    again.page.wait_for_url("**/account/login/code/**")
    assert again.go("/dialogue/") == 200 and "/account/login" in again.page.url  # not yet in
    again.go("/account/login/code/")
    again.page.fill("input[name=code]", _last_sms_code())
    again.page.click("main form button[type=submit]")
    again.page.wait_for_load_state()
    assert again.go("/dialogue/") == 200
    assert "/dialogue/" in again.page.url


def test_a_client_downloads_their_data_and_deletes_their_account(world, visitor, tmp_path):
    client = visitor()
    client.sign_in(world.client_a.email, PASSWORD)
    client.go("/privacy/mine/export/")
    client.page.fill("input[name=password]", PASSWORD)
    with client.page.expect_download() as download_info:
        client.page.click("main form button[type=submit]")
    archive = tmp_path / "export.zip"
    download_info.value.save_as(archive)
    with zipfile.ZipFile(archive) as zipped:
        names = zipped.namelist()
        profile = json.loads(zipped.read(next(n for n in names if n.endswith("profile.json"))))
    assert any(n.endswith("README.md") or n.endswith("README.txt") for n in names)
    assert world.client_a.email in json.dumps(profile)

    client.go("/privacy/mine/delete/")
    client.page.fill("input[name=password]", PASSWORD)
    confirm = client.page.locator("main form input[type=text], main form input[type=email]")
    confirm.first.fill(world.client_a.email)
    client.page.click("main form button[type=submit]")
    client.page.wait_for_load_state()
    assert not User.objects.filter(pk=world.client_a.pk).exists()
    assert not Message.objects.filter(client_id=world.client_a.pk).exists()


def test_the_watch_catches_what_our_csp_refuses(visitor):
    """The problem watch of these tests can fail: an inline script under our policy is refused."""
    from safecoach.middleware import CONTENT_SECURITY_POLICY

    probe = visitor()
    probe.page.route(
        "**/csp-probe",
        lambda route: route.fulfill(
            status=200,
            headers={"Content-Security-Policy": CONTENT_SECURITY_POLICY},
            content_type="text/html",
            body="<p style='color:red'>x</p><script>document.title = 'ran'</script>",
        ),
    )
    probe.go("/csp-probe")
    assert probe.page.title() != "ran"
    refused = [p for p in probe.problems if "Content Security Policy" in p]
    assert refused, probe.problems
    probe.problems.clear()
