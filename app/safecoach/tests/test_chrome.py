"""base.html's chrome tags (safecoach/templatetags/chrome.py) give exactly the HTML of the
template markup they replace (FORMER_BASE below), for every kind of visitor and language."""

import re

import pytest
from django.contrib.auth.models import AnonymousUser
from django.contrib.messages.storage.fallback import FallbackStorage
from django.contrib.sessions.backends.signed_cookies import SessionStore
from django.template import engines
from django.template.loader import render_to_string
from django.test import RequestFactory
from django.utils import translation

from accounts.models import Role, User

pytestmark = pytest.mark.app

FORMER_BASE = """{% load i18n static %}<!doctype html>
{% get_current_language as LANGUAGE_CODE %}
<html lang="{{ LANGUAGE_CODE }}">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>{% block title %}{% endblock %} · safecoach</title>
  <link rel="stylesheet" href="{% static 'safecoach/site.css' %}">
  <link rel="icon" href="{% static 'safecoach/favicon.svg' %}" type="image/svg+xml">
</head>
<body>
  <a class="skip" href="#main">{% translate "Skip to content" %}</a>
  <header class="site">
    <a class="brand" href="{% url 'home' %}">safecoach</a>
    <nav aria-label="{% translate 'Main' %}">
      <ul>
      {% if user.is_authenticated %}
        {% if user.is_manager %}<li><a href="{% url 'organisations:people' %}">{% translate "People" %}</a></li>{% endif %}
        {% if user.is_coach %}<li><a href="{% url 'coaching:client_list' %}">{% translate "My clients" %}</a></li>{% endif %}
        {% if user.is_client %}
          <li><a href="{% url 'coaching:my_dialogue' %}">{% translate "Dialogue" %}</a></li>
          <li><a href="{% url 'coaching:assignment_list' user.pk %}">{% translate "Assignments" %}</a></li>
        {% endif %}
        {% if user.is_staff %}<li><a href="{% url 'admin:index' %}">{% translate "Administration" %}</a></li><li><a href="{% url 'privacy:staff_requests' %}">{% translate "Privacy requests" %}</a></li>{% endif %}
        <li><a href="{% url 'accounts:profile' %}">{% translate "My account" %}</a></li>
        <li><a href="{% url 'privacy:mine' %}">{% translate "My privacy" %}</a></li>
        <li><form method="post" action="{% url 'accounts:logout' %}">{% csrf_token %}<button type="submit" class="link">{% translate "Sign out" %}</button></form></li>
      {% else %}
        <li><a href="{% url 'accounts:login' %}">{% translate "Sign in" %}</a></li>
      {% endif %}
      </ul>
    </nav>
  </header>
  <main id="main">
    {% if messages %}
      <ul class="flash" role="status">{% for message in messages %}<li class="{{ message.tags }}">{{ message }}</li>{% endfor %}</ul>
    {% endif %}
    {% block content %}{% endblock %}
  </main>
  <footer class="site">
    <a href="{% url 'privacy:statement' %}">{% translate "Privacy" %}</a>
    <form method="post" action="{% url 'set_language' %}" class="language">
      {% csrf_token %}
      <input name="next" type="hidden" value="{{ request.get_full_path }}">
      <label for="language">{% translate "Language" %}</label>
      <select name="language" id="language">
        {% get_available_languages as LANGUAGES %}
        {% for code, name in LANGUAGES %}<option value="{{ code }}"{% if code == LANGUAGE_CODE %} selected{% endif %}>{{ code|language_name_local }}</option>{% endfor %}
      </select>
      <button type="submit">{% translate "Change" %}</button>
    </form>
  </footer>
</body>
</html>
"""
CSRF = re.compile(r'(name="csrfmiddlewaretoken" value=")[^"]+"')


def render_both(user, path="/dialogue/1/?page=2", flash=None):
    request = RequestFactory().get(path)
    request.user = user
    request.session = SessionStore()
    request._messages = FallbackStorage(request)
    if flash:
        request._messages.add(25, flash)
    html = render_to_string("base.html", {}, request)
    former = engines["django"].from_string(FORMER_BASE).render({}, request)
    return CSRF.sub(r"\1TOKEN", html), CSRF.sub(r"\1TOKEN", former)


def person(role="", **extra):
    return User(pk=42, email="p@example.test", full_name="P", role=role, **extra)


VISITORS = {
    "anonymous": AnonymousUser,
    "manager": lambda: person(Role.MANAGER),
    "coach": lambda: person(Role.COACH),
    "client": lambda: person(Role.CLIENT),
    "staff": lambda: person(is_staff=True),
    "staff coach": lambda: person(Role.COACH, is_staff=True),
    "no role": person,
}


@pytest.mark.parametrize("language", ["nl", "en"])
@pytest.mark.parametrize("visitor", VISITORS)
def test_the_chrome_is_the_former_template_markup(visitor, language):
    with translation.override(language):
        html, former = render_both(VISITORS[visitor]())
    assert html == former
    assert f'<html lang="{language}">' in html and "csrfmiddlewaretoken" in html


def test_the_page_path_and_flash_messages_are_escaped_as_before():
    html, former = render_both(
        person(Role.CLIENT), path="/x/?next=\"><script>&a='b'", flash="<b>hi</b>"
    )
    assert html == former
    assert "<script>" not in html and "&lt;b&gt;hi&lt;/b&gt;" in html


def test_each_visitor_sees_their_own_menu_after_another():
    """Nothing of one user's menu is kept for the next one (the pieces hold no user)."""
    with translation.override("en"):
        client_html, _ = render_both(person(Role.CLIENT))
        other = person(Role.CLIENT)
        other.pk = 7
        other_html, other_former = render_both(other)
        coach_html, _ = render_both(person(Role.COACH))
    assert "/dialogue/42/assignments/" in client_html
    assert other_html == other_former and "/dialogue/42/" not in other_html
    assert "/dialogue/7/assignments/" in other_html
    assert "assignments" not in coach_html and "My clients" in coach_html


def test_changed_settings_make_the_pieces_afresh(settings):
    with translation.override("en"):
        before, _ = render_both(AnonymousUser())
        settings.STATIC_URL = "/assets/"
        settings.LANGUAGES = [("en", "English"), ("nl", "Dutch"), ("de", "German")]
        html, former = render_both(AnonymousUser())
    assert html == former != before
    assert "/assets/safecoach/site.css" in html and 'value="de"' in html
