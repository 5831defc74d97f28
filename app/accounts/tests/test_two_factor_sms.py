"""Two-step verification by SMS, end to end through the file gateway."""

from datetime import timedelta

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone

from accounts.models import BackupCode, OneTimeCode, Throttle, TwoFactor
from accounts.tests.conftest import form_errors, pass_factor
from tests.fixtures.world import PASSWORD

pytestmark = [pytest.mark.app, pytest.mark.control("AUTH-04")]

PHONE = "+31612345678"


def enrol(http, sms, phone="+31 6 1234 5678"):
    response = http.post(reverse("accounts:two_factor_sms"), {"phone": phone})
    assert response.status_code == 302, form_errors(response)
    return http.post(reverse("accounts:two_factor_sms_confirm"), {"code": sms.last_code()})


@pytest.fixture
def enrolled(world, login, sms):
    """Coach A with SMS two-step on; returns the plain backup codes shown once."""
    response = enrol(login(world.coach_a), sms)
    assert response.status_code == 200
    codes = response.context["codes"]
    login(None).logout()
    OneTimeCode.objects.all().delete()
    return codes


def _messages(response):
    return [str(m) for m in get_messages(response.wsgi_request)]


# --- enrolment --------------------------------------------------------------------------------


def test_enrolment_switches_on_only_after_the_code(world, login, sms):
    http = login(world.coach_a)
    http.post(reverse("accounts:two_factor_sms"), {"phone": "06-12345678"})
    assert sms.messages()[-1]["to"] == PHONE  # a national number is read as Dutch
    assert not TwoFactor.objects.filter(user=world.coach_a).exists()
    response = http.post(reverse("accounts:two_factor_sms_confirm"), {"code": sms.last_code()})
    assert response.status_code == 200
    tf = TwoFactor.objects.get(user=world.coach_a)
    assert (tf.method, tf.phone) == ("sms", PHONE)
    assert len(response.context["codes"]) == 10
    assert BackupCode.objects.filter(user=world.coach_a).count() == 10


@pytest.mark.parametrize(
    ("phone", "says"),
    [
        ("hello", "international format"),
        ("+31 6 123", "international format"),
        ("+31 6 12345678 9999", "international format"),
        ("<script>", "international format"),
        ("+1 202 555 0143", "starting with +31 or +32"),
        ("+44 7911 123456", "starting with +31 or +32"),
        ("+31 20 123 4567", "not a mobile number"),
    ],
)
def test_bad_phone_numbers_get_one_clear_sentence_and_no_sms(world, login, sms, phone, says):
    response = login(world.coach_a).post(reverse("accounts:two_factor_sms"), {"phone": phone})
    assert response.status_code == 200
    assert says in form_errors(response)
    assert sms.messages() == []
    assert not OneTimeCode.objects.exists()


def test_a_belgian_mobile_number_is_accepted(world, login, sms):
    login(world.coach_a).post(reverse("accounts:two_factor_sms"), {"phone": "+32 470 12 34 56"})
    assert sms.messages()[-1]["to"] == "+32470123456"


@pytest.mark.parametrize("code", ["12345", "1234567", "abcdef", "12 34 5"])
def test_codes_of_the_wrong_shape_are_refused_without_counting(world, login, sms, code):
    http = login(world.coach_a)
    http.post(reverse("accounts:two_factor_sms"), {"phone": PHONE})
    response = http.post(reverse("accounts:two_factor_sms_confirm"), {"code": code})
    assert "Enter the 6 digits of the code." in form_errors(response)
    assert not Throttle.objects.filter(scope="code").exists()
    assert not TwoFactor.objects.exists()


def test_a_wrong_code_does_not_switch_on(world, login, sms):
    http = login(world.coach_a)
    http.post(reverse("accounts:two_factor_sms"), {"phone": PHONE})
    wrong = "000000" if sms.last_code() != "000000" else "111111"
    response = http.post(reverse("accounts:two_factor_sms_confirm"), {"code": wrong})
    assert "That code is not right" in form_errors(response)
    assert not TwoFactor.objects.exists()


def test_an_expired_enrolment_code_is_refused(world, login, sms):
    http = login(world.coach_a)
    http.post(reverse("accounts:two_factor_sms"), {"phone": PHONE})
    OneTimeCode.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    response = http.post(reverse("accounts:two_factor_sms_confirm"), {"code": sms.last_code()})
    assert "That code has expired; ask for a new code." in form_errors(response)
    assert not TwoFactor.objects.exists()


