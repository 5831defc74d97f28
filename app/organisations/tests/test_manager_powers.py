"""A manager administers people, never their credentials.

The attack (finding 4 of the security review): signed in as manager, change the client's e-mail
address on /organisation/people/<id>/edit/ to a mailbox the manager controls, then ask for a
password reset for that address, sign in and read the dialogue. Here the manager's POST only
asks for a change: the new address gets a link that works only for someone signed in as the
client, and the client's real address is told at once. The manager may still correct a name;
switching off the organisation's two-step requirement tells every member.
"""

import re
import time

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.decorators import SESSION_KEY as PASSWORD_CONFIRMED_AT
from accounts.models import TwoFactor, User
from accounts.twofactor import SECOND_FACTOR_SESSION_KEY
from privacy.models import AccessKind, AccessLogEntry
from tests.fixtures.world import PASSWORD

pytestmark = [pytest.mark.app, pytest.mark.control("AUTH-05")]

ATTACKER_MAIL = "attacker@evil.test"
VICTIM_PASSWORD = "Victim-Only-Knows-2026"
CONFIRM = reverse("accounts:email_change_confirm")
LINK = re.compile(r"https?://\S+")


def edit_url(person):
    return reverse("organisations:person_edit", args=[person.pk])


def mails_to(address):
    return [m for m in mail.outbox if address in m.to]


def link_path(message):
    """The path of the link in a mail, as the browser would open it."""
    url = LINK.search(message.body).group(0)
    return "/" + url.split("://", 1)[1].split("/", 1)[1]


def snapshot():
    return sorted(
        User.objects.values_list("pk", "email", "full_name", "password", "is_active", "role")
    )


def signed_in_as(http, person):
    return str(http.session.get("_auth_user_id", "")) == str(person.pk)


def sign_in(http, email, password, url=None, **extra):
    """Post the sign-in form (at `url`, the page a link led to, with its ?next=)."""
    url = url or reverse("accounts:login")
    return http.post(url, {"username": email, "password": password}, **extra)


def open_link(http, path):
    """Open a mailed link as a browser does; returns the page it ends on."""
    response = http.get(path, follow=True)
    return response.redirect_chain[-1][0] if response.redirect_chain else path


@pytest.fixture
def victim(world):
    """Client A, with a password only she knows (everyone else in the world shares PASSWORD)."""
    world.client_a.set_password(VICTIM_PASSWORD)
    world.client_a.save()
    mail.outbox.clear()
    return world.client_a


def ask_for_new_address(http, person, address=ATTACKER_MAIL):
    return http.post(edit_url(person), {"full_name": person.full_name, "email": address})


# -- the attack ---------------------------------------------------------------------------------


def test_finding_4_the_manager_cannot_take_the_account_over_through_its_address(
    world, login, victim
):
    real_address = victim.email
    manager = login(world.manager)

    # 1. The manager "changes" the address to their own mailbox.
    assert ask_for_new_address(manager, victim).status_code == 302
    assert User.objects.get(pk=victim.pk).email == real_address
    [to_attacker] = mails_to(ATTACKER_MAIL)
    [to_victim] = mails_to(real_address)  # the real person is told at once
    assert "/account/" in to_victim.body and ATTACKER_MAIL not in to_victim.body
    link = link_path(to_attacker)

    # 2. The manager follows the link from their mailbox, signed in as themselves: 404.
    assert manager.get(link).status_code == 302
    assert manager.get(CONFIRM).status_code == 404
    manager.get(link)
    assert manager.post(CONFIRM).status_code == 404

    # 3. ... and as an anonymous visitor: the link leads to the sign-in page, and the sign-in
    # needs the client's password, which the manager does not have.
    visitor = Client()
    sign_in_page = open_link(visitor, link)
    assert sign_in_page.startswith(reverse("accounts:login"))
    assert visitor.post(CONFIRM)["Location"].startswith(reverse("accounts:login"))
    sign_in(visitor, real_address, PASSWORD, sign_in_page)
    assert not signed_in_as(visitor, victim)

    # 4. A password reset for the new address: no account uses it, so no mail goes there.
    Client().post(reverse("accounts:password_reset"), {"email": ATTACKER_MAIL})
    assert mails_to(ATTACKER_MAIL) == [to_attacker]

    # 5. Signing in with the new address does not work either.
    for address in (ATTACKER_MAIL, real_address):
        http = Client()
        sign_in(http, address, PASSWORD)
        assert not signed_in_as(http, victim)

    victim.refresh_from_db()
    assert victim.email == real_address
    assert victim.check_password(VICTIM_PASSWORD)
    assert not AccessLogEntry.objects.filter(kind=AccessKind.EMAIL_CHANGED).exists()


