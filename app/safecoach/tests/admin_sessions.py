"""Test helpers: platform staff as the staff admin admits them.

`with_two_step(user)` switches SMS two-step verification on for `user` (a verified number, as the
sign-in's enrolment leaves it). `admin_session(client, user)` signs the test client in as `user`
and marks the session with `accounts.twofactor.mark_second_factor`, as the sign-in's second step
does after a right code.
"""

from types import SimpleNamespace

from django.utils import timezone

from accounts.models import TwoFactor
from accounts.twofactor import mark_second_factor

STAFF_PHONE = "+31612340001"


def with_two_step(user, phone=STAFF_PHONE):
    TwoFactor.objects.update_or_create(
        user=user, defaults={"method": "sms", "phone": phone, "enabled_at": timezone.now()}
    )
    return user


def admin_session(client, user):
    """`client` signed in as `user`, in a session that passed a second factor."""
    client.force_login(user)
    session = client.session
    mark_second_factor(SimpleNamespace(session=session))
    session.save()
    return client
