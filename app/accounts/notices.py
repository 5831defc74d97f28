"""Telling a person that their credentials changed: a notice mail and an access-log entry.

Every change to a person's password, e-mail address, phone number, second factor or backup
codes goes through `credential_changed`, whoever made it (the person, their manager, platform
staff): the person gets a notification-only mail (fixed text and the sign-in link; to the old
address when the address itself changed) and the change appears in their access log
(/privacy/mine/) with who made it. The log records what changed, never the new value.

A change made on a server with `safecoach-admin` (record_phone, two_factor_off) has no account
behind it: those commands pass `OPERATOR`, and the log says "platform operator" instead of
naming the person as if they had done it themselves.
"""

from accounts.mail import send_account_mail, sign_in_url
from privacy.access_log import record_access
from privacy.models import AccessKind

# change -> (mail kind, access-log kind)
CHANGES = {
    "password": ("password_changed", AccessKind.PASSWORD_CHANGED),
    "email": ("email_changed", AccessKind.EMAIL_CHANGED),
    "phone": ("phone_changed", AccessKind.PHONE_CHANGED),
    "two_factor_on": ("two_factor_on", AccessKind.TWO_FACTOR_ON),
    "two_factor_off": ("two_factor_off", AccessKind.TWO_FACTOR_OFF),
    "two_factor_method": ("two_factor_changed", AccessKind.TWO_FACTOR_CHANGED),
    "backup_codes": ("backup_codes", AccessKind.BACKUP_CODES),
}

# The actor of a change made by a server command (no account behind it).
OPERATOR = "operator"


def credential_changed(user, change, actor=None, *, old_email=None):
    """Notify `user` that `change` (a key of CHANGES) happened, made by `actor` (default: the
    user). With `old_email` the mail goes to that (previous) address."""
    mail_kind, log_kind = CHANGES[change]
    if actor == OPERATOR:
        record_access(None, user, log_kind, coalesce=False, role=OPERATOR)
    else:
        record_access(actor or user, user, log_kind, coalesce=False)
    send_account_mail(user, mail_kind, sign_in_url(), background=True, to=old_email)
