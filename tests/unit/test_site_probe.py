"""The site probe's own logic (tests/infra/probe.py): where it connects and what it trusts, how
it reads a Content-Security-Policy, cookies and a page, and what tells two answers apart."""

import http.server
import shutil
import ssl
import threading

import pytest

from provisioning.stage import load_stage
from tests.infra import probe
from tests.integration.test_nginx_front import make_certificate

pytestmark = pytest.mark.unit

APP_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; font-src 'self'; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'; "
    "object-src 'none'"
)


def answer(status=200, body="", **headers) -> probe.Answer:
    pairs = []
    for name, value in headers.items():
        for one in value if isinstance(value, list) else [value]:
            pairs.append((name.replace("_", "-"), one))
    return probe.Answer(status, tuple(pairs), body)


def test_the_lab_connects_to_the_first_web_host_and_trusts_the_stage_ca():
    stage = load_stage("development")
    site = probe.endpoint(stage)
    assert site.name == stage.vars["public_name"]
    assert site.address == stage.hosts[stage.groups["web"][0]].address
    assert site.cafile == str(stage.ca_cert)


def test_a_real_stage_uses_dns_and_the_systems_trust_store():
    stage = load_stage("production")
    assert probe.endpoint(stage) == probe.Endpoint("safecoach.example", "safecoach.example", None)


def test_the_apps_own_policy_has_no_problem():
    assert probe.csp_problems(APP_CSP, "safecoach.example") == []
    assert probe.parse_csp(APP_CSP)["frame-ancestors"] == ["'none'"]


@pytest.mark.parametrize(
    ("policy", "problem"),
    [
        (None, "no Content-Security-Policy"),
        ("script-src 'self'", "no default-src"),
        (
            "default-src 'self'; script-src 'self' 'unsafe-inline'",
            "script-src allows 'unsafe-inline'",
        ),
        ("default-src 'self'; script-src 'unsafe-eval'", "script-src allows 'unsafe-eval'"),
        ("default-src 'none'; font-src https://fonts.example.net", "font-src allows https://fonts"),
        ("default-src 'none'; img-src *.example.org", "img-src allows *.example.org"),
        ("default-src 'none'; img-src https:", "img-src allows https:"),
        ("default-src 'none'; img-src data:", "img-src allows data:"),
    ],
)
def test_unsafe_and_external_sources_are_problems(policy, problem):
    problems = probe.csp_problems(policy, "safecoach.example")
    assert len(problems) == 1 and problems[0].startswith(problem), problems


def test_the_sites_own_host_is_no_external_source():
    assert probe.csp_problems("default-src https://safecoach.example", "safecoach.example") == []


def test_frames_are_denied_by_either_header():
    assert probe.frames_denied(answer(x_frame_options="DENY"))
    assert probe.frames_denied(answer(content_security_policy=APP_CSP))
    assert not probe.frames_denied(answer(content_security_policy="default-src 'none'"))
    assert not probe.frames_denied(answer(x_frame_options="ALLOW-FROM https://x.example"))


def test_references_off_the_site_are_found():
    html = (
        '<link rel="stylesheet" href="/static/site.css"><link href="https://fonts.example.net/x">'
        '<script src="//cdn.example.com/a.js"></script><script src="/static/a.js"></script>'
        '<img src="https://safecoach.example/static/logo.svg"><img src="data:image/png;base64,AA">'
        '<a href="https://elsewhere.example/">a link loads nothing</a>'
    )
    assert probe.offsite_references(html, "safecoach.example") == [
        "https://fonts.example.net/x",
        "//cdn.example.com/a.js",
    ]


def test_cookies_are_read_with_their_flags_and_without_their_values():
    seen = answer(
        set_cookie=[
            "csrftoken=abc123; expires=Sun, 05 Dec 2027 02:54:01 GMT; HttpOnly; Max-Age=31449600; "
            "Path=/; SameSite=Lax; Secure",
            "sessionid=xyz; Path=/; SameSite=Lax",
        ]
    )
    assert probe.cookies_set(seen) == {
        "csrftoken": {"secure": True, "httponly": True, "samesite": "Lax", "path": "/"},
        "sessionid": {"secure": False, "httponly": False, "samesite": "Lax", "path": "/"},
    }
    assert probe.cookie_values(seen) == {"csrftoken": "abc123", "sessionid": "xyz"}


def test_hsts_max_age():
    assert probe.hsts_max_age("max-age=63072000; includeSubDomains; preload") == 63072000
    assert probe.hsts_max_age(None) == 0


