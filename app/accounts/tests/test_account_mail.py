"""Every account mail (invitation, password reset) carries a link, never names or a password.

The same promise as tests/app/test_notification_mail.py, for the mails the accounts app sends.
"""

import pytest
from django.core import mail
from django.urls import reverse

from accounts.invitations import send_invitation
from accounts.mail import KINDS, render_account_mail
from accounts.models import Role
from tests.fixtures.world import PASSWORD, SECRET, make_user

pytestmark = pytest.mark.app


def _assert_clean(world, person, message):
    text = message.subject + "\n" + message.body
    for someone in (person, world.manager, world.coach_a):
        for part in someone.full_name.split():
            assert part not in text
    assert world.org_a.name not in text
    assert PASSWORD not in text and SECRET not in text
    assert person.email not in text
    assert "http" in message.body
    assert not message.attachments
    assert not getattr(message, "alternatives", None)


@pytest.mark.parametrize("kind", sorted(KINDS))
@pytest.mark.parametrize("language", ["nl", "en"])
def test_every_kind_renders_with_only_a_link(kind, language):
    subject, body = render_account_mail(language, kind, "https://safecoach.example/x/")
    assert subject and "safecoach" in subject
    assert "https://safecoach.example/x/" in body
    assert "{" not in body and "%" not in body


def test_the_invitation_mail_names_nobody(world, django_capture_on_commit_callbacks):
    person = make_user("nina@a.test", f"Nina {SECRET}", world.org_a, Role.CLIENT, world.coach_a)
    person.set_unusable_password()
    person.save()
    with django_capture_on_commit_callbacks(execute=True):
        send_invitation(person, invited_by=world.manager)
    assert len(mail.outbox) == 1
    _assert_clean(world, person, mail.outbox[0])


def test_the_reset_mail_names_nobody(world, client):
    client.post(reverse("accounts:password_reset"), {"email": world.client_a.email})
    assert len(mail.outbox) == 1
    _assert_clean(world, world.client_a, mail.outbox[0])


def test_the_sms_code_text_names_nobody(world, login, sms):
    login(world.client_a).post(reverse("accounts:two_factor_sms"), {"phone": "+31 6 12345678"})
    [text] = [m["text"] for m in sms.messages()]
    for part in world.client_a.full_name.split():
        assert part not in text
    assert world.client_a.email not in text and world.org_a.name not in text
