"""Models and migrations agree: no model change waits for a migration nobody wrote."""

import pytest
from django.core.management import call_command

pytestmark = pytest.mark.app


def test_no_model_change_lacks_a_migration(db):
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)