def sign_in_page(token, typed, error="That e-mail address and password do not match."):
    return (
        f'<form><input name="csrfmiddlewaretoken" value="{token}"><div class="errors" '
        f'role="alert"><ul class="errorlist nonfield"><li>{error}</li></ul></div>'
        f'<input name="username" value="{typed}"></form>'
    )


def test_answers_that_differ_only_in_token_and_typed_address_are_the_same():
    cookie = "csrftoken=a; Path=/; SameSite=Lax; Secure"
    known = answer(body=sign_in_page("t1", "probe-1@probe.invalid"), set_cookie=cookie)
    unknown = answer(body=sign_in_page("t2", "probe-2@probe.invalid"), set_cookie=cookie)
    a = probe.summary(known, "probe-1@probe.invalid")
    b = probe.summary(unknown, "probe-2@probe.invalid")
    assert probe.differences(a, b) == []
    assert a["errors"] == ["That e-mail address and password do not match."]


def test_a_different_error_status_or_cookie_tells_the_addresses_apart():
    typed = "probe-1@probe.invalid"
    base = probe.summary(answer(body=sign_in_page("t", typed)), typed)
    other_error = probe.summary(answer(body=sign_in_page("t", typed, "Wrong password.")), typed)
    assert probe.differences(base, other_error) == ["errors", "page sha256"]
    redirected = probe.summary(answer(302, location="/account/"), typed)
    assert probe.differences(base, redirected)[:2] == ["status", "location"]
    with_session = probe.summary(
        answer(body=sign_in_page("t", typed), set_cookie="sessionid=x; Secure"), typed
    )
    assert probe.differences(base, with_session) == ["cookies"]


# --- fetch against a real TLS server on this machine -----------------------------------------


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory):
    """A CA and a certificate it issued for localhost (tls/ca.crt, fullchain.pem, privkey.pem)."""
    if not shutil.which("openssl"):
        pytest.skip("openssl is not installed")
    tmp = tmp_path_factory.mktemp("site")
    make_certificate(tmp)
    return tmp / "tls"


class Handler(http.server.BaseHTTPRequestHandler):
    answers: list[int] = []
    seen: list[dict] = []

    def do_GET(self):
        self._answer()

    def do_POST(self):
        self._answer(self.rfile.read(int(self.headers["Content-Length"])).decode())

    def _answer(self, body=""):
        self.seen.append(
            {
                "host": self.headers["Host"],
                "path": self.path,
                "body": body,
                "cookie": self.headers["Cookie"],
                "origin": self.headers["Origin"],
            }
        )
        self.send_response(self.answers.pop(0) if self.answers else 200)
        self.send_header("Set-Cookie", "csrftoken=v1; Path=/; SameSite=Lax; Secure")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


@pytest.fixture
def server(tls_files):
    names = []
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(tls_files / "fullchain.pem", tls_files / "privkey.pem")
    tls.sni_callback = lambda sock, name, ctx: names.append(name)
    httpd = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    httpd.socket = tls.wrap_socket(httpd.socket, server_side=True)
    Handler.answers, Handler.seen = [], []
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    site = probe.Endpoint(
        "localhost", "127.0.0.1", str(tls_files / "ca.crt"), https_port=httpd.server_address[1]
    )
    yield site, names
    httpd.shutdown()
    httpd.server_close()


def test_fetch_connects_to_the_address_with_the_public_name_and_trusts_the_ca(server):
    site, names = server
    got = probe.fetch(
        site, "/account/login/", form={"email": "a@probe.invalid"}, cookies={"csrftoken": "v0"}
    )
    assert (got.status, got.body) == (200, "ok")
    assert probe.cookie_values(got) == {"csrftoken": "v1"}
    assert names == ["localhost"]
    [seen] = Handler.seen
    assert seen["host"] == f"localhost:{site.https_port}"
    assert seen["body"] == "email=a%40probe.invalid" and seen["cookie"] == "csrftoken=v0"
    assert seen["origin"] == "https://localhost"


def test_fetch_refuses_a_certificate_the_ca_did_not_issue_for_the_name(server):
    site, _names = server
    with pytest.raises(ssl.SSLCertVerificationError):
        probe.fetch(probe.Endpoint("other.test", site.address, site.cafile, site.https_port), "/")


def test_fetch_asks_again_after_nginxs_rate_limit(server, monkeypatch):
    site, _names = server
    monkeypatch.setattr(probe, "PAUSE", 0)
    Handler.answers = [429, 429]
    assert probe.fetch(site, "/account/login/").status == 200
    assert len(Handler.seen) == 3
