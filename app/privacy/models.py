"""Privacy rights and retention: the access log, privacy requests, restrictions, retention notices.

Who sees what:
- `AccessLogEntry`: a person sees the entries about themselves (`for_user`); nobody else does,
  apart from platform staff on the staff pages (metadata only, never content).
- `PrivacyRequest`: a person sees their own requests; platform staff handle all of them.
- `ProcessingRestriction`, `RetentionNotice`: internal state, shown to the person it concerns.

Erasure (privacy/erasure.py) removes or anonymises every row here that names the erased person;
see docs/privacy.md for the rules.
"""

import calendar

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


def one_month_after(moment):
    """The statutory deadline of a request (AVG art. 12(3): one month): the same day and time a
    calendar month later, or that month's last day if it is shorter."""
    year, month = (moment.year + 1, 1) if moment.month == 12 else (moment.year, moment.month + 1)
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


class AccessKind(models.TextChoices):
    DIALOGUE = "dialogue", _("opened the dialogue")
    ASSIGNMENTS = "assignments", _("opened the assignments")
    ASSIGNMENT = "assignment", _("opened an assignment")
    PROFILE = "profile", _("viewed the profile")
    EXPORT = "export", _("downloaded a copy of the data")
    PRIVACY_REQUEST = "privacy_request", _("handled a privacy request")
    # Changes to the person's credentials (accounts.notices): who changed what, never the value.
    PASSWORD_CHANGED = "password_changed", _("changed the password")
    EMAIL_CHANGED = "email_changed", _("changed the e-mail address")
    PHONE_CHANGED = "phone_changed", _("changed the phone number for two-step verification")
    TWO_FACTOR_ON = "two_factor_on", _("switched two-step verification on")
    TWO_FACTOR_OFF = "two_factor_off", _("switched two-step verification off")
    TWO_FACTOR_CHANGED = "two_factor_changed", _("changed the two-step verification method")
    BACKUP_CODES = "backup_codes", _("made new backup codes")


class AccessLogQuerySet(models.QuerySet):
    def for_user(self, user):
        """The entries about `user`: everyone sees who accessed their own data, nothing else."""
        if not user.is_authenticated or not user.is_active:
            return self.none()
        return self.filter(subject=user)


class AccessLogEntry(models.Model):
    """Someone (the actor) opened a person's (the subject's) data.

    The actor's role is copied so that the entry still says "a coach" after the actor's account
    has been erased (the actor link is then cleared: the subject keeps the fact, not the person).
    """

    subject = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name=_("whose data"),
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("accessed by"),
    )
    actor_role = models.CharField(_("role of the person"), max_length=16)
    kind = models.CharField(_("what"), max_length=24, choices=AccessKind.choices)
    created_at = models.DateTimeField(_("when"), default=timezone.now, db_index=True)

    objects = AccessLogQuerySet.as_manager()

    class Meta:
        verbose_name = _("access log entry")
        verbose_name_plural = _("access log")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["subject", "-created_at"])]

    def __str__(self):
        return f"access {self.pk}"

    def get_actor_role_display(self):
        return ACTOR_ROLES.get(self.actor_role, self.actor_role)


ACTOR_ROLES = {
    "manager": _("Organisation manager"),
    "coach": _("Coach"),
    "client": _("Client"),
    "staff": _("Platform staff"),
    "operator": _("Platform operator (server command)"),
    "self": _("You"),
}


class RequestKind(models.TextChoices):
    ACCESS = "access", _("Access to my data")
    CORRECTION = "correction", _("Correction of my data")
    ERASURE = "erasure", _("Erasure of my account")
    RESTRICTION = "restriction", _("Restriction of processing")
    OBJECTION = "objection", _("Objection to processing")
    COMPLAINT = "complaint", _("Complaint")


class RequestStatus(models.TextChoices):
    OPEN = "open", _("Open")
    DONE = "done", _("Done")
    REFUSED = "refused", _("Refused")


class RequestSource(models.TextChoices):
    USER = "user", _("Asked by the person")
    SELF_SERVICE = "self_service", _("Done by the person in the app")
    ORGANISATION = "organisation", _("Deleted by the organisation's manager")
    RETENTION = "retention", _("Retention period ended")
    STAFF = "staff", _("Recorded by platform staff")


class PrivacyRequestQuerySet(models.QuerySet):
    def for_user(self, user):
        if not user.is_authenticated or not user.is_active:
            return self.none()
        return self.filter(user=user)

    def open(self):
        return self.filter(status=RequestStatus.OPEN)


def _deadline():
    return one_month_after(timezone.now())


class PrivacyRequest(models.Model):
    """A request under the AVG and what was done with it.

    The record outlives the person (accountability, AVG art. 5(2)): on erasure `user` is cleared
    and `details` (the person's own words) emptied; kind, dates, status, role, organisation and
    `outcome` stay. `outcome` is written by the platform or by staff and must hold no personal data.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("person"),
    )
    organisation = models.ForeignKey(
        "organisations.Organisation",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("organisation"),
    )
    role = models.CharField(_("role"), max_length=16, blank=True)
    kind = models.CharField(_("request"), max_length=16, choices=RequestKind.choices)
    source = models.CharField(
        _("source"), max_length=16, choices=RequestSource.choices, default=RequestSource.USER
    )
    details = models.TextField(_("details"), max_length=2000, blank=True)
    status = models.CharField(
        _("status"), max_length=16, choices=RequestStatus.choices, default=RequestStatus.OPEN
    )
    created_at = models.DateTimeField(_("received"), default=timezone.now)
    due_at = models.DateTimeField(_("deadline"), default=_deadline)
    handled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("handled by"),
    )
    handled_at = models.DateTimeField(_("handled"), null=True, blank=True)
    outcome = models.TextField(_("what was done"), max_length=2000, blank=True)

    objects = PrivacyRequestQuerySet.as_manager()

    class Meta:
        verbose_name = _("privacy request")
        verbose_name_plural = _("privacy requests")
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"privacy request {self.pk}"

    @property
    def is_open(self):
        return self.status == RequestStatus.OPEN

    @property
    def is_overdue(self):
        return self.is_open and timezone.now() > self.due_at


class ProcessingRestriction(models.Model):
    """While this row exists the person's data is only stored (see privacy/restriction.py)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="processing_restriction",
        verbose_name=_("person"),
    )
    request = models.ForeignKey(
        PrivacyRequest,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("privacy request"),
    )
    created_at = models.DateTimeField(_("since"), default=timezone.now)

    class Meta:
        verbose_name = _("processing restriction")
        verbose_name_plural = _("processing restrictions")

    def __str__(self):
        return f"restriction {self.pk}"


class RetentionNotice(models.Model):
    """The warning before retention erases an inactive account; one per period of inactivity."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name=_("person"),
    )
    last_seen_at = models.DateTimeField(_("last seen when warned"))
    sent_at = models.DateTimeField(_("warned"))
    mailed = models.BooleanField(_("e-mail sent"), default=False)

    class Meta:
        verbose_name = _("retention notice")
        verbose_name_plural = _("retention notices")

    def __str__(self):
        return f"retention notice {self.pk}"
