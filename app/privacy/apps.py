from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PrivacyConfig(AppConfig):
    name = "privacy"
    verbose_name = _("Privacy")

    def ready(self):
        # Connects the receiver that clears references to a deleted account.
        from privacy import erasure  # noqa: F401
