"""The app's tests share the test world of tests/fixtures/world.py."""

from tests.fixtures.world import *  # noqa: F403 - its fixtures (__all__)
