"""Account mail (invitations, reset, security notices): fixed texts and a link, never a name.

Like the notifications (coaching.notifications), these mails carry no names, no organisation
and no content; only the link the person needs, and never a password.
"""

import logging
import threading

from django.conf import settings
from django.core.mail import send_mail
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext_lazy as _

from safecoach import metrics

log = logging.getLogger(__name__)

KINDS = {
    "invitation": (
        _("Your invitation to safecoach"),
        _("You have been invited to safecoach. Choose your password with this link:"),
        _("The link works once and expires in %(days)d days. We never send passwords by e-mail."),
    ),
    "password_reset": (
        _("Choose a new password for safecoach"),
        _(
            "Someone asked to choose a new password for your safecoach account. If it was you, use this link:"
        ),
        _(
            "The link works once and expires in %(hours)d hours. If you did not ask for this, "
            "ignore this e-mail: your password stays as it is."
        ),
    ),
    # Security notices: something changed on the account; the link is the sign-in page.
    "password_changed": (
        _("Your safecoach password has been changed"),
        _("The password of your safecoach account has just been changed. Sign in here:"),
        _(
            "If you did not do this, ask for a new password on the sign-in page at once and "
            "tell your organisation."
        ),
    ),
    "two_factor_off": (
        _("Two-step verification is off for your safecoach account"),
        _(
            "Two-step verification has just been switched off for your safecoach account. Sign in here:"
        ),
        _(
            "If you did not expect this, change your password and switch two-step verification "
            "on again, and tell your organisation."
        ),
    ),
    "email_changed": (
        _("The e-mail address of your safecoach account has been changed"),
        _(
            "The e-mail address of the safecoach account that used this address has just been "
            "changed. Mail for the account now goes to the new address. Sign in here:"
        ),
        _(
            "If you did not expect this, ask for a new password on the sign-in page at once and "
            "tell your organisation."
        ),
    ),
    "phone_changed": (
        _("The phone number for your safecoach sign-in codes has been changed"),
        _(
            "The mobile number that receives your safecoach sign-in codes has just been "
            "changed. Sign in here:"
        ),
        _("If you did not do this, change your password and tell your organisation at once."),
    ),
    "two_factor_on": (
        _("Two-step verification is on for your safecoach account"),
        _(
            "Two-step verification has just been switched on for your safecoach account. Sign in here:"
        ),
        _("If you did not do this, change your password and tell your organisation at once."),
    ),
    "two_factor_changed": (
        _("Your safecoach two-step verification has been changed"),
        _(
            "The way you confirm your sign-in to safecoach (text message or authenticator app) "
            "has just been changed. Sign in here:"
        ),
        _("If you did not do this, change your password and tell your organisation at once."),
    ),
    "backup_codes": (
        _("New backup codes for your safecoach account"),
        _(
            "New backup codes have just been made for your safecoach account; the old ones no "
            "longer work. Sign in here:"
        ),
        _("If you did not do this, change your password and tell your organisation at once."),
    ),
    # A change of address (accounts.email_change): the link to the new address, the notice to
    # the current one when the change is asked for.
    "email_change_confirm": (
        _("Confirm the new e-mail address for safecoach"),
        _(
            "Someone asked to use this e-mail address for a safecoach account. If that is your "
            "account, open this link while signed in to it and confirm:"
        ),
        _(
            "The link works once, for one day, and only for that account. If you did not ask "
            "for this, ignore this e-mail: nothing changes."
        ),
    ),
    "email_change_requested": (
        _("A new e-mail address was asked for your safecoach account"),
        _(
            "Someone asked to change the e-mail address of your safecoach account. Nothing "
            "changes unless the change is confirmed while signed in to your account. Sign in here:"
        ),
        _(
            "If you did not expect this, do not confirm anything, change your password and tell "
            "your organisation."
        ),
    ),
    # Sent to every active member when a manager stops requiring two-step verification.
    "two_factor_requirement_off": (
        _("Two-step verification is no longer required in your safecoach organisation"),
        _(
            "Your organisation has just stopped requiring two-step verification for signing in "
            "to safecoach. Your own setting stays as it is. Sign in here:"
        ),
        _(
            "We recommend keeping two-step verification on. If you did not expect this change, "
            "tell your organisation."
        ),
    ),
}


metrics.prepare_kinds(metrics.MAILS, KINDS)


def sign_in_url():
    return settings.SITE_URL + reverse("accounts:login")


def render_account_mail(language, kind, url):
    subject, lead, note = KINDS[kind]
    values = {
        "days": settings.SAFECOACH_INVITATION_DAYS,
        "hours": max(1, settings.PASSWORD_RESET_TIMEOUT // 3600),
    }
    with translation.override(language):
        subject = str(subject)
        body = render_to_string(
            "accounts/email/account.txt", {"lead": lead, "url": url, "note": str(note) % values}
        )
    return subject, body


def send_account_mail(user, kind, url, background=False, to=None):
    """Render now and send; a relay failure is logged without the link.

    `to` sends it to another address than the account's (the old address after a change).
    With `background` (and SAFECOACH_ACCOUNT_MAIL_IN_BACKGROUND on) the hand-off to the relay
    happens on a separate thread, so the answer to the request does not wait for it: a reset
    request for a known address then takes as long as one for an unknown address.
    """
    subject, body = render_account_mail(user.language, kind, url)
    recipient, user_id = to or user.email, user.pk

    def deliver():
        try:
            send_mail(subject, body, None, [recipient])
        except Exception:  # the relay is down: say so in the log, never with the link
            metrics.mail(kind, sent=False)
            log.exception("could not send a %s mail to user %s", kind, user_id)
        else:
            metrics.mail(kind, sent=True)

    if background and settings.SAFECOACH_ACCOUNT_MAIL_IN_BACKGROUND:
        threading.Thread(target=deliver, name=f"mail-{kind}", daemon=True).start()
    else:
        deliver()
