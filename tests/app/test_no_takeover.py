"""No organisation manager and no platform staff member can end up signed in as another person.

The attack, for every URL the app serves: the attacker (a manager of the victim's organisation,
or platform staff with two-step on) sends every page a POST full of values the attacker controls:
their own mailbox, their own phone, a password they chose. Then the attacker does everything
a person outside could do next: asks for password resets for every address the victim's account
may now have, follows every link mailed to the attacker's mailbox (as themselves and as a fresh
visitor), signs in with every password they know and enters every code texted to their phone.
The test fails if any of that ends in a session signed in as the victim.

`test_the_detector_sees_a_takeover` shows the same harness does notice a takeover when one is
possible (the victim's password set to the attacker's), so a green run means something.
"""

import json
import re

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.decorators import SESSION_KEY as PASSWORD_CONFIRMED_AT
from accounts.models import TwoFactor, User
from accounts.twofactor import SECOND_FACTOR_SESSION_KEY
from tests.app.test_access_matrix import GET_TABLE, _url
from tests.fixtures.world import PASSWORD

pytestmark = [pytest.mark.app, pytest.mark.control("AUTH-05")]

ATTACKER_MAIL = "attacker@evil.test"
ATTACKER_PHONE = "+31687654321"
ATTACKER_PASSWORD = "Attacker-Pass-2026"
VICTIM_PASSWORD = "Victim-Only-Knows-2026"
VICTIM_PHONE = "+31611122233"

# Pages whose POST would only end the attacker's own session, switch off or delete the victim, or
# give the attacker's mailbox to a new account of their own: none is a takeover, and each would
# stop the walk (a taken address makes every later change of address fail).
SKIPPED = {
    "accounts:logout",
    "admin:logout",
    "organisations:person_create",
    "organisations:person_deactivate",
    "organisations:person_delete",
    "privacy:delete",
}
LINK = re.compile(r"https?://[^\s]+")


def _payload(victim):
    """Every field name a credential form of ours uses, filled with what the attacker controls."""
    return {
        "email": ATTACKER_MAIL,
        "new_email": ATTACKER_MAIL,
        "username": victim.email,
        "phone": ATTACKER_PHONE,
        "new_phone": ATTACKER_PHONE,
        "recorded_phone": ATTACKER_PHONE,
        "password": PASSWORD,  # the attacker's own password, for re-confirmation pages
        "old_password": PASSWORD,
        "password1": ATTACKER_PASSWORD,
        "password2": ATTACKER_PASSWORD,
        "new_password1": ATTACKER_PASSWORD,
        "new_password2": ATTACKER_PASSWORD,
        "usable_password": "true",
        "full_name": victim.full_name,
        "language": "nl",
        "role": victim.role,
        "organisation": victim.organisation_id,
        "coach": victim.coach_id or "",
        "is_active": "on",
        "require_two_factor": "",
        "confirm": "yes",
    }


def _attacker_session(http, attacker):
    """The attacker signed in as strongly as they can be: password just confirmed, second factor
    passed (staff have two-step on, as the admin requires)."""
    http.force_login(attacker)
    session = http.session
    now = timezone.now().timestamp()
    session[PASSWORD_CONFIRMED_AT] = now
    session[SECOND_FACTOR_SESSION_KEY] = now
    session.save()


def _sms_codes(settings, to):
    path = settings.SAFECOACH_SMS_FILE
    try:
        lines = open(path).read().splitlines()  # noqa: SIM115
    except FileNotFoundError:
        return []
    texts = [json.loads(line) for line in lines]
    return [m for t in texts if t["to"] == to for m in re.findall(r"\b(\d{6})\b", t["text"])]


def _links_to_attacker():
    return [
        link.rstrip(".,)")
        for message in mail.outbox
        if ATTACKER_MAIL in message.to
        for link in LINK.findall(message.body)
    ]


def _signed_in_as(http, victim) -> bool:
    return str(http.session.get("_auth_user_id", "")) == str(victim.pk)


def _follow_and_fill(http, url, victim):
    """Open a link as a browser would, and submit whatever form it leads to with the payload."""
    path = url.split("://", 1)[-1].split("/", 1)[-1]
    response = http.get("/" + path, follow=True)
    if response.status_code == 200 and b"<form" in response.content:
        final = response.redirect_chain[-1][0] if response.redirect_chain else "/" + path
        http.post(final, _payload(victim), follow=True)


