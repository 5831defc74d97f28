"""Ask for a code from the current second factor before two-step verification is changed.

Changing the phone number, switching between SMS and the app, making new backup codes or
switching two-step off needs the password (accounts.decorators.password_confirmed) and, while
two-step is on, a code from the factor in use: an SMS to the current number, an app code or a
backup code, entered on accounts:confirm_factor less than SAFECOACH_REAUTH_SECONDS ago. So a
stolen password, or a session left open, does not let anyone bind their own phone or app.

`two_step_change` is the decorator for those pages: password first, then (while two-step is
on) the factor. While someone must still set up two-step (accounts.twofactor.setup_required),
these pages send them back to the overview, whose only path is the recorded number.
"""

import time
from functools import wraps
from urllib.parse import urlencode

from django.conf import settings
from django.shortcuts import redirect
from django.urls import reverse

from accounts import twofactor
from accounts.decorators import password_confirmed

SESSION_KEY = "factor_confirmed_at"


def mark_factor_confirmed(request) -> None:
    request.session[SESSION_KEY] = time.time()


def factor_recently_confirmed(request) -> bool:
    at = request.session.get(SESSION_KEY)
    return at is not None and time.time() - at < settings.SAFECOACH_REAUTH_SECONDS


def two_step_change(view):
    @wraps(view)
    @password_confirmed
    def wrapper(request, *args, **kwargs):
        if twofactor.setup_required(request.user):
            return redirect("accounts:two_factor")
        if twofactor.two_factor_of(request.user) is not None and not factor_recently_confirmed(
            request
        ):
            target = request.get_full_path() if request.method == "GET" else request.path
            return redirect(f"{reverse('accounts:confirm_factor')}?{urlencode({'next': target})}")
        return view(request, *args, **kwargs)

    return wrapper