def test_a_new_code_cannot_be_asked_for_within_30_seconds(world, login, sms):
    http = login(world.coach_a)
    http.post(reverse("accounts:two_factor_sms"), {"phone": PHONE})
    response = http.post(reverse("accounts:two_factor_sms_confirm"), {"resend": "1"})
    assert any("wait" in m and "seconds" in m for m in _messages(response))
    assert len(sms.messages()) == 1
    OneTimeCode.objects.update(created_at=timezone.now() - timedelta(seconds=31))
    http.post(reverse("accounts:two_factor_sms_confirm"), {"resend": "1"})
    assert len(sms.messages()) == 2
    response = http.post(reverse("accounts:two_factor_sms_confirm"), {"code": sms.last_code()})
    assert response.status_code == 200 and TwoFactor.objects.get().method == "sms"


def test_changing_the_number_needs_the_password_again(world, login, sms, enrolled):
    http = login(world.coach_a)
    session = http.session
    session["password_confirmed_at"] = 0
    session.save()
    response = http.post(reverse("accounts:two_factor_sms"), {"phone": "+31 6 87654321"})
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:confirm_password"))
    assert sms.messages() == [] or all(m["to"] == PHONE for m in sms.messages())
    wrong = http.post(response["Location"], {"password": "Not-My-Pass-1"})
    assert "That is not your password." in form_errors(wrong)
    right = http.post(response["Location"], {"password": PASSWORD})
    assert right["Location"] == reverse("accounts:two_factor_sms")
    # The password is not enough: a code from the current factor (texted to the old number).
    response = http.post(reverse("accounts:two_factor_sms"), {"phone": "+31 6 87654321"})
    assert response["Location"].startswith(reverse("accounts:confirm_factor"))
    assert all(m["to"] == PHONE for m in sms.messages())
    pass_factor(http, sms)
    http.post(reverse("accounts:two_factor_sms"), {"phone": "+31 6 87654321"})
    # The old number stays until the new one is confirmed.
    assert TwoFactor.objects.get().phone == PHONE
    http.post(reverse("accounts:two_factor_sms_confirm"), {"code": sms.last_code("+31687654321")})
    assert TwoFactor.objects.get().phone == "+31687654321"


# --- sign-in ----------------------------------------------------------------------------------


def _password_step(client, world):
    response = client.post(
        reverse("accounts:login"), {"username": world.coach_a.email, "password": PASSWORD}
    )
    assert response["Location"] == reverse("accounts:signin_verify")
    assert "_auth_user_id" not in client.session
    return response


def _code_step(client, code):
    return client.post(reverse("accounts:signin_verify"), {"code": code})


def test_sign_in_needs_the_sms_code(world, client, sms, enrolled):
    _password_step(client, world)
    page = client.get(reverse("accounts:signin_verify")).content.decode()
    assert "+31 ••• ••• 78" in page and PHONE not in page
    assert client.get(reverse("accounts:profile")).status_code == 302  # not signed in yet
    response = _code_step(client, sms.last_code())
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(world.coach_a.pk)


def test_a_code_cannot_be_replayed(world, client, sms, enrolled):
    _password_step(client, world)
    code = sms.last_code()
    assert _code_step(client, code).status_code == 302
    client.logout()
    _password_step(client, world)  # a new code is sent; the old one stays spent
    OneTimeCode.objects.filter(used_at__isnull=True).delete()
    response = _code_step(client, code)
    assert response.status_code == 200
    assert "already been used" in form_errors(response)
    assert "_auth_user_id" not in client.session


def test_an_expired_sign_in_code_is_refused(world, client, sms, enrolled):
    _password_step(client, world)
    OneTimeCode.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    response = _code_step(client, sms.last_code())
    assert "That code has expired; ask for a new code." in form_errors(response)
    assert "_auth_user_id" not in client.session


def test_five_wrong_codes_start_a_cooldown(world, client, sms, enrolled):
    _password_step(client, world)
    right = sms.last_code()
    wrong = "000000" if right != "000000" else "111111"
    for _ in range(4):
        assert "That code is not right" in form_errors(_code_step(client, wrong))
    assert "Too many wrong codes. Try again after" in form_errors(_code_step(client, wrong))
    # Even the right code is refused during the cooldown, and no new code can be asked for.
    assert "Too many wrong codes" in form_errors(_code_step(client, right))
    sent = len(sms.messages())
    response = client.post(reverse("accounts:signin_resend"))
    assert any("Too many wrong codes" in m for m in _messages(response))
    assert len(sms.messages()) == sent
    assert "_auth_user_id" not in client.session
    # After the cooldown a fresh code works.
    Throttle.objects.update(locked_until=timezone.now() - timedelta(seconds=1))
    OneTimeCode.objects.update(created_at=timezone.now() - timedelta(seconds=31))
    client.post(reverse("accounts:signin_resend"))
    assert _code_step(client, sms.last_code()).status_code == 302


