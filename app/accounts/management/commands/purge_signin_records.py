"""Delete sign-in records past their retention: throttle rows, spent codes, old invitations.

Run daily (the hosts' timer does); every write to the throttle table also purges it, so this
only catches what a quiet site leaves behind.
"""

from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db.models import Q
from django.utils import timezone

from accounts import throttle
from accounts.models import Invitation, OneTimeCode


class Command(BaseCommand):
    help = "Delete throttle rows, SMS codes and invitations past their retention."

    def handle(self, *args, **options):
        now = timezone.now()
        retention = now - timedelta(hours=settings.SAFECOACH_THROTTLE_RETENTION_HOURS)
        throttles = throttle.purge(now)
        codes, _ = OneTimeCode.objects.filter(expires_at__lt=retention).delete()
        invitations, _ = Invitation.objects.filter(
            Q(expires_at__lt=retention) | Q(used_at__lt=retention)
        ).delete()
        self.stdout.write(
            f"deleted {throttles} throttle rows, {codes} codes, {invitations} invitations"
        )
