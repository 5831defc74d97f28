"""The dialogue works for its two people: sending, read status, pagination, notes."""

import pytest
from django.urls import reverse

from coaching.models import Message, Note

pytestmark = pytest.mark.app


def test_messages_are_marked_read_when_the_recipient_opens_the_page(world, login):
    url = reverse("coaching:dialogue", args=[world.client_a.pk])
    login(world.coach_a).get(url)
    world.message.refresh_from_db()
    assert world.message.read_at is None  # the sender's own visit changes nothing
    login(world.client_a).get(url)
    world.message.refresh_from_db()
    assert world.message.read_at is not None


def test_the_dialogue_is_paginated_newest_page_first(world, login, settings):
    settings.DIALOGUE_PAGE_SIZE = 5
    for i in range(12):
        Message.objects.create(
            coach=world.coach_a, client=world.client_a, sender=world.coach_a, body=f"m{i:02d}"
        )
    http = login(world.client_a)
    url = reverse("coaching:dialogue", args=[world.client_a.pk])
    first = http.get(url).content.decode()
    assert "m11" in first and "m07" in first and "m06" not in first
    last = http.get(url + "?page=3").content.decode()
    assert "m00" in last and "m01" in last
    assert http.get(url + "?page=not-a-number").status_code == 200


def test_a_coach_sees_only_their_own_pair_after_a_reassignment(world, login):
    world.client_a.coach = world.coach_b
    world.client_a.save()
    url = reverse("coaching:dialogue", args=[world.client_a.pk])
    assert login(world.coach_a).get(url).status_code == 404
    page = login(world.coach_b).get(url).content.decode()
    assert world.message.body not in page
    assert world.message.body in login(world.client_a).get(url).content.decode()


def test_a_coach_writes_edits_and_deletes_a_private_note(world, login):
    http = login(world.coach_a)
    http.post(reverse("coaching:notes", args=[world.client_a.pk]), {"body": "first thought"})
    note = Note.objects.get(body="first thought")
    http.post(reverse("coaching:note_edit", args=[note.pk]), {"body": "second thought"})
    note.refresh_from_db()
    assert note.body == "second thought"
    http.post(reverse("coaching:note_delete", args=[note.pk]))
    assert not Note.objects.filter(pk=note.pk).exists()


def test_the_client_answers_and_the_coach_comments(world, login):
    url = reverse("coaching:assignment_detail", args=[world.assignment.pk])
    login(world.client_a).post(
        reverse("coaching:answer", args=[world.assignment.pk]), {"body": "revised"}
    )
    login(world.coach_a).post(
        reverse("coaching:comment", args=[world.assignment.pk]), {"body": "good"}
    )
    page = login(world.client_a).get(url).content.decode()
    assert "revised" in page and "good" in page


def test_a_page_number_outside_the_dialogue_shows_the_oldest_page(world, login, settings):
    settings.DIALOGUE_PAGE_SIZE = 5
    for i in range(11):  # with the world's message: 12, on pages of 5, 5 and 2
        Message.objects.create(
            coach=world.coach_a, client=world.client_a, sender=world.coach_a, body=f"m{i:02d}"
        )
    http = login(world.client_a)
    url = reverse("coaching:dialogue", args=[world.client_a.pk])
    middle = http.get(url + "?page=2").content.decode()
    assert "m05" in middle and "m01" in middle and "m00" not in middle
    assert "?page=3" in middle and "?page=1" in middle
    for number in ("999", "0", "-1", "99999999999999999999999"):
        page = http.get(url + f"?page={number}").content.decode()
        assert "m00" in page and "m01" not in page, number
        assert "?page=2" in page and "?page=4" not in page, number
    first = http.get(url + "?page=1.5").content.decode()
    assert "m10" in first and "?page=2" in first and "?page=0" not in first
