"""Switch off two-step verification for one account: the last resort for a lost phone.

For managers (whose own manager screen cannot reach them) and anyone whose manager is not
available: platform staff run it on the web host after checking who asks. The person gets the
usual notice by e-mail; if the organisation requires two-step, they set it up again right after
their next sign-in.

    safecoach-admin two_factor_off person@example.nl
"""

from django.core.management.base import BaseCommand, CommandError

from accounts import twofactor
from accounts.mail import send_account_mail, sign_in_url
from accounts.models import User


class Command(BaseCommand):
    help = "Switch off two-step verification for the account with this e-mail address."

    def add_arguments(self, parser):
        parser.add_argument("email")

    def handle(self, email, **options):
        user = User.objects.filter(email__iexact=email.strip()).first()
        if user is None:
            raise CommandError(f"No account uses {email!r}; check the address.")
        if twofactor.two_factor_of(user) is None:
            self.stdout.write(f"Two-step verification was already off for user {user.pk}.")
            return
        twofactor.disable(user)
        send_account_mail(user, "two_factor_off", sign_in_url())
        self.stdout.write(f"Two-step verification is now off for user {user.pk}; they were told.")
