"""Two-step verification is bound to a verified phone: whoever knows only a password binds no
number and no app, a manager's reset never opens an account to a password alone, staff must use
two-step, and a pending sign-in dies when the password changes.

Each test replays the attacker's requests and checks the refusal.
"""

import io
import re

import pytest
from django.core import mail
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone

from accounts.models import OneTimeCode, TwoFactor
from accounts.tests.conftest import form_errors, pass_factor
from accounts.twofactor import SECOND_FACTOR_SESSION_KEY
from privacy.models import AccessLogEntry
from tests.fixtures.world import PASSWORD

pytestmark = [pytest.mark.app, pytest.mark.control("AUTH-04")]

ATTACKER_PHONE = "+31687654321"
VICTIM_PHONE = "+31611122233"
RECORDED = "+31612345601"


def _password_step(client, user, password=PASSWORD):
    return client.post(reverse("accounts:login"), {"username": user.email, "password": password})


def _signed_in(client) -> bool:
    return "_auth_user_id" in client.session


def _require_two_step(world):
    world.org_a.require_two_factor = True
    world.org_a.save()


def _sms_on(user, phone):
    TwoFactor.objects.update_or_create(
        user=user, defaults={"method": "sms", "phone": phone, "enabled_at": timezone.now()}
    )


# --- finding 3: a forced enrolment accepted any number -----------------------------------------


def test_a_password_alone_cannot_bind_a_number_when_two_step_is_required(world, client, sms):
    """The attack: the attacker knows the client's password; the organisation requires two-step;
    the forced enrolment used to take any number. Now the sign-in itself is refused."""
    _require_two_step(world)
    response = _password_step(client, world.client_a)
    assert response.status_code == 200
    assert (
        "You must use two-step verification, and no mobile number is recorded for you: ask your "
        "organisation's manager to record your mobile number." in form_errors(response)
    )
    assert not _signed_in(client) and "signin_pending" not in client.session
    # The old second request of the attack: bind the attacker's phone. Not signed in: refused.
    response = client.post(reverse("accounts:two_factor_sms"), {"phone": ATTACKER_PHONE})
    assert response["Location"].startswith(reverse("accounts:login"))
    assert sms.messages() == []
    assert not TwoFactor.objects.filter(user=world.client_a).exists()


def test_a_forced_enrolment_texts_only_the_recorded_number(world, client, sms):
    _require_two_step(world)
    TwoFactor.objects.create(user=world.client_a, recorded_phone=RECORDED, enrol_required=True)
    response = _password_step(client, world.client_a)
    assert response["Location"] == reverse("accounts:signin_verify")
    assert not _signed_in(client)
    assert [m["to"] for m in sms.messages()] == [RECORDED]
    # The attacker, in the pending sign-in, tries to bind their own phone or an app instead.
    for name, data in [
        ("accounts:two_factor_sms", {"phone": ATTACKER_PHONE}),
        ("accounts:two_factor_totp", {"code": "123456"}),
        ("accounts:two_factor", {"send": "1"}),
    ]:
        assert client.post(reverse(name), data)["Location"].startswith(reverse("accounts:login"))
    # A backup code, or a guessed code, does not finish the enrolment.
    for guess in ("abcd-efgh", "000000"):
        response = client.post(reverse("accounts:signin_verify"), {"code": guess})
        assert not _signed_in(client)
    assert [m["to"] for m in sms.messages()] == [RECORDED]
    assert not TwoFactor.objects.get(user=world.client_a).is_on


