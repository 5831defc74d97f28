"""Recording who opened a person's data: `record_access(actor, subject, kind)`.

Called by the views that open someone's dossier (coaching views for a coach, the privacy staff
pages, the export). Repeated visits by the same person to the same kind of data within
`ACCESS_LOG_COALESCE` make one entry, so the log stays readable and a page view costs one query;
the coaching views remember the entry in the session for the rest of its window and then make
none (`log_dossier_view`). Entries are kept for `settings.PRIVACY_ACCESS_LOG_DAYS` days (purged by `erase_inactive`).
"""

from datetime import timedelta

from django.utils import timezone

from privacy.models import AccessLogEntry

ACCESS_LOG_COALESCE = timedelta(minutes=15)


def actor_role(actor, subject):
    if actor.pk == subject.pk:
        return "self"
    if actor.role:
        return actor.role
    return "staff" if actor.is_staff else ""


def record_access(actor, subject, kind, now=None, coalesce=True, role=None):
    """Log that `actor` opened `subject`'s data of `kind`; returns the entry (new or recent).

    `role` names an actor without an account (actor None), e.g. "operator" for a server command.
    """
    now = now or timezone.now()
    recent = coalesce and (
        AccessLogEntry.objects.filter(
            subject=subject, actor=actor, kind=kind, created_at__gte=now - ACCESS_LOG_COALESCE
        )
        .order_by("-created_at")
        .first()
    )
    if recent:
        return recent
    return AccessLogEntry.objects.create(
        subject=subject,
        actor=actor,
        actor_role=role or actor_role(actor, subject),
        kind=kind,
        created_at=now,
    )


# Session key: "<subject id>:<kind>" -> creation time (POSIX seconds) of the entry that covers
# this session's visits until its coalescing window ends.
SESSION_KEY = "access_log_recent"


def log_dossier_view(user, client, kind, session=None):
    """For coaching views: record a coach opening a client's dossier (no-op for anyone else).

    With the request's `session`, the entry that `record_access` found or made is remembered
    there, and later visits within its window skip the query: they would find that same entry,
    since entries are deleted only long after their window (retention) or together with their
    subject, which then cannot be opened, or their actor, whose sessions end with the account.
    """
    if not user.is_coach or client is None or client.pk == user.pk:
        return
    now = timezone.now()
    window = ACCESS_LOG_COALESCE.total_seconds()
    key = f"{client.pk}:{kind}"
    remembered = session.get(SESSION_KEY, {}) if session is not None else {}
    logged_at = remembered.get(key)
    if logged_at is not None and now.timestamp() - logged_at <= window:
        return  # `record_access` would find this entry: created_at >= now - window
    entry = record_access(user, client, kind, now=now)
    if session is not None:
        remembered = {k: t for k, t in remembered.items() if now.timestamp() - t <= window}
        remembered[key] = entry.created_at.timestamp()
        session[SESSION_KEY] = remembered
