"""Entry point for Django's management commands (`manage.py` and `safecoach-admin`)."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "safecoach.settings")
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line

    try:
        from django.conf import settings

        settings.INSTALLED_APPS  # noqa: B018 - load the settings now, to report errors plainly
    except ImproperlyConfigured as error:
        sys.exit(f"safecoach: {error}")
    execute_from_command_line(sys.argv)
