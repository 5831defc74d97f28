"""Every kind of e-mail the app sends only notifies: no content, no names, no subjects."""

import pytest
from django.core import mail
from django.urls import reverse

from coaching.notifications import KINDS, render_notification
from tests.fixtures.world import SECRET

pytestmark = [pytest.mark.app, pytest.mark.control("APP-03")]


def _assert_clean(world, message):
    """No secret text, no title, no part of either person's name, in subject or body."""
    text = message.subject + "\n" + message.body
    assert SECRET not in text
    assert world.assignment.title not in text
    for person in (world.client_a, world.coach_a):
        for part in person.full_name.split():
            assert part not in text


@pytest.mark.parametrize("kind", sorted(KINDS))
@pytest.mark.parametrize("language", ["nl", "en"])
def test_every_kind_renders_without_content(world, kind, language):
    world.client_a.language = language
    subject, body = render_notification(world.client_a, kind)
    assert "http" in body  # it does say where to sign in
    for person in (world.client_a, world.coach_a):
        for part in person.full_name.split():
            assert part not in subject and part not in body


def _sent_by(world, login, actor, url, data, django_capture_on_commit_callbacks):
    mail.outbox.clear()
    http = login(getattr(world, actor))
    with django_capture_on_commit_callbacks(execute=True):
        response = http.post(url, data)
    assert response.status_code == 302
    assert len(mail.outbox) == 1
    return mail.outbox[0]


def test_mail_sent_by_the_app_carries_no_content(world, login, django_capture_on_commit_callbacks):
    """Drive every view that mails, with secret text in the input, and inspect what is sent."""
    cases = [
        (
            "coach_a",
            reverse("coaching:dialogue", args=[world.client_a.pk]),
            {"body": f"{SECRET} from coach"},
            world.client_a.email,
        ),
        (
            "client_a",
            reverse("coaching:dialogue", args=[world.client_a.pk]),
            {"body": f"{SECRET} from client"},
            world.coach_a.email,
        ),
        (
            "coach_a",
            reverse("coaching:assignment_create", args=[world.client_a.pk]),
            {"title": f"{SECRET} title", "instructions": f"{SECRET} do this"},
            world.client_a.email,
        ),
        (
            "client_a",
            reverse("coaching:answer", args=[world.assignment.pk]),
            {"body": f"{SECRET} my answer"},
            world.coach_a.email,
        ),
        (
            "coach_a",
            reverse("coaching:comment", args=[world.assignment.pk]),
            {"body": f"{SECRET} well done"},
            world.client_a.email,
        ),
    ]
    for actor, url, data, recipient in cases:
        message = _sent_by(world, login, actor, url, data, django_capture_on_commit_callbacks)
        assert message.to == [recipient]
        _assert_clean(world, message)
        assert not message.attachments
        assert not getattr(message, "alternatives", None)


def test_a_mail_failure_does_not_lose_the_message(
    world, login, settings, django_capture_on_commit_callbacks
):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = 9  # discard port: nothing listens, the connection is refused
    http = login(world.coach_a)
    url = reverse("coaching:dialogue", args=[world.client_a.pk])
    with django_capture_on_commit_callbacks(execute=True):
        response = http.post(url, {"body": "still delivered in the app"})
    assert response.status_code == 302
    assert world.client_a.pk in {
        m.client_id for m in type(world.message).objects.filter(body="still delivered in the app")
    }
