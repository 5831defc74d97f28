"""Erasure is complete: every model that references a user is accounted for, and erasing a
person leaves no row that names them. It runs in one transaction."""

import pytest
from django.apps import apps
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.contrib.sessions.models import Session
from django.db import models
from django.urls import reverse

from accounts.models import User
from coaching.models import Answer, Assignment, Comment, Message, Note
from privacy.access_log import record_access
from privacy.erasure import erase_user
from privacy.models import (
    AccessKind,
    AccessLogEntry,
    PrivacyRequest,
    ProcessingRestriction,
    RequestSource,
    RequestStatus,
    RetentionNotice,
)
from tests.fixtures.world import SECRET

pytestmark = [pytest.mark.app, pytest.mark.control("PRIV-03")]

# Every model with a relation to the user model: what happens to it in the export and on erasure.
# A new model that references a user fails test_every_user_reference_is_accounted_for until it
# is added here (and to the export, or excluded with a reason).
USER_REFERENCES = {
    "accounts.User": ("export: profile.json", "erasure: deleted"),
    "coaching.Message": ("export: dialogue.json", "erasure: every message of the person's pairs"),
    "coaching.Assignment": (
        "export: assignments.json",
        "erasure: every assignment of the person's pairs, answers and comments with it",
    ),
    "coaching.Note": (
        "excluded from the export: the coach's professional records under professional secrecy",
        "erasure: every note of the person's pairs (as coach or as client)",
    ),
    "privacy.AccessLogEntry": (
        "export: access_log.json (entries about the person)",
        "erasure: entries about the person deleted; as the one who looked, the link is cleared",
    ),
    "privacy.PrivacyRequest": (
        "export: privacy_requests.json",
        "erasure: link cleared and details emptied; the record stays (AVG art. 5(2))",
    ),
    "privacy.ProcessingRestriction": (
        "export: profile.json processing_restricted",
        "erasure: deleted",
    ),
    "privacy.RetentionNotice": (
        "excluded from the export: internal state of the retention job (a date)",
        "erasure: deleted",
    ),
    "admin.LogEntry": (
        "excluded from the export: staff's own audit trail, holds no data of a non-staff user",
        "erasure: entries about the account deleted; a staff member's own entries deleted",
    ),
    # The sign-in work (accounts app): listed ahead so the merge finds them accounted for.
    "accounts.TwoFactor": (
        "export: profile.json two_step (method and phone number; never the key)",
        "erasure: deleted (cascade)",
    ),
    "accounts.OneTimeCode": (
        "excluded from the export: short-lived hashed codes, security data",
        "erasure: deleted (cascade)",
    ),
    "accounts.BackupCode": (
        "excluded from the export: hashed codes, security data",
        "erasure: deleted (cascade)",
    ),
    "accounts.Invitation": (
        "excluded from the export: a used or expired sign-up link, hashed",
        "erasure: deleted (cascade); as the one who invited, the link is cleared",
    ),
    "auth.Group": ("excluded: permission groups, not personal data", "erasure: link removed"),
    "auth.Permission": ("excluded: permissions, not personal data", "erasure: link removed"),
}


def _user_relations():
    """(model label, field) for every field of every model that points at the user model."""
    user_model = get_user_model()
    found = []
    for model in apps.get_models():
        for field in model._meta.get_fields():
            if not field.is_relation or field.related_model is not user_model:
                continue
            if field.auto_created and not field.concrete:
                # reverse side of a relation defined elsewhere; the model defining it is listed,
                # except the user model's own many-to-many fields
                if isinstance(field, models.ManyToManyRel):
                    found.append((field.related_model._meta.label, field))
                    found.append((field.model._meta.label, field))
                continue
            found.append((model._meta.label, field))
    return found


def test_every_user_reference_is_accounted_for():
    labels = {label for label, _field in _user_relations()}
    missing = labels - set(USER_REFERENCES)
    assert missing == set(), f"models referencing a user without an export/erasure rule: {missing}"


def _rows_naming(user_id, email, name):
    """Every row of every model that holds the id (in a user relation), e-mail or name."""
    hits = []
    user_model = get_user_model()
    for model in apps.get_models():
        for field in model._meta.concrete_fields:
            if field.is_relation and field.related_model is user_model:
                if model.objects.filter(**{field.attname: user_id}).exists():
                    hits.append(f"{model._meta.label}.{field.name}")
            elif isinstance(field, models.CharField | models.TextField):
                for needle in (email, name):
                    if model.objects.filter(**{f"{field.name}__icontains": needle}).exists():
                        hits.append(f"{model._meta.label}.{field.name} contains {needle!r}")
        if model is Session:
            for session in Session.objects.all():
                if session.get_decoded().get("_auth_user_id") == str(user_id):
                    hits.append("session")
    return hits