def test_resend_at_sign_in_respects_30_seconds(world, client, sms, enrolled):
    _password_step(client, world)
    sent = len(sms.messages())
    response = client.post(reverse("accounts:signin_resend"))
    assert any("wait" in m for m in _messages(response))
    assert len(sms.messages()) == sent
    OneTimeCode.objects.update(created_at=timezone.now() - timedelta(seconds=31))
    response = client.post(reverse("accounts:signin_resend"))
    assert "A new code has been sent." in _messages(response)
    assert len(sms.messages()) == sent + 1


def test_a_backup_code_signs_in_once(world, client, sms, enrolled):
    _password_step(client, world)
    response = _code_step(client, enrolled[0].upper().replace("-", " "))
    assert response.status_code == 302
    assert any("9 are left" in m for m in _messages(response))
    client.logout()
    _password_step(client, world)
    response = _code_step(client, enrolled[0])
    assert "That backup code has already been used" in form_errors(response)
    assert _code_step(client, enrolled[1]).status_code == 302


def test_a_made_up_backup_code_counts_as_a_wrong_try(world, client, sms, enrolled):
    _password_step(client, world)
    response = _code_step(client, "zzzz-zzzz")
    assert "That code is not right" in form_errors(response)
    assert Throttle.objects.filter(scope="code").get().failures == 1


def test_the_second_step_expires_with_the_code_lifetime(world, client, sms, enrolled):
    _password_step(client, world)
    session = client.session
    session["signin_pending"]["at"] -= 301
    session.save()
    response = _code_step(client, sms.last_code())
    assert response["Location"] == reverse("accounts:login")
    assert "Signing in took too long; please sign in again." in _messages(response)
    assert "_auth_user_id" not in client.session


def test_the_pending_sign_in_is_not_someone_else_s(world, client, sms, enrolled, login):
    """A second step answers only for the session that passed the password step."""
    from django.test import Client

    _password_step(client, world)
    stranger = Client()
    assert stranger.post(reverse("accounts:signin_verify"), {"code": sms.last_code()})[
        "Location"
    ] == reverse("accounts:login")


def test_a_gateway_failure_is_one_clear_sentence(world, client, sms, enrolled, settings, tmp_path):
    settings.SAFECOACH_SMS_FILE = str(tmp_path)  # a directory: appending fails
    response = client.post(
        reverse("accounts:login"), {"username": world.coach_a.email, "password": PASSWORD}
    )
    assert "We could not send the code; please try again." in _messages(response)
    assert not OneTimeCode.objects.exists()


# --- switching off ----------------------------------------------------------------------------


def test_switching_off_needs_the_password_and_the_factor(world, login, enrolled):
    http = login(world.coach_a)
    session = http.session
    session["password_confirmed_at"] = 0
    session.save()
    response = http.post(reverse("accounts:two_factor_disable"))
    assert response["Location"].startswith(reverse("accounts:confirm_password"))
    assert TwoFactor.objects.get().is_on
    http.post(response["Location"], {"password": PASSWORD})
    response = http.post(reverse("accounts:two_factor_disable"))
    assert response["Location"].startswith(reverse("accounts:confirm_factor"))
    assert TwoFactor.objects.get().is_on
    pass_factor(http, code=enrolled[0])  # a backup code serves as the current factor too
    http.post(reverse("accounts:two_factor_disable"))
    assert not TwoFactor.objects.get().is_on
    assert not BackupCode.objects.exists()


def test_new_backup_codes_replace_the_old(world, login, sms, enrolled):
    http = login(world.coach_a)
    pass_factor(http, sms)
    response = http.post(reverse("accounts:backup_codes"))
    fresh = response.context["codes"]
    assert len(fresh) == 10 and not set(fresh) & set(enrolled)
    assert BackupCode.objects.filter(user=world.coach_a).count() == 10


def test_a_colleague_cannot_see_or_change_someone_else_s_two_step(world, login, enrolled):
    http = login(world.coach_b)
    page = http.get(reverse("accounts:two_factor")).content.decode()
    assert "is off" in page
    http.post(reverse("accounts:two_factor_disable"))
    assert TwoFactor.objects.get(user=world.coach_a).is_on


@pytest.mark.parametrize("code", ["12345", "1234567", "abc", "12-34"])
def test_sign_in_codes_of_the_wrong_shape_are_refused_without_counting(
    world, client, sms, enrolled, code
):
    _password_step(client, world)
    response = _code_step(client, code)
    assert "Enter the 6-digit code, or a backup code like abcd-efgh." in form_errors(response)
    assert not Throttle.objects.filter(scope="code").exists()
    assert "_auth_user_id" not in client.session


