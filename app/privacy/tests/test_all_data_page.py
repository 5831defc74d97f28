"""The "all your data" page (/privacy/mine/data/): behind a recent password, dates readable.

It shows the whole dialogue, as much as the download, so it asks for the password again like
the download: a session whose password was typed too long ago (a laptop left open) is sent to
the confirm page and sees nothing. Its dates and times come from the export's ISO 8601 strings
and are shown like every other date: in the person's language, in the site's time zone
(Europe/Amsterdam), without UTC offsets or microseconds.
"""

import re
import time
from datetime import UTC, date, datetime

import pytest
from django.urls import reverse

from accounts.decorators import SESSION_KEY as CONFIRMED_AT
from accounts.models import User
from coaching.models import Answer, Assignment, Comment, Message
from tests.fixtures.world import PASSWORD, SECRET

pytestmark = [pytest.mark.app, pytest.mark.control("PRIV-01")]

# 22:30:05.123456 UTC on 14 July is 00:30 on 15 July in Amsterdam (summer time, UTC+2);
# 9 January at 08:15 UTC is 09:15 in Amsterdam (UTC+1).
SUMMER = datetime(2026, 7, 14, 22, 30, 5, 123456, tzinfo=UTC)
WINTER = datetime(2027, 1, 9, 8, 15, 0, 654321, tzinfo=UTC)


def _unconfirmed(http, settings):
    """The session's password confirmation is older than SAFECOACH_REAUTH_SECONDS."""
    session = http.session
    session[CONFIRMED_AT] = time.time() - settings.SAFECOACH_REAUTH_SECONDS - 1
    session.save()
    return http


def test_a_session_without_a_recent_password_is_sent_to_confirm_it(world, login, settings):
    http = _unconfirmed(login(world.client_a), settings)
    url = reverse("privacy:data")
    response = http.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:confirm_password"))
    assert SECRET not in response.content.decode()
    followed = http.get(url, follow=True).content.decode()
    assert SECRET not in followed
    # With the password typed again, the person is sent back and sees their data.
    response = http.post(response["Location"], {"password": PASSWORD})
    assert response["Location"] == url
    assert world.message.body in http.get(url).content.decode()


def test_a_wrong_password_on_the_way_shows_nothing(world, login, settings):
    http = _unconfirmed(login(world.client_a), settings)
    confirm = reverse("accounts:confirm_password") + "?next=" + reverse("privacy:data")
    response = http.post(confirm, {"password": "Wrong-Pass-1"})
    assert response.status_code == 200 and SECRET not in response.content.decode()
    assert http.get(reverse("privacy:data")).status_code == 302


def _dated_world(world):
    Message.objects.filter(pk=world.message.pk).update(created_at=SUMMER, read_at=WINTER)
    Assignment.objects.filter(pk=world.assignment.pk).update(
        created_at=WINTER, due_date=date(2027, 2, 1)
    )
    Answer.objects.filter(pk=world.answer.pk).update(created_at=SUMMER, updated_at=SUMMER)
    Comment.objects.filter(pk=world.comment.pk).update(created_at=WINTER)


def _no_raw_timestamps(page):
    assert not re.search(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}", page)
    assert "+00:00" not in page and "123456" not in page and "654321" not in page
    assert not re.search(r"\b2026-07-1[45]\b|\b2027-0[12]-0[19]\b", page)


@pytest.mark.parametrize(
    ("language", "summer", "winter", "due"),
    [
        ("nl", "15 juli 2026 00:30", "9 januari 2027 09:15", "1 februari 2027"),
        ("en", "July 15, 2026, 12:30 a.m.", "Jan. 9, 2027, 9:15 a.m.", "Feb. 1, 2027"),
    ],
)
def test_dates_are_amsterdam_time_in_the_persons_language(
    world, login, language, summer, winter, due
):
    _dated_world(world)
    User.objects.filter(pk=world.client_a.pk).update(language=language)
    world.client_a.refresh_from_db()
    page = login(world.client_a).get(reverse("privacy:data")).content.decode()
    assert summer in page  # the message, and the answer
    assert winter in page  # the assignment, and the comment
    assert due in page
    _no_raw_timestamps(page)


def test_the_privacy_statement_date_is_in_the_readers_language(client, world, login):
    page = client.get(reverse("privacy:statement")).content.decode()
    assert "27 november 2026" in page and "2026-11-27" not in page
    User.objects.filter(pk=world.client_a.pk).update(language="en")
    world.client_a.refresh_from_db()
    page = login(world.client_a).get(reverse("privacy:mine")).content.decode()
    assert "Nov. 27, 2026" in page and "2026-11-27" not in page
