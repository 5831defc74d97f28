"""Activate the signed-in user's chosen language and record their last activity."""

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.utils import timezone, translation

ACTIVITY_RESOLUTION = timedelta(minutes=15)


class UserLanguageMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = request.user
        if user.is_authenticated:
            translation.activate(user.language)
            request.LANGUAGE_CODE = user.language
            now = timezone.now()
            # Cheap: write at most once per ACTIVITY_RESOLUTION (used by retention).
            if user.last_activity is None or now - user.last_activity > ACTIVITY_RESOLUTION:
                get_user_model().objects.filter(pk=user.pk).update(last_activity=now)
                user.last_activity = now
        return self.get_response(request)
