"""Ask for the password again before sensitive actions.

`password_confirmed` lets a view run only when the password was typed (at sign-in or on the
confirm page) less than SAFECOACH_REAUTH_SECONDS ago; otherwise it sends the person to
accounts:confirm_password and back. Other apps use it for export and account deletion.
"""

import time
from functools import wraps
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect
from django.urls import reverse

SESSION_KEY = "password_confirmed_at"


def mark_confirmed(request) -> None:
    request.session[SESSION_KEY] = time.time()


def recently_confirmed(request) -> bool:
    at = request.session.get(SESSION_KEY)
    return at is not None and time.time() - at < settings.SAFECOACH_REAUTH_SECONDS


def password_confirmed(view):
    @wraps(view)
    @login_required
    def wrapper(request, *args, **kwargs):
        if not recently_confirmed(request):
            target = request.get_full_path() if request.method == "GET" else request.path
            query = urlencode({"next": target})
            return redirect(f"{reverse('accounts:confirm_password')}?{query}")
        return view(request, *args, **kwargs)

    return wrapper
