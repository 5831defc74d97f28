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
    is written at most once a minute. Two-step: when the person's organisation requires it and
    it is not on, every page except the two-step setup pages answers with a redirect to them.
    The requirement is looked up again at most once a minute, with the last-seen time.
    """

    SEEN_RESOLUTION = 60
    ALLOWED_WHILE_SETTING_UP = {
        "accounts:two_factor",
        "accounts:two_factor_sms",
        "accounts:two_factor_sms_confirm",
        "accounts:two_factor_totp",
        "accounts:backup_codes",
        "accounts:confirm_password",
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
        stale = seen is None or now - seen > self.SEEN_RESOLUTION
        if stale or "two_factor_setup_required" not in session:
            session["seen_at"] = now
            session["two_factor_setup_required"] = setup_required(user)
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
