"""base.html's chrome tags (safecoach/templatetags/chrome.py) give exactly the HTML of the
template markup in MARKUP below, for every kind of visitor and language."""

import re

import pytest
from django.contrib.auth.models import AnonymousUser
from django.contrib.messages.storage.fallback import FallbackStorage
from django.contrib.sessions.backends.signed_cookies import SessionStore
from django.template import engines
from django.test import RequestFactory
from django.utils import translation

from accounts.models import Role, User

pytestmark = pytest.mark.app

# What each tag gives, as template markup (without the indent of its first line in base.html).
MARKUP = {
    "site_head": """<link rel="stylesheet" href="{% static 'safecoach/site.css' %}">
  <link rel="icon" href="{% static 'safecoach/favicon.svg' %}" type="image/svg+xml">""",
    "site_header": """<a class="skip" href="#main">{% translate "Skip to content" %}</a>
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
  </header>""",
    "site_footer": """<footer class="site">
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
  </footer>""",
}
CSRF = re.compile(r'(name="csrfmiddlewaretoken" value=")[^"]+"')


def render(source, request):
    html = engines["django"].from_string(source).render({}, request)
    return CSRF.sub(r"\1TOKEN", html)


def render_both(user, path="/dialogue/1/?page=2"):
    """The three tags and MARKUP, rendered for `user` on `path`."""
    request = RequestFactory().get(path)
    request.user = user
    request.session = SessionStore()
    request._messages = FallbackStorage(request)
    prefix = "{% load i18n static %}{% get_current_language as LANGUAGE_CODE %}"
    tags = render("{% load chrome %}" + "|".join(f"{{% {tag} %}}" for tag in MARKUP), request)
    markup = render(prefix + "|".join(MARKUP.values()), request)
    return tags, markup


def person(role="", pk=42, **extra):
    return User(pk=pk, email="p@example.test", full_name="P", role=role, **extra)


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
def test_the_chrome_is_the_markup(visitor, language):
    with translation.override(language):
        tags, markup = render_both(VISITORS[visitor]())
    assert tags == markup
    assert tags.count("csrfmiddlewaretoken") == (1 if visitor == "anonymous" else 2)


def test_the_page_path_is_escaped():
    tags, markup = render_both(person(Role.CLIENT), path="/x/?next=\"><script>&a='b'")
    assert tags == markup
    assert "<script>" not in tags and "%3Cscript%3E&amp;a=&#x27;b&#x27;" in tags


def test_each_visitor_gets_their_own_menu():
    """Nothing of one user's menu stays for the next: each user gets their own menu."""
    with translation.override("en"):
        first, _ = render_both(person(Role.CLIENT))
        second, second_markup = render_both(person(Role.CLIENT, pk=7))
        coach, _ = render_both(person(Role.COACH))
    assert "/dialogue/42/assignments/" in first
    assert second == second_markup and "/dialogue/42/" not in second
    assert "/dialogue/7/assignments/" in second
    assert "assignments" not in coach and "My clients" in coach


def test_the_chrome_follows_changed_settings(settings):
    with translation.override("en"):
        before, _ = render_both(AnonymousUser())
        settings.STATIC_URL = "/assets/"
        settings.LANGUAGES = [("en", "English"), ("nl", "Dutch"), ("de", "German")]
        tags, markup = render_both(AnonymousUser())
    assert tags == markup != before
    assert "/assets/safecoach/site.css" in tags and 'value="de"' in tags