def test_the_link_refuses_a_visitor_who_signs_in_as_the_manager(world, login, victim):
    ask_for_new_address(login(world.manager), victim)
    link = link_path(mails_to(ATTACKER_MAIL)[0])
    visitor = Client()
    sign_in_page = open_link(visitor, link)
    response = sign_in(visitor, world.manager.email, PASSWORD, sign_in_page, follow=True)
    assert response.status_code == 404  # back on the confirmation page, as the wrong person
    assert User.objects.get(pk=victim.pk).email == "client.a@a.test"


@pytest.mark.parametrize("actor", ["other_manager", "coach_b", "coach_a", "client_b"])
def test_nobody_else_can_ask_for_or_confirm_a_change(world, login, victim, actor):
    ask_for_new_address(login(world.manager), victim, "new.carla@example.test")
    link = link_path(mails_to("new.carla@example.test")[0])
    mail.outbox.clear()
    before = snapshot()

    http = Client()
    http.force_login(world.actor(actor))
    assert http.get(edit_url(victim)).status_code == 404
    assert ask_for_new_address(http, victim).status_code == 404
    http.get(link)
    assert http.get(CONFIRM).status_code == 404
    http.get(link)
    assert http.post(CONFIRM).status_code == 404

    assert snapshot() == before
    assert mail.outbox == []


# -- the good path ------------------------------------------------------------------------------


def test_the_client_confirms_the_new_address_herself(world, login, victim):
    ask_for_new_address(login(world.manager), victim, "Carla.New@Example.test")
    [link_mail] = mails_to("carla.new@example.test")
    visitor = Client()
    sign_in_page = open_link(visitor, link_path(link_mail))
    page = sign_in(visitor, victim.email, VICTIM_PASSWORD, sign_in_page, follow=True)
    assert page.status_code == 200 and "carla.new@example.test" in page.content.decode()
    assert User.objects.get(pk=victim.pk).email == "client.a@a.test"  # not before the POST

    mail.outbox.clear()
    assert visitor.post(CONFIRM)["Location"] == reverse("accounts:profile")
    victim.refresh_from_db()
    assert victim.email == "carla.new@example.test"
    [notice] = mail.outbox
    assert notice.to == ["client.a@a.test"]  # the old address gets the notice
    entry = AccessLogEntry.objects.get(subject=victim, kind=AccessKind.EMAIL_CHANGED)
    assert entry.actor == world.manager  # who asked; the person confirmed it
    http = Client()
    sign_in(http, "carla.new@example.test", VICTIM_PASSWORD)
    assert signed_in_as(http, victim)


def test_the_manager_corrects_a_name_without_any_mail(world, login, victim):
    response = login(world.manager).post(
        edit_url(victim), {"full_name": "Carla Corrected", "email": "CLIENT.A@a.test"}
    )
    assert response.status_code == 302
    victim.refresh_from_db()
    assert (victim.full_name, victim.email) == ("Carla Corrected", "client.a@a.test")
    assert mail.outbox == []


# -- bad input ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "address, sentence",
    [
        ("not-an-address", "valid"),
        ("Client.B@A.test", "already exists"),  # taken, in another case
        ("MANAGER@b.test", "already exists"),  # taken in another organisation
        ("a" * 250 + "@a.test", "at most 254"),
    ],
)
def test_a_bad_or_taken_address_gets_one_sentence_and_changes_nothing(
    world, login, victim, address, sentence, settings
):
    settings.LANGUAGE_CODE = "en"
    world.manager.language = "en"
    world.manager.save()
    before = snapshot()
    response = login(world.manager).post(
        edit_url(victim), {"full_name": "Renamed", "email": address}
    )
    assert response.status_code == 200
    [error] = response.context["form"].errors["email"]
    assert sentence in error
    assert snapshot() == before
    assert mail.outbox == []


