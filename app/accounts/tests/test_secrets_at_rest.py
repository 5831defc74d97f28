"""A copy of the database gives nobody a working code or link.

The attacker holds a full dump (`dumpdata` to JSON, sessions decoded too) taken while there is
a person with the authenticator app, a person with SMS and a pending sign-in code, backup codes,
a pending app enrolment and an open invitation. They try every string in the dump as an
authenticator key (its current code, entered at sign-in), as a backup code, as an SMS code and as
an invitation token. All are refused. Runs on SQLite and PostgreSQL.
"""

import base64
import binascii
import io
import json
import re

import pytest
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.core import mail
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from accounts import codes, field_crypto, twofactor
from accounts.invitations import open_invitation, send_invitation
from accounts.models import Role, TwoFactor, TwoFactorMethod
from accounts.tests.conftest import totp_key_on_page
from tests.fixtures.world import PASSWORD, make_user

pytestmark = [pytest.mark.app, pytest.mark.control("AUTH-04")]

TOKEN = re.compile(r"[A-Za-z0-9_\-]+")


def _strings(value):
    """Every string in a JSON value, and every word-like token inside each."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(key)
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)
    elif value is not None:
        text = str(value)
        yield text
        yield from TOKEN.findall(text)


def _dump():
    out = io.StringIO()
    call_command("dumpdata", format="json", stdout=out)
    rows = json.loads(out.getvalue())
    # Session data is only signed, not encrypted: the attacker decodes it.
    decoded = [SessionStore().decode(s.session_data) for s in Session.objects.all()]
    return out.getvalue(), set(_strings(rows)) | set(_strings(decoded))


def _as_totp_key(text):
    try:
        codes._b32decode(text)
    except (binascii.Error, ValueError):
        return None
    return text


def _pending_sign_in(user):
    http = Client()
    http.post(reverse("accounts:login"), {"username": user.email, "password": PASSWORD})
    assert "signin_pending" in http.session
    return http


@pytest.fixture
def secrets_in_use(world, sms, settings, django_capture_on_commit_callbacks):
    # Every refusal must be the code being wrong, not a throttle that stopped the walk.
    settings.SAFECOACH_THROTTLE = {k: (100_000, 60, 60) for k in settings.SAFECOACH_THROTTLE}
    # Coach A: the authenticator app, set up through the pages.
    app_user = Client()
    app_user.force_login(world.coach_a)
    app_key = totp_key_on_page(app_user.get(reverse("accounts:two_factor_totp")))
    app_user.post(reverse("accounts:two_factor_totp"), {"code": codes.totp_now(app_key)})
    TwoFactor.objects.filter(user=world.coach_a).update(totp_last_step=None)
    # Coach B: an app enrolment waiting in the session.
    waiting = Client()
    waiting.force_login(world.coach_b)
    waiting_key = totp_key_on_page(waiting.get(reverse("accounts:two_factor_totp")))
    # Client A: SMS, backup codes, and a sign-in waiting for the texted code.
    backup = twofactor.enable(world.client_a, TwoFactorMethod.SMS, phone="+31611122233")
    sms_pending = _pending_sign_in(world.client_a)
    sms_code = sms.last_code()
    # An open invitation.
    invitee = make_user("nina@a.test", "Nina Nieuw", world.org_a, Role.CLIENT)
    invitee.set_unusable_password()
    invitee.save()
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        send_invitation(invitee, invited_by=world.manager)
    token = re.search(r"/account/invitation/([^/\s]+)/", mail.outbox[-1].body).group(1)
    return {
        "app_key": app_key,
        "waiting_key": waiting_key,
        "backup": backup,
        "sms_pending": sms_pending,
        "sms_code": sms_code,
        "token": token,
    }


def test_the_dump_holds_no_secret_in_readable_form(world, secrets_in_use):
    text, strings = _dump()
    for secret in (
        secrets_in_use["app_key"],
        secrets_in_use["waiting_key"],
        secrets_in_use["token"],
        *secrets_in_use["backup"],
    ):
        assert secret not in text
        assert secret not in strings
    for stored in TwoFactor.objects.exclude(totp_secret="").values_list("totp_secret", flat=True):
        assert field_crypto.is_encrypted(stored)


def test_no_string_in_the_dump_works_as_an_authenticator_key(world, secrets_in_use):
    _text, strings = _dump()
    real = base64.b32decode(secrets_in_use["app_key"] + "=" * (-len(secrets_in_use["app_key"]) % 8))
    keys = {key for key in map(_as_totp_key, strings) if key}
    assert keys, "the walk found no base32 string at all; the dump was not read"
    assert all(codes._b32decode(key) != real for key in keys)
    attacker = _pending_sign_in(world.coach_a)
    real_code = codes.totp_now(secrets_in_use["app_key"])
    for code in sorted({codes.totp_now(key) for key in keys} - {real_code}):
        attacker.post(reverse("accounts:signin_verify"), {"code": code})
        assert "_auth_user_id" not in attacker.session


def test_no_string_in_the_dump_works_as_a_backup_or_sms_code(world, secrets_in_use):
    _text, strings = _dump()
    backup = {codes.normalise_backup_code(s) for s in strings} - {""}
    digits = {m for s in strings for m in re.findall(r"(?<!\d)\d{6}(?!\d)", s)}
    assert not backup & set(secrets_in_use["backup"])
    attacker = secrets_in_use["sms_pending"]
    for code in sorted(backup | (digits - {secrets_in_use["sms_code"]})):
        attacker.post(reverse("accounts:signin_verify"), {"code": code})
        assert "_auth_user_id" not in attacker.session
    assert twofactor.unused_backup_codes(world.client_a) == 10


def test_no_string_in_the_dump_opens_the_invitation(world, secrets_in_use):
    _text, strings = _dump()
    visitor = Client()
    for candidate in sorted(strings):
        assert open_invitation(candidate) is None
        if TOKEN.fullmatch(candidate) and len(candidate) <= 128:
            response = visitor.get(reverse("accounts:invitation_accept", args=[candidate]))
            assert response.status_code == 200  # the "cannot be used" page, no redirect
    assert open_invitation(secrets_in_use["token"]) is not None  # the real link still works


def test_an_encrypted_key_does_not_decrypt_in_another_row_or_with_another_key(
    world, secrets_in_use, settings
):
    stored = TwoFactor.objects.get(user=world.coach_a).totp_secret
    with pytest.raises(field_crypto.DecryptionError):
        field_crypto.decrypt(stored, f"totp:{world.client_a.pk}")
    settings.SAFECOACH_FIELD_KEY = base64.urlsafe_b64encode(b"k" * 32).decode()
    with pytest.raises(field_crypto.DecryptionError):
        field_crypto.decrypt(stored, f"totp:{world.coach_a.pk}")


def test_the_migration_encrypts_keys_stored_in_plain_text(world):
    """Rows from before field encryption: the data migration encrypts them in place."""
    import importlib

    from django.apps import apps

    migration = importlib.import_module("accounts.migrations.0004_encrypt_totp_secrets")
    plain = codes.new_totp_secret()
    TwoFactor.objects.create(user=world.coach_a, method="totp", totp_secret=plain)
    migration.encrypt_existing(apps, None)
    tf = TwoFactor.objects.get(user=world.coach_a)
    assert tf.totp_secret != plain and field_crypto.is_encrypted(tf.totp_secret)
    assert tf.totp_key == plain
    migration.encrypt_existing(apps, None)  # a second run changes nothing
    assert TwoFactor.objects.get(user=world.coach_a).totp_key == plain
