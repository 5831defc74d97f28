"""Per-request account policy: language and last activity; idle sign-out; required two-step."""

import time
from datetime import timedelta

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model, logout
from django.contrib.auth.views import redirect_to_login
from django.shortcuts import redirect
from django.urls import Resolver404, resolve
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from accounts.twofactor import setup_required

ACTIVITY_RESOLUTION = timedelta(minutes=15)
# When the session was signed in (time.time()): the absolute lifetime, SESSION_COOKIE_AGE, counts
# from here whatever the activity (Django's own expiry moves on with every session write).
SIGNED_IN_AT = "signed_in_at"


def start_session_lifetime(request) -> None:
    """Called at sign-in (accounts.signals): the session's absolute lifetime starts now."""
    request.session[SIGNED_IN_AT] = time.time()


class UserLanguageMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = request.user
        if user.is_authenticated:
            # request.user is AuthenticationMiddleware's lazy proxy, and loaded now: later code
            # gets the user itself, as each attribute read through the proxy costs a few calls.
            request.user = user = getattr(user, "_wrapped", user)
            translation.activate(user.language)
            request.LANGUAGE_CODE = user.language
            now = timezone.now()
            # Cheap: write at most once per ACTIVITY_RESOLUTION (used by retention).
            if user.last_activity is None or now - user.last_activity > ACTIVITY_RESOLUTION:
                get_user_model().objects.filter(pk=user.pk).update(last_activity=now)
                user.last_activity = now
        return self.get_response(request)


class SignInPolicyMiddleware:
    """Ends sessions after inactivity, and holds back people who must set up two-step first.

    Idle: a session unused for SAFECOACH_SESSION_IDLE_SECONDS is signed out. The last-seen time
    is written at most once a minute. Two-step: when two-step must be on for the person
    (accounts.twofactor.enrolment_forced: staff, an organisation that requires it, a reset) and
    it is not, every page except the two-step overview answers with a redirect to it; there the
    only way on is a code to the number recorded for the person.
    The requirement is looked up again at most once a minute, with the last-seen time.

    Lifetime: a session signed in longer ago than SESSION_COOKIE_AGE (8 hours) is signed out,
    however active it was; the sign-in time is in the session (SIGNED_IN_AT).
    """

    SEEN_RESOLUTION = 60
    # Only the overview, whose one path is a code to the number recorded for the person: no
    # page where a number or app of their own choosing could be bound.
    ALLOWED_WHILE_SETTING_UP = {
        "accounts:two_factor",
        "accounts:logout",
        "set_language",
        "privacy:statement",
        "healthz",
    }

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = request.user
        if not user.is_authenticated:
            return self.get_response(request)
        session = request.session
        now = time.time()
        seen = session.get("seen_at")
        if seen is not None and now - seen > settings.SAFECOACH_SESSION_IDLE_SECONDS:
            logout(request)
            messages.info(request, _("You were signed out because you were inactive for a while."))
            return redirect_to_login(request.get_full_path())
        signed_in = session.setdefault(SIGNED_IN_AT, now)
        if now - signed_in > settings.SESSION_COOKIE_AGE:
            logout(request)
            messages.info(
                request,
                _("You were signed out because you signed in too long ago; please sign in again."),
            )
            return redirect_to_login(request.get_full_path())
        stale = seen is None or now - seen > self.SEEN_RESOLUTION
        if stale or "two_factor_setup_required" not in session:
            session["seen_at"] = now
            session["two_factor_setup_required"] = setup_required(user, staff=False)
        if session.get("two_factor_setup_required"):
            try:
                match = resolve(request.path_info)
                name = match.view_name
            except Resolver404:
                name = ""
            if name not in self.ALLOWED_WHILE_SETTING_UP and not request.path_info.startswith(
                settings.STATIC_URL
            ):
                return redirect("accounts:two_factor")
        return self.get_response(request)
