"""Entry point for Django's management commands (`manage.py` and `safecoach-admin`)."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "safecoach.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
