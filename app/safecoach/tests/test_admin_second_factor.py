"""The staff admin opens only for staff with two-step on, in a session that passed a code.

The attack (finding 2 of the security review): staff sign in with a password alone and open
/admin/. And the admin's own password-change form, which skipped the sign-in throttle.
"""

import json
import re

import pytest
from django.conf import settings as django_settings
from django.test import override_settings
from django.urls import reverse

from accounts.models import TwoFactor
from safecoach.tests.admin_sessions import STAFF_PHONE, admin_session, with_two_step
from tests.fixtures.world import PASSWORD

pytestmark = [pytest.mark.app, pytest.mark.control("AUTH-04")]

ADMIN = "/admin/"
WITHOUT_SIGN_IN_POLICY = [
    m for m in django_settings.MIDDLEWARE if m != "accounts.middleware.SignInPolicyMiddleware"
]


@pytest.fixture
def sms_file(settings, tmp_path):
    settings.SAFECOACH_SMS_BACKEND = "file"
    settings.SAFECOACH_SMS_FILE = str(tmp_path / "sms.jsonl")
    return tmp_path / "sms.jsonl"


def _last_code(sms_file, to):
    texts = [json.loads(line) for line in sms_file.read_text().splitlines()]
    return re.search(r"\b(\d{6})\b", [t for t in texts if t["to"] == to][-1]["text"]).group(1)


def _in_the_admin(response) -> bool:
    return response.status_code == 200 and response.resolver_match.view_name == "admin:index"


def test_a_password_alone_does_not_open_the_admin(world, client):
    """Finding 2, replayed: the password step, then GET /admin/."""
    client.post(reverse("accounts:login"), {"username": world.staff.email, "password": PASSWORD})
    response = client.get(ADMIN)
    assert response.status_code == 302
    assert not _in_the_admin(client.get(ADMIN, follow=True))


def test_a_password_alone_does_not_open_the_admin_when_two_step_is_on(world, client, sms_file):
    with_two_step(world.staff)
    client.post(reverse("accounts:login"), {"username": world.staff.email, "password": PASSWORD})
    response = client.get(ADMIN, follow=True)
    assert not _in_the_admin(response)
    assert "_auth_user_id" not in client.session


def test_staff_open_the_admin_after_the_code(world, client, sms_file):
    with_two_step(world.staff)
    client.post(reverse("accounts:login"), {"username": world.staff.email, "password": PASSWORD})
    code = _last_code(sms_file, STAFF_PHONE)
    response = client.post(reverse("accounts:signin_verify"), {"code": code})
    assert response.status_code == 302
    assert _in_the_admin(client.get(ADMIN))


def test_a_session_that_never_passed_a_code_must_sign_in_again(world, client):
    """Two-step is on, but this session was signed in without it (here: force_login)."""
    with_two_step(world.staff)
    client.force_login(world.staff)
    response = client.get(ADMIN)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))
    response = client.get(response["Location"])
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))
    assert "next=/admin/" in response["Location"]
    assert "_auth_user_id" not in client.session  # signed out: the next sign-in asks the code


@override_settings(MIDDLEWARE=WITHOUT_SIGN_IN_POLICY)
def test_the_admin_holds_without_the_sign_in_policy_middleware(world, client):
    """The admin's own guard, without the middleware that sends staff to set up two-step."""
    client.force_login(world.staff)
    assert client.get(reverse("admin:coaching_message_changelist")).status_code == 302
    page = client.get(reverse("admin:login"))
    assert page.status_code == 403
    assert reverse("accounts:two_factor") in page.content.decode()
    # a session marked as having passed a code does not help while two-step is off
    admin_session(client, world.staff)
    assert client.get(ADMIN).status_code == 302
    assert client.get(reverse("admin:login")).status_code == 403


@override_settings(MIDDLEWARE=WITHOUT_SIGN_IN_POLICY)
def test_staff_without_two_step_are_told_where_to_switch_it_on(world, client):
    world.staff.language = "en"
    world.staff.save()
    client.force_login(world.staff)
    page = client.get(reverse("admin:login")).content.decode()
    assert "The staff admin needs two-step verification" in page
    world.staff.language = "nl"
    world.staff.save()
    page = client.get(reverse("admin:login")).content.decode()
    assert "tweestapsverificatie" in page


def test_switching_two_step_off_closes_the_admin(world, client):
    admin_session(client, with_two_step(world.staff))
    assert _in_the_admin(client.get(ADMIN))
    TwoFactor.objects.filter(user=world.staff).update(method="", phone="")
    assert client.get(ADMIN).status_code == 302


def test_a_deactivated_staff_member_is_refused(world, client):
    admin_session(client, with_two_step(world.staff))
    world.staff.is_active = False
    world.staff.save()
    assert client.get(ADMIN).status_code == 302


@pytest.mark.parametrize("name", ["manager", "coach_a", "client_a"])
def test_people_who_are_not_staff_never_get_in(world, client, name):
    person = with_two_step(getattr(world, name))
    admin_session(client, person)
    response = client.get(ADMIN)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))
    assert client.get(reverse("admin:login")).status_code == 200  # "platform staff only"


def test_the_admin_password_change_is_the_sites_throttled_one(world, client):
    admin_session(client, with_two_step(world.staff))
    for url in (reverse("admin:password_change"), reverse("admin:password_change_done")):
        response = client.get(url)
        assert response.status_code == 302
    assert client.get(reverse("admin:password_change"))["Location"] == reverse(
        "accounts:password_change"
    )
    # An attacker at a staff member's unlocked screen guessing the old password: no form here.
    for attempt in range(8):
        response = client.post(
            reverse("admin:password_change"),
            {
                "old_password": f"Guess-{attempt}",
                "new_password1": "Attacker-Pass-2026",
                "new_password2": "Attacker-Pass-2026",
            },
        )
        assert response.status_code == 302
        assert response["Location"] == reverse("accounts:password_change")
    world.staff.refresh_from_db()
    assert world.staff.check_password(PASSWORD)


def test_the_admin_password_change_is_no_form_for_anyone_else(world, client):
    response = client.post(
        reverse("admin:password_change"),
        {"old_password": PASSWORD, "new_password1": "x", "new_password2": "x"},
    )
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))
