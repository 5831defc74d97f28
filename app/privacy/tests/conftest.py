import pytest

from accounts.models import User


@pytest.fixture(autouse=True)
def _english(request):
    """Pages in these tests are read in English, whatever the Dutch catalogue holds."""
    if "world" in request.fixturenames:
        request.getfixturevalue("world")
        User.objects.update(language="en")
