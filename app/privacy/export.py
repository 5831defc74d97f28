"""The machine-readable copy of a person's data (AVG art. 15 and 20): a ZIP of JSON files.

Files: README.txt, schema.json (a JSON Schema, draft 2020-12, for every file), profile.json,
dialogue.json, assignments.json, access_log.json, privacy_requests.json. Every JSON file carries
`format`, `version` and `exported_at`. docs/privacy.md describes the fields.

What is in it, by role:
- a client: every message of their dialogues (from any coach they have had), every assignment
  given to them with their answer and the coach's comments;
- a coach: the messages they sent and the assignments they gave with their comments, within
  the pairs with their current clients (the clients' own messages and answers are the clients'
  data and in the clients' exports; a former client's dialogue is no longer the coach's to see);
- everyone: profile, the access log about them, their privacy requests.
Private notes are in no export: they are the coach's professional records about a client, under
professional secrecy (see docs/privacy.md).
"""

import io
import json
import zipfile

from django.apps import apps
from django.utils import timezone

from coaching.models import Assignment, Comment, Message
from privacy.models import AccessLogEntry, PrivacyRequest
from privacy.restriction import is_restricted

FORMAT = "safecoach-export"
VERSION = 1


def _ts(value):
    return value.isoformat() if value else None


def _envelope(now, **content):
    return {"format": FORMAT, "version": VERSION, "exported_at": _ts(now), **content}


def _person(user):
    return {"id": user.pk, "full_name": user.full_name} if user else None


def _two_step(user):
    """Two-step verification (the sign-in work, accounts.TwoFactor): method and phone number."""
    try:
        model = apps.get_model("accounts", "TwoFactor")
    except LookupError:  # not in this version of the app
        return None
    record = model.objects.filter(user=user).first()
    if record is None or not getattr(record, "method", ""):
        return None
    return {"method": record.method, "phone": getattr(record, "phone", "") or None}


def profile_data(user):
    return {
        "id": user.pk,
        "email": user.email,
        "full_name": user.full_name,
        "role": user.role,
        "organisation": user.organisation.name if user.organisation_id else None,
        "coach": _person(user.coach),
        "language": user.language,
        "is_active": user.is_active,
        "date_joined": _ts(user.date_joined),
        "last_login": _ts(user.last_login),
        "last_activity": _ts(user.last_activity),
        "processing_restricted": is_restricted(user),
        "two_step": _two_step(user),
    }


def _messages(user):
    if user.is_client:
        rows = Message.objects.filter(client=user)
    else:
        # A coach: what they sent within their current pairs. A former client's dialogue is no
        # longer theirs to see (docs/app.md, reassigning), so it is not in their copy either.
        rows = Message.objects.for_user(user).filter(sender=user)
    return rows.select_related("coach", "client").order_by("created_at", "id")


def dialogue_data(user):
    return [
        {
            "id": m.pk,
            "coach": _person(m.coach),
            "client": _person(m.client),
            "sent_by": "client" if m.sender_id == m.client_id else "coach",
            "sent_at": _ts(m.created_at),
            "read_at": _ts(m.read_at),
            "body": m.body,
        }
        for m in _messages(user)
    ]


def assignments_data(user):
    if user.is_client:
        rows = Assignment.objects.filter(client=user)
    else:
        rows = Assignment.objects.for_user(user).filter(coach=user)
    rows = rows.select_related("coach", "client", "answer").order_by("created_at", "id")
    comments = {}
    for comment in Comment.objects.filter(assignment__in=rows).order_by("created_at", "id"):
        comments.setdefault(comment.assignment_id, []).append(
            {"id": comment.pk, "written_at": _ts(comment.created_at), "body": comment.body}
        )
    result = []
    for a in rows:
        answer = getattr(a, "answer", None) if user.is_client else None
        result.append(
            {
                "id": a.pk,
                "coach": _person(a.coach),
                "client": _person(a.client),
                "title": a.title,
                "instructions": a.instructions,
                "due_date": a.due_date.isoformat() if a.due_date else None,
                "given_at": _ts(a.created_at),
                "answer": (
                    {
                        "body": answer.body,
                        "answered_at": _ts(answer.created_at),
                        "updated_at": _ts(answer.updated_at),
                    }
                    if answer
                    else None
                ),
                "comments": comments.get(a.pk, []),
            }
        )
    return result


def actor_name(entry, viewer):
    """The name shown for who looked: people of the viewer's organisation, else the role only."""
    actor = entry.actor
    if actor is None or (actor.is_staff and not actor.role):
        return None
    if actor.pk == viewer.pk:
        return actor.full_name
    if actor.organisation_id and actor.organisation_id == viewer.organisation_id:
        return actor.full_name
    return None


def access_log_data(user):
    rows = AccessLogEntry.objects.for_user(user).select_related("actor")
    return [
        {
            "at": _ts(e.created_at),
            "kind": e.kind,
            "by_role": e.actor_role,
            "by_name": actor_name(e, user),
        }
        for e in rows
    ]


def privacy_requests_data(user):
    return [
        {
            "id": r.pk,
            "kind": r.kind,
            "status": r.status,
            "received_at": _ts(r.created_at),
            "deadline": _ts(r.due_at),
            "handled_at": _ts(r.handled_at),
            "details": r.details,
            "outcome": r.outcome,
        }
        for r in PrivacyRequest.objects.for_user(user)
    ]


def _nullable(kind):
    return {"type": [kind, "null"]}


