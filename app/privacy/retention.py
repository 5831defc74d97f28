"""Retention of inactive accounts: warn after 23 months, erase after 24 (settings decide).

`run_retention(now, dry_run)` is what the nightly `erase_inactive` command runs. An account's
last sign of life is the latest of its last sign-in, last activity and joining date.

1. Warn: an account inactive for RETENTION_INACTIVE_DAYS - RETENTION_NOTICE_DAYS days gets one
   notification-only e-mail ("your account will be removed, sign in to keep it") and a
   RetentionNotice row. One notice per period of inactivity: signing in starts a new period.
   A deactivated account cannot sign in; it gets the notice row without an e-mail.
2. Erase: an account inactive for RETENTION_INACTIVE_DAYS days whose notice is at least
   RETENTION_NOTICE_DAYS days old is erased with `erase_user` (source "retention"). Nobody is
   erased without a notice that old, even if the job did not run for a while.
3. Purge access log entries older than PRIVACY_ACCESS_LOG_DAYS days.

Never touched: platform staff (no organisation, handled by the platform's own offboarding) and
accounts under a processing restriction (their data must be kept). Running it twice in a row
changes nothing the second time; on an empty database it does nothing and says so.
"""

import logging
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import DateTimeField, F, Value
from django.db.models.functions import Coalesce, Greatest
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _

from accounts.models import User
from privacy.erasure import erase_user
from privacy.models import AccessLogEntry, ProcessingRestriction, RequestSource, RetentionNotice
from safecoach import metrics

log = logging.getLogger(__name__)
metrics.prepare_kinds(metrics.MAILS, ["retention_notice"])

NOTICE_SUBJECT = _("Your safecoach account will be removed")
NOTICE_LEAD = _(
    "Your safecoach account has not been used for a long time. To protect your privacy we "
    "remove accounts that are not used, with all their data."
)
NOTICE_ACTION = _("Sign in within %(days)s days to keep your account:")


@dataclass
class RetentionReport:
    warned: list[int] = field(default_factory=list)
    erased: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    access_log_purged: int = 0

    @property
    def nothing_to_do(self):
        return not (self.warned or self.erased or self.failed or self.access_log_purged)


def _candidates():
    """People retention applies to, annotated with `last_seen`."""
    epoch = Value(timezone.now().replace(year=1970, month=1, day=1), output_field=DateTimeField())
    restricted = ProcessingRestriction.objects.values("user_id")
    return (
        User.objects.filter(is_staff=False)
        .exclude(pk__in=restricted)
        .annotate(
            last_seen=Greatest(
                Coalesce("last_login", epoch),
                Coalesce("last_activity", epoch),
                F("date_joined"),
            )
        )
    )


def render_notice(user):
    """(subject, body) of the retention notice, in the person's language; no name, no content."""
    with translation.override(user.language):
        subject = str(NOTICE_SUBJECT)
        body = render_to_string(
            "privacy/email/retention_notice.txt",
            {
                "lead": NOTICE_LEAD,
                "action": NOTICE_ACTION % {"days": settings.RETENTION_NOTICE_DAYS},
                "url": settings.SITE_URL + reverse("accounts:login"),
            },
        )
    return subject, body


def _send_notice(user):
    subject, body = render_notice(user)
    try:
        send_mail(subject, body, None, [user.email])
    except Exception:  # the relay is down: the notice row stays, the mail is retried never
        metrics.mail("retention_notice", sent=False)
        log.exception("could not send the retention notice to user %s", user.pk)
    else:
        metrics.mail("retention_notice", sent=True)


def run_retention(now=None, dry_run=False):
    now = now or timezone.now()
    inactive_for = timedelta(days=settings.RETENTION_INACTIVE_DAYS)
    notice_for = timedelta(days=settings.RETENTION_NOTICE_DAYS)
    report = RetentionReport()
    notices = {n.user_id: n for n in RetentionNotice.objects.all()}

    # 1. Erase: inactive long enough and warned long enough ago (for this period of inactivity).
    for user in _candidates().filter(last_seen__lte=now - inactive_for).order_by("pk"):
        notice = notices.get(user.pk)
        if notice is None or notice.last_seen_at < user.last_seen:
            continue  # not warned in this period yet: step 2 warns, erasure waits
        if notice.sent_at > now - notice_for:
            continue
        if not dry_run:
            try:
                erase_user(user, source=RequestSource.RETENTION, now=now)
            except Exception:
                # One account's erasure rolled back entirely; the others go on, and the job
                # reports the failure (and retries it the next night).
                log.exception("retention could not erase user %s", user.pk)
                report.failed.append(user.pk)
                continue
        report.erased.append(user.pk)

    # 2. Warn: inactive for the warning period and not yet warned in this period.
    for user in (
        _candidates().filter(last_seen__lte=now - (inactive_for - notice_for)).order_by("pk")
    ):
        if user.pk in report.erased or user.pk in report.failed:
            continue
        notice = notices.get(user.pk)
        if notice is not None and notice.last_seen_at >= user.last_seen:
            continue
        report.warned.append(user.pk)
        if dry_run:
            continue
        with transaction.atomic():
            RetentionNotice.objects.update_or_create(
                user=user,
                defaults={"last_seen_at": user.last_seen, "sent_at": now, "mailed": user.is_active},
            )
            if user.is_active:
                transaction.on_commit(lambda u=user: _send_notice(u))

    # 3. The access log is kept for a limited time.
    old = AccessLogEntry.objects.filter(
        created_at__lt=now - timedelta(days=settings.PRIVACY_ACCESS_LOG_DAYS)
    )
    report.access_log_purged = old.count()
    if not dry_run and report.access_log_purged:
        old.delete()
    return report
