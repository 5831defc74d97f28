"""The dialogue page and the coach's client list use as many queries at 10x the data."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.models import Role
from coaching.models import Message
from tests.fixtures.world import make_user

pytestmark = pytest.mark.app


def _queries(http, url):
    with CaptureQueriesContext(connection) as ctx:
        response = http.get(url)
    assert response.status_code == 200
    return len(ctx.captured_queries)


def _add_messages(world, count):
    Message.objects.bulk_create(
        Message(
            coach=world.coach_a,
            client=world.client_a,
            sender=world.coach_a if i % 2 else world.client_a,
            body=f"message {i}",
        )
        for i in range(count)
    )


def _add_clients(world, count, start):
    for i in range(start, start + count):
        client = make_user(f"extra{i}@a.test", f"Extra {i}", world.org_a, Role.CLIENT)
        client.coach = world.coach_a
        client.save()
        Message.objects.create(
            coach=world.coach_a, client=client, sender=client, body="unread question"
        )


def test_dialogue_page_queries_do_not_grow_with_messages(world, login):
    http = login(world.coach_a)
    url = reverse("coaching:dialogue", args=[world.client_a.pk])
    _add_messages(world, 10)
    http.get(url)  # marks the first page read, so both measured visits do the same work
    _add_messages(world, 10)
    small = _queries(http, url)
    _add_messages(world, 200)
    large = _queries(http, url)
    assert small == large, f"{small} queries at 20 messages, {large} at 220"


def test_client_list_queries_do_not_grow_with_clients(world, login):
    http = login(world.coach_a)
    url = reverse("coaching:client_list")
    http.get(url)  # the first visit records last activity; measure the ones after it
    _add_clients(world, 2, start=0)
    small = _queries(http, url)
    _add_clients(world, 20, start=100)
    large = _queries(http, url)
    assert small == large, f"{small} queries at 3 clients, {large} at 23"


def test_client_dialogue_page_queries_do_not_grow(world, login):
    http = login(world.client_a)
    url = reverse("coaching:dialogue", args=[world.client_a.pk])
    _add_messages(world, 10)
    http.get(url)
    _add_messages(world, 10)
    small = _queries(http, url)
    _add_messages(world, 200)
    large = _queries(http, url)
    assert small == large
