"""A flood of wrong passwords from one address locks that address out, not the owner.

Each password attempt counts for the account and the address together (5 in 15 minutes, then a
15-minute lock), for the address (30 in 15 minutes) and for the account (50 an hour); a locked
attempt counts nowhere. One address can never reach the account's limit on its own; a flood
from many addresses does, and then the account is locked everywhere for a while.
"""

from datetime import timedelta
from unittest import mock

import pytest
from django.contrib.auth.hashers import MD5PasswordHasher
from django.utils import timezone

from accounts import throttle
from accounts.models import Throttle
from accounts.tests.conftest import form_errors

pytestmark = [pytest.mark.app, pytest.mark.control("AUTH-03")]

ATTACKER = "203.0.113.5"
OWNER = "198.51.100.7"
LOCKED = "Too many failed attempts. Try again after"


def test_twenty_wrong_passwords_from_one_address_leave_the_owner_able_to_sign_in(
    world, sign_in, client
):
    for _ in range(20):
        response = sign_in(world.coach_a.email, "Wrong-Pass-1", REMOTE_ADDR=ATTACKER)
    assert LOCKED in form_errors(response)
    # The attacker's address stays locked for this account, even with the right password.
    assert LOCKED in form_errors(sign_in(world.coach_a.email, REMOTE_ADDR=ATTACKER))
    # The owner, elsewhere, signs in.
    response = sign_in(world.coach_a.email, REMOTE_ADDR=OWNER)
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(world.coach_a.pk)


def test_locked_attempts_are_not_checked_and_count_nowhere(world, sign_in):
    for _ in range(5):
        sign_in(world.coach_a.email, "Wrong-Pass-1", REMOTE_ADDR=ATTACKER)
    with mock.patch.object(
        MD5PasswordHasher, "verify", autospec=True, wraps=MD5PasswordHasher.verify
    ) as verify:
        for _ in range(100):
            response = sign_in(world.coach_a.email, "Wrong-Pass-1", REMOTE_ADDR=ATTACKER)
            assert LOCKED in form_errors(response)
    assert verify.call_count == 0
    account = Throttle.objects.get(scope=throttle.ACCOUNT)
    assert account.failures == 5 and account.locked_until is None


def test_one_address_trying_all_day_never_locks_the_account(world, sign_in):
    """A wrong password every 30 seconds for three hours, from one address: the account's own
    counter never locks, and the owner signs in from home at the end."""
    start = timezone.now()
    for step in range(3 * 60 * 2):
        with mock.patch("django.utils.timezone.now", return_value=start + step * timedelta(0, 30)):
            sign_in(world.coach_a.email, "Wrong-Pass-1", REMOTE_ADDR=ATTACKER)
            account = Throttle.objects.get(scope=throttle.ACCOUNT)
            assert account.locked_until is None, step
    with mock.patch("django.utils.timezone.now", return_value=start + timedelta(hours=3)):
        assert sign_in(world.coach_a.email, REMOTE_ADDR=OWNER).status_code == 302


def test_the_account_limit_is_out_of_reach_of_one_address_in_the_real_settings():
    assert throttle.one_address_cannot_lock_the_account()


def test_a_flood_from_many_addresses_locks_the_account_everywhere(world, sign_in, client):
    """Ten addresses, five wrong passwords each: the fiftieth attempt locks the account (the
    e-mail address typed), so now the owner waits too; that is the price of a distributed
    guess, and each address on its own stayed within its limit."""
    addresses = [f"192.0.2.{i}" for i in range(1, 11)]
    answers = []
    for address in addresses:
        for _ in range(5):
            answers.append(
                form_errors(sign_in(world.coach_a.email, "Wrong-Pass-1", REMOTE_ADDR=address))
            )
    assert LOCKED in answers[-1]
    account = Throttle.objects.get(scope=throttle.ACCOUNT)
    assert account.locked_until is not None
    response = sign_in(world.coach_a.email, REMOTE_ADDR=OWNER)
    assert LOCKED in form_errors(response)
    assert "_auth_user_id" not in client.session
    # The lock ends; then the owner signs in, and other accounts were never affected.
    assert sign_in(world.coach_b.email, REMOTE_ADDR="192.0.2.1").status_code == 302
    client.logout()
    Throttle.objects.filter(pk=account.pk).update(
        locked_until=timezone.now() - timedelta(seconds=1)
    )
    assert sign_in(world.coach_a.email, REMOTE_ADDR=OWNER).status_code == 302
