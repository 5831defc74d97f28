"""Reset two-step verification for one account: the last resort for a lost phone.

For managers (whose own manager screen cannot reach them), platform staff, and anyone whose
manager is not available: devops run it on a web host after checking who asks. Two-step is
switched off and the account must set it up again before it can be used: its next sign-in needs
a code to a recorded number, so record the new number (with this command's --phone, or later
with `record_phone`). A password alone never opens the account. The person is told by e-mail.

    safecoach-admin two_factor_off person@example.nl --phone "+31 6 12345678"
"""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from accounts import twofactor
from accounts.models import TwoFactor, User
from accounts.notices import OPERATOR


class Command(BaseCommand):
    help = (
        "Switch off two-step verification for the account with this e-mail address; its next "
        "sign-in must set it up again with a code to a recorded number."
    )

    def add_arguments(self, parser):
        parser.add_argument("email")
        parser.add_argument("--phone", default="", help="The person's new mobile number.")

    def handle(self, email, phone="", **options):
        user = User.objects.filter(email__iexact=email.strip()).first()
        if user is None:
            raise CommandError(f"No account uses {email!r}; check the address.")
        if phone:
            try:
                phone = twofactor.normalise_phone(phone)
            except ValidationError as error:
                raise CommandError(error.messages[0]) from None
        with transaction.atomic():
            was_on = twofactor.two_factor_of(user) is not None
            if was_on:
                twofactor.disable(user, OPERATOR)
            if phone:
                twofactor.record_phone(user, phone, OPERATOR)
            else:
                TwoFactor.objects.update_or_create(user=user, defaults={"enrol_required": True})
        state = "now off" if was_on else "was already off"
        self.stdout.write(f"Two-step verification is {state} for user {user.pk}; they were told.")
        if phone:
            self.stdout.write("Their next sign-in confirms the recorded number with a code.")
        else:
            self.stdout.write(
                "They cannot sign in until a number is recorded: safecoach-admin record_phone "
                f"{user.email} NUMBER"
            )
