"""Every form that checks the password uses the sign-in throttle.

A thief with a signed-in session (a laptop left open) must not be able to guess the password
on another form: the confirm page, the password change, the privacy export and the
delete-account form each lock after five wrong passwords, and then refuse the right one too,
doing nothing.
"""

import pytest
from django.urls import reverse

from accounts import throttle
from accounts.models import Throttle, User
from accounts.tests.conftest import form_errors
from privacy.forms import issue_token
from tests.fixtures.world import PASSWORD

pytestmark = [pytest.mark.app, pytest.mark.control("AUTH-03")]

LOCKED = "Too many failed attempts. Try again after"
NEW_PASSWORD = "New-Password-2027"


def _confirm(user, password):
    return reverse("accounts:confirm_password"), {"password": password}


def _password_change(user, password):
    return reverse("accounts:password_change"), {
        "old_password": password,
        "new_password1": NEW_PASSWORD,
        "new_password2": NEW_PASSWORD,
    }


def _export(user, password):
    return reverse("privacy:export"), {"password": password, "token": issue_token(user, "export")}


def _delete(user, password):
    return reverse("privacy:delete"), {
        "password": password,
        "confirmation": user.email,
        "token": issue_token(user, "delete"),
    }


def _nothing_done(world, name, response):
    user = User.objects.filter(pk=world.client_a.pk).first()
    assert user is not None, name
    assert user.check_password(PASSWORD) and not user.check_password(NEW_PASSWORD)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")


FORMS = {
    "confirm page": _confirm,
    "password change": _password_change,
    "privacy export": _export,
    "delete account": _delete,
}


@pytest.mark.parametrize("name", FORMS)
def test_five_wrong_passwords_lock_the_form_and_then_the_right_one_is_refused(world, login, name):
    http = login(world.client_a)
    post = FORMS[name]
    for _ in range(4):
        response = http.post(*post(world.client_a, "Wrong-Pass-1"))
        errors = form_errors(response)
        assert errors and LOCKED not in errors
        _nothing_done(world, name, response)
    response = http.post(*post(world.client_a, "Wrong-Pass-1"))
    assert LOCKED in form_errors(response)
    response = http.post(*post(world.client_a, PASSWORD))
    assert LOCKED in form_errors(response)
    _nothing_done(world, name, response)
    # The account's own counter saw five attempts (the locked one counted nowhere).
    assert Throttle.objects.get(scope=throttle.ACCOUNT).failures == 5


@pytest.mark.parametrize("name", ["privacy export", "delete account"])
def test_guesses_on_a_privacy_form_count_with_sign_ins_from_that_address(world, login, name):
    http = login(world.client_a)
    for _ in range(5):
        http.post(*FORMS[name](world.client_a, "Wrong-Pass-1"), REMOTE_ADDR="203.0.113.5")
    http.logout()
    sign_in = reverse("accounts:login")
    credentials = {"username": world.client_a.email, "password": PASSWORD}
    response = http.post(sign_in, credentials, REMOTE_ADDR="203.0.113.5")
    assert LOCKED in form_errors(response)
    assert http.post(sign_in, credentials, REMOTE_ADDR="198.51.100.7").status_code == 302


@pytest.mark.parametrize("name", FORMS)
def test_a_right_password_is_not_counted(world, login, name):
    http = login(world.client_a)
    for _ in range(4):
        http.post(*FORMS[name](world.client_a, "Wrong-Pass-1"))
    response = http.post(*FORMS[name](world.client_a, PASSWORD))
    assert response.status_code == 302 or response["Content-Type"] == "application/zip"
    assert not Throttle.objects.filter(locked_until__isnull=False).exists()
