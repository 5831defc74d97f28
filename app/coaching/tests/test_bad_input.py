"""Bad input gets a clear form error or a 404: never a 500, never a change to others' data."""

import pytest
from django.core.exceptions import NON_FIELD_ERRORS
from django.urls import reverse

from coaching.models import MESSAGE_MAX_LENGTH, Answer, Assignment, Message, Note
from tests.fixtures.world import SECRET, make_user

pytestmark = [pytest.mark.app, pytest.mark.control("APP-07")]


@pytest.fixture
def coach(world, login):
    return login(world.coach_a)


def dialogue_url(world):
    return reverse("coaching:dialogue", args=[world.client_a.pk])


@pytest.mark.parametrize("body", ["", "   ", "\n\t"])
def test_an_empty_message_is_refused_with_a_form_error(world, coach, body):
    response = coach.post(dialogue_url(world), {"body": body})
    assert response.status_code == 200
    assert response.context["form"].errors["body"]
    assert Message.objects.count() == 1


def test_an_over_long_message_is_refused_with_a_form_error(world, coach):
    response = coach.post(dialogue_url(world), {"body": "x" * (MESSAGE_MAX_LENGTH + 1)})
    assert response.status_code == 200
    assert str(MESSAGE_MAX_LENGTH) in str(response.context["form"].errors["body"])
    assert Message.objects.count() == 1


def test_html_and_script_are_shown_as_text(world, coach, login):
    payload = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    coach.post(dialogue_url(world), {"body": payload})
    page = login(world.client_a).get(dialogue_url(world)).content.decode()
    assert payload not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page


def test_tampered_pair_fields_are_ignored(world, coach):
    """Posting someone else's ids next to the message changes nothing but this pair."""
    coach.post(
        dialogue_url(world),
        {
            "body": "hello",
            "coach": world.coach_b.pk,
            "client": world.client_b.pk,
            "sender": world.client_b.pk,
        },
    )
    message = Message.objects.get(body="hello")
    assert (message.coach, message.client, message.sender) == (
        world.coach_a,
        world.client_a,
        world.coach_a,
    )


def test_an_assignment_cannot_be_given_to_another_coachs_client(world, coach):
    url = reverse("coaching:assignment_create", args=[world.client_b.pk])
    response = coach.post(url, {"title": "T", "instructions": "I"})
    assert response.status_code == 404
    assert Assignment.objects.count() == 1


def test_tampering_the_client_field_of_an_assignment_is_ignored(world, coach):
    url = reverse("coaching:assignment_create", args=[world.client_a.pk])
    coach.post(url, {"title": "T", "instructions": "I", "client": world.client_b.pk})
    assert Assignment.objects.get(title="T").client == world.client_a


@pytest.mark.parametrize("due_date", ["not a date", "2026-13-45"])
def test_a_bad_due_date_is_a_form_error(world, coach, due_date):
    url = reverse("coaching:assignment_create", args=[world.client_a.pk])
    response = coach.post(url, {"title": "T", "instructions": "I", "due_date": due_date})
    assert response.status_code == 200
    assert response.context["form"].errors["due_date"]


@pytest.mark.parametrize("client_id", [0, 999999999, 2**63])
def test_unknown_ids_answer_404(world, coach, client_id):
    assert coach.get(f"/dialogue/{client_id}/").status_code == 404


def test_an_empty_answer_is_a_form_error_with_status_400(world, login):
    url = reverse("coaching:answer", args=[world.assignment.pk])
    response = login(world.client_a).post(url, {"body": ""})
    assert response.status_code == 400
    assert Answer.objects.get().body == f"Answer {SECRET}"


def test_a_client_cannot_answer_an_assignment_of_a_former_coach(world, login):
    world.client_a.coach = world.coach_b
    world.client_a.save()
    url = reverse("coaching:answer", args=[world.assignment.pk])
    response = login(world.client_a).post(url, {"body": "late answer"})
    assert response.status_code == 404
    assert Answer.objects.get().body == f"Answer {SECRET}"


def test_a_client_without_a_coach_gets_a_clear_error(world, login):
    loner = make_user("loner@a.test", "Lone Client", world.org_a, "client")
    url = reverse("coaching:dialogue", args=[loner.pk])
    response = login(loner).post(url, {"body": "anyone?"})
    assert response.status_code == 200
    assert response.context["form"].has_error(NON_FIELD_ERRORS, "no_coach")
    assert not Message.objects.filter(client=loner).exists()


def test_a_colleague_cannot_edit_or_delete_a_note(world, login):
    http = login(world.coach_b)
    edit = http.post(reverse("coaching:note_edit", args=[world.note.pk]), {"body": "mine now"})
    delete = http.post(reverse("coaching:note_delete", args=[world.note.pk]))
    assert (edit.status_code, delete.status_code) == (404, 404)
    assert Note.objects.get().body == f"Note {SECRET}"
