"""Organisation requirement, password re-confirmation, idle sessions and cookie settings."""

import io
import time

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import TwoFactor
from accounts.tests.conftest import form_errors, pass_factor
from safecoach import settings as real_settings
from tests.fixtures.world import PASSWORD

pytestmark = pytest.mark.app


@pytest.mark.control("AUTH-04")
def test_a_manager_requires_two_step_for_the_organisation(world, login):
    http = login(world.manager)
    response = http.post(reverse("accounts:organisation_security"), {"require_two_factor": "on"})
    assert response.status_code == 302
    world.org_a.refresh_from_db()
    assert world.org_a.require_two_factor
    world.org_b.refresh_from_db()
    assert not world.org_b.require_two_factor


@pytest.mark.control("AUTH-04")
@pytest.mark.parametrize("actor", ["coach_a", "client_a"])
def test_people_without_two_step_are_held_to_the_recorded_number(world, login, sms, actor):
    """Signed in before the requirement: every page sends them to the overview, whose only
    path is a code to the number their manager recorded; a number of their own is refused."""
    person = getattr(world, actor)
    world.org_a.require_two_factor = True
    world.org_a.save()
    http = login(person)
    assert http.get(reverse("home"))["Location"] == reverse("accounts:two_factor")
    assert http.get(reverse("accounts:profile"))["Location"] == reverse("accounts:two_factor")
    page = http.get(reverse("accounts:two_factor")).content.decode()
    assert "ask your organisation&#x27;s manager to record your mobile number" in page
    # The attack: bind a number or an app of one's own choosing. Every such page is closed.
    for name, data in [
        ("accounts:two_factor_sms", {"phone": "+31687654321"}),
        ("accounts:two_factor_sms_confirm", {"code": "123456"}),
        ("accounts:two_factor_totp", {"code": "123456"}),
        ("accounts:backup_codes", {}),
    ]:
        assert http.post(reverse(name), data)["Location"] == reverse("accounts:two_factor")
    assert sms.messages() == []
    assert not TwoFactor.objects.filter(user=person, method__gt="").exists()
    # The manager records the person's number; the person confirms it with the texted code.
    TwoFactor.objects.create(user=world.manager, method="sms", phone="+31612345600")
    manager = Client()
    manager.force_login(world.manager)
    manager.post(
        reverse("accounts:two_factor_reset_for", args=[person.pk]),
        {"recorded_phone": "+31 6 1234 5601"},
    )
    page = http.get(reverse("accounts:two_factor")).content.decode()
    assert "+31 ••• ••• 01" in page
    http.post(reverse("accounts:two_factor"), {"send": "1"})
    assert sms.messages()[-1]["to"] == "+31612345601"
    response = http.post(reverse("accounts:two_factor"), {"code": sms.last_code()})
    assert len(response.context["codes"]) == 10
    tf = TwoFactor.objects.get(user=person)
    assert (tf.method, tf.phone, tf.recorded_phone, tf.enrol_required) == (
        "sms",
        "+31612345601",
        "",
        False,
    )
    assert http.get(reverse("accounts:profile")).status_code == 200
    # And it cannot be switched off while the organisation requires it.
    pass_factor(http, sms)
    http.post(reverse("accounts:two_factor_disable"))
    assert TwoFactor.objects.get(user=person).is_on


@pytest.mark.control("AUTH-04")
def test_the_requirement_reaches_people_already_signed_in(world, login):
    http = login(world.coach_a)
    assert http.get(reverse("accounts:profile")).status_code == 200
    world.org_a.require_two_factor = True
    world.org_a.save()
    session = http.session
    session["seen_at"] = time.time() - 61
    session.save()
    assert http.get(reverse("accounts:profile"))["Location"] == reverse("accounts:two_factor")


def test_other_organisations_are_not_affected(world, login):
    world.org_a.require_two_factor = True
    world.org_a.save()
    assert login(world.other_manager).get(reverse("accounts:profile")).status_code == 200


@pytest.mark.parametrize("actor", ["coach_a", "client_a", "staff"])
def test_only_managers_see_the_organisation_setting(world, login, actor):
    http = login(getattr(world, actor))
    assert http.get(reverse("accounts:organisation_security")).status_code == 404
    assert (
        http.post(
            reverse("accounts:organisation_security"), {"require_two_factor": "on"}
        ).status_code
        == 404
    )
    world.org_a.refresh_from_db()
    assert not world.org_a.require_two_factor


