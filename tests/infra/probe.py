"""The public site as a visitor meets it, from the controller (tests/infra/test_site.py).

Where to connect: a real stage's public name through DNS, trusted by the system's store; in the
lab the name does not resolve, so the first web host's address, with the public name as TLS
server name and Host, trusted by the stage CA (role stage_ca keeps it in the state folder).
Only Python's http.client and ssl. The pure parts (the endpoint, the Content-Security-Policy,
cookies, references off the site, what tells two answers apart) are unit-tested in
tests/unit/test_site_probe.py.
"""

from __future__ import annotations

import hashlib
import http.client
import re
import socket
import ssl
import time
from dataclasses import dataclass
from html.parser import HTMLParser
from http.cookies import SimpleCookie
from urllib.parse import urlencode, urlsplit

CSRF_COOKIE = "csrftoken"
SESSION_COOKIE = "sessionid"
# nginx answers 429 on the sign-in pages beyond a few requests a minute per address (role web,
# WEB-02): the app never saw such a request, so it is sent again after a pause.
RATE_LIMITED, PAUSE, TRIES = 429, 5, 4
# Directives whose values are not sources of content.
NOT_SOURCES = {"sandbox", "upgrade-insecure-requests", "block-all-mixed-content"}
# Where a page loads something from: tag -> attribute.
LOADS = {"script": "src", "link": "href", "img": "src", "iframe": "src"}
_CSRF_FIELD = re.compile(r'name="csrfmiddlewaretoken" value="([^"]*)"')
_ERRORS = re.compile(r'<div class="errors" role="alert">(.*?)</div>', re.S)


@dataclass(frozen=True)
class Endpoint:
    name: str  # the public name: TLS server name, Host header, the certificate's name
    address: str  # where to connect
    cafile: str | None  # the CA to trust; None: the system's trust store
    https_port: int = 443
    http_port: int = 80


def endpoint(stage) -> Endpoint:
    name = str(stage.vars["public_name"])
    if not stage.lab:
        return Endpoint(name, name, None)
    first_web = stage.hosts[stage.groups["web"][0]]
    return Endpoint(name, first_web.address, str(stage.ca_cert))


@dataclass(frozen=True)
class Answer:
    status: int
    headers: tuple[tuple[str, str], ...]
    body: str

    def all(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key.lower() == name.lower()]

    def header(self, name: str) -> str | None:
        values = self.all(name)
        return values[0] if values else None


class _Plain(http.client.HTTPConnection):
    """HTTP to the endpoint's address, with the public name as Host."""

    def __init__(self, site: Endpoint, timeout: float):
        super().__init__(site.name, site.http_port, timeout=timeout)
        self.address = site.address

    def connect(self):
        self.sock = socket.create_connection((self.address, self.port), self.timeout)


class _TLS(http.client.HTTPSConnection):
    """HTTPS to the endpoint's address, with the public name as server name and Host."""

    def __init__(self, site: Endpoint, timeout: float):
        self.tls = ssl.create_default_context(cafile=site.cafile)
        super().__init__(site.name, site.https_port, timeout=timeout, context=self.tls)
        self.address = site.address

    def connect(self):
        raw = socket.create_connection((self.address, self.port), self.timeout)
        self.sock = self.tls.wrap_socket(raw, server_hostname=self.host)


def fetch(
    site: Endpoint,
    path: str,
    form: dict | None = None,
    cookies: dict | None = None,
    scheme: str = "https",
    timeout: float = 10,
) -> Answer:
    """GET PATH, or POST FORM to it (as the site's own form: Origin and Referer of the site)."""
    headers = {"User-Agent": "safecoach-site-probe", "Accept-Language": "en"}
    if cookies:
        headers["Cookie"] = "; ".join(f"{name}={value}" for name, value in cookies.items())
    body = None
    if form is not None:
        body = urlencode(form)
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        headers["Origin"] = f"https://{site.name}"
        headers["Referer"] = f"https://{site.name}{path}"
    for _ in range(TRIES):
        conn = (_TLS if scheme == "https" else _Plain)(site, timeout)
        try:
            conn.request("POST" if form is not None else "GET", path, body, headers)
            response = conn.getresponse()
            answer = Answer(
                response.status,
                tuple(response.getheaders()),
                response.read().decode("utf-8", "replace"),
            )
        finally:
            conn.close()
        if answer.status != RATE_LIMITED:
            break
        time.sleep(PAUSE)
    return answer


# --- what an answer shows ------------------------------------------------------------------


