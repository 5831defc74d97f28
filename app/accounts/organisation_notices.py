"""Telling every member of an organisation that its sign-in rule became weaker.

When a manager stops requiring two-step verification, every active member of the organisation
gets a notification-only mail (fixed text and the sign-in link, in their own language), so a
manager's session in the wrong hands cannot quietly weaken everyone's sign-in. With
SAFECOACH_ACCOUNT_MAIL_IN_BACKGROUND one background thread hands them all to the relay, so the
manager's page does not wait for it; a failure is logged per account id, never with the link.
"""

import threading

from django.conf import settings

from accounts.mail import send_account_mail, sign_in_url
from accounts.models import User


def two_factor_requirement_off(organisation) -> int:
    """Mail every active member; returns how many were mailed."""
    members = list(
        User.objects.filter(organisation=organisation, is_active=True).only(
            "pk", "email", "language"
        )
    )
    url = sign_in_url()

    def deliver():
        for member in members:
            send_account_mail(member, "two_factor_requirement_off", url)

    if settings.SAFECOACH_ACCOUNT_MAIL_IN_BACKGROUND:
        threading.Thread(target=deliver, name="mail-requirement-off", daemon=True).start()
    else:
        deliver()
    return len(members)