_DT = {"type": ["string", "null"], "format": "date-time"}
_PERSON = {
    "type": ["object", "null"],
    "required": ["id", "full_name"],
    "properties": {"id": {"type": "integer"}, "full_name": {"type": "string"}},
    "additionalProperties": False,
}


def _file_schema(key, item_schema):
    return {
        "type": "object",
        "required": ["format", "version", "exported_at", key],
        "properties": {
            "format": {"const": FORMAT},
            "version": {"const": VERSION},
            "exported_at": {"type": "string", "format": "date-time"},
            key: item_schema,
        },
        "additionalProperties": False,
    }


def _obj(properties):
    return {
        "type": "object",
        "required": list(properties),
        "properties": properties,
        "additionalProperties": False,
    }


SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "safecoach export, version 1",
    "files": {
        "profile.json": _file_schema(
            "profile",
            _obj(
                {
                    "id": {"type": "integer"},
                    "email": {"type": "string"},
                    "full_name": {"type": "string"},
                    "role": {"enum": ["manager", "coach", "client", ""]},
                    "organisation": _nullable("string"),
                    "coach": _PERSON,
                    "language": {"type": "string"},
                    "is_active": {"type": "boolean"},
                    "date_joined": _DT,
                    "last_login": _DT,
                    "last_activity": _DT,
                    "processing_restricted": {"type": "boolean"},
                    "two_step": {
                        "oneOf": [
                            {"type": "null"},
                            _obj({"method": {"type": "string"}, "phone": _nullable("string")}),
                        ]
                    },
                }
            ),
        ),
        "dialogue.json": _file_schema(
            "messages",
            {
                "type": "array",
                "items": _obj(
                    {
                        "id": {"type": "integer"},
                        "coach": _PERSON,
                        "client": _PERSON,
                        "sent_by": {"enum": ["coach", "client"]},
                        "sent_at": _DT,
                        "read_at": _DT,
                        "body": {"type": "string"},
                    }
                ),
            },
        ),
        "assignments.json": _file_schema(
            "assignments",
            {
                "type": "array",
                "items": _obj(
                    {
                        "id": {"type": "integer"},
                        "coach": _PERSON,
                        "client": _PERSON,
                        "title": {"type": "string"},
                        "instructions": {"type": "string"},
                        "due_date": {"type": ["string", "null"], "format": "date"},
                        "given_at": _DT,
                        "answer": {
                            "oneOf": [
                                {"type": "null"},
                                _obj(
                                    {
                                        "body": {"type": "string"},
                                        "answered_at": _DT,
                                        "updated_at": _DT,
                                    }
                                ),
                            ]
                        },
                        "comments": {
                            "type": "array",
                            "items": _obj(
                                {
                                    "id": {"type": "integer"},
                                    "written_at": _DT,
                                    "body": {"type": "string"},
                                }
                            ),
                        },
                    }
                ),
            },
        ),
        "access_log.json": _file_schema(
            "entries",
            {
                "type": "array",
                "items": _obj(
                    {
                        "at": _DT,
                        "kind": {"type": "string"},
                        "by_role": {"type": "string"},
                        "by_name": _nullable("string"),
                    }
                ),
            },
        ),
        "privacy_requests.json": _file_schema(
            "requests",
            {
                "type": "array",
                "items": _obj(
                    {
                        "id": {"type": "integer"},
                        "kind": {"type": "string"},
                        "status": {"enum": ["open", "done", "refused"]},
                        "received_at": _DT,
                        "deadline": _DT,
                        "handled_at": _DT,
                        "details": {"type": "string"},
                        "outcome": {"type": "string"},
                    }
                ),
            },
        ),
    },
}

README = """safecoach: a copy of your personal data
==========================================

This archive holds the personal data safecoach keeps about you, in JSON (UTF-8), so that you
can read it or take it to another service.

  profile.json           your account: name, e-mail address, role, organisation, coach,
                         language, dates of joining, last sign-in and last activity,
                         two-step verification (method and phone number)
  dialogue.json          messages: a client gets every message of their dialogues, a coach
                         the messages they sent
  assignments.json       assignments with answers and the coach's comments (a client), or the
                         assignments given and comments written (a coach)
  access_log.json        who opened your data and when (role; a name for people of your own
                         organisation)
  privacy_requests.json  the privacy requests you made and what was done with them
  schema.json            a JSON Schema (draft 2020-12) for each file above, under "files"

Every JSON file starts with "format": "safecoach-export", "version": 1 and "exported_at".
Times are ISO 8601 with a UTC offset.

Not included: a coach's private notes. They are the coach's professional records and fall under
professional secrecy; to ask about them, file a privacy request on your privacy page.
"""


def build_export(user, now=None):
    """{file name: JSON-ready data} for `user`."""
    now = now or timezone.now()
    return {
        "profile.json": _envelope(now, profile=profile_data(user)),
        "dialogue.json": _envelope(now, messages=dialogue_data(user)),
        "assignments.json": _envelope(now, assignments=assignments_data(user)),
        "access_log.json": _envelope(now, entries=access_log_data(user)),
        "privacy_requests.json": _envelope(now, requests=privacy_requests_data(user)),
    }


def build_zip(user, now=None):
    """The export as ZIP bytes."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("README.txt", README)
        archive.writestr("schema.json", json.dumps(SCHEMA, indent=2))
        for name, data in build_export(user, now).items():
            archive.writestr(name, json.dumps(data, indent=2, ensure_ascii=False))
    return buffer.getvalue()
