"""A burst of parallel wrong passwords cannot race past the sign-in throttle.

The attempt is taken from the throttle (rows locked, one transaction) before the password is
checked, so of N requests sent at the same moment at most the limit reach the password hasher;
the others answer the lock sentence. Each thread is a browser of its own: its own test Client
and its own database connection.

On PostgreSQL the requests run truly in parallel and queue on the locked rows. The SQLite test
database (in memory, shared cache) answers "database table is locked" to a second connection
instead of waiting, so on SQLite the threads take turns (one request at a time): there the test
checks the counting, not the concurrency. PostgreSQL is where the race is proved.
"""

import contextlib
import threading
from unittest import mock

import pytest
from django.contrib.auth.hashers import MD5PasswordHasher
from django.db import connection
from django.test import Client
from django.urls import reverse

from accounts.models import Throttle
from accounts.tests.conftest import form_errors
from tests.fixtures.world import PASSWORD

pytestmark = [pytest.mark.app, pytest.mark.control("AUTH-03")]

BURST = 20
LOCKED = "Too many failed attempts. Try again after"


class CountingHasher:
    """MD5 (the test settings' hasher) made as slow as a real Argon2id check is in spirit,
    so that parallel requests overlap while the password is checked; counts the checks."""

    def __init__(self):
        self.calls = 0
        self.lock = threading.Lock()
        self.verify = MD5PasswordHasher.verify

    def __call__(self, hasher, password, encoded):
        with self.lock:
            self.calls += 1
        threading.Event().wait(0.05)
        return self.verify(hasher, password, encoded)


def _burst(email, password, address, n=BURST):
    """n sign-in POSTs released at the same moment, each from its own Client and connection."""
    barrier = threading.Barrier(n)
    answers = [None] * n
    turns = threading.Lock() if connection.vendor == "sqlite" else contextlib.nullcontext()

    def one(i):
        try:
            browser = Client(REMOTE_ADDR=address)
            barrier.wait()
            with turns:
                response = browser.post(
                    reverse("accounts:login"), {"username": email, "password": password}
                )
                # The page itself: the test client's captured template context is shared
                # between threads, so another thread's form could show up there.
                answers[i] = (response.status_code, response.content.decode())
        finally:
            connection.close()

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return answers


@pytest.mark.django_db(transaction=True)
def test_twenty_parallel_wrong_passwords_get_no_more_than_five_checks(world, settings):
    settings.SAFECOACH_THROTTLE = {
        **settings.SAFECOACH_THROTTLE,
        "login-account-address": (5, 900, 900),
    }
    hasher = CountingHasher()
    with mock.patch.object(MD5PasswordHasher, "verify", autospec=True, side_effect=hasher):
        answers = _burst(world.coach_a.email, "Wrong-Pass-1", "203.0.113.5")

    assert all(answer is not None and answer[0] == 200 for answer in answers), answers
    assert hasher.calls <= 5
    wrong = [errors for _status, errors in answers if "do not match" in errors]
    locked = [errors for _status, errors in answers if LOCKED in errors]
    assert len(wrong) + len(locked) == BURST
    assert len(locked) >= BURST - 5
    # The lock holds: now even the right password is refused, without a check.
    with mock.patch.object(MD5PasswordHasher, "verify", autospec=True, side_effect=hasher):
        before = hasher.calls
        response = Client(REMOTE_ADDR="203.0.113.5").post(
            reverse("accounts:login"), {"username": world.coach_a.email, "password": PASSWORD}
        )
    assert LOCKED in form_errors(response)
    assert hasher.calls == before
    assert Throttle.objects.filter(locked_until__isnull=False).exists()


@pytest.mark.django_db(transaction=True)
def test_parallel_right_passwords_all_sign_in_and_leave_no_lock(world, settings):
    """Giving attempts back is as safe under concurrency: as many parallel right sign-ins as
    the limit all succeed, and the lock the last of them started in advance is lifted."""
    settings.SAFECOACH_THROTTLE = {
        **settings.SAFECOACH_THROTTLE,
        "login-account-address": (5, 900, 900),
    }
    answers = _burst(world.coach_a.email, PASSWORD, "198.51.100.7", n=5)
    assert [status for status, _errors in answers] == [302] * 5
    assert not Throttle.objects.filter(locked_until__isnull=False).exists()
