"""Settings for the whole suite. The app's test world lives in tests/fixtures/world.py and is
loaded by the conftest files of the folders whose tests use it (app/, tests/app, tests/browser),
so that the lab and infra suites run without Django."""


def pytest_configure(config):
    """Pages are tested in Dutch and English: compile the catalogues first.

    pytest-django may already have set Django up and loaded (empty) catalogues; drop them so
    the fresh .mo files are read.
    """
    from safecoach.i18n import compile_all

    if compile_all():
        from django.utils.translation import trans_real

        trans_real._translations = {}
        trans_real._default = None
