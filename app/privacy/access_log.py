"""Recording who opened a person's data: `record_access(actor, subject, kind)`.

Called by the views that open someone's dossier (coaching views for a coach, the privacy staff
pages, the export). Repeated visits by the same person to the same kind of data within
`ACCESS_LOG_COALESCE` make one entry, so the log stays readable and a page view costs one query.
Entries are kept for `settings.PRIVACY_ACCESS_LOG_DAYS` days (purged by `erase_inactive`).
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


def record_access(actor, subject, kind, now=None, coalesce=True):
    """Log that `actor` opened `subject`'s data of `kind`; returns the entry (new or recent)."""
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
        actor_role=actor_role(actor, subject),
        kind=kind,
        created_at=now,
    )


def log_dossier_view(user, client, kind):
    """For coaching views: record a coach opening a client's dossier (no-op for anyone else)."""
    if user.is_coach and client is not None and client.pk != user.pk:
        record_access(user, client, kind)
