"""Retention with explicit times: notice at 23 months, erasure at 24, nothing for active people,
a dry run changes nothing, a second run does nothing more. No sleeps: `now` is passed in."""

from datetime import timedelta

import pytest
from django.core import mail
from django.core.management import CommandError, call_command
from django.utils import timezone

from accounts.models import User
from privacy.access_log import record_access
from privacy.models import (
    AccessKind,
    AccessLogEntry,
    PrivacyRequest,
    ProcessingRestriction,
    RequestSource,
    RetentionNotice,
)
from privacy.retention import render_notice, run_retention
from tests.fixtures.world import SECRET

pytestmark = [pytest.mark.app, pytest.mark.control("PRIV-05")]

DAY = timedelta(days=1)
NOW = timezone.now()


def _last_seen(user, when):
    User.objects.filter(pk=user.pk).update(last_login=when, last_activity=when, date_joined=when)


@pytest.fixture
def quiet(world):
    """Everyone in the world active just now, so each test ages only who it means to."""
    User.objects.update(last_login=NOW, last_activity=NOW, date_joined=NOW - 800 * DAY)
    return world


def _run(now, dry_run=False, capture=None):
    if capture is None:
        return run_retention(now=now, dry_run=dry_run)
    with capture(execute=True):
        return run_retention(now=now, dry_run=dry_run)


def test_nothing_happens_to_active_people(quiet, django_capture_on_commit_callbacks):
    report = _run(NOW, capture=django_capture_on_commit_callbacks)
    assert report.nothing_to_do
    assert mail.outbox == [] and RetentionNotice.objects.count() == 0


def test_notice_at_23_months_then_erasure_at_24(quiet, django_capture_on_commit_callbacks):
    client = quiet.client_a
    _last_seen(client, NOW - 701 * DAY)  # 23 months and a bit
    report = _run(NOW, capture=django_capture_on_commit_callbacks)
    assert report.warned == [client.pk] and report.erased == []
    assert [m.to for m in mail.outbox] == [[client.email]]
    notice = RetentionNotice.objects.get(user=client)
    assert notice.mailed and notice.sent_at == NOW

    # the next night: nothing new (idempotent)
    report = _run(NOW + DAY, capture=django_capture_on_commit_callbacks)
    assert report.nothing_to_do and len(mail.outbox) == 1

    # 24 months: erased, with a record that names nobody
    report = _run(NOW + 30 * DAY, capture=django_capture_on_commit_callbacks)
    assert report.erased == [client.pk]
    assert not User.objects.filter(pk=client.pk).exists()
    record = PrivacyRequest.objects.get(source=RequestSource.RETENTION)
    assert record.user is None and client.email not in record.outcome
    assert len(mail.outbox) == 1  # no mail to an erased account

    # and a further run finds nothing to do
    assert _run(NOW + 31 * DAY).nothing_to_do


def test_never_erased_without_a_notice_30_days_old(quiet, django_capture_on_commit_callbacks):
    client = quiet.client_a
    _last_seen(client, NOW - 1000 * DAY)  # long gone, but never warned (the job was off)
    report = _run(NOW, capture=django_capture_on_commit_callbacks)
    assert report.warned == [client.pk] and report.erased == []
    assert _run(NOW + 29 * DAY).erased == []
    assert _run(NOW + 30 * DAY).erased == [client.pk]


def test_signing_in_after_the_notice_keeps_the_account(quiet, django_capture_on_commit_callbacks):
    client = quiet.client_a
    _last_seen(client, NOW - 701 * DAY)
    _run(NOW, capture=django_capture_on_commit_callbacks)
    User.objects.filter(pk=client.pk).update(last_login=NOW + 10 * DAY)
    report = _run(NOW + 30 * DAY, capture=django_capture_on_commit_callbacks)
    assert report.nothing_to_do
    assert User.objects.filter(pk=client.pk).exists()
    # a new period of inactivity gets a new notice (everyone else is inactive by then too)
    later = NOW + 10 * DAY + 701 * DAY
    report = _run(later, capture=django_capture_on_commit_callbacks)
    assert client.pk in report.warned
    assert RetentionNotice.objects.get(user=client).sent_at == later
    assert [client.email] in [m.to for m in mail.outbox[1:]]


def test_a_dry_run_changes_nothing(quiet, django_capture_on_commit_callbacks):
    _last_seen(quiet.client_a, NOW - 701 * DAY)
    _last_seen(quiet.client_b, NOW - 800 * DAY)
    RetentionNotice.objects.create(
        user=quiet.client_b, last_seen_at=NOW - 800 * DAY, sent_at=NOW - 40 * DAY, mailed=True
    )
    report = _run(NOW, dry_run=True, capture=django_capture_on_commit_callbacks)
    assert report.warned == [quiet.client_a.pk] and report.erased == [quiet.client_b.pk]
    assert mail.outbox == []
    assert User.objects.filter(pk=quiet.client_b.pk).exists()
    assert RetentionNotice.objects.count() == 1