def test_only_the_newest_code_counts(world, client, sms, enrolled):
    _password_step(client, world)
    first = sms.last_code()
    OneTimeCode.objects.update(created_at=timezone.now() - timedelta(seconds=31))
    client.post(reverse("accounts:signin_resend"))
    second = sms.last_code()
    if first != second:
        assert "That code is not right" in form_errors(_code_step(client, first))
    assert _code_step(client, second).status_code == 302


def test_a_deactivated_account_cannot_finish_the_second_step(world, client, sms, enrolled):
    _password_step(client, world)
    world.coach_a.is_active = False
    world.coach_a.save()
    response = _code_step(client, sms.last_code())
    assert response["Location"] == reverse("accounts:login")
    assert "_auth_user_id" not in client.session


# --- a lost phone: the manager switches two-step off for the person ---------------------------


NEW_PHONE = "+31611112222"


def _reset_for(http, person, phone="+31 6 1111 2222"):
    return http.post(
        reverse("accounts:two_factor_reset_for", args=[person.pk]), {"recorded_phone": phone}
    )


def test_the_manager_resets_two_step_for_someone_who_lost_their_phone(world, login, enrolled):
    from django.core import mail

    mail.outbox.clear()
    response = _reset_for(login(world.manager), world.coach_a)
    assert response["Location"] == reverse("organisations:person_edit", args=[world.coach_a.pk])
    tf = TwoFactor.objects.get(user=world.coach_a)
    assert not tf.is_on
    assert (tf.phone, tf.recorded_phone, tf.enrol_required) == ("", NEW_PHONE, True)
    assert not BackupCode.objects.filter(user=world.coach_a).exists()
    assert [m.to for m in mail.outbox] == [[world.coach_a.email]] * 2  # off, and a new number
    assert "Two-step verification" in mail.outbox[0].subject
    for notice in mail.outbox:
        for name in (world.manager.full_name, world.coach_a.full_name):
            for part in name.split():
                assert part not in notice.subject + notice.body


def test_the_reset_form_asks_for_the_new_number(world, login, enrolled):
    """The person-edit page's button posts no number: that opens the form; nothing changes."""
    http = login(world.manager)
    response = http.post(reverse("accounts:two_factor_reset_for", args=[world.coach_a.pk]))
    assert response.status_code == 200 and 'name="recorded_phone"' in response.content.decode()
    assert TwoFactor.objects.get(user=world.coach_a).is_on
    response = _reset_for(http, world.coach_a, phone="+49 1512 3456789")
    assert "We can only send text messages to numbers starting with" in form_errors(response)
    assert TwoFactor.objects.get(user=world.coach_a).is_on


@pytest.mark.parametrize("actor", ["coach_b", "client_a", "other_manager", "staff", "coach_a"])
def test_nobody_else_can_switch_it_off_for_someone(world, login, enrolled, actor):
    response = _reset_for(login(getattr(world, actor)), world.coach_a)
    assert response.status_code == 404
    assert TwoFactor.objects.get(user=world.coach_a).is_on


def test_the_manager_must_have_confirmed_the_password_recently(world, login, enrolled):
    http = login(world.manager)
    session = http.session
    session["password_confirmed_at"] = 0
    session.save()
    response = _reset_for(http, world.coach_a)
    assert response["Location"].startswith(reverse("accounts:confirm_password"))
    assert TwoFactor.objects.get(user=world.coach_a).is_on


def test_switching_off_oneself_sends_a_notice(world, login, sms, enrolled):
    from django.core import mail

    http = login(world.coach_a)
    pass_factor(http, sms)
    mail.outbox.clear()
    http.post(reverse("accounts:two_factor_disable"))
    assert [m.to for m in mail.outbox] == [[world.coach_a.email]]
    assert "switched off" in mail.outbox[0].body


@pytest.mark.control("AUTH-03")
def test_at_most_ten_texts_an_hour_per_person(world, login, sms):
    http = login(world.coach_a)
    for i in range(10):
        OneTimeCode.objects.update(created_at=timezone.now() - timedelta(seconds=31))
        response = http.post(reverse("accounts:two_factor_sms"), {"phone": f"+3161234567{i}"})
        assert response.status_code == 302
    OneTimeCode.objects.update(created_at=timezone.now() - timedelta(seconds=31))
    response = http.post(reverse("accounts:two_factor_sms"), {"phone": "+31612345670"})
    assert "You have asked for many codes in a short time. Try again after" in form_errors(response)
    assert len(sms.messages()) == 10
