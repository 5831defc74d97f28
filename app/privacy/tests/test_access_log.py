"""Coalescing of the access log: one entry per actor, subject and kind per window, never fewer."""

from datetime import timedelta
from unittest import mock

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from privacy.access_log import ACCESS_LOG_COALESCE
from privacy.models import AccessKind, AccessLogEntry

pytestmark = [pytest.mark.app, pytest.mark.control("PRIV-06")]


def _kinds(world):
    return sorted(
        AccessLogEntry.objects.filter(subject=world.client_a).values_list("kind", flat=True)
    )


def test_one_session_makes_one_entry_per_kind_and_window(world, login):
    http = login(world.coach_a)
    dialogue = reverse("coaching:dialogue", args=[world.client_a.pk])
    http.get(dialogue)
    with CaptureQueriesContext(connection) as ctx:
        http.get(dialogue)
    assert not [q for q in ctx.captured_queries if "privacy_accesslogentry" in q["sql"]]
    http.get(reverse("coaching:assignment_list", args=[world.client_a.pk]))
    assert _kinds(world) == [AccessKind.ASSIGNMENTS, AccessKind.DIALOGUE]

    later = timezone.now() + ACCESS_LOG_COALESCE + timedelta(seconds=1)
    with mock.patch("django.utils.timezone.now", return_value=later):
        http.get(dialogue)
    assert _kinds(world) == [AccessKind.ASSIGNMENTS, AccessKind.DIALOGUE, AccessKind.DIALOGUE]


def test_another_session_of_the_same_coach_finds_the_entry_of_the_window(world, login):
    dialogue = reverse("coaching:dialogue", args=[world.client_a.pk])
    login(world.coach_a).get(dialogue)
    login(world.coach_a).get(dialogue)  # a new session: the database answers
    assert _kinds(world) == [AccessKind.DIALOGUE]