def _enrich(world, client):
    """Give the world every kind of row that can name client A."""
    record_access(world.coach_a, world.client_a, AccessKind.DIALOGUE)
    record_access(world.client_a, world.client_a, AccessKind.EXPORT)
    ProcessingRestriction.objects.create(user=world.client_b)
    LogEntry.objects.log_actions(
        user_id=world.staff.pk,
        queryset=[world.client_a],
        action_flag=CHANGE,
        change_message="changed",
        single_object=True,
    )
    client.force_login(world.client_a)


def test_erasing_a_client_leaves_nothing_that_names_them(world, client):
    _enrich(world, client)
    person = world.client_a
    ident = (person.pk, person.email, person.full_name)
    assert _rows_naming(*ident)  # the check does find them beforehand

    record = erase_user(person, source=RequestSource.SELF_SERVICE)

    assert _rows_naming(*ident) == []
    assert not User.objects.filter(pk=person.pk).exists()
    for model in (Message, Assignment, Answer, Comment, Note):
        assert model.objects.count() == 0
    # the coach and the other people stay, the colleague's data too
    assert User.objects.filter(pk=world.coach_a.pk).exists()
    assert ProcessingRestriction.objects.filter(user=world.client_b).exists()
    # the record keeps what was done, not who
    assert record.status == RequestStatus.DONE and record.user is None and record.role == "client"
    assert "messages 1" in record.outcome and "notes 1" in record.outcome
    for needle in (person.email, person.full_name, SECRET):
        assert needle not in record.outcome
    # the earlier request of the person stays as a record, without their words
    earlier = PrivacyRequest.objects.get(pk=world.privacy_request.pk)
    assert earlier.user is None and earlier.details == "" and earlier.kind == "correction"


def test_erasing_a_coach_keeps_the_clients_and_anonymises_the_log(world):
    record_access(world.coach_a, world.client_a, AccessKind.DIALOGUE)
    coach = world.coach_a
    erase_user(coach, source=RequestSource.STAFF, handled_by=world.staff)

    assert _rows_naming(coach.pk, coach.email, coach.full_name) == []
    client_a = User.objects.get(pk=world.client_a.pk)
    assert client_a.coach is None  # keeps the account, without a coach (docs/app.md)
    assert Message.objects.count() == 0 and Note.objects.count() == 0
    entry = AccessLogEntry.objects.get(subject=client_a)
    assert entry.actor is None and entry.actor_role == "coach"  # the fact stays, not the person


def test_deleting_an_account_any_other_way_clears_the_references(world):
    """Managers delete people on their own screens (a plain delete): the receiver still cleans up."""
    record_access(world.coach_a, world.client_a, AccessKind.DIALOGUE)
    coach = world.coach_a
    coach.delete()
    assert AccessLogEntry.objects.get(subject=world.client_a).actor is None
    world.client_a.delete()
    request = PrivacyRequest.objects.get(pk=world.privacy_request.pk)
    assert request.user is None and request.details == ""


def test_an_interrupted_erasure_changes_nothing(world, monkeypatch):
    RetentionNotice.objects.create(
        user=world.client_a,
        last_seen_at=world.client_a.date_joined,
        sent_at=world.client_a.date_joined,
    )

    def explode(self, *args, **kwargs):
        raise RuntimeError("power cut")

    monkeypatch.setattr(User, "delete", explode)
    counts = {m: m.objects.count() for m in (Message, Assignment, Answer, Comment, Note, User)}
    with pytest.raises(RuntimeError):
        erase_user(world.client_a, source=RequestSource.SELF_SERVICE)
    assert {m: m.objects.count() for m in counts} == counts
    assert PrivacyRequest.objects.filter(user=world.client_a, details="Typo").exists()
    assert RetentionNotice.objects.filter(user=world.client_a).exists()
    assert not PrivacyRequest.objects.filter(kind="erasure").exists()


def test_erasure_removes_the_admin_history_about_the_account(world):
    LogEntry.objects.log_actions(
        user_id=world.staff.pk,
        queryset=[world.client_a],
        action_flag=CHANGE,
        change_message="changed",
        single_object=True,
    )
    ct = ContentType.objects.get_for_model(User)
    erase_user(world.client_a, source=RequestSource.STAFF)
    assert not LogEntry.objects.filter(content_type=ct).exists()


def test_a_manager_deleting_a_person_erases_and_records_it(world, login):
    person = world.client_a
    response = login(world.manager).post(reverse("organisations:person_delete", args=[person.pk]))
    assert response.status_code == 302
    assert _rows_naming(person.pk, person.email, person.full_name) == []
    record = PrivacyRequest.objects.get(kind="erasure")
    assert record.source == RequestSource.ORGANISATION and record.organisation == world.org_a
