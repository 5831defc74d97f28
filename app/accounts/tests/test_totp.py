"""The authenticator app (TOTP, RFC 6238): enrolment, sign-in, no replay, throttled."""

import time

import pytest
from django.urls import reverse

from accounts import codes
from accounts.models import Throttle, TwoFactor
from accounts.tests.conftest import form_errors, totp_key_on_page
from tests.fixtures.world import PASSWORD

pytestmark = [pytest.mark.app, pytest.mark.control("AUTH-04")]

RFC_SECRET = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"  # "12345678901234567890", RFC 6238 appendix B


@pytest.mark.parametrize(
    ("at", "expected"),
    [(59, "287082"), (1111111109, "081804"), (1234567890, "005924"), (2000000000, "279037")],
)
def test_the_rfc_6238_vectors(at, expected):
    assert codes.totp_now(RFC_SECRET, at) == expected  # the RFC's 8-digit codes, last 6 digits


def test_a_code_from_the_neighbouring_step_is_accepted_and_older_ones_not():
    now = 1_700_000_000
    step = codes.totp_step(now)
    assert codes.totp_match(RFC_SECRET, codes.hotp(RFC_SECRET, step - 1), None, now) == step - 1
    assert codes.totp_match(RFC_SECRET, codes.hotp(RFC_SECRET, step - 2), None, now) is None
    assert codes.totp_match(RFC_SECRET, codes.hotp(RFC_SECRET, step), step, now) is None


def _enrol(http):
    page = http.get(reverse("accounts:two_factor_totp"))
    assert "<svg" in page.content.decode() and " style=" not in page.content.decode()
    secret = totp_key_on_page(page)
    assert secret not in str(dict(http.session))  # the waiting key is encrypted in the session
    response = http.post(reverse("accounts:two_factor_totp"), {"code": codes.totp_now(secret)})
    assert response.status_code == 200, form_errors(response)
    return secret, response


def test_enrolment_with_the_app(world, login):
    secret, response = _enrol(login(world.coach_a))
    tf = TwoFactor.objects.get(user=world.coach_a)
    assert (tf.method, tf.totp_key) == ("totp", secret)
    assert secret not in tf.totp_secret  # stored encrypted
    assert len(response.context["codes"]) == 10


def test_a_wrong_code_does_not_switch_the_app_on(world, login):
    http = login(world.coach_a)
    secret = totp_key_on_page(http.get(reverse("accounts:two_factor_totp")))
    wrong = f"{(int(codes.totp_now(secret)) + 500000) % 1000000:06d}"
    response = http.post(reverse("accounts:two_factor_totp"), {"code": wrong})
    assert "That code is not right" in form_errors(response)
    assert not TwoFactor.objects.exists()


def _sign_in(client, world):
    client.post(reverse("accounts:login"), {"username": world.coach_a.email, "password": PASSWORD})
    assert "_auth_user_id" not in client.session


def test_sign_in_with_the_app_and_no_replay(world, login, client):
    secret, _ = _enrol(login(world.coach_a))
    client.logout()
    TwoFactor.objects.update(totp_last_step=None)
    _sign_in(client, world)
    code = codes.totp_now(secret)
    assert client.post(reverse("accounts:signin_verify"), {"code": code}).status_code == 302
    client.logout()
    _sign_in(client, world)
    response = client.post(reverse("accounts:signin_verify"), {"code": code})
    assert "That code has already been used; wait for the next one." in form_errors(response)
    assert "_auth_user_id" not in client.session


def test_wrong_app_codes_are_throttled(world, login, client):
    secret, _ = _enrol(login(world.coach_a))
    client.logout()
    _sign_in(client, world)
    wrong = f"{(int(codes.totp_now(secret)) + 500000) % 1000000:06d}"
    for _ in range(4):
        client.post(reverse("accounts:signin_verify"), {"code": wrong})
    response = client.post(reverse("accounts:signin_verify"), {"code": wrong})
    assert "Too many wrong codes. Try again after" in form_errors(response)
    assert Throttle.objects.filter(scope="code").get().locked_until is not None
    next_code = codes.hotp(secret, codes.totp_step(time.time()) + 1)
    response = client.post(reverse("accounts:signin_verify"), {"code": next_code})
    assert "Too many wrong codes" in form_errors(response)
