"""The site probe's accounts (manage.py site_probe): made for seconds, able to do nothing, and
removed with every record keyed by their address; never anyone else's account."""

import io

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse

from accounts import throttle
from accounts.management.commands.site_probe import PROBE_ADDRESS
from accounts.models import Throttle, User

pytestmark = pytest.mark.app


def probe(*args) -> str:
    out = io.StringIO()
    call_command("site_probe", *args, stdout=out)
    return out.getvalue()


def attempts(address):
    """What the infra probe does for one address: a wrong password and a reset request."""
    http = Client()
    http.post(reverse("accounts:login"), {"username": address, "password": "Wrong-Pass-1"})
    http.post(reverse("accounts:password_reset"), {"email": address})


def test_create_makes_an_account_that_can_do_nothing_and_names_an_unknown_address(world):
    known, unknown = probe("create").split()
    assert PROBE_ADDRESS.fullmatch(known) and PROBE_ADDRESS.fullmatch(unknown)
    assert known != unknown and not User.objects.filter(email=unknown).exists()
    account = User.objects.get(email=known)
    assert (account.organisation, account.role, account.is_staff, account.is_superuser) == (
        None,
        "",
        False,
        False,
    )
    assert account.has_usable_password()  # like a real account, for the reset to treat it so
    assert not User.objects.for_user(account).exclude(pk=account.pk).exists()


def test_remove_deletes_the_account_and_the_records_of_its_addresses_only(world):
    known, unknown = probe("create").split()
    attempts(known)
    attempts(unknown)
    attempts(world.manager.email)  # the owner's own failed attempt stays counted
    before = Throttle.objects.count()
    out = probe("remove", known, unknown, "--client", "127.0.0.1")
    assert out.strip() == "removed 1 probe accounts, 6 throttle records, 0 captured mails"
    assert not User.objects.filter(email=known).exists()
    assert Throttle.objects.count() == before - 6
    assert Throttle.objects.filter(scope=throttle.ACCOUNT).count() == 1  # the owner's
    # the counters of the network address count everyone from there: they expire on their own
    assert Throttle.objects.filter(scope=throttle.ADDRESS).exists()


def test_remove_is_idempotent_and_list_shows_what_is_left(world):
    known, _unknown = probe("create").split()
    assert probe("list").split()[0] == known
    probe("remove", known)
    assert probe("remove", known).strip() == (
        "removed 0 probe accounts, 0 throttle records, 0 captured mails"
    )
    assert probe("list") == ""


@pytest.mark.parametrize("person", ["manager", "coach_a", "other_manager", "staff"])
def test_remove_refuses_the_address_of_a_real_person(world, person):
    """The owner, a colleague, an outsider, staff: not one of them is touched, even listed
    beside a real probe account."""
    known, _unknown = probe("create").split()
    email = getattr(world, person).email
    with pytest.raises(CommandError, match="is not a probe address") as refused:
        probe("remove", known, email)
    assert refused.value.returncode == 2
    assert User.objects.filter(email__in=[known, email]).count() == 2


def test_remove_refuses_an_account_at_a_probe_address_that_belongs_somewhere(world):
    known, _unknown = probe("create").split()
    User.objects.filter(email=known).update(organisation=world.org_a, role="client")
    with pytest.raises(CommandError, match="is not a probe account") as refused:
        probe("remove", known)
    assert refused.value.returncode == 2
    assert User.objects.filter(email=known).exists()


def test_a_bad_client_address_is_one_sentence(world):
    with pytest.raises(CommandError, match="is not a network address") as refused:
        probe("remove", "probe-0123456789abcdef@probe.invalid", "--client", "web1")
    assert refused.value.returncode == 2


def test_remove_deletes_the_mail_captured_for_the_probe_only(world, settings, tmp_path):
    settings.EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    settings.EMAIL_FILE_PATH = str(tmp_path)
    known, unknown = probe("create").split()
    attempts(known)
    attempts(world.client_a.email)
    assert len(list(tmp_path.iterdir())) == 2
    assert probe("remove", known, unknown).strip().endswith("1 captured mails")
    [left] = tmp_path.iterdir()
    assert f"To: {world.client_a.email}" in left.read_text()
