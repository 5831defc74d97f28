"""Sessions: the absolute lifetime (SESSION_COOKIE_AGE, 8 hours) holds whatever the activity.

The clock is moved forward by replacing time.time() with a clock that runs ahead: the session
keeps its own times (signed in, last seen, password confirmed) in time.time() seconds.
"""

import time
from unittest import mock

import pytest
from django.urls import reverse

from tests.fixtures.world import PASSWORD

pytestmark = [pytest.mark.app, pytest.mark.control("AUTH-03")]

HOUR = 3600
STEP = 25 * 60  # each request well within the 30-minute idle limit


class ClockAhead:
    """time.time(), running `ahead` seconds in the future."""

    def __init__(self):
        self.ahead = 0
        self.real = time.time

    def __call__(self):
        return self.real() + self.ahead


@pytest.fixture
def clock():
    ahead = ClockAhead()
    with mock.patch("time.time", ahead):
        yield ahead


def test_an_active_session_ends_eight_hours_after_sign_in(world, client, clock, settings):
    assert settings.SESSION_COOKIE_AGE == 8 * HOUR
    assert settings.SAFECOACH_SESSION_IDLE_SECONDS > STEP
    response = client.post(
        reverse("accounts:login"), {"username": world.client_a.email, "password": PASSWORD}
    )
    assert response.status_code == 302
    profile = reverse("accounts:profile")
    # Busy all day: a request every 25 minutes, each one writing the session.
    while clock.ahead + STEP < 8 * HOUR:
        clock.ahead += STEP
        assert client.get(profile).status_code == 200, clock.ahead
    clock.ahead = 8 * HOUR - 5
    assert client.get(profile).status_code == 200
    clock.ahead = 8 * HOUR + 1
    response = client.get(profile)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))
    assert "_auth_user_id" not in client.session
    page = client.get(response["Location"]).content.decode()
    assert "You were signed out because you signed in too long ago; please sign in again." in page


def test_confirming_the_password_does_not_extend_the_session(world, client, clock):
    client.post(reverse("accounts:login"), {"username": world.client_a.email, "password": PASSWORD})
    confirm = reverse("accounts:confirm_password")
    while clock.ahead + STEP < 8 * HOUR:
        clock.ahead += STEP
        response = client.post(confirm, {"password": PASSWORD})
        assert response.status_code == 302, clock.ahead
        assert not response["Location"].startswith(reverse("accounts:login"))
    clock.ahead = 8 * HOUR + 1
    response = client.get(reverse("accounts:profile"))
    assert response["Location"].startswith(reverse("accounts:login"))
    assert "_auth_user_id" not in client.session


def test_a_session_from_before_the_sign_in_time_was_kept_gets_it_now(world, client, clock):
    """A session without the sign-in time (made before it was recorded) gets the time of its
    next request, so it too ends 8 hours later at the latest."""
    client.post(reverse("accounts:login"), {"username": world.client_a.email, "password": PASSWORD})
    session = client.session
    del session["signed_in_at"]
    session.save()
    profile = reverse("accounts:profile")
    clock.ahead = 10 * 60
    assert client.get(profile).status_code == 200
    while clock.ahead + STEP < 8 * HOUR + 10 * 60:
        clock.ahead += STEP
        assert client.get(profile).status_code == 200
    clock.ahead = 8 * HOUR + 10 * 60 + 1
    assert client.get(profile)["Location"].startswith(reverse("accounts:login"))
