"""/healthz: 200 "ok" when the database and the cache answer; 503 and one word when one does not."""

import pytest
from django.core.cache.backends.locmem import LocMemCache
from django.db import InterfaceError, OperationalError, connections
from django.test import Client
from prometheus_client import REGISTRY

pytestmark = pytest.mark.app


class UnreachableCache(LocMemCache):
    """A cache whose server does not answer (as a memcached or Redis that is down)."""

    def set(self, *args, **kwargs):
        raise ConnectionRefusedError("cache server unreachable")

    def get(self, *args, **kwargs):
        raise ConnectionRefusedError("cache server unreachable")


class ForgetfulCache(LocMemCache):
    """A cache that accepts values and never gives them back."""

    def get(self, key, default=None, version=None):
        return default


def database_errors(name="OperationalError"):
    return REGISTRY.get_sample_value("safecoach_database_errors_total", {"error": name}) or 0.0


def test_ok_when_database_and_cache_answer(db):
    response = Client().get("/healthz")
    assert (response.status_code, response.content) == (200, b"ok\n")
    assert response["Content-Type"] == "text/plain"
    assert "no-cache" in response["Cache-Control"]


@pytest.mark.parametrize(
    "error",
    [
        OperationalError('connection to server at "db" failed: Connection refused'),
        InterfaceError("connection already closed"),
    ],
)
def test_503_database_when_the_database_does_not_answer(db, monkeypatch, error):
    before = database_errors(type(error).__name__)

    def broken_cursor(*args, **kwargs):
        raise error

    monkeypatch.setattr(connections["default"], "cursor", broken_cursor)
    response = Client().get("/healthz")
    monkeypatch.undo()
    assert (response.status_code, response.content) == (503, b"database\n")
    assert response["Content-Type"] == "text/plain"
    assert b"refused" not in response.content and b"db" not in response.content.replace(
        b"database", b""
    )
    assert database_errors(type(error).__name__) == before + 1


def test_503_database_when_the_connection_cannot_be_made(transactional_db, monkeypatch):
    """The connection itself fails, as with the server down: the driver's error, wrapped."""
    connection = connections["default"]

    def refuse(params):
        raise connection.Database.OperationalError("could not connect to server")

    # As if closed (the open connection is put back afterwards: SQLite's test database lives in
    # it): the next cursor connects again, and that fails.
    monkeypatch.setattr(connection, "connection", None)
    monkeypatch.setattr(connection, "get_new_connection", refuse)
    before = database_errors()
    response = Client().get("/healthz")
    monkeypatch.undo()
    assert (response.status_code, response.content) == (503, b"database\n")
    assert database_errors() == before + 1
    assert Client().get("/healthz").status_code == 200  # and back once the server is


@pytest.mark.parametrize("backend", [UnreachableCache, ForgetfulCache])
def test_503_cache_when_the_cache_does_not_answer(db, settings, backend):
    settings.CACHES = {
        "default": {"BACKEND": f"{__name__}.{backend.__name__}", "LOCATION": backend.__name__}
    }
    response = Client().get("/healthz")
    assert (response.status_code, response.content) == (503, b"cache\n")


def test_the_database_is_named_first_when_both_are_down(db, settings, monkeypatch):
    settings.CACHES = {"default": {"BACKEND": f"{__name__}.UnreachableCache"}}

    def broken_cursor(*args, **kwargs):
        raise OperationalError("down")

    monkeypatch.setattr(connections["default"], "cursor", broken_cursor)
    response = Client().get("/healthz")
    monkeypatch.undo()
    assert (response.status_code, response.content) == (503, b"database\n")


def test_a_503_is_counted_as_a_server_error_of_healthz(db, monkeypatch):
    labels = {"view": "healthz", "method": "GET", "status_class": "5xx"}
    before = REGISTRY.get_sample_value("safecoach_http_requests_total", labels) or 0.0

    def broken_cursor(*args, **kwargs):
        raise OperationalError("down")

    monkeypatch.setattr(connections["default"], "cursor", broken_cursor)
    Client().get("/healthz")
    monkeypatch.undo()
    assert REGISTRY.get_sample_value("safecoach_http_requests_total", labels) == before + 1
