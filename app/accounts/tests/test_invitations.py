"""Invitations: single-use, expiring links to choose a first password; resent by a manager."""

import re
from datetime import timedelta

import pytest
from django.contrib.messages import get_messages
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from accounts.invitations import InvitationError, send_invitation
from accounts.models import Invitation, Role
from tests.fixtures.world import make_user

pytestmark = pytest.mark.app

GOOD = "Chosen-Pass-2026"


@pytest.fixture
def invitee(world):
    person = make_user("new.client@a.test", "Nina Nieuw", world.org_a, Role.CLIENT, world.coach_a)
    person.set_unusable_password()
    person.save()
    return person


def _invite(invitee, world, capture):
    mail.outbox.clear()
    with capture(execute=True):
        send_invitation(invitee, invited_by=world.manager)
    assert len(mail.outbox) == 1
    return re.search(r"https?://\S+", mail.outbox[0].body).group(0)


def _path(link):
    return link.split("testserver", 1)[-1] if "testserver" in link else "/" + link.split("/", 3)[3]


def _accept(client, link, password=GOOD):
    return client.post(_path(link), {"new_password1": password, "new_password2": password})


def test_an_invitation_mails_a_link_that_sets_the_password_once(
    world, invitee, client, django_capture_on_commit_callbacks
):
    link = _invite(invitee, world, django_capture_on_commit_callbacks)
    page = client.get(_path(link), follow=True)
    assert page.status_code == 200
    # The token has left the address (history, Referer) and the page.
    token = _path(link).rstrip("/").rsplit("/", 1)[1]
    assert page.redirect_chain == [
        (reverse("accounts:invitation_accept", args=["set-password"]), 302)
    ]
    assert token not in page.content.decode()
    assert "Choose a password" in page.content.decode()
    assert "at least one digit and one upper-case letter" in page.content.decode()
    response = _accept(client, link)
    assert response.status_code == 302 and response["Location"] == reverse("accounts:login")
    invitee.refresh_from_db()
    assert invitee.check_password(GOOD)
    assert "_auth_user_id" not in client.session
    # The link is spent: same page as any bad link, and the password stays.
    again = _accept(client, link, "Other-Pass-2027")
    assert "This invitation link cannot be used" in again.content.decode()
    invitee.refresh_from_db()
    assert invitee.check_password(GOOD)


def test_no_password_and_no_token_is_stored_readable(
    world, invitee, django_capture_on_commit_callbacks
):
    link = _invite(invitee, world, django_capture_on_commit_callbacks)
    token = link.rstrip("/").rsplit("/", 1)[1]
    row = Invitation.objects.get(user=invitee)
    assert token not in row.token_hash
    assert (
        "password" not in mail.outbox[0].body.lower()
        or "never send passwords" in mail.outbox[0].body
    )


def test_an_expired_invitation_is_refused(
    world, invitee, client, django_capture_on_commit_callbacks
):
    link = _invite(invitee, world, django_capture_on_commit_callbacks)
    Invitation.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    response = _accept(client, link)
    assert "This invitation link cannot be used" in response.content.decode()
    invitee.refresh_from_db()
    assert not invitee.has_usable_password()


def test_a_newer_invitation_replaces_the_older_one(
    world, invitee, client, django_capture_on_commit_callbacks
):
    old = _invite(invitee, world, django_capture_on_commit_callbacks)
    new = _invite(invitee, world, django_capture_on_commit_callbacks)
    assert "cannot be used" in client.get(_path(old)).content.decode()
    assert _accept(client, new).status_code == 302


@pytest.mark.parametrize("token", ["x", "A" * 43, "..", "%00", "a" * 300])
def test_tampered_tokens_get_the_same_clear_page(
    world, invitee, client, token, django_capture_on_commit_callbacks
):
    _invite(invitee, world, django_capture_on_commit_callbacks)
    response = client.post(
        reverse("accounts:invitation_accept", args=[token]),
        {"new_password1": GOOD, "new_password2": GOOD},
    )
    assert response.status_code == 200
    assert "This invitation link cannot be used" in response.content.decode()
    invitee.refresh_from_db()
    assert not invitee.has_usable_password()