def test_the_right_code_switches_sms_on_with_the_recorded_number_and_signs_in(world, client, sms):
    _require_two_step(world)
    TwoFactor.objects.create(user=world.client_a, recorded_phone=RECORDED, enrol_required=True)
    _password_step(client, world.client_a)
    page = client.get(reverse("accounts:signin_verify")).content.decode()
    assert "+31 ••• ••• 01" in page and RECORDED not in page
    mail.outbox.clear()
    response = client.post(reverse("accounts:signin_verify"), {"code": sms.last_code()})
    assert response.status_code == 200 and len(response.context["codes"]) == 10
    assert _signed_in(client) and client.session.get(SECOND_FACTOR_SESSION_KEY)
    tf = TwoFactor.objects.get(user=world.client_a)
    assert (tf.method, tf.phone, tf.recorded_phone, tf.enrol_required) == (
        "sms",
        RECORDED,
        "",
        False,
    )
    assert [m.to for m in mail.outbox] == [[world.client_a.email]]  # "two-step is on"
    assert AccessLogEntry.objects.filter(subject=world.client_a, kind="two_factor_on").exists()
    assert client.get(reverse("accounts:profile")).status_code == 200
    # From now on, the sign-in asks for a code to that number.
    client.logout()
    _password_step(client, world.client_a)
    assert not _signed_in(client)
    assert sms.messages()[-1]["to"] == RECORDED


# --- finding 4 and rule 3: a manager's reset never opens the account to a password -------------


@pytest.mark.parametrize("required", [False, True], ids=["optional", "required"])
def test_a_manager_s_reset_leaves_no_way_in_with_the_password_alone(
    world, login, client, sms, required
):
    """The attack: the manager switches the client's two-step off, then signs in with the
    client's password. The reset records a number; the password step alone signs nobody in."""
    if required:
        _require_two_step(world)
        _sms_on(world.manager, "+31612345600")
    _sms_on(world.client_a, VICTIM_PHONE)
    manager = login(world.manager)
    response = manager.post(
        reverse("accounts:two_factor_reset_for", args=[world.client_a.pk]),
        {"recorded_phone": RECORDED},
    )
    assert response.status_code == 302
    assert not TwoFactor.objects.get(user=world.client_a).is_on
    manager.logout()
    response = _password_step(client, world.client_a)
    assert response["Location"] == reverse("accounts:signin_verify")
    assert not _signed_in(client)
    assert client.get(reverse("accounts:profile"))["Location"].startswith(reverse("accounts:login"))
    for guess in ("123456", "000000"):
        client.post(reverse("accounts:signin_verify"), {"code": guess})
    assert not _signed_in(client)
    assert [m["to"] for m in sms.messages()] == [RECORDED]


def test_devops_two_factor_off_also_leaves_no_way_in_with_the_password(world, client, sms):
    _sms_on(world.manager, VICTIM_PHONE)
    out = io.StringIO()
    call_command("two_factor_off", world.manager.email, stdout=out)
    assert "record_phone" in out.getvalue()
    response = _password_step(client, world.manager)
    assert "ask your organisation's manager to record your mobile number" in form_errors(response)
    assert not _signed_in(client)
    call_command("record_phone", world.manager.email, "+31 6 1234 5601", stdout=out)
    _password_step(client, world.manager)
    assert not _signed_in(client)
    client.post(reverse("accounts:signin_verify"), {"code": sms.last_code(RECORDED)})
    assert _signed_in(client)
    assert TwoFactor.objects.get(user=world.manager).phone == RECORDED


def test_server_commands_are_logged_as_the_platform_operator(world, login):
    """The person's access log must not say they changed their own factor when devops did."""
    _sms_on(world.coach_a, VICTIM_PHONE)
    AccessLogEntry.objects.filter(subject=world.coach_a).delete()
    call_command(
        "two_factor_off", world.coach_a.email, "--phone", "+31 6 1234 5601", stdout=io.StringIO()
    )
    entries = AccessLogEntry.objects.filter(subject=world.coach_a)
    assert sorted(e.kind for e in entries) == ["phone_changed", "two_factor_off"]
    assert {(e.actor_id, e.actor_role) for e in entries} == {(None, "operator")}
    # Past the enrolment the next sign-in asks for, the log page names the operator.
    TwoFactor.objects.filter(user=world.coach_a).update(enrol_required=False)
    page = login(world.coach_a).get(reverse("privacy:mine")).content.decode()
    assert "Platform operator (server command)" in page
    assert "account removed" not in page


