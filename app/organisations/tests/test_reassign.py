"""Reassigning a client (docs/app.md, "Reassigning a client")."""

import pytest
from django.urls import reverse

from accounts.models import Role
from coaching.models import Answer, Assignment, Comment, Message, Note
from organisations.services import ReassignmentError, reassign_client
from tests.fixtures.world import SECRET, make_person

pytestmark = pytest.mark.app


def coach_url(person):
    return reverse("organisations:client_coach", args=[person.pk])


def visible(model, user):
    return set(model.objects.for_user(user).values_list("pk", flat=True))


def test_reassignment_rule(as_owner, colleague, coach_a2, client_a, dialogue):
    old_notes_of_others = Note.objects.create(coach=coach_a2, client=client_a, body="kept")
    response = as_owner.post(coach_url(client_a), {"coach": coach_a2.pk})
    assert response.status_code == 302
    client_a.refresh_from_db()
    assert client_a.coach == coach_a2

    # The old coach's private notes about this client are gone.
    assert not Note.objects.filter(coach=colleague, client=client_a).exists()
    assert Note.objects.filter(pk=old_notes_of_others.pk).exists()

    # Messages and assignments stay attached to the old pair.
    for message in dialogue["messages"]:
        message.refresh_from_db()
        assert message.coach == colleague
    assert Assignment.objects.get(pk=dialogue["assignment"].pk).coach == colleague

    # The client keeps seeing all of it.
    assert visible(Message, client_a) == {m.pk for m in dialogue["messages"]}
    assert visible(Assignment, client_a) == {dialogue["assignment"].pk}
    assert visible(Answer, client_a) == {dialogue["answer"].pk}
    assert visible(Comment, client_a) == {dialogue["comment"].pk}

    # The new coach sees nothing of the earlier dialogue, the old coach nothing at all.
    for coach in (coach_a2, colleague):
        for model in (Message, Assignment, Answer, Comment):
            assert not visible(model, coach), (coach, model)
    assert not visible(Note, colleague)

    # What is exchanged from now on is the new pair's.
    new = Message.objects.create(coach=coach_a2, client=client_a, sender=client_a, body="Hallo")
    assert visible(Message, coach_a2) == {new.pk}
    assert visible(Message, client_a) == {m.pk for m in dialogue["messages"]} | {new.pk}
    assert not visible(Message, colleague)


def test_the_confirm_page_warns_about_the_notes(as_owner, client_a, dialogue):
    body = as_owner.get(coach_url(client_a)).content.decode()
    assert "notes" in body and "deleted" in body
    assert SECRET not in body


def test_choosing_the_same_coach_changes_nothing(as_owner, colleague, client_a, dialogue):
    as_owner.post(coach_url(client_a), {"coach": colleague.pk})
    assert Note.objects.filter(pk=dialogue["note"].pk).exists()
    client_a.refresh_from_db()
    assert client_a.coach == colleague


def test_removing_the_coach_follows_the_same_rule(as_owner, colleague, client_a, dialogue):
    as_owner.post(coach_url(client_a), {"coach": ""})
    client_a.refresh_from_db()
    assert client_a.coach is None
    assert not Note.objects.exists()
    assert visible(Message, client_a) == {m.pk for m in dialogue["messages"]}
    assert not visible(Message, colleague)


def test_assigning_a_coach_to_a_client_without_one(as_owner, org_a, coach_a2):
    loner = make_person("loner@a.test", "Loner", org_a, Role.CLIENT)
    as_owner.post(coach_url(loner), {"coach": coach_a2.pk})
    loner.refresh_from_db()
    assert loner.coach == coach_a2


@pytest.mark.parametrize("bad", ["coach_b", "client_b", "owner", "inactive_coach", "missing", "x"])
def test_tampered_coach_ids_are_form_errors(
    bad, request, as_owner, colleague, client_a, coach_a2, dialogue
):
    if bad == "inactive_coach":
        coach_a2.is_active = False
        coach_a2.save()
        value = coach_a2.pk
    elif bad == "missing":
        value = 987654
    elif bad == "x":
        value = "x"
    else:
        value = request.getfixturevalue(bad).pk
    response = as_owner.post(coach_url(client_a), {"coach": value})
    assert response.status_code == 200
    assert "coach" in response.context["form"].errors
    client_a.refresh_from_db()
    assert client_a.coach == colleague
    assert Note.objects.filter(pk=dialogue["note"].pk).exists()


def test_service_refuses_a_coach_of_another_organisation(client_a, coach_b, dialogue):
    with pytest.raises(ReassignmentError):
        reassign_client(client_a, coach_b)
    client_a.refresh_from_db()
    assert client_a.coach.email == "colleague@a.test"
    assert Note.objects.filter(pk=dialogue["note"].pk).exists()


def test_service_refuses_a_non_client(colleague, coach_a2):
    with pytest.raises(ReassignmentError):
        reassign_client(colleague, coach_a2)
