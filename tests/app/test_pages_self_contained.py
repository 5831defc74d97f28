"""Every page a visitor can open refers to no external origin and carries the security headers."""

import re

import pytest
from django.urls import reverse

from tests.app.test_access_matrix import ACTORS, GET_TABLE, _expected, _url, sign_in  # noqa: F401

pytestmark = [pytest.mark.app, pytest.mark.control("APP-04")]

# Any absolute or protocol-relative URL in an attribute or CSS url(): none may point elsewhere.
URL_IN_PAGE = re.compile(
    r"""(?:src|href|action|formaction|poster|data|srcset)\s*=\s*["']?\s*((?:[a-z][a-z0-9+.-]*:)?//[^"'\s>]+)"""
    r"""|url\(\s*["']?((?:[a-z][a-z0-9+.-]*:)?//[^"')\s]+)""",
    re.IGNORECASE,
)
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)[^>]*>", re.I)

PAGES = [
    (key, actor)
    for key, (_kwargs, row) in sorted(GET_TABLE.items())
    for actor, outcome in _expected(row).items()
    if outcome == "O"
]


def external_references(html):
    found = []
    for match in URL_IN_PAGE.finditer(html):
        url = match.group(1) or match.group(2)
        if not re.match(r"^(?:https?:)?//testserver(?:[/:]|$)", url):
            found.append(url)
    return found


def test_the_scanner_finds_external_references():
    html = (
        '<link href="https://fonts.example.net/x.css"><script src=//cdn.example.com/a.js>'
        "</script><style>body{background:url('https://img.example.org/b.png')}</style>"
        '<a href="/local/">x</a><img src="/static/y.png">'
    )
    assert external_references(html) == [
        "https://fonts.example.net/x.css",
        "//cdn.example.com/a.js",
        "https://img.example.org/b.png",
    ]


@pytest.mark.parametrize(("key", "actor"), PAGES)
def test_page_refers_to_no_external_origin(world, sign_in, key, actor):  # noqa: F811
    assert actor in ACTORS
    kwargs_for, _row = GET_TABLE[key]
    response = sign_in(actor).get(_url(key, kwargs_for(world)))
    assert response.status_code == 200
    if not response["Content-Type"].startswith("text/html"):
        return
    html = response.content.decode()
    assert external_references(html) == []
    csp = response["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    if not key.startswith("admin"):
        assert INLINE_SCRIPT.search(html) is None, "inline script would be blocked by the CSP"
        assert " style=" not in html, "inline style attributes are blocked by the CSP"


def test_signed_in_pages_are_not_cached(world, login):
    response = login(world.client_a).get(reverse("coaching:dialogue", args=[world.client_a.pk]))
    assert "no-store" in response["Cache-Control"]
