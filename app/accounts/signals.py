import time

from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver

from accounts.decorators import mark_confirmed


@receiver(user_logged_in)
def start_session_clocks(sender, request, user, **kwargs):
    """Signing in proves the password: sensitive pages need no new confirmation for a while."""
    if request is not None and hasattr(request, "session"):
        mark_confirmed(request)
        request.session["seen_at"] = time.time()
