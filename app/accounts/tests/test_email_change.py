"""A person changes their own e-mail address: password first, then a link to the new address,
confirmed while signed in as themselves. The link is a signed token that dies when it is used,
when the password changes and after a day; it works for nobody else; the address in it is
encrypted; a used address is refused at confirmation and never revealed when asked for."""

import json
import re
import time

import pytest
from django.core import mail, signing
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts import email_change
from accounts.decorators import SESSION_KEY as PASSWORD_CONFIRMED_AT
from accounts.models import TwoFactor, User
from accounts.tests.conftest import form_errors
from privacy.models import AccessKind, AccessLogEntry
from tests.fixtures.world import PASSWORD, make_user

pytestmark = [pytest.mark.app, pytest.mark.control("AUTH-05")]

CHANGE = reverse("accounts:email_change")
CONFIRM = reverse("accounts:email_change_confirm")
NEW = "carla.new@example.test"
LINK = re.compile(r"https?://\S+")
UNUSABLE = "This link has expired, has been used already or was made before a password change"


def mails_to(address):
    return [m for m in mail.outbox if address in m.to]


def link_path(message):
    url = LINK.search(message.body).group(0)
    return "/" + url.split("://", 1)[1].split("/", 1)[1]


def confirmed_session(person):
    """A browser signed in as `person` who has just typed their password."""
    http = Client()
    http.force_login(person)
    session = http.session
    session[PASSWORD_CONFIRMED_AT] = time.time()
    session.save()
    return http


def ask(http, address=NEW):
    return http.post(CHANGE, {"email": address})


def snapshot():
    return sorted(User.objects.values_list("pk", "email", "password"))


@pytest.fixture
def carla(world):
    mail.outbox.clear()
    return world.client_a


# -- the good path ------------------------------------------------------------------------------


def test_the_person_changes_her_own_address(carla):
    http = confirmed_session(carla)
    assert http.get(CHANGE).status_code == 200
    response = ask(http, "Carla.New@Example.TEST")
    assert response["Location"] == reverse("accounts:profile")
    assert User.objects.get(pk=carla.pk).email == "client.a@a.test"
    [link_mail] = mails_to(NEW)
    [notice] = mails_to("client.a@a.test")  # the current address is told at once
    assert "asked" in notice.subject

    assert http.get(link_path(link_mail))["Location"] == CONFIRM
    page = http.get(CONFIRM)
    assert page.status_code == 200 and NEW in page.content.decode()
    assert User.objects.get(pk=carla.pk).email == "client.a@a.test"  # only a POST changes it

    mail.outbox.clear()
    assert http.post(CONFIRM)["Location"] == reverse("accounts:profile")
    carla.refresh_from_db()
    assert carla.email == NEW
    [changed] = mail.outbox
    assert changed.to == ["client.a@a.test"] and "has been changed" in changed.subject
    entry = AccessLogEntry.objects.get(subject=carla, kind=AccessKind.EMAIL_CHANGED)
    assert entry.actor == carla and entry.actor_role == "self"


def stale_session(person):
    """A browser signed in as `person` whose password was last typed an hour ago."""
    http = confirmed_session(person)
    session = http.session
    session[PASSWORD_CONFIRMED_AT] = time.time() - 3600
    session.save()
    return http


def test_asking_needs_the_password_again(carla):
    http = stale_session(carla)
    response = http.get(CHANGE)
    assert response["Location"].startswith(reverse("accounts:confirm_password"))
    response = ask(http)
    assert response["Location"].startswith(reverse("accounts:confirm_password"))
    assert mail.outbox == []


def test_confirming_needs_the_password_again(carla):
    ask(confirmed_session(carla))
    http = stale_session(carla)
    http.get(link_path(mails_to(NEW)[0]))
    response = http.post(CONFIRM)
    assert response["Location"].startswith(reverse("accounts:confirm_password"))
    assert User.objects.get(pk=carla.pk).email == "client.a@a.test"


def test_a_visitor_with_the_link_signs_in_with_both_steps_first(carla, sms):
    TwoFactor.objects.update_or_create(
        user=carla,
        defaults={"method": "sms", "phone": "+31611122233", "enabled_at": timezone.now()},
    )
    ask(confirmed_session(carla))
    visitor = Client()
    response = visitor.get(link_path(mails_to(NEW)[0]), follow=True)
    assert response.redirect_chain[-1][0].startswith(reverse("accounts:login"))
    response = visitor.post(
        response.redirect_chain[-1][0], {"username": carla.email, "password": PASSWORD}
    )
    assert response["Location"] == reverse("accounts:signin_verify")
    assert visitor.post(CONFIRM)["Location"].startswith(reverse("accounts:login"))
    response = visitor.post(
        reverse("accounts:signin_verify"), {"code": sms.last_code("+31611122233")}, follow=True
    )
    assert response.redirect_chain[-1][0] == CONFIRM and NEW in response.content.decode()
    visitor.post(CONFIRM)
    assert User.objects.get(pk=carla.pk).email == NEW


# -- the token ------------------------------------------------------------------------------------


def test_the_link_works_once(carla):
    http = confirmed_session(carla)
    ask(http)
    link = link_path(mails_to(NEW)[0])
    http.get(link)
    http.post(CONFIRM)
    assert User.objects.get(pk=carla.pk).email == NEW
    response = http.get(link)
    assert response.status_code == 200 and UNUSABLE in response.content.decode()
    assert http.post(CONFIRM).status_code == 200
    assert User.objects.get(pk=carla.pk).email == NEW