def test_restricted_and_staff_accounts_are_left_alone(quiet, django_capture_on_commit_callbacks):
    ProcessingRestriction.objects.create(user=quiet.client_a)
    _last_seen(quiet.client_a, NOW - 1000 * DAY)
    _last_seen(quiet.staff, NOW - 1000 * DAY)
    assert _run(NOW, capture=django_capture_on_commit_callbacks).nothing_to_do
    assert mail.outbox == []


def test_a_deactivated_account_is_noted_without_mail_and_erased(
    quiet, django_capture_on_commit_callbacks
):
    User.objects.filter(pk=quiet.client_b.pk).update(is_active=False)
    _last_seen(quiet.client_b, NOW - 701 * DAY)
    assert _run(NOW, capture=django_capture_on_commit_callbacks).warned == [quiet.client_b.pk]
    assert mail.outbox == [] and not RetentionNotice.objects.get().mailed
    assert _run(NOW + 30 * DAY).erased == [quiet.client_b.pk]


def test_old_access_log_entries_are_purged(quiet, settings):
    record_access(quiet.coach_a, quiet.client_a, AccessKind.DIALOGUE, now=NOW - 800 * DAY)
    record_access(quiet.coach_a, quiet.client_a, AccessKind.DIALOGUE, now=NOW - DAY)
    assert run_retention(now=NOW, dry_run=True).access_log_purged == 1
    assert AccessLogEntry.objects.count() == 2
    assert run_retention(now=NOW).access_log_purged == 1
    assert AccessLogEntry.objects.count() == 1


def test_periods_come_from_settings(quiet, settings, django_capture_on_commit_callbacks):
    settings.RETENTION_INACTIVE_DAYS = 100
    settings.RETENTION_NOTICE_DAYS = 10
    _last_seen(quiet.client_a, NOW - 91 * DAY)
    assert _run(NOW, capture=django_capture_on_commit_callbacks).warned == [quiet.client_a.pk]
    assert "10" in mail.outbox[0].body


@pytest.mark.parametrize("language", ["nl", "en"])
def test_the_notice_carries_no_name_and_no_content(quiet, language):
    quiet.client_a.language = language
    subject, body = render_notice(quiet.client_a)
    text = subject + body
    assert "/account/login/" in body
    assert SECRET not in text
    for part in [*quiet.client_a.full_name.split(), quiet.client_a.email]:
        assert part not in text


def test_the_command_on_an_empty_database(db, capsys):
    call_command("erase_inactive")
    assert "Nothing to do" in capsys.readouterr().out
    call_command("erase_inactive", "--dry-run")
    assert "Nothing to do" in capsys.readouterr().out


def test_the_command_dry_run_lists_and_changes_nothing(quiet, capsys):
    _last_seen(quiet.client_a, timezone.now() - 701 * DAY)
    call_command("erase_inactive", "--dry-run")
    out = capsys.readouterr().out
    assert f"would warn user {quiet.client_a.pk}" in out and "dry run" in out
    assert quiet.client_a.email not in out
    assert RetentionNotice.objects.count() == 0 and mail.outbox == []
    call_command("erase_inactive")
    assert RetentionNotice.objects.count() == 1


def test_one_failing_erasure_does_not_stop_the_others(quiet, monkeypatch, capsys):
    import privacy.retention

    real = privacy.retention.erase_user
    long_ago = timezone.now() - 1000 * DAY
    for person in (quiet.client_a, quiet.client_b):
        _last_seen(person, long_ago)
        RetentionNotice.objects.create(
            user=person, last_seen_at=long_ago, sent_at=long_ago + 500 * DAY, mailed=True
        )

    def flaky(user, **kwargs):
        if user.pk == quiet.client_a.pk:
            raise RuntimeError("disk full")
        return real(user, **kwargs)

    monkeypatch.setattr(privacy.retention, "erase_user", flaky)
    with pytest.raises(CommandError, match=f"Could not erase user\\(s\\) {quiet.client_a.pk};"):
        call_command("erase_inactive")
    assert User.objects.filter(pk=quiet.client_a.pk).exists()
    assert not User.objects.filter(pk=quiet.client_b.pk).exists()
    assert f"erase user {quiet.client_b.pk}" in capsys.readouterr().out


def test_a_mail_failure_keeps_the_notice_and_the_run_going(
    quiet, settings, django_capture_on_commit_callbacks
):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = 9  # nothing listens: the connection is refused
    _last_seen(quiet.client_a, NOW - 701 * DAY)
    _last_seen(quiet.client_b, NOW - 701 * DAY)
    report = _run(NOW, capture=django_capture_on_commit_callbacks)
    assert sorted(report.warned) == sorted([quiet.client_a.pk, quiet.client_b.pk])
    assert RetentionNotice.objects.count() == 2
