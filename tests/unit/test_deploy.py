"""Placeholder replaced below."""

import pytest

pytestmark = [pytest.mark.unit, pytest.mark.control("DEP-05")]