def parse_csp(value: str) -> dict[str, list[str]]:
    """{directive: sources}; the first of a repeated directive counts (as in browsers)."""
    policy: dict[str, list[str]] = {}
    for part in value.split(";"):
        words = part.split()
        if words:
            policy.setdefault(words[0].lower(), words[1:])
    return policy


def _elsewhere(url: str, name: str) -> bool:
    """A URL or CSP host source on another host than the site's own."""
    if "://" not in url and not url.startswith("//"):
        url = "//" + url  # a CSP host source: host[:port][/path], or a scheme such as https:
    parts = urlsplit(url)
    return (parts.hostname or parts.netloc or url) != name.lower()


def csp_problems(value: str | None, name: str) -> list[str]:
    """What lets a page run or load something it should not: no policy, no default-src,
    'unsafe-…' keywords, and any source other than the site itself ('self', 'none')."""
    if not value:
        return ["no Content-Security-Policy"]
    policy = parse_csp(value)
    problems = [] if "default-src" in policy else ["no default-src"]
    for directive, sources in policy.items():
        if directive in NOT_SOURCES:
            continue
        for source in sources:
            unsafe = source.lower().startswith("'unsafe-")
            external = not source.startswith("'") and _elsewhere(source, name)
            if unsafe or external:
                problems.append(f"{directive} allows {source}")
    return problems


def frames_denied(answer: Answer) -> bool:
    """No other site may frame the page: X-Frame-Options or CSP frame-ancestors."""
    xfo = (answer.header("x-frame-options") or "").strip().upper()
    ancestors = parse_csp(answer.header("content-security-policy") or "").get("frame-ancestors")
    return xfo in ("DENY", "SAMEORIGIN") or ancestors in (["'none'"], ["'self'"])


class _Loads(HTMLParser):
    def __init__(self):
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag, attrs):
        wanted = LOADS.get(tag)
        self.urls += [value for key, value in attrs if key == wanted and value]


def offsite_references(html: str, name: str) -> list[str]:
    """script src, link href, img src and iframe src of HTML that point to another host."""
    parser = _Loads()
    parser.feed(html)
    return [url for url in parser.urls if urlsplit(url.strip()).netloc and _elsewhere(url, name)]


def cookies_set(answer: Answer) -> dict[str, dict]:
    """The cookies an answer sets, by name, with their flags (never their values)."""
    out = {}
    for header in answer.all("set-cookie"):
        jar: SimpleCookie = SimpleCookie()
        jar.load(header)
        for name, morsel in jar.items():
            out[name] = {
                "secure": bool(morsel["secure"]),
                "httponly": bool(morsel["httponly"]),
                "samesite": morsel["samesite"] or None,
                "path": morsel["path"] or None,
            }
    return out


def cookie_values(answer: Answer) -> dict[str, str]:
    """The cookies an answer sets, to send back."""
    out = {}
    for header in answer.all("set-cookie"):
        jar: SimpleCookie = SimpleCookie()
        jar.load(header)
        out.update({name: morsel.value for name, morsel in jar.items()})
    return out


def csrf_token(html: str) -> str:
    match = _CSRF_FIELD.search(html)
    if match is None:
        raise AssertionError("the page has no CSRF token: not the form expected")
    return match.group(1)


def hsts_max_age(value: str | None) -> int:
    match = re.search(r"max-age=(\d+)", value or "", re.I)
    return int(match.group(1)) if match else 0


def form_errors(html: str) -> list[str]:
    """The texts of the form's errors (the app's form_fields.html), tags left out."""
    return [" ".join(re.sub(r"<[^>]+>", " ", chunk).split()) for chunk in _ERRORS.findall(html)]


def summary(answer: Answer, typed: str) -> dict:
    """What a visitor can tell about an answer to a form where they typed TYPED: its status,
    where it sends them, the cookies it sets, the form's errors, and the page itself with the
    CSRF token and the address typed taken out (its sha256)."""
    page = _CSRF_FIELD.sub('name="csrfmiddlewaretoken" value=""', answer.body)
    page = page.replace(typed, "ADDRESS")
    return {
        "status": answer.status,
        "location": answer.header("location"),
        "cookies": cookies_set(answer),
        "errors": form_errors(answer.body),
        "page sha256": hashlib.sha256(page.encode()).hexdigest(),
    }


def differences(known: dict, unknown: dict) -> list[str]:
    """The parts of two summaries that tell a known address from an unknown one."""
    return [key for key in known if known[key] != unknown.get(key)]
