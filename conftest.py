"""Fixtures shared by the whole suite (the app's test world: tests/fixtures/world.py)."""

pytest_plugins = ["tests.fixtures.world"]
