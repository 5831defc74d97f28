"""Invitations: a manager invites a coach or client, who chooses a password by a mailed link.

`send_invitation(user, invited_by)` is what the organisation manager's "add person" screen calls
(after creating the account with an unusable password). The link works once, expires after
SAFECOACH_INVITATION_DAYS days, and a newer invitation replaces older ones. Only a hash of the
token is stored. No password is ever e-mailed.
"""

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from accounts import codes
from accounts.mail import send_account_mail
from accounts.models import Invitation


class InvitationError(ValueError):
    """This person cannot be invited (already has a password, or is deactivated)."""


def invitable(user) -> bool:
    return user.is_active and not user.has_usable_password()


def send_invitation(user, invited_by=None) -> Invitation:
    """Create a fresh invitation for `user` and mail its link once the transaction commits."""
    if not invitable(user):
        raise InvitationError("Only an active account without a password can be invited.")
    token = codes.new_token()
    now = timezone.now()
    with transaction.atomic():
        Invitation.objects.filter(user=user, used_at__isnull=True).delete()
        invitation = Invitation.objects.create(
            user=user,
            invited_by=invited_by,
            token_hash=codes.keyed_hash("invitation", token),
            created_at=now,
            expires_at=now + timedelta(days=settings.SAFECOACH_INVITATION_DAYS),
        )
    url = settings.SITE_URL + reverse("accounts:invitation_accept", args=[token])
    transaction.on_commit(lambda: send_account_mail(user, "invitation", url))
    return invitation


def open_invitation(token: str) -> Invitation | None:
    """The invitation this token opens, if it is still good; None for any other case."""
    if not token or len(token) > 128:
        return None
    invitation = (
        Invitation.objects.select_related("user")
        .filter(token_hash=codes.keyed_hash("invitation", token))
        .first()
    )
    if (
        invitation is None
        or invitation.used_at is not None
        or invitation.expires_at <= timezone.now()
        or not invitable(invitation.user)
    ):
        return None
    return invitation


def mark_used(invitation) -> bool:
    """Claim the invitation once; False when a parallel request claimed it first."""
    claimed = Invitation.objects.filter(pk=invitation.pk, used_at__isnull=True).update(
        used_at=timezone.now()
    )
    if claimed:
        Invitation.objects.filter(user=invitation.user, used_at__isnull=True).delete()
    return bool(claimed)
