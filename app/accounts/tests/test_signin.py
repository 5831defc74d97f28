"""Sign-in: no enumeration (same page, same hashing work), throttling per account and address."""

from datetime import timedelta
from unittest import mock

import pytest
from django.contrib.auth.hashers import MD5PasswordHasher
from django.urls import reverse
from django.utils import timezone

from accounts.models import Throttle
from accounts.tests.conftest import form_errors, without_csrf
from tests.fixtures.world import PASSWORD

pytestmark = [pytest.mark.app, pytest.mark.control("AUTH-02")]


def test_a_right_password_signs_in(world, sign_in, client):
    response = sign_in(world.coach_a.email)
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(world.coach_a.pk)


def test_the_e_mail_address_is_not_case_sensitive(world, sign_in, client):
    assert sign_in(world.coach_a.email.upper()).status_code == 302


@pytest.mark.parametrize("case", ["wrong password", "deactivated"])
def test_unknown_address_and_wrong_password_give_the_identical_page(world, client, case):
    url = reverse("accounts:login")
    unknown = client.post(url, {"username": "nobody@a.test", "password": "Wrong-Pass-1"})
    if case == "deactivated":
        world.coach_b.is_active = False
        world.coach_b.save()
        known = client.post(url, {"username": world.coach_b.email, "password": PASSWORD})
        unknown = client.post(url, {"username": "nobody@a.test", "password": PASSWORD})
    else:
        known = client.post(url, {"username": world.coach_a.email, "password": "Wrong-Pass-1"})
    assert unknown.status_code == known.status_code == 200
    # The form echoes the typed address; with that swapped the pages are byte for byte equal.
    known_html = without_csrf(known.content.decode()).replace(
        known.context["form"].data["username"], "EMAIL"
    )
    unknown_html = without_csrf(unknown.content.decode()).replace("nobody@a.test", "EMAIL")
    assert known_html == unknown_html


def _hashing_calls(client, email, password):
    with (
        mock.patch.object(
            MD5PasswordHasher, "encode", autospec=True, wraps=MD5PasswordHasher.encode
        ) as encode,
        mock.patch.object(
            MD5PasswordHasher, "verify", autospec=True, wraps=MD5PasswordHasher.verify
        ) as verify,
    ):
        client.post(reverse("accounts:login"), {"username": email, "password": password})
    return encode.call_count + verify.call_count


def test_an_unknown_address_costs_one_password_hash_like_a_known_one(world, client):
    """Django's ModelBackend hashes the typed password for an unknown account (a dummy hash),
    so the answer takes as long as checking a real account's password."""
    assert _hashing_calls(client, "nobody@a.test", "Wrong-Pass-1") == 1
    assert _hashing_calls(client, world.coach_a.email, "Wrong-Pass-1") == 1


@pytest.mark.control("AUTH-03")
def test_five_wrong_passwords_lock_the_account_with_a_time_to_try_again(world, sign_in, settings):
    for _ in range(4):
        response = sign_in(world.coach_a.email, "Wrong-Pass-1")
        assert "do not match" in form_errors(response)
    response = sign_in(world.coach_a.email, "Wrong-Pass-1")
    assert "Too many failed attempts. Try again after" in form_errors(response)
    # Now even the right password is refused, and nobody is signed in.
    response = sign_in(world.coach_a.email)
    assert response.status_code == 200
    assert "Try again after" in form_errors(response)
    assert "_auth_user_id" not in response.client.session


@pytest.mark.control("AUTH-03")
def test_the_lock_ends_after_the_lockout(world, sign_in):
    for _ in range(5):
        sign_in(world.coach_a.email, "Wrong-Pass-1")
    Throttle.objects.update(locked_until=timezone.now() - timedelta(seconds=1))
    assert sign_in(world.coach_a.email).status_code == 302


@pytest.mark.control("AUTH-03")
def test_an_unknown_address_is_locked_exactly_like_a_known_one(world, sign_in):
    pages = {}
    for email in ("nobody@a.test", world.coach_a.email):
        for _ in range(5):
            response = sign_in(email, "Wrong-Pass-1")
        pages[email] = form_errors(response)
    assert pages["nobody@a.test"] == pages[world.coach_a.email]
    assert "Try again after" in pages["nobody@a.test"]


@pytest.mark.control("AUTH-03")
def test_many_accounts_from_one_address_lock_the_address(world, sign_in, settings):
    settings.SAFECOACH_THROTTLE = {**settings.SAFECOACH_THROTTLE, "login-address": (6, 900, 900)}
    for i in range(6):
        sign_in(f"guess{i}@a.test", "Wrong-Pass-1", REMOTE_ADDR="203.0.113.9")
    response = sign_in(world.coach_a.email, REMOTE_ADDR="203.0.113.9")
    assert "Try again after" in form_errors(response)
    # Another address is not affected.
    assert sign_in(world.coach_a.email, REMOTE_ADDR="198.51.100.7").status_code == 302


@pytest.mark.control("AUTH-03")
def test_a_successful_sign_in_clears_the_account_count(world, sign_in, client):
    for _ in range(4):
        sign_in(world.coach_a.email, "Wrong-Pass-1")
    assert sign_in(world.coach_a.email).status_code == 302
    client.logout()
    for _ in range(4):
        response = sign_in(world.coach_a.email, "Wrong-Pass-1")
    assert "do not match" in form_errors(response)


@pytest.mark.control("AUTH-03")
def test_throttle_rows_hold_no_readable_address_and_are_purged(world, sign_in, settings):
    from accounts import throttle

    sign_in(world.coach_a.email, "Wrong-Pass-1", REMOTE_ADDR="203.0.113.9")
    keys = " ".join(Throttle.objects.values_list("key", flat=True))
    assert "coach.a" not in keys and "203.0.113.9" not in keys
    # The account and the address together, the address, the account.
    assert Throttle.objects.count() == 3
    Throttle.objects.update(updated_at=timezone.now() - timedelta(hours=25))
    assert throttle.purge() == 3


def test_the_client_address_header_is_used_only_when_configured(rf, settings):
    from accounts.throttle import client_address

    request = rf.get("/", REMOTE_ADDR="127.0.0.1", HTTP_X_REAL_IP="203.0.113.9")
    assert client_address(request) == "127.0.0.1"
    settings.SAFECOACH_CLIENT_IP_HEADER = "HTTP_X_REAL_IP"
    assert client_address(request) == "203.0.113.9"


@pytest.mark.control("AUTH-04")
def test_the_admin_sign_in_form_cannot_bypass_throttling_or_two_step(world, client):
    response = client.post(
        reverse("admin:login") + "?next=/admin/",
        {"username": world.staff.email, "password": PASSWORD},
    )
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))
    assert "next=/admin/" in response["Location"]
    assert "_auth_user_id" not in client.session
