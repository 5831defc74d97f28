"""Password reset: same answer for every address, a single-use expiring link, no auto sign-in."""

import re
from datetime import timedelta
from unittest import mock

import pytest
from django.contrib.auth.tokens import default_token_generator
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from accounts.mail import render_account_mail
from accounts.tests.conftest import without_csrf
from tests.fixtures.world import PASSWORD

pytestmark = [pytest.mark.app, pytest.mark.control("AUTH-02")]

NEW = "Brand-New-Pass-42"


def _ask(client, email, **extra):
    return client.post(reverse("accounts:password_reset"), {"email": email}, **extra)


def _link(message):
    return re.search(r"https?://\S+", message.body).group(0)


def test_known_and_unknown_addresses_get_the_identical_answer(world, client):
    known = _ask(client, world.client_a.email)
    unknown = _ask(client, "nobody@a.test")
    assert known.status_code == unknown.status_code == 302
    assert known["Location"] == unknown["Location"]
    done_known = client.get(known["Location"])
    done_unknown = client.get(unknown["Location"])
    assert without_csrf(done_known.content.decode()) == without_csrf(done_unknown.content.decode())
    # Only the real account got mail: the one difference intended.
    assert [m.to for m in mail.outbox] == [[world.client_a.email]]


def test_an_unknown_address_renders_the_mail_too(world, client):
    """The same work is done for an unknown address: a token is made, the mail rendered."""
    with mock.patch("accounts.forms.render_account_mail", wraps=render_account_mail) as render:
        _ask(client, "nobody@a.test")
    assert render.call_count == 1
    assert mail.outbox == []


def test_the_link_sets_a_password_once_and_does_not_sign_in(world, client):
    _ask(client, world.client_a.email)
    link = _link(mail.outbox[0])
    form_page = client.get(link, follow=True)
    assert form_page.context["validlink"]
    response = client.post(
        form_page.redirect_chain[-1][0], {"new_password1": NEW, "new_password2": NEW}
    )
    assert response.status_code == 302
    assert "_auth_user_id" not in client.session  # the second step must not be skipped
    world.client_a.refresh_from_db()
    assert world.client_a.check_password(NEW)
    # The same link again: refused with a clear page.
    again = client.get(link, follow=True)
    assert again.context["validlink"] is False
    assert "This link cannot be used" in again.content.decode()


def test_an_expired_link_is_refused(world, client, settings):
    _ask(client, world.client_a.email)
    link = _link(mail.outbox[0])
    settings.PASSWORD_RESET_TIMEOUT = 1
    with mock.patch.object(
        default_token_generator,
        "_now",
        return_value=default_token_generator._now() + timedelta(seconds=5),
    ):
        page = client.get(link, follow=True)
    assert page.context["validlink"] is False


def test_a_tampered_link_is_refused_and_changes_nothing(world, client):
    _ask(client, world.client_a.email)
    link = _link(mail.outbox[0])
    tampered = link[:-3] + ("aaa" if not link.endswith("aaa/") else "bbb") + "/"
    page = client.get(tampered, follow=True)
    assert page.context["validlink"] is False
    world.client_a.refresh_from_db()
    assert world.client_a.check_password(PASSWORD)


def test_a_link_for_a_deactivated_account_is_refused(world, client):
    _ask(client, world.client_a.email)
    link = _link(mail.outbox[0])
    world.client_a.is_active = False
    world.client_a.save()
    page = client.get(link, follow=True)
    assert page.context["validlink"] is False
    assert "no longer active" in page.content.decode()


def test_a_deactivated_account_gets_no_mail_and_the_same_answer(world, client):
    world.client_a.is_active = False
    world.client_a.save()
    response = _ask(client, world.client_a.email)
    assert response.status_code == 302
    assert mail.outbox == []


def test_a_weak_new_password_is_refused_with_the_rule(world, client):
    uid = urlsafe_base64_encode(force_bytes(world.client_a.pk))
    token = default_token_generator.make_token(world.client_a)
    page = client.get(reverse("accounts:password_reset_confirm", args=[uid, token]), follow=True)
    url = page.redirect_chain[-1][0]
    response = client.post(url, {"new_password1": "alllowercase", "new_password2": "alllowercase"})
    assert response.status_code == 200
    text = response.content.decode()
    assert "at least one digit" in text and "upper-case" in text
    world.client_a.refresh_from_db()
    assert world.client_a.check_password(PASSWORD)


def test_a_reset_ends_every_session_of_the_user(world, client):
    other_device = Client()
    other_device.force_login(world.client_a)
    assert other_device.get(reverse("accounts:profile")).status_code == 200
    _ask(client, world.client_a.email)
    page = client.get(_link(mail.outbox[0]), follow=True)
    client.post(page.redirect_chain[-1][0], {"new_password1": NEW, "new_password2": NEW})
    assert other_device.get(reverse("accounts:profile")).status_code == 302


@pytest.mark.control("AUTH-03")
def test_an_address_asked_for_too_often_gets_no_more_mail_but_the_same_answer(world, client):
    for _ in range(5):
        response = _ask(client, world.client_a.email)
        assert response.status_code == 302
    assert len(mail.outbox) == 3  # reset-account allows three an hour


@pytest.mark.control("AUTH-03")
def test_a_network_asking_too_often_is_told_when_to_try_again(world, client, settings):
    settings.SAFECOACH_THROTTLE = {**settings.SAFECOACH_THROTTLE, "reset-address": (2, 3600, 3600)}
    _ask(client, "a@a.test", REMOTE_ADDR="203.0.113.5")
    _ask(client, "b@a.test", REMOTE_ADDR="203.0.113.5")
    response = _ask(client, "c@a.test", REMOTE_ADDR="203.0.113.5")
    assert response.status_code == 200
    assert "Too many requests from your network. Try again after" in response.content.decode()


def test_in_production_the_reset_mail_leaves_on_a_background_thread(world, client, settings):
    """The answer does not wait for the relay: known and unknown addresses take as long."""
    settings.SAFECOACH_ACCOUNT_MAIL_IN_BACKGROUND = True
    started = []
    with mock.patch("accounts.mail.threading.Thread") as thread:
        thread.return_value.start.side_effect = lambda: started.append(True)
        _ask(client, world.client_a.email)
        _ask(client, "nobody@a.test")
    assert started == [True]  # only the real account's mail, and not sent in the request
    assert mail.outbox == []
    thread.call_args.kwargs["target"]()  # what the thread runs: the mail, no name in it
    assert [m.to for m in mail.outbox] == [[world.client_a.email]]


def test_a_relay_failure_is_logged_without_the_link(world, client, settings, caplog):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", 9
    response = _ask(client, world.client_a.email)
    assert response.status_code == 302  # the same answer
    assert "could not send a password_reset mail" in caplog.text
    assert "/account/password/reset/" not in caplog.text.split("Traceback")[0]
