"""Nightly retention: warn, then erase, accounts inactive for two years (see privacy/retention.py)."""

from django.core.management.base import BaseCommand, CommandError

from privacy.retention import run_retention


class Command(BaseCommand):
    help = (
        "Erase accounts inactive for RETENTION_INACTIVE_DAYS days, after warning them "
        "RETENTION_NOTICE_DAYS days before, and purge old access log entries. "
        "Idempotent; safe to run every night."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="List what would happen and change nothing (no e-mail either).",
        )

    def handle(self, *args, dry_run=False, **options):
        report = run_retention(dry_run=dry_run)
        prefix = "would " if dry_run else ""
        for pk in report.warned:
            self.stdout.write(f"{prefix}warn user {pk}")
        for pk in report.erased:
            self.stdout.write(f"{prefix}erase user {pk}")
        if report.nothing_to_do:
            self.stdout.write("Nothing to do: no account is due for a notice or erasure.")
        else:
            self.stdout.write(
                f"{prefix}warn {len(report.warned)}, {prefix}erase {len(report.erased)}, "
                f"{prefix}purge {report.access_log_purged} access log entries"
                + (" (dry run: nothing changed)" if dry_run else "")
            )
        if report.failed:
            ids = ", ".join(str(pk) for pk in report.failed)
            raise CommandError(
                f"Could not erase user(s) {ids}; nothing of them was changed. "
                "See the log for the cause; the next run tries again."
            )