def _try_to_become(victim, settings) -> bool:
    """Everything an outsider with the attacker's mailbox, phone and passwords can try."""
    victim.refresh_from_db()
    addresses = {victim.email, ATTACKER_MAIL}
    outsider = Client()
    for address in sorted(addresses):
        outsider.post(reverse("accounts:password_reset"), {"email": address})
    for link in _links_to_attacker():
        _follow_and_fill(Client(), link, victim)
    victim.refresh_from_db()
    for address in sorted({victim.email, *addresses}):
        for password in (ATTACKER_PASSWORD, PASSWORD):
            http = Client()
            response = http.post(
                reverse("accounts:login"), {"username": address, "password": password}, follow=True
            )
            if _signed_in_as(http, victim):
                return True
            if response.status_code == 200 and b'name="code"' in response.content:
                # A code step: the attacker enters every code texted to their own phone.
                target = response.redirect_chain[-1][0] if response.redirect_chain else ""
                for code in _sms_codes(settings, ATTACKER_PHONE):
                    http.post(target or reverse("accounts:signin_verify"), {"code": code})
                    if _signed_in_as(http, victim):
                        return True
    return False


def _walk_every_url(world, attacker, victim):
    http = Client()
    _attacker_session(http, attacker)
    for key in sorted(GET_TABLE):
        if key in SKIPPED or key.endswith(("_delete", "_add")):
            continue
        kwargs_for, _row = GET_TABLE[key]
        kwargs = kwargs_for(world)
        if "pk" in kwargs and key.startswith(("organisations:", "accounts:")):
            kwargs = {**kwargs, "pk": victim.pk}
        if "object_id" in kwargs and "accounts_user" in key:
            kwargs = {**kwargs, "object_id": victim.pk}
        if "id" in kwargs:
            kwargs = {**kwargs, "id": victim.pk}
        url = _url(key, kwargs)
        http.get(url)
        http.post(url, _payload(victim))
        # Links mailed to the attacker (a confirmation, a reset): follow them while signed in.
        for link in _links_to_attacker():
            _follow_and_fill(http, link, victim)
        if not _signed_in_as(http, attacker):  # a page signed the attacker out: sign in again
            _attacker_session(http, attacker)


def _victim(world, name, two_step):
    victim = getattr(world, name)
    victim.set_password(VICTIM_PASSWORD)
    victim.save()
    if two_step:
        world.org_a.require_two_factor = True
        world.org_a.save()
        TwoFactor.objects.update_or_create(
            user=victim,
            defaults={"method": "sms", "phone": VICTIM_PHONE, "enabled_at": timezone.now()},
        )
    return victim


def _attacker(world, name):
    """The attacker with two-step on, as the admin and a two-step organisation require."""
    attacker = getattr(world, name)
    TwoFactor.objects.update_or_create(
        user=attacker,
        defaults={"method": "sms", "phone": ATTACKER_PHONE, "enabled_at": timezone.now()},
    )
    return attacker


@pytest.mark.parametrize("two_step", [False, True], ids=["password-only", "two-step"])
@pytest.mark.parametrize("victim_name", ["client_a", "coach_a"])
@pytest.mark.parametrize("attacker_name", ["manager", "staff"])
def test_no_manager_or_staff_ends_signed_in_as_another_person(
    world, settings, tmp_path, attacker_name, victim_name, two_step
):
    settings.SAFECOACH_SMS_BACKEND = "file"
    settings.SAFECOACH_SMS_FILE = str(tmp_path / "sms.jsonl")
    # Throttles would end the walk early and hide a path; the walk needs every door open.
    settings.SAFECOACH_THROTTLE = {k: (10_000, 60, 60) for k in settings.SAFECOACH_THROTTLE}
    victim = _victim(world, victim_name, two_step)
    attacker = _attacker(world, attacker_name)
    original_email = victim.email

    _walk_every_url(world, attacker, victim)

    assert not _try_to_become(victim, settings), f"{attacker_name} signed in as {victim_name}"
    victim.refresh_from_db()
    assert victim.check_password(VICTIM_PASSWORD), "the victim's password was changed"
    if victim.email != original_email:  # only the person can confirm a change of address
        pytest.fail(f"{attacker_name} changed the victim's e-mail address")
    tf = TwoFactor.objects.filter(user=victim).first()
    assert tf is None or tf.phone != ATTACKER_PHONE, "the attacker's phone is bound"


def test_the_detector_sees_a_takeover(world, settings, tmp_path):
    settings.SAFECOACH_SMS_FILE = str(tmp_path / "sms.jsonl")
    victim = _victim(world, "client_a", two_step=False)
    User.objects.filter(pk=victim.pk).update(email=ATTACKER_MAIL)
    victim.set_password(ATTACKER_PASSWORD)
    victim.save()
    assert _try_to_become(victim, settings)
