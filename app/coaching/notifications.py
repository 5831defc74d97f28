"""Notification-only e-mail: it says that something new is waiting, never what or from whom.

No dialogue content, no names, no subjects from the dialogue ever go into a mail: the texts are
fixed per kind, and the only variable part is the sign-in address of the site.
"""

import logging

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext_lazy as _

from privacy.restriction import is_restricted
from safecoach import metrics

log = logging.getLogger(__name__)

KINDS = {
    "message": (
        _("New message on safecoach"),
        _("You have a new message on safecoach."),
    ),
    "assignment": (
        _("New assignment on safecoach"),
        _("You have been given a new assignment on safecoach."),
    ),
    "answer": (
        _("New answer on safecoach"),
        _("An assignment you gave has been answered on safecoach."),
    ),
    "comment": (
        _("New comment on safecoach"),
        _("There is a new comment on one of your assignments on safecoach."),
    ),
}


metrics.prepare_kinds(metrics.MAILS, KINDS)


def render_notification(recipient, kind):
    """(subject, body) of a notification, in the recipient's language."""
    subject, lead = KINDS[kind]
    with translation.override(recipient.language):
        subject = str(subject)
        body = render_to_string(
            "coaching/email/notification.txt",
            {"lead": lead, "url": settings.SITE_URL + reverse("accounts:login")},
        )
    return subject, body


def notify(recipient, kind):
    """Send a notification once the current transaction commits; a mail failure is logged only."""
    if recipient is None or not recipient.is_active or is_restricted(recipient):
        return  # a restricted account's data is only stored: no e-mail either

    def send():
        subject, body = render_notification(recipient, kind)
        try:
            send_mail(subject, body, None, [recipient.email])
        except Exception:  # the relay is down: the message itself is safe, log and go on
            metrics.mail(kind, sent=False)
            log.exception("could not send a %s notification to user %s", kind, recipient.pk)
        else:
            metrics.mail(kind, sent=True)

    transaction.on_commit(send)
