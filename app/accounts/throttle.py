"""Throttling of attempts: sign-in and password checks, codes, resets.

Own code, small on purpose: each scope counts attempts under a keyed hash of what it counts (an
e-mail address, a network address, a user id), so the table holds no readable personal data. A
scope allows `limit` attempts within `window` seconds; the attempt that reaches the limit locks
it for `lockout` seconds. Rows are deleted once they are older than
SAFECOACH_THROTTLE_RETENTION_HOURS and not locked, by every write and by
`manage.py purge_signin_records`.

Password checks take their attempt before the password is checked (`take`), in one transaction
over every counter involved, with the rows locked: parallel requests queue on the rows, so no
more than the limit of them ever reach the password hasher. A right password gives the attempt
back (`give_back`). While any counter is locked nothing is counted, so a locked flood does not
feed the slower counters. Other scopes (codes, SMS, resets) count after the fact
(`record_failure`).

Password checks count three things (`password_counters`): the account and the network address
together (a few attempts, the lock a flood from one address runs into), the network address
alone (across accounts), and the account alone (a slower limit that one address can never
reach by itself, see `one_address_cannot_lock_the_account`, so only a flood from many addresses
locks the owner out everywhere). The account is the e-mail address typed, not the account
found: an unknown address is throttled exactly like a known one, so a lock reveals nothing.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accounts.codes import keyed_hash
from accounts.models import Throttle
from safecoach import metrics

# The counters of a password check (settings.SAFECOACH_THROTTLE holds their rules).
ACCOUNT_AND_ADDRESS = "login-account-address"
ADDRESS = "login-address"
ACCOUNT = "login-account"


@dataclass(frozen=True)
class Rule:
    limit: int
    window: int
    lockout: int


def rule(scope: str) -> Rule:
    return Rule(*settings.SAFECOACH_THROTTLE[scope])


def _key(scope: str, ident) -> str:
    return keyed_hash("throttle", scope, str(ident).strip().lower())


def password_counters(email: str, address: str | None) -> list[tuple[str, str]]:
    """The (scope, ident) counters one password attempt for `email` from `address` takes.

    Without an address (a form that was not given the request) only the account counters are
    taken, under an empty address.
    """
    email = (email or "").strip().lower()
    counters = [(ACCOUNT_AND_ADDRESS, f"{email} {address or ''}"), (ACCOUNT, email)]
    if address:
        counters.append((ADDRESS, address))
    return counters


def one_address_cannot_lock_the_account() -> bool:
    """True when the per-account limit is out of reach of one address on its own.

    From one address an account gets at most `limit` attempts per lock of the account-and-
    address counter (locked attempts count nowhere), so within the account's window at most
    limit * (window // lockout + 1).
    """
    pair, account = rule(ACCOUNT_AND_ADDRESS), rule(ACCOUNT)
    reachable = pair.limit * (account.window // max(pair.lockout, 1) + 1)
    return reachable < account.limit


@dataclass(frozen=True)
class Attempt:
    """One attempt taken by `take`.

    `refused_until`: a counter was locked; nothing was taken and the password must not be
    checked. `locks_until`: this attempt took the last one left, so the counters are locked
    from now on unless it is given back (the password was right); `locking` names their scopes
    (counted by `count_locks` once the check failed).
    """

    keys: tuple[str, ...] = ()
    refused_until: datetime | None = None
    locks_until: datetime | None = None
    locking: tuple[str, ...] = ()

    @property
    def refused(self) -> bool:
        return self.refused_until is not None


def _lock_rows(keys: dict[str, str], now: datetime) -> list[Throttle]:
    """Create the missing rows and lock all of them, in key order (no deadlocks).

    The first statement writes, so that SQLite takes its write lock before anything is read;
    PostgreSQL locks the rows (select_for_update) until the transaction ends.
    """
    for _ in range(3):
        Throttle.objects.bulk_create(
            [
                Throttle(key=key, scope=scope, window_start=now, updated_at=now)
                for key, scope in sorted(keys.items())
            ],
            ignore_conflicts=True,
        )
        rows = list(Throttle.objects.select_for_update().filter(key__in=keys).order_by("key"))
        if len(rows) == len(keys):  # else a purge removed an old row in between: again
            return rows
    raise RuntimeError("throttle rows could not be locked")


def take(*counters: tuple[str, object]) -> Attempt:
    """Take one attempt on every (scope, ident) counter at once, before the check it allows.

    All or nothing: when any counter is locked, nothing is counted and the attempt is refused.
    """
    now = timezone.now()
    keys = {_key(scope, ident): scope for scope, ident in counters}
    with transaction.atomic():
        rows = _lock_rows(keys, now)
        running = [row.locked_until for row in rows if row.locked_until and row.locked_until > now]
        if running:
            return Attempt(refused_until=max(running))
        locks = []
        for row in rows:
            limits = rule(row.scope)
            if row.locked_until or row.window_start + timedelta(seconds=limits.window) < now:
                row.failures, row.window_start, row.locked_until = 0, now, None
            row.failures += 1
            if row.failures >= limits.limit:
                row.locked_until = now + timedelta(seconds=limits.lockout)
                locks.append((row.locked_until, row.scope))
            row.updated_at = now
        Throttle.objects.bulk_update(
            rows, ["failures", "window_start", "locked_until", "updated_at"]
        )
    purge(now)
    return Attempt(
        keys=tuple(keys),
        locks_until=max(until for until, _scope in locks) if locks else None,
        locking=tuple(sorted({scope for _until, scope in locks})),
    )


def count_locks(attempt: Attempt) -> None:
    """The check of `attempt` failed: the locks it started stay, count them (by scope)."""
    for scope in attempt.locking:
        metrics.throttle_locked(scope)


def give_back(attempt: Attempt) -> None:
    """The check succeeded: the attempt does not count, and a lock it started is lifted."""
    if attempt.refused or not attempt.keys:
        return
    now = timezone.now()
    with transaction.atomic():
        for row in (
            Throttle.objects.select_for_update().filter(key__in=attempt.keys).order_by("key")
        ):
            row.failures = max(0, row.failures - 1)
            if row.locked_until and row.failures < rule(row.scope).limit:
                row.locked_until = None
            row.updated_at = now
            row.save(update_fields=["failures", "locked_until", "updated_at"])


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
            metrics.throttle_locked(scope)
        row.updated_at = now
        row.save()
    purge()
    return row.locked_until


def reset(scope: str, ident) -> int:
    """Delete the counter of (scope, ident); returns how many rows went (0 or 1)."""
    deleted, _ = Throttle.objects.filter(key=_key(scope, ident)).delete()
    return deleted


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
