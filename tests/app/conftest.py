"""The app's tests share the test world of tests/fixtures/world.py."""

from tests.fixtures.world import login, world  # noqa: F401 - fixtures
