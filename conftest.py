"""Fixtures shared by the whole suite (the app's test world: tests/fixtures/world.py)."""

pytest_plugins = ["tests.fixtures.world"]


def pytest_configure(config):
    """Pages are tested in Dutch and English: compile the catalogues first.

    pytest-django has already set Django up, which may have loaded (empty) catalogues; drop
    them so the fresh .mo files are read.
    """
    from safecoach.i18n import compile_all

    if compile_all():
        from django.utils.translation import trans_real

        trans_real._translations = {}
        trans_real._default = None
