"""The password rule on every path that sets a password, and Argon2id first in the hashers."""

import pytest
from django.contrib.auth.forms import AdminPasswordChangeForm, SetPasswordForm
from django.contrib.auth.hashers import get_hasher, make_password
from django.test import Client, override_settings
from django.urls import reverse

from accounts.validators import DigitAndUppercaseValidator
from tests.fixtures.world import PASSWORD

pytestmark = [pytest.mark.app, pytest.mark.control("AUTH-01")]

WEAK = [
    ("Short1A", "password_too_short"),
    ("nouppercase1", "no_upper"),
    ("NoDigitsHere", "no_digit"),
    ("Password1", "password_too_common"),
]
GOOD = "Fresh-Choice-2026"


def _codes(form, field="new_password2"):
    return [e.code for e in form.errors.as_data().get(field, [])]


@pytest.mark.parametrize(("password", "code"), WEAK)
def test_password_change_applies_the_rule(world, login, password, code):
    http = login(world.coach_a)
    response = http.post(
        reverse("accounts:password_change"),
        {"old_password": PASSWORD, "new_password1": password, "new_password2": password},
    )
    assert response.status_code == 200
    assert code in _codes(response.context["form"])
    world.coach_a.refresh_from_db()
    assert world.coach_a.check_password(PASSWORD)


@pytest.mark.parametrize(("password", "code"), [*WEAK, ("Coach-Anna-1", "password_too_similar")])
@pytest.mark.parametrize("form_class", [AdminPasswordChangeForm, SetPasswordForm])
def test_admin_and_reset_forms_apply_the_rule(world, form_class, password, code):
    fields = (
        {"password1": password, "password2": password}
        if form_class is AdminPasswordChangeForm
        else {"new_password1": password, "new_password2": password}
    )
    form = form_class(world.coach_a, fields)
    assert not form.is_valid()
    field = "password2" if form_class is AdminPasswordChangeForm else "new_password2"
    assert code in _codes(form, field)


def test_the_rule_is_shown_where_a_password_is_chosen(world, login):
    page = login(world.coach_a).get(reverse("accounts:password_change")).content.decode()
    assert "at least one digit and one upper-case letter" in page


def test_a_good_password_is_accepted_and_other_sessions_end(world, login):
    other_device = Client()
    other_device.force_login(world.coach_a)
    http = login(world.coach_a)
    response = http.post(
        reverse("accounts:password_change"),
        {"old_password": PASSWORD, "new_password1": GOOD, "new_password2": GOOD},
    )
    assert response.status_code == 302
    assert http.get(reverse("accounts:profile")).status_code == 200  # this session stays
    assert other_device.get(reverse("accounts:profile")).status_code == 302  # others end


def test_the_validator_alone():
    validator = DigitAndUppercaseValidator()
    validator.validate("Abcdefg1")
    with pytest.raises(Exception) as raised:
        validator.validate("abcdefgh")
    assert {e.code for e in raised.value.error_list} == {"no_digit", "no_upper"}


def test_argon2id_is_first_in_the_real_settings():
    from safecoach import settings as real

    assert real.PASSWORD_HASHERS[0] == "django.contrib.auth.hashers.Argon2PasswordHasher"


ARGON_FIRST = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.MD5PasswordHasher",
]


@override_settings(PASSWORD_HASHERS=ARGON_FIRST)
def test_new_passwords_are_argon2id():
    assert make_password("Some-Pass-1").startswith("argon2$argon2id$")
    assert get_hasher().algorithm == "argon2"


def test_an_older_hash_is_upgraded_at_sign_in(world, client):
    world.coach_a.password = make_password(PASSWORD, hasher="md5")  # the test settings' hasher
    world.coach_a.save()
    with override_settings(PASSWORD_HASHERS=ARGON_FIRST):
        response = client.post(
            reverse("accounts:login"), {"username": world.coach_a.email, "password": PASSWORD}
        )
    assert response.status_code == 302
    world.coach_a.refresh_from_db()
    assert world.coach_a.password.startswith("argon2$argon2id$")


def test_the_staff_admin_sets_no_passwords(world, client):
    """Staff never choose a password: the admin has no password form (safecoach/tests/
    test_admin_powers.py); a new account gets an invitation, whose form applies the rule."""
    from safecoach.tests.admin_sessions import admin_session, with_two_step

    http = admin_session(client, with_two_step(world.staff))
    assert 'name="password1"' not in http.get(reverse("admin:accounts_user_add")).content.decode()
    url = f"/admin/accounts/user/{world.coach_a.pk}/password/"
    assert http.post(url, {"password1": "Short1A", "password2": "Short1A"}).status_code == 404


def test_a_changed_password_is_notified_without_names(world, login):
    from django.core import mail

    login(world.coach_a).post(
        reverse("accounts:password_change"),
        {"old_password": PASSWORD, "new_password1": GOOD, "new_password2": GOOD},
    )
    [notice] = mail.outbox
    assert notice.to == [world.coach_a.email]
    assert "password" in notice.subject.lower()
    for part in world.coach_a.full_name.split():
        assert part not in notice.subject + notice.body
    assert GOOD not in notice.body and PASSWORD not in notice.body


@pytest.mark.control("AUTH-03")
def test_wrong_current_passwords_on_the_change_form_are_throttled(world, login):
    http = login(world.coach_a)
    data = {"old_password": "Wrong-Pass-1", "new_password1": GOOD, "new_password2": GOOD}
    for _ in range(4):
        response = http.post(reverse("accounts:password_change"), data)
        assert _codes(response.context["form"], "old_password") == ["wrong"]
    response = http.post(reverse("accounts:password_change"), data)
    assert "throttled" in _codes(response.context["form"], "old_password")
    # Now even the right current password is refused until the lock ends.
    response = http.post(reverse("accounts:password_change"), {**data, "old_password": PASSWORD})
    assert "throttled" in _codes(response.context["form"], "old_password")
    world.coach_a.refresh_from_db()
    assert world.coach_a.check_password(PASSWORD)