def test_the_link_dies_with_a_password_change(carla):
    http = confirmed_session(carla)
    ask(http)
    link = link_path(mails_to(NEW)[0])
    http.get(link)  # opened before the change: the token sits in the session
    carla.set_password("Another-Password-2026")
    carla.save()
    http = confirmed_session(carla)
    for response in (http.get(link), http.post(CONFIRM)):
        assert response.status_code == 200 and UNUSABLE in response.content.decode()
    assert User.objects.get(pk=carla.pk).email == "client.a@a.test"


def test_an_expired_link_is_refused(carla, monkeypatch):
    day_ago = time.time() - email_change.MAX_AGE - 60
    with monkeypatch.context() as patch:
        patch.setattr(
            signing.TimestampSigner, "timestamp", lambda self: signing.b62_encode(int(day_ago))
        )
        token = email_change.make_token(carla, NEW, carla)
    http = confirmed_session(carla)
    response = http.get(reverse("accounts:email_change_link", args=[token]))
    assert response.status_code == 200 and UNUSABLE in response.content.decode()
    assert User.objects.get(pk=carla.pk).email == "client.a@a.test"


@pytest.mark.parametrize(
    "tamper",
    [
        lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"),  # the signature
        lambda t: "x" + t,  # the payload
        lambda t: "not-a-token",
        lambda t: signing.dumps({"u": 1, "e": NEW, "r": 1, "s": "x"}, salt="another"),
    ],
    ids=["signature", "payload", "garbage", "other-salt"],
)
def test_a_tampered_link_is_refused(carla, tamper):
    token = tamper(email_change.make_token(carla, NEW, carla))
    http = confirmed_session(carla)
    response = http.get(reverse("accounts:email_change_link", args=[token]))
    assert response.status_code == 200 and UNUSABLE in response.content.decode()
    assert http.post(CONFIRM).status_code == 200
    assert User.objects.get(pk=carla.pk).email == "client.a@a.test"


def test_the_address_is_not_readable_in_the_link(carla):
    ask(confirmed_session(carla))
    link = link_path(mails_to(NEW)[0])
    assert "carla" not in link.lower() and "example" not in link.lower() and "@" not in link
    payload = signing.loads(link.rstrip("/").rsplit("/", 1)[1], salt=email_change.SALT)
    assert NEW not in json.dumps(payload)


def test_nobody_else_signed_in_can_use_the_link(carla, world):
    ask(confirmed_session(carla))
    link = link_path(mails_to(NEW)[0])
    for other in ("client_b", "coach_a", "manager", "other_manager", "coach_b"):
        http = confirmed_session(world.actor(other))
        http.get(link)
        assert http.get(CONFIRM).status_code == 404, other
        http.get(link)
        assert http.post(CONFIRM).status_code == 404, other
        assert User.objects.get(pk=world.actor(other).pk).email != NEW
    assert User.objects.get(pk=carla.pk).email == "client.a@a.test"


def test_the_confirmation_page_without_a_link_says_so(carla):
    response = confirmed_session(carla).post(CONFIRM)
    assert response.status_code == 200 and UNUSABLE in response.content.decode()


# -- bad input --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "address, sentence",
    [
        ("not-an-address", "Enter a valid email address."),
        ("", "This field is required."),
        ("a" * 250 + "@a.test", "at most 254 characters"),
        ("CLIENT.A@a.test", "This is already the address of your account; enter the new address."),
    ],
)
def test_bad_input_gets_one_sentence_and_changes_nothing(carla, address, sentence):
    before = snapshot()
    response = ask(confirmed_session(carla), address)
    assert response.status_code == 200
    assert sentence in form_errors(response)
    assert snapshot() == before
    assert mail.outbox == []


def test_a_used_address_gets_the_same_answer_and_no_link(carla, world):
    """Asking for client B's address answers like any other address: no enumeration."""
    http = confirmed_session(carla)
    taken = ask(http, "Client.B@a.test")
    free = ask(http, NEW)
    assert taken["Location"] == free["Location"]
    messages = [m.message for m in http.get(reverse("accounts:profile")).context["messages"]]
    assert len(messages) == 2 and messages[0] == messages[1]
    assert mails_to("client.b@a.test") == []  # nothing goes to the other account
    assert len(mails_to("client.a@a.test")) == 2  # the current address is told both times
    assert len(mails_to(NEW)) == 1


def test_an_address_taken_before_confirmation_is_refused(carla, world):
    http = confirmed_session(carla)
    ask(http)
    http.get(link_path(mails_to(NEW)[0]))
    make_user("Carla.New@example.test", "Someone Else", world.org_b)
    before = snapshot()
    response = http.post(CONFIRM)
    assert response.status_code == 200
    assert "Another account uses this e-mail address now" in response.content.decode()
    assert snapshot() == before
    assert not AccessLogEntry.objects.filter(kind=AccessKind.EMAIL_CHANGED).exists()


def test_the_profile_page_offers_the_change(carla, login):
    page = login(carla).get(reverse("accounts:profile")).content.decode()
    assert CHANGE in page


def test_a_flood_of_requests_is_refused_with_one_sentence(carla, world):
    """Each request mails two addresses: the sixth in a day gets a sentence and sends nothing."""
    http = confirmed_session(carla)
    for number in range(5):
        assert ask(http, f"carla.{number}@example.test").status_code == 302
    assert len(mails_to("client.a@a.test")) == 5
    mail.outbox.clear()
    before = snapshot()
    response = ask(http, "carla.6@example.test")
    assert response.status_code == 200
    assert "Too many address changes have been asked for this account" in form_errors(response)
    assert snapshot() == before
    assert mail.outbox == []
    # The limit is the account's own: client B can still ask.
    assert ask(confirmed_session(world.client_b), "bert.new@example.test").status_code == 302
