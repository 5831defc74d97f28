"""Throttling of failed attempts: sign-in per account and per address, codes, resets.

Own code, small on purpose: each scope counts failures under a keyed hash of what it counts (an
e-mail address, a network address, a user id), so the table holds no readable personal data. A
scope allows `limit` failures within `window` seconds; one more locks it for `lockout` seconds.
Rows are deleted once they are older than SAFECOACH_THROTTLE_RETENTION_HOURS and not locked, by
every write and by `manage.py purge_signin_records`.

The sign-in scopes count the e-mail address typed, not the account: an unknown address is
throttled exactly like a known one, so a lockout reveals nothing either.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accounts.codes import keyed_hash
from accounts.models import Throttle


@dataclass(frozen=True)
class Rule:
    limit: int
    window: int
    lockout: int


def rule(scope: str) -> Rule:
    return Rule(*settings.SAFECOACH_THROTTLE[scope])


def _key(scope: str, ident) -> str:
    return keyed_hash("throttle", scope, str(ident).strip().lower())


def locked_until(scope: str, ident) -> datetime | None:
    """When the lock on (scope, ident) ends, or None if it is not locked now."""
    row = Throttle.objects.filter(key=_key(scope, ident)).values("locked_until").first()
    if row and row["locked_until"] and row["locked_until"] > timezone.now():
        return row["locked_until"]
    return None


def record_failure(scope: str, ident) -> datetime | None:
    """Count one failure; returns the end of the lock if this failure (or an earlier one) locks."""
    now = timezone.now()
    limits = rule(scope)
    key = _key(scope, ident)
    with transaction.atomic():
        row, _created = Throttle.objects.select_for_update().get_or_create(
            key=key, defaults={"scope": scope, "window_start": now, "updated_at": now}
        )
        if row.locked_until and row.locked_until > now:
            return row.locked_until
        if row.window_start + timedelta(seconds=limits.window) < now:
            row.failures, row.window_start = 0, now
        row.failures += 1
        row.locked_until = None
        if row.failures >= limits.limit:
            row.failures, row.window_start = 0, now
            row.locked_until = now + timedelta(seconds=limits.lockout)
        row.updated_at = now
        row.save()
    purge()
    return row.locked_until


def reset(scope: str, ident) -> None:
    Throttle.objects.filter(key=_key(scope, ident)).delete()


def purge(now: datetime | None = None) -> int:
    """Delete rows past the retention limit that hold no running lock."""
    now = now or timezone.now()
    cutoff = now - timedelta(hours=settings.SAFECOACH_THROTTLE_RETENTION_HOURS)
    deleted, _ = (
        Throttle.objects.filter(updated_at__lt=cutoff)
        .filter(Q(locked_until__isnull=True) | Q(locked_until__lt=now))
        .delete()
    )
    return deleted


def client_address(request) -> str:
    """The visitor's address: REMOTE_ADDR, or the header a trusted proxy sets (settings)."""
    header = settings.SAFECOACH_CLIENT_IP_HEADER
    if header:
        value = request.META.get(header, "")
        if value:
            return value.split(",")[-1].strip()
    return request.META.get("REMOTE_ADDR", "") or "unknown"


def local_time(moment: datetime) -> str:
    return timezone.localtime(moment).strftime("%H:%M")