def test_record_phone_refuses_bad_input_and_accounts_with_two_step_on(world):
    with pytest.raises(CommandError, match="international format"):
        call_command("record_phone", world.coach_a.email, "hello")
    with pytest.raises(CommandError, match="No account uses"):
        call_command("record_phone", "nobody@a.test", RECORDED)
    _sms_on(world.coach_a, VICTIM_PHONE)
    with pytest.raises(CommandError, match="two_factor_off"):
        call_command("record_phone", world.coach_a.email, RECORDED)
    assert TwoFactor.objects.get(user=world.coach_a).phone == VICTIM_PHONE


# --- rule 4: staff must use two-step ------------------------------------------------------------


def test_staff_cannot_sign_in_with_a_password_alone(world, client, sms):
    response = _password_step(client, world.staff)
    assert (
        "Platform staff must use two-step verification, and no mobile number is recorded for "
        "you: ask devops to run safecoach-admin record_phone on a web host."
    ) in form_errors(response)
    assert not _signed_in(client)
    call_command("record_phone", world.staff.email, RECORDED, stdout=io.StringIO())
    _password_step(client, world.staff)
    assert not _signed_in(client)
    response = client.post(reverse("accounts:signin_verify"), {"code": sms.last_code(RECORDED)})
    assert _signed_in(client) and client.session.get(SECOND_FACTOR_SESSION_KEY)
    assert TwoFactor.objects.get(user=world.staff).is_on


def test_staff_cannot_switch_two_step_off(world, login, sms):
    _sms_on(world.staff, RECORDED)
    http = login(world.staff)
    pass_factor(http, sms)
    http.post(reverse("accounts:two_factor_disable"))
    assert TwoFactor.objects.get(user=world.staff).is_on


# --- rule 5: a pending sign-in dies when the password changes ----------------------------------


def test_a_pending_sign_in_dies_when_the_password_changes(world, client, sms):
    _sms_on(world.coach_a, VICTIM_PHONE)
    _password_step(client, world.coach_a)  # the attacker, with the old password
    code = sms.last_code()
    world.coach_a.set_password("Owner-New-Pass-2026")  # the owner changes the password
    world.coach_a.save()
    response = client.post(reverse("accounts:signin_verify"), {"code": code})
    assert response["Location"] == reverse("accounts:login")
    assert not _signed_in(client) and "signin_pending" not in client.session
    assert OneTimeCode.objects.filter(used_at__isnull=True).count() == 1  # the code is unspent


# --- the invitation records the number; the first sign-in confirms it --------------------------


def test_a_number_recorded_on_the_invitation_is_confirmed_at_the_first_sign_in(
    world, login, client, sms, django_capture_on_commit_callbacks
):
    manager = login(world.manager)
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        response = manager.post(
            reverse("organisations:person_create"),
            {
                "full_name": "Nina Nieuw",
                "email": "nina@a.test",
                "role": "client",
                "phone": "06 1234 5601",
            },
        )
    assert response.status_code == 302
    tf = TwoFactor.objects.get(user__email="nina@a.test")
    assert (tf.method, tf.phone, tf.recorded_phone, tf.enrol_required) == ("", "", RECORDED, True)
    link = re.search(r"https?://\S+", mail.outbox[-1].body).group(0)
    manager.logout()
    client.get(link.split("testserver", 1)[-1], follow=True)
    client.post(
        reverse("accounts:invitation_accept", args=["set-password"]),
        {"new_password1": "Chosen-Pass-2026", "new_password2": "Chosen-Pass-2026"},
    )
    client.post(
        reverse("accounts:login"), {"username": "nina@a.test", "password": "Chosen-Pass-2026"}
    )
    assert not _signed_in(client)
    client.post(reverse("accounts:signin_verify"), {"code": sms.last_code(RECORDED)})
    assert _signed_in(client)
    assert TwoFactor.objects.get(user__email="nina@a.test").phone == RECORDED


