"""Accounts that exist only for the probes of the deployed site (tests/infra/test_site.py).

The probe shows from outside that sign-in and password reset answer the same for a known and an
unknown e-mail address (AUTH-02). It needs one account that exists, for a few seconds. That
account lives under the reserved domain probe.invalid (RFC 2606: the name never resolves, so no
mail reaches anyone), belongs to no organisation, has no role and no staff rights, and has a
random password nobody is told: it can do nothing. `remove` deletes it with every record keyed by
its address (throttle rows, mail the lab captured), and refuses anything that is not a probe.

    safecoach-manage site_probe create      two lines: the new account's address, and a fresh
                                            address no account has (the unknown one)
    safecoach-manage site_probe remove ADDRESS... [--client IP]
    safecoach-manage site_probe list        the probe accounts there are (left by a broken run)
"""

import ipaddress
import re
import secrets
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from accounts import throttle
from accounts.models import User

DOMAIN = "probe.invalid"
PROBE_ADDRESS = re.compile(r"probe-[0-9a-f]{16}@probe\.invalid")


def new_address() -> str:
    return f"probe-{secrets.token_hex(8)}@{DOMAIN}"


def is_probe(user: User) -> bool:
    """A probe account: a probe address and nothing that would let it act."""
    return bool(
        PROBE_ADDRESS.fullmatch(user.email)
        and user.organisation_id is None
        and not user.role
        and not user.is_staff
        and not user.is_superuser
    )


def probe_records(address: str, client: str | None) -> list[tuple[str, str]]:
    """The throttle counters keyed by the probe's address alone (no one else's attempts).

    The counters of the network address on its own (login-address, reset-address) also count
    everyone else from there: they are left to expire (accounts.throttle)."""
    counters = [(throttle.ACCOUNT, address), ("reset-account", address)]
    if client:
        counters.append((throttle.ACCOUNT_AND_ADDRESS, f"{address} {client}"))
    return counters


def remove_captured_mail(addresses: list[str]) -> int:
    """Mail the file backend captured (the lab) for the probe addresses."""
    if not settings.EMAIL_BACKEND.endswith("filebased.EmailBackend"):
        return 0
    folder = Path(settings.EMAIL_FILE_PATH)
    removed = 0
    for path in sorted(folder.glob("*")) if folder.is_dir() else []:
        text = path.read_text(errors="replace")
        if any(f"\nTo: {address}\n" in text for address in addresses):
            path.unlink()
            removed += 1
    return removed


class Command(BaseCommand):
    help = "Create, list or remove the accounts of the site probe (under probe.invalid only)."

    def add_arguments(self, parser):
        verbs = parser.add_subparsers(dest="verb", required=True)
        verbs.add_parser(
            "create", help="Make a probe account; print its address and an unknown one."
        )
        verbs.add_parser("list", help="Print the probe accounts there are.")
        remove = verbs.add_parser("remove", help="Remove probe accounts and their records.")
        remove.add_argument("addresses", nargs="+", metavar="ADDRESS")
        remove.add_argument(
            "--client", help="The probe's network address as the site saw it (its throttle rows)."
        )

    def handle(self, verb, **options):
        if verb == "create":
            self.create()
        elif verb == "list":
            for user in User.objects.filter(email__endswith="@" + DOMAIN).order_by("date_joined"):
                self.stdout.write(f"{user.email} {user.date_joined.isoformat()}")
        else:
            self.remove(options["addresses"], options["client"])

    def create(self):
        address = new_address()
        User.objects.create_user(address, secrets.token_urlsafe(32), full_name="site probe")
        self.stdout.write(address)
        self.stdout.write(new_address())

    def remove(self, addresses: list[str], client: str | None):
        addresses = [address.strip().lower() for address in addresses]
        for address in addresses:
            if not PROBE_ADDRESS.fullmatch(address):
                raise CommandError(
                    f"{address!r} is not a probe address (probe-<16 hex>@{DOMAIN}); "
                    "nothing was removed.",
                    returncode=2,
                )
        if client:
            try:
                client = str(ipaddress.ip_address(client))
            except ValueError:
                raise CommandError(
                    f"--client {client!r} is not a network address; nothing was removed.",
                    returncode=2,
                ) from None
        users = list(User.objects.filter(email__in=addresses))
        for user in users:
            if not is_probe(user):
                raise CommandError(
                    f"The account of {user.email} is not a probe account (it has an "
                    "organisation, a role or staff rights); nothing was removed.",
                    returncode=2,
                )
        for user in users:
            user.delete()
        rows = 0
        for address in addresses:
            for scope, ident in probe_records(address, client):
                rows += throttle.reset(scope, ident)
        mail = remove_captured_mail(addresses)
        self.stdout.write(
            f"removed {len(users)} probe accounts, {rows} throttle records, {mail} captured mails"
        )
