"""Erasure (AVG art. 17): `erase_user` removes a person and every row that holds their data.

One database transaction: either everything below happens or nothing does.

Deleted: the account; every message, assignment (with its answer and comments) and private
note of a pair the person belongs to, as coach or as client (so a client's coach loses the
dialogue with them, and a coach's clients lose the dialogue with that coach, as docs/app.md
defines for deleting people); the access log about the person; their restriction and retention
notice; their sessions; the staff admin's history entries about their account.

Anonymised, because another person's record must stay:
- access log entries where the person was the one who looked (the subject keeps the fact that
  "a coach" opened their data; the link to the erased account is cleared);
- privacy requests the person made (kept to show the platform answered them, AVG art. 5(2));
  the link is cleared and their own words (`details`) are emptied;
- privacy requests the person handled as staff (the link to them is cleared).

The record of the erasure itself is a `PrivacyRequest` holding only the role, organisation,
dates and counts: no name, no e-mail address, no content.
"""

from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.contrib.sessions.models import Session
from django.db import transaction
from django.db.models import Q
from django.db.models.signals import pre_delete
from django.dispatch import receiver
from django.utils import timezone

from accounts.models import User
from coaching.models import Answer, Assignment, Comment, Message, Note
from privacy.models import (
    AccessLogEntry,
    PrivacyRequest,
    RequestKind,
    RequestSource,
    RequestStatus,
)


def _role_of(user):
    return user.role or ("staff" if user.is_staff else "")


def _pair_filter(user):
    return Q(coach=user) | Q(client=user)


def count_data(user):
    """What erasing `user` would delete, by kind (used for the record and for --dry-run)."""
    assignments = Assignment.objects.filter(_pair_filter(user))
    return {
        "messages": Message.objects.filter(_pair_filter(user) | Q(sender=user)).count(),
        "assignments": assignments.count(),
        "answers": Answer.objects.filter(assignment__in=assignments).count(),
        "comments": Comment.objects.filter(assignment__in=assignments).count(),
        "notes": Note.objects.filter(_pair_filter(user)).count(),
        "access_log": AccessLogEntry.objects.filter(subject=user).count(),
    }


def describe(role, counts):
    """The outcome text of an erasure: only the role and numbers, never who."""
    parts = ", ".join(f"{key} {value}" for key, value in counts.items())
    return f"Account erased (role: {role or 'none'}); deleted: {parts}."


def _delete_sessions(user_id):
    key = str(user_id)
    for session in Session.objects.filter(expire_date__gt=timezone.now()).iterator():
        if session.get_decoded().get("_auth_user_id") == key:
            session.delete()


def _clear_references(user):
    """Rows of other apps that name the person and that a plain cascade would leave behind."""
    AccessLogEntry.objects.filter(actor=user).update(actor=None)
    PrivacyRequest.objects.filter(user=user).update(user=None, details="")
    PrivacyRequest.objects.filter(handled_by=user).update(handled_by=None)
    LogEntry.objects.filter(
        content_type=ContentType.objects.get_for_model(User), object_id=str(user.pk)
    ).delete()
    _delete_sessions(user.pk)


@receiver(pre_delete, sender=User, dispatch_uid="privacy_clear_references")
def _on_user_delete(sender, instance, **kwargs):
    # Every way of deleting an account (a manager, the admin, erase_user) clears these rows.
    _clear_references(instance)


@transaction.atomic
def erase_user(user, *, source, handled_by=None, privacy_request=None, now=None):
    """Erase `user` completely; returns the PrivacyRequest that records what was done.

    `privacy_request`, when given, is the person's own erasure request being carried out;
    otherwise a new record is made with `source` (self-service, retention or staff).
    """
    now = now or timezone.now()
    user = User.objects.select_for_update().get(pk=user.pk)
    role = _role_of(user)
    organisation_id = user.organisation_id
    counts = count_data(user)
    Message.objects.filter(_pair_filter(user) | Q(sender=user)).delete()
    Assignment.objects.filter(_pair_filter(user)).delete()  # answers and comments cascade
    Note.objects.filter(_pair_filter(user)).delete()
    AccessLogEntry.objects.filter(subject=user).delete()
    user.delete()  # the pre_delete receiver clears the remaining references

    record = privacy_request or PrivacyRequest(
        kind=RequestKind.ERASURE, source=source, created_at=now, due_at=now
    )
    record.user = None
    record.details = ""
    record.role = role
    record.organisation_id = organisation_id
    record.status = RequestStatus.DONE
    record.handled_by = handled_by
    record.handled_at = now
    record.outcome = describe(role, counts)
    record.save()
    return record


__all__ = ["RequestSource", "count_data", "erase_user"]