def test_a_bad_number_on_the_invitation_is_one_sentence_and_adds_nobody(world, login):
    response = login(world.manager).post(
        reverse("organisations:person_create"),
        {"full_name": "Nina Nieuw", "email": "nina@a.test", "role": "client", "phone": "hello"},
    )
    assert "Enter a mobile number in international format" in form_errors(response)
    assert not TwoFactor.objects.exists()
    assert not world.org_a.members.filter(email="nina@a.test").exists()


# --- rule 2: changes need the password and the current factor; each sends a notice -------------


def _enrolled_sms(world, login, sms):
    http = login(world.coach_a)
    http.post(reverse("accounts:two_factor_sms"), {"phone": VICTIM_PHONE})
    http.post(reverse("accounts:two_factor_sms_confirm"), {"code": sms.last_code()})
    assert TwoFactor.objects.get(user=world.coach_a).phone == VICTIM_PHONE
    return http


def test_a_session_with_the_password_but_not_the_phone_cannot_bind_another(world, login, sms):
    """The attack: a session whose password was just confirmed (a stolen password, an open
    session) binds the attacker's phone or app. It needs a code from the current phone."""
    http = _enrolled_sms(world, login, sms)
    for name, data in [
        ("accounts:two_factor_sms", {"phone": ATTACKER_PHONE}),
        ("accounts:two_factor_totp", {"code": "123456"}),
        ("accounts:backup_codes", {}),
        ("accounts:two_factor_disable", {}),
    ]:
        response = http.post(reverse(name), data)
        assert response["Location"].startswith(reverse("accounts:confirm_factor")), name
    assert all(m["to"] == VICTIM_PHONE for m in sms.messages())
    # A wrong code on the confirmation page opens nothing.
    http.get(reverse("accounts:confirm_factor"))
    response = http.post(reverse("accounts:confirm_factor"), {"code": "000000"})
    assert "That code is not right" in form_errors(response)
    response = http.post(reverse("accounts:two_factor_sms"), {"phone": ATTACKER_PHONE})
    assert response["Location"].startswith(reverse("accounts:confirm_factor"))
    tf = TwoFactor.objects.get(user=world.coach_a)
    assert (tf.method, tf.phone) == ("sms", VICTIM_PHONE)


@pytest.mark.parametrize(
    ("change", "subject"),
    [
        ("phone_changed", "phone number"),
        ("backup_codes", "backup codes"),
        ("two_factor_off", "is off"),
    ],
)
def test_each_change_sends_a_notice_and_is_logged(world, login, sms, change, subject):
    http = _enrolled_sms(world, login, sms)
    pass_factor(http, sms)
    mail.outbox.clear()
    if change == "phone_changed":
        http.post(reverse("accounts:two_factor_sms"), {"phone": "+31 6 1234 5601"})
        http.post(reverse("accounts:two_factor_sms_confirm"), {"code": sms.last_code(RECORDED)})
    elif change == "backup_codes":
        http.post(reverse("accounts:backup_codes"))
    else:
        http.post(reverse("accounts:two_factor_disable"))
    assert [m.to for m in mail.outbox] == [[world.coach_a.email]]
    assert subject in mail.outbox[0].subject
    assert AccessLogEntry.objects.filter(subject=world.coach_a, kind=change).exists()


def test_moving_from_sms_to_the_app_sends_a_notice(world, login, sms):
    from accounts import codes
    from accounts.tests.conftest import totp_key_on_page

    http = _enrolled_sms(world, login, sms)
    pass_factor(http, sms)
    mail.outbox.clear()
    key = totp_key_on_page(http.get(reverse("accounts:two_factor_totp")))
    http.post(reverse("accounts:two_factor_totp"), {"code": codes.totp_now(key)})
    tf = TwoFactor.objects.get(user=world.coach_a)
    assert (tf.method, tf.phone) == ("totp", "")
    assert [m.to for m in mail.outbox] == [[world.coach_a.email]]
    assert "has been changed" in mail.outbox[0].subject
    assert AccessLogEntry.objects.filter(subject=world.coach_a, kind="two_factor_changed").exists()
