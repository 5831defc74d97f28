import time

from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver

from accounts.decorators import mark_confirmed
from accounts.middleware import start_session_lifetime


@receiver(user_logged_in)
def start_session_clocks(sender, request, user, **kwargs):
    """Signing in proves the password: sensitive pages need no new confirmation for a while.
    The session's absolute lifetime and its idle clock start now."""
    if request is not None and hasattr(request, "session"):
        mark_confirmed(request)
        start_session_lifetime(request)
        request.session["seen_at"] = time.time()
