"""Restriction of processing: no notifications, read-only, nobody else opens the data."""

import pytest
from django.core import mail
from django.urls import reverse

from coaching.models import Message, Note
from coaching.notifications import notify
from privacy.models import ProcessingRestriction

pytestmark = [pytest.mark.app, pytest.mark.control("PRIV-04")]


@pytest.fixture
def restricted(world):
    ProcessingRestriction.objects.create(user=world.client_a)
    return world


def test_no_notification_to_a_restricted_account(restricted, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        notify(restricted.client_a, "message")
        notify(restricted.coach_a, "message")
    assert [m.to for m in mail.outbox] == [[restricted.coach_a.email]]


def test_the_coach_gets_no_mail_when_restricted(world, login, django_capture_on_commit_callbacks):
    ProcessingRestriction.objects.create(user=world.coach_a)
    http = login(world.client_a)
    with django_capture_on_commit_callbacks(execute=True):
        response = http.post(reverse("coaching:dialogue", args=[world.client_a.pk]), {"body": "hi"})
    assert response.status_code == 302
    assert mail.outbox == []


def test_a_restricted_client_can_read_but_not_write(restricted, login):
    http = login(restricted.client_a)
    url = reverse("coaching:dialogue", args=[restricted.client_a.pk])
    assert http.get(url).status_code == 200
    response = http.post(url, {"body": "new"})
    assert response.status_code == 403
    assert "read-only" in response.content.decode()
    assert Message.objects.count() == 1
    response = http.post(reverse("coaching:answer", args=[restricted.assignment.pk]), {"body": "x"})
    assert response.status_code == 403
    response = http.post(reverse("accounts:profile"), {"full_name": "Other", "language": "en"})
    assert response.status_code == 403


def test_a_restricted_client_can_still_use_the_privacy_pages(restricted, login):
    http = login(restricted.client_a)
    assert http.get(reverse("privacy:mine")).status_code == 200
    response = http.post(reverse("privacy:request"), {"kind": "restriction", "details": ""})
    assert response.status_code == 302


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("coaching:dialogue", lambda w: {"client_id": w.client_a.pk}),
        ("coaching:assignment_list", lambda w: {"client_id": w.client_a.pk}),
        ("coaching:assignment_detail", lambda w: {"pk": w.assignment.pk}),
        ("coaching:notes", lambda w: {"client_id": w.client_a.pk}),
        ("coaching:note_edit", lambda w: {"pk": w.note.pk}),
    ],
)
def test_the_coach_can_neither_open_nor_change_the_data(restricted, login, name, kwargs):
    http = login(restricted.coach_a)
    url = reverse(name, kwargs=kwargs(restricted))
    assert http.get(url).status_code == 403
    assert http.post(url, {"body": "more"}).status_code == 403
    assert Message.objects.count() == 1 and Note.objects.get().body == restricted.note.body


def test_a_colleague_still_gets_404_so_nothing_leaks(restricted, login):
    http = login(restricted.coach_b)
    assert http.get(reverse("coaching:dialogue", args=[restricted.client_a.pk])).status_code == 404
    assert http.get(reverse("coaching:notes", args=[restricted.client_a.pk])).status_code == 404


def test_lifting_the_restriction_restores_everything(restricted, login):
    ProcessingRestriction.objects.all().delete()
    http = login(restricted.coach_a)
    assert http.get(reverse("coaching:dialogue", args=[restricted.client_a.pk])).status_code == 200


def test_a_restricted_person_can_still_change_their_password(restricted, login):
    http = login(restricted.client_a)
    response = http.post(
        reverse("accounts:password_change"),
        {"old_password": "wrong", "new_password1": "x", "new_password2": "x"},
    )
    assert response.status_code == 200  # the form answers (here: wrong password), not a 403
