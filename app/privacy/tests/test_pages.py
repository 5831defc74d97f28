"""The privacy page, requests, self-service erasure and the staff pages: owner, colleague,
outsider; bad input gets a clear error and changes nothing."""

from datetime import UTC

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from coaching.models import Message
from privacy.forms import issue_token
from privacy.models import (
    AccessKind,
    AccessLogEntry,
    PrivacyRequest,
    ProcessingRestriction,
    RequestStatus,
    one_month_after,
)
from tests.fixtures.world import PASSWORD, SECRET

pytestmark = [pytest.mark.app, pytest.mark.control("PRIV-01")]


def _dialogue(world):
    return reverse("coaching:dialogue", args=[world.client_a.pk])


@pytest.mark.control("PRIV-06")
def test_a_coach_opening_the_dossier_is_logged_and_shown_to_the_client(world, login):
    login(world.coach_a).get(_dialogue(world))
    login(world.coach_a).get(_dialogue(world))  # coalesced: one entry per quarter of an hour
    login(world.coach_a).get(reverse("coaching:assignment_detail", args=[world.assignment.pk]))
    entries = AccessLogEntry.objects.filter(subject=world.client_a)
    assert sorted(e.kind for e in entries) == [AccessKind.ASSIGNMENT, AccessKind.DIALOGUE]
    page = login(world.client_a).get(reverse("privacy:mine")).content.decode()
    assert world.coach_a.full_name in page and "opened the dialogue" in page


@pytest.mark.control("PRIV-06")
def test_a_client_opening_their_own_dialogue_is_not_logged(world, login):
    login(world.client_a).get(_dialogue(world))
    assert not AccessLogEntry.objects.exists()


@pytest.mark.control("PRIV-06")
def test_the_access_log_is_scoped_to_its_subject(world, login):
    login(world.coach_a).get(_dialogue(world))
    for outsider in ("client_b", "coach_b", "manager", "other_manager"):
        page = login(world.actor(outsider)).get(reverse("privacy:mine")).content.decode()
        assert "opened the dialogue" not in page, outsider
    assert AccessLogEntry.objects.for_user(world.coach_a).count() == 0


def test_the_page_shows_the_data_held_and_the_statement_version(world, login):
    page = login(world.client_a).get(reverse("privacy:mine")).content.decode()
    assert world.client_a.email in page and "Organisation A" in page
    assert "version 1.1" in page.lower()
    assert SECRET not in page  # counts and links, the content stays on its own pages
    assert reverse("privacy:delete") in page


def test_the_statement_explains_the_complaint_route(client):
    page = client.get(reverse("privacy:statement")).content.decode()
    assert "Autoriteit Persoonsgegevens" in page and "088 - 1805 250" in page


def test_a_request_is_recorded_with_its_deadline(world, login):
    response = login(world.coach_a).post(
        reverse("privacy:request"), {"kind": "erasure", "details": "I leave the practice."}
    )
    assert response.status_code == 302
    req = PrivacyRequest.objects.get(user=world.coach_a)
    assert req.status == RequestStatus.OPEN and req.role == "coach"
    assert req.due_at.date() == one_month_after(req.created_at).date()


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"kind": "correction", "details": " "}, "Tell us what this request is about."),
        ({"kind": "sell-my-data", "details": "x"}, "Select a valid choice."),
        ({"kind": "complaint", "details": "x" * 2001}, "at most 2000"),
    ],
)
def test_a_bad_request_gets_a_clear_error(world, login, data, error):
    User.objects.filter(pk=world.client_a.pk).update(language="en")
    response = login(world.client_a).post(reverse("privacy:request"), data)
    assert response.status_code == 200 and error in response.content.decode()
    assert PrivacyRequest.objects.count() == 1


# --- self-service erasure ---------------------------------------------------------------


def _delete(http, user, **overrides):
    data = {
        "password": PASSWORD,
        "confirmation": user.email.upper(),
        "token": issue_token(user, "delete"),
        **overrides,
    }
    return http.post(reverse("privacy:delete"), data)