def test_a_stale_confirmation_asks_for_the_password_again(world, login):
    http = login(world.manager)
    session = http.session
    session["password_confirmed_at"] = time.time() - 301
    session.save()
    url = reverse("accounts:organisation_security")
    response = http.get(url)
    confirm = response["Location"]
    assert confirm.startswith(reverse("accounts:confirm_password"))
    assert "Your password" in http.get(confirm).content.decode()
    assert http.post(confirm, {"password": PASSWORD})["Location"] == url
    assert http.get(url).status_code == 200


def test_the_confirm_page_refuses_foreign_redirects(world, login):
    http = login(world.manager)
    response = http.post(
        reverse("accounts:confirm_password") + "?next=https://evil.example/", {"password": PASSWORD}
    )
    assert response["Location"] == reverse("home")


def test_wrong_passwords_on_the_confirm_page_are_throttled(world, login):
    http = login(world.manager)
    for _ in range(4):
        response = http.post(reverse("accounts:confirm_password"), {"password": "Wrong-Pass-1"})
        assert "That is not your password." in form_errors(response)
    response = http.post(reverse("accounts:confirm_password"), {"password": "Wrong-Pass-1"})
    assert "Too many failed attempts" in form_errors(response)


def test_an_idle_session_is_signed_out(world, login, settings):
    http = login(world.client_a)
    assert http.get(reverse("accounts:profile")).status_code == 200
    session = http.session
    session["seen_at"] = time.time() - settings.SAFECOACH_SESSION_IDLE_SECONDS - 1
    session.save()
    response = http.get(reverse("accounts:profile"))
    assert response["Location"].startswith(reverse("accounts:login"))
    assert "_auth_user_id" not in http.session


def test_session_cookies_are_strict_in_production_settings():
    assert real_settings.SESSION_COOKIE_HTTPONLY
    assert real_settings.SESSION_COOKIE_SAMESITE in {"Lax", "Strict"}
    assert real_settings.CSRF_COOKIE_HTTPONLY
    assert real_settings.SAFECOACH_SESSION_IDLE_SECONDS <= 3600


@pytest.mark.control("AUTH-03")
def test_the_purge_command_deletes_only_what_is_past_retention(world):
    from datetime import timedelta

    from django.core.management import call_command
    from django.utils import timezone

    from accounts import throttle
    from accounts.models import Invitation, OneTimeCode, Throttle

    old = timezone.now() - timedelta(days=2)
    throttle.record_failure("login-account", "old@a.test")
    throttle.record_failure("login-account", "new@a.test")
    Throttle.objects.filter(pk=Throttle.objects.order_by("pk").first().pk).update(updated_at=old)
    locked = Throttle.objects.create(
        key="k", scope="code", updated_at=old, locked_until=timezone.now() + timedelta(minutes=5)
    )
    OneTimeCode.objects.create(
        user=world.coach_a, purpose="signin", phone="+31612345678", code_hash="x", expires_at=old
    )
    Invitation.objects.create(user=world.coach_b, token_hash="y", expires_at=old)
    out = io.StringIO()
    call_command("purge_signin_records", stdout=out)
    assert "deleted 1 throttle rows, 1 codes, 1 invitations" in out.getvalue()
    assert Throttle.objects.count() == 2 and Throttle.objects.filter(pk=locked.pk).exists()
    assert not OneTimeCode.objects.exists() and not Invitation.objects.exists()


@pytest.mark.control("AUTH-04")
def test_staff_can_switch_two_step_off_from_the_command_line(world, login, sms):
    from django.core import mail
    from django.core.management import CommandError, call_command

    http = login(world.manager)
    http.post(reverse("accounts:two_factor_sms"), {"phone": "+31612345678"})
    http.post(reverse("accounts:two_factor_sms_confirm"), {"code": sms.last_code()})
    assert TwoFactor.objects.get(user=world.manager).is_on
    mail.outbox.clear()
    out = io.StringIO()
    call_command("two_factor_off", world.manager.email.upper(), stdout=out)
    assert "now off" in out.getvalue()
    assert not TwoFactor.objects.get(user=world.manager).is_on
    assert [m.to for m in mail.outbox] == [[world.manager.email]]
    with pytest.raises(CommandError, match="No account uses"):
        call_command("two_factor_off", "nobody@a.test")
