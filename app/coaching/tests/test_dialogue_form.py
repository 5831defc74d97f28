"""The dialogue page writes its message field out itself (cheaper than the generic include);
it must give exactly the HTML of form_fields.html, with and without errors, in each language."""

import re
from types import SimpleNamespace

import pytest
from django.contrib.auth.models import AnonymousUser
from django.template import engines
from django.template.loader import render_to_string
from django.test import RequestFactory
from django.utils import translation

from coaching.forms import MessageForm
from coaching.models import MESSAGE_MAX_LENGTH

pytestmark = pytest.mark.app

CSRF = '<input type="hidden" name="csrfmiddlewaretoken" value="'
SUBMIT = '  <p class="actions"><button type="submit">'


def dialogue_form_fields(form):
    """What dialogue.html renders between the CSRF input and the submit button."""
    request = RequestFactory().get("/")
    request.user = AnonymousUser()
    page = SimpleNamespace(has_next=False, has_previous=False)
    client = SimpleNamespace(pk=1, full_name="Client")
    context = {"client": client, "has_coach": True, "page": page, "shown": [], "form": form}
    html = render_to_string("coaching/dialogue.html", context, request)
    form_html = html[html.index('<form method="post" novalidate>') :]
    return re.search(re.escape(CSRF) + r'[^"]*">(.*?)' + re.escape(SUBMIT), form_html, re.S)[1]


def generic_form_fields(form):
    return (
        engines["django"].from_string('{% include "form_fields.html" %}\n').render({"form": form})
    )


@pytest.mark.parametrize("language", ["nl", "en"])
@pytest.mark.parametrize(
    "data",
    [
        None,
        {},
        {"body": ""},
        {"body": "   "},
        {"body": "Hello <b>you</b> & \"them\" 'too'"},
        {"body": "x" * (MESSAGE_MAX_LENGTH + 1)},
        {"body": "<script>" + "y" * MESSAGE_MAX_LENGTH + "</script>"},
    ],
)
def test_the_message_field_renders_as_the_generic_form_fields(language, data):
    with translation.override(language):
        form = MessageForm(data)
        expected = "\n  " + generic_form_fields(form)
        assert dialogue_form_fields(form) == expected
        assert ("invalid" in expected) == (data is not None and not form.is_valid())


def test_a_non_field_error_is_shown_as_the_generic_form_fields_show_it():
    form = MessageForm({"body": "hi"})
    form.add_error(None, "Nobody to send this to <now>.")
    assert dialogue_form_fields(form) == "\n  " + generic_form_fields(form)
    assert "Nobody to send this to &lt;now&gt;." in dialogue_form_fields(form)