def test_a_client_deletes_their_own_account(world, login):
    http = login(world.client_a)
    response = _delete(http, world.client_a)
    assert response.status_code == 302 and response["Location"] == reverse("privacy:statement")
    assert not User.objects.filter(pk=world.client_a.pk).exists()
    assert Message.objects.count() == 0
    record = PrivacyRequest.objects.get(kind="erasure")
    assert record.source == "self_service" and record.user is None
    # signed out: the next page asks to sign in
    assert http.get(reverse("privacy:mine")).status_code == 302


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"password": "Wrong-Password-1"}, "That password is not correct."),
        ({"confirmation": "client.b@a.test"}, "That is not your e-mail address."),
        ({"confirmation": ""}, "This field is required."),
        ({"token": "forged"}, "This form is not valid any more."),
    ],
)
def test_a_bad_confirmation_deletes_nothing(world, login, overrides, error):
    User.objects.filter(pk=world.client_a.pk).update(language="en")
    response = _delete(login(world.client_a), world.client_a, **overrides)
    assert response.status_code == 200 and error in response.content.decode()
    assert User.objects.filter(pk=world.client_a.pk).exists()
    assert Message.objects.count() == 1


def test_a_token_of_another_client_deletes_nobody(world, login):
    http = login(world.client_b)
    response = _delete(http, world.client_b, token=issue_token(world.client_a, "delete"))
    assert "This form is not valid any more." in response.content.decode()
    assert User.objects.filter(pk__in=[world.client_a.pk, world.client_b.pk]).count() == 2


@pytest.mark.parametrize("actor", ["coach_a", "manager", "staff"])
def test_only_clients_delete_themselves(world, login, actor):
    person = world.actor(actor)
    assert _delete(login(person), person).status_code == 404
    assert User.objects.filter(pk=person.pk).exists()


# --- staff ------------------------------------------------------------------------------


def _staff_url(world):
    return reverse("privacy:staff_request", args=[world.privacy_request.pk])


def test_staff_see_requests_with_deadline_and_no_content(world, login):
    PrivacyRequest.objects.filter(pk=world.privacy_request.pk).update(
        due_at=timezone.now() - timezone.timedelta(days=1)
    )
    page = login(world.staff).get(reverse("privacy:staff_requests")).content.decode()
    assert "overdue" in page and _staff_url(world) in page
    detail = login(world.staff).get(_staff_url(world)).content.decode()
    assert world.client_a.email in detail and SECRET not in detail
    # staff viewing the profile is logged for the person
    assert AccessLogEntry.objects.filter(
        subject=world.client_a, actor=world.staff, kind=AccessKind.PRIVACY_REQUEST
    ).exists()


def test_staff_close_a_request_with_what_was_done(world, login):
    response = login(world.staff).post(
        _staff_url(world), {"action": "handle", "status": "done", "outcome": "Name corrected."}
    )
    assert response.status_code == 302
    req = PrivacyRequest.objects.get(pk=world.privacy_request.pk)
    assert req.status == "done" and req.handled_by == world.staff and req.handled_at
    # a second close is refused and changes nothing
    response = login(world.staff).post(
        _staff_url(world), {"action": "handle", "status": "refused", "outcome": "Other"}
    )
    req.refresh_from_db()
    assert req.status == "done" and req.outcome == "Name corrected."


@pytest.mark.parametrize(
    "data",
    [
        {"action": "handle", "status": "open", "outcome": "x"},
        {"action": "handle", "status": "done", "outcome": ""},
        {"action": "launch"},
    ],
)
def test_bad_staff_input_changes_nothing(world, login, data):
    response = login(world.staff).post(_staff_url(world), data, follow=True)
    assert response.status_code == 200
    req = PrivacyRequest.objects.get(pk=world.privacy_request.pk)
    assert req.status == "open" and req.handled_at is None


def test_staff_carry_out_an_erasure_request(world, login):
    req = PrivacyRequest.objects.create(user=world.coach_b, kind="erasure", role="coach")
    url = reverse("privacy:staff_request", args=[req.pk])
    http = login(world.staff)
    response = http.post(url, {"action": "erase", "confirmation": "erase"})
    assert "Type ERASE in capitals" in response.content.decode()
    assert User.objects.filter(pk=world.coach_b.pk).exists()
    # an erasure request of another kind cannot erase
    response = http.post(_staff_url(world), {"action": "erase", "confirmation": "ERASE"})
    assert User.objects.filter(pk=world.client_a.pk).exists()

    response = http.post(url, {"action": "erase", "confirmation": "ERASE"})
    assert response.status_code == 302
    assert not User.objects.filter(pk=world.coach_b.pk).exists()
    req.refresh_from_db()
    assert req.status == "done" and req.user is None and req.handled_by == world.staff
    assert "role: coach" in req.outcome
    assert User.objects.get(pk=world.client_b.pk).coach is None