def test_a_deactivated_invitee_cannot_accept(
    world, invitee, client, django_capture_on_commit_callbacks
):
    link = _invite(invitee, world, django_capture_on_commit_callbacks)
    invitee.is_active = False
    invitee.save()
    assert "cannot be used" in _accept(client, link).content.decode()


@pytest.mark.control("AUTH-01")
@pytest.mark.parametrize(
    ("password", "complaint"),
    [
        ("Short1A", "password_too_short"),
        ("nouppercase1", "no_upper"),
        ("NoDigitsHere", "no_digit"),
        ("Password1", "password_too_common"),
        ("Nina-Nieuw-1", "password_too_similar"),
    ],
)
def test_the_password_rule_applies_on_acceptance(
    world, invitee, client, password, complaint, django_capture_on_commit_callbacks
):
    link = _invite(invitee, world, django_capture_on_commit_callbacks)
    response = _accept(client, link, password)
    assert response.status_code == 200
    codes = [e.code for e in response.context["form"].errors.as_data()["new_password2"]]
    assert complaint in codes
    invitee.refresh_from_db()
    assert not invitee.has_usable_password()
    assert Invitation.objects.get(user=invitee).used_at is None


def test_someone_with_a_password_cannot_be_invited(world):
    with pytest.raises(InvitationError):
        send_invitation(world.client_a, invited_by=world.manager)


def _resend(login, actor, person):
    return login(actor).post(reverse("accounts:invitation_resend", args=[person.pk]))


def test_the_manager_resends_an_invitation(
    world, invitee, login, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = _resend(login, world.manager, invitee)
    assert response.status_code == 302
    assert [m.to for m in mail.outbox] == [[invitee.email]]
    assert Invitation.objects.filter(user=invitee, invited_by=world.manager).count() == 1


@pytest.mark.parametrize("actor", ["coach_a", "client_a", "other_manager", "staff"])
def test_only_the_own_manager_can_resend(
    world, invitee, login, actor, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = _resend(login, getattr(world, actor), invitee)
    assert response.status_code == 404
    assert mail.outbox == [] and not Invitation.objects.exists()


def test_resending_to_someone_with_a_password_is_refused_clearly(world, login):
    response = _resend(login, world.manager, world.client_a)
    assert response.status_code == 302
    said = [str(m) for m in get_messages(response.wsgi_request)]
    assert said == ["This person has already chosen a password or has been deactivated."]
    assert mail.outbox == [] and not Invitation.objects.exists()


def test_every_unusable_link_gives_the_identical_page(
    world, invitee, client, django_capture_on_commit_callbacks
):
    """Used, expired, replaced and made-up links cannot be told apart."""
    from accounts.tests.conftest import without_csrf

    used = _invite(invitee, world, django_capture_on_commit_callbacks)
    client.get(_accept(client, used)["Location"])  # shows (and clears) the success message
    other = make_user("other.new@a.test", "Olaf Ander", world.org_a, Role.COACH)
    other.set_unusable_password()
    other.save()
    replaced = _invite(other, world, django_capture_on_commit_callbacks)
    expired = _invite(other, world, django_capture_on_commit_callbacks)
    Invitation.objects.filter(user=other).update(expires_at=timezone.now())
    links = (used, replaced, expired, "http://testserver/account/invitation/made-up/")
    # The language switcher echoes the page's own address; apart from that, byte for byte equal.
    pages = {
        without_csrf(client.get(_path(link)).content.decode()).replace(_path(link), "URL")
        for link in links
    }
    assert len(pages) == 1


def test_the_hidden_token_page_without_a_session_is_the_clear_page(client, db):
    page = client.get(reverse("accounts:invitation_accept", args=["set-password"]))
    assert "This invitation link cannot be used" in page.content.decode()


def test_accepting_through_the_session_sets_the_password(
    world, invitee, client, django_capture_on_commit_callbacks
):
    link = _invite(invitee, world, django_capture_on_commit_callbacks)
    page = client.get(_path(link), follow=True)
    response = client.post(
        page.redirect_chain[-1][0], {"new_password1": GOOD, "new_password2": GOOD}
    )
    assert response["Location"] == reverse("accounts:login")
    invitee.refresh_from_db()
    assert invitee.check_password(GOOD)
    assert "invitation_token" not in client.session
