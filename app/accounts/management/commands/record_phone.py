"""Record the mobile number a person confirms at their next sign-in.

For platform staff (who have no manager screen) and anyone whose manager is not available:
devops run it on a web host after checking who asks. The number is not verified and switches
nothing on: the person's next sign-in texts a code to it, and only that code signs them in and
switches SMS two-step on. Refused while two-step is on (reset it first with two_factor_off).
The person is told by e-mail.

    safecoach-admin record_phone person@example.nl "+31 6 12345678"
"""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from accounts import twofactor
from accounts.models import User
from accounts.notices import OPERATOR


class Command(BaseCommand):
    help = "Record the mobile number this account confirms with a code at its next sign-in."

    def add_arguments(self, parser):
        parser.add_argument("email")
        parser.add_argument("phone")

    def handle(self, email, phone, **options):
        user = User.objects.filter(email__iexact=email.strip()).first()
        if user is None:
            raise CommandError(f"No account uses {email!r}; check the address.")
        try:
            number = twofactor.normalise_phone(phone)
        except ValidationError as error:
            raise CommandError(error.messages[0]) from None
        if twofactor.two_factor_of(user) is not None:
            raise CommandError(
                f"User {user.pk} has two-step verification on; to give them a new number, run "
                f"safecoach-admin two_factor_off {user.email} --phone NUMBER"
            )
        twofactor.record_phone(user, number, OPERATOR)
        self.stdout.write(
            f"Recorded {twofactor.masked(number)} for user {user.pk}; they were told. Their next "
            "sign-in confirms it with a code."
        )