def test_staff_restrict_and_lift(world, login):
    http = login(world.staff)
    http.post(_staff_url(world), {"action": "restrict"})
    assert ProcessingRestriction.objects.filter(user=world.client_a).exists()
    http.post(_staff_url(world), {"action": "lift"})
    assert not ProcessingRestriction.objects.exists()


def test_an_unknown_request_answers_404(world, login):
    http = login(world.staff)
    assert http.get(reverse("privacy:staff_request", args=[999999])).status_code == 404


@pytest.mark.parametrize("actor", ["manager", "coach_a", "client_a", "other_manager"])
def test_nobody_but_staff_handles_requests(world, login, actor):
    http = login(world.actor(actor))
    response = http.post(_staff_url(world), {"action": "restrict"})
    assert response.status_code == 404
    assert not ProcessingRestriction.objects.exists()


@pytest.mark.control("PRIV-06")
def test_a_manager_or_staff_opening_a_profile_is_logged(world, login):
    from safecoach.tests.admin_sessions import admin_session, with_two_step

    login(world.manager).get(reverse("organisations:person_edit", args=[world.client_a.pk]))
    staff = admin_session(login(None), with_two_step(world.staff))  # as the admin admits staff
    staff.get(reverse("admin:accounts_user_change", args=[world.client_a.pk]))
    login(world.manager).get(reverse("organisations:people"))  # a list opens nobody's profile
    entries = AccessLogEntry.objects.filter(subject=world.client_a, kind=AccessKind.PROFILE)
    assert sorted(e.actor_role for e in entries) == ["manager", "staff"]
    page = login(world.client_a).get(reverse("privacy:mine")).content.decode()
    assert world.manager.full_name in page  # a manager of the client's own organisation
    assert world.staff.full_name not in page  # staff are shown by role only


@pytest.mark.control("PRIV-06")
def test_a_refused_profile_visit_is_not_logged(world, login):
    login(world.other_manager).get(reverse("organisations:person_edit", args=[world.client_a.pk]))
    login(world.coach_b).get(reverse("admin:accounts_user_change", args=[world.client_a.pk]))
    assert not AccessLogEntry.objects.exists()


@pytest.mark.control("PRIV-04")
def test_a_manager_cannot_change_a_restricted_person(world, login):
    ProcessingRestriction.objects.create(user=world.client_a)
    http = login(world.manager)
    url = reverse("organisations:person_edit", args=[world.client_a.pk])
    assert http.get(url).status_code == 200
    response = http.post(url, {"full_name": "Renamed", "email": world.client_a.email})
    assert response.status_code == 403
    assert User.objects.get(pk=world.client_a.pk).full_name == world.client_a.full_name
    response = http.post(reverse("organisations:person_delete", args=[world.client_a.pk]))
    assert response.status_code == 403 and User.objects.filter(pk=world.client_a.pk).exists()


def test_all_data_on_one_page_for_the_owner_only(world, login):
    page = login(world.client_a).get(reverse("privacy:data")).content.decode()
    for text in (world.message.body, world.assignment.instructions, world.answer.body):
        assert text in page
    assert world.note.body not in page  # professional secrecy
    for outsider in ("client_b", "coach_b", "manager"):
        page = login(world.actor(outsider)).get(reverse("privacy:data")).content.decode()
        assert SECRET not in page, outsider


@pytest.mark.parametrize(
    ("received", "deadline"),
    [
        ((2026, 1, 15), (2026, 2, 15)),
        ((2026, 1, 31), (2026, 2, 28)),
        ((2028, 1, 31), (2028, 2, 29)),
        ((2026, 12, 20), (2027, 1, 20)),
    ],
)
def test_the_deadline_is_one_calendar_month(received, deadline):
    from datetime import datetime

    moment = datetime(*received, 9, 30, tzinfo=UTC)
    assert one_month_after(moment) == datetime(*deadline, 9, 30, tzinfo=UTC)