@pytest.mark.parametrize("state", ["no password yet", "deactivated"])
def test_someone_who_cannot_sign_in_cannot_be_given_a_new_address(
    world, login, victim, state, settings
):
    settings.LANGUAGE_CODE = "en"
    world.manager.language = "en"
    world.manager.save()
    if state == "deactivated":
        victim.is_active = False
    else:
        victim.set_unusable_password()
    victim.save()
    before = snapshot()
    response = ask_for_new_address(login(world.manager), victim)
    assert response.status_code == 200
    [error] = response.context["form"].errors["email"]
    assert "cannot confirm a new address" in error
    assert snapshot() == before
    assert mail.outbox == []


# -- the organisation's two-step requirement ----------------------------------------------------


def _strong_manager_session(world):
    """The manager with two-step on, the second factor passed and the password just typed."""
    TwoFactor.objects.update_or_create(
        user=world.manager,
        defaults={"method": "sms", "phone": "+31612345601", "enabled_at": timezone.now()},
    )
    http = Client()
    http.force_login(world.manager)
    session = http.session
    session[PASSWORD_CONFIRMED_AT] = session[SECOND_FACTOR_SESSION_KEY] = time.time()
    session.save()
    return http


@pytest.mark.control("AUTH-04")
def test_switching_the_requirement_off_tells_every_active_member(world):
    world.org_a.require_two_factor = True
    world.org_a.save()
    User.objects.filter(pk=world.coach_b.pk).update(is_active=False)
    http = _strong_manager_session(world)
    mail.outbox.clear()

    response = http.post(reverse("accounts:organisation_security"), {"require_two_factor": ""})
    assert response.status_code == 302
    world.org_a.refresh_from_db()
    assert not world.org_a.require_two_factor
    told = sorted(m.to[0] for m in mail.outbox)
    assert told == sorted(
        p.email for p in (world.manager, world.coach_a, world.client_a, world.client_b)
    )
    for message in mail.outbox:  # notification only: no names, no organisation
        text = message.subject + message.body
        assert "/account/login/" in message.body
        assert world.org_a.name not in text
        for person in (world.manager, world.coach_a, world.client_a, world.client_b):
            assert person.full_name.split()[-1] not in text


@pytest.mark.control("AUTH-04")
def test_switching_the_requirement_on_or_saving_it_unchanged_sends_nothing(world):
    http = _strong_manager_session(world)
    mail.outbox.clear()
    url = reverse("accounts:organisation_security")
    http.post(url, {"require_two_factor": ""})  # off, and it was off
    http.post(url, {"require_two_factor": "on"})
    http.post(url, {"require_two_factor": "on"})
    world.org_a.refresh_from_db()
    assert world.org_a.require_two_factor
    assert mail.outbox == []


@pytest.mark.control("AUTH-04")
def test_another_organisation_switching_it_off_tells_only_its_own_members(world):
    for organisation in (world.org_a, world.org_b):
        organisation.require_two_factor = True
        organisation.save()
    TwoFactor.objects.update_or_create(
        user=world.other_manager,
        defaults={"method": "sms", "phone": "+31612345602", "enabled_at": timezone.now()},
    )
    http = Client()
    http.force_login(world.other_manager)
    session = http.session
    session[PASSWORD_CONFIRMED_AT] = session[SECOND_FACTOR_SESSION_KEY] = time.time()
    session.save()
    mail.outbox.clear()
    http.post(reverse("accounts:organisation_security"), {"require_two_factor": ""})
    world.org_a.refresh_from_db()
    world.org_b.refresh_from_db()
    assert world.org_a.require_two_factor and not world.org_b.require_two_factor
    assert [m.to for m in mail.outbox] == [[world.other_manager.email]]


def test_a_manager_cannot_flood_a_person_with_address_changes(world, login, victim, settings):
    """The attack: a manager asks again and again. The sixth request in a day is refused, nothing
    is saved and no mail goes out; the person's own requests count towards the same limit."""
    settings.LANGUAGE_CODE = "en"
    world.manager.language = "en"
    world.manager.save()
    manager = login(world.manager)
    for number in range(5):
        response = ask_for_new_address(manager, victim, f"attacker.{number}@example.test")
        assert response.status_code == 302
    mail.outbox.clear()
    before = snapshot()
    response = manager.post(edit_url(victim), {"full_name": "Renamed", "email": ATTACKER_MAIL})
    assert response.status_code == 200
    [error] = response.context["form"].errors["email"]
    assert "Too many address changes have been asked for this account" in error
    assert snapshot() == before
    assert mail.outbox == []
