from django.core.management.base import BaseCommand

from safecoach.i18n import compile_all


class Command(BaseCommand):
    help = "Compile app/locale/*/LC_MESSAGES/*.po into .mo files (no GNU gettext needed)."

    def handle(self, *args, **options):
        written = compile_all()
        self.stdout.write(f"compiled {len(written)} catalogue(s)" if written else "up to date")
