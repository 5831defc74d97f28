"""Role web's nginx configuration, rendered by Ansible and run by Debian's nginx on 127.0.0.1.

The configuration the role installs is rendered from its template with the role's defaults,
checked with `nginx -t`, and then served: a private nginx instance (own prefix, pid and logs,
loopback ports only) in front of a real gunicorn with the app on a Unix socket. Skipped where
nginx is not installed (scripts/test installs it).
"""

import contextlib
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
import warnings
from pathlib import Path

import pytest
import yaml

from provisioning.stage.paths import REPO

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not shutil.which("nginx"), reason="Debian's nginx is not installed"),
]

HTTP, HTTPS, METRICS, STATUS = 18080, 18443, 18180, 18181
NAME = "localhost"


def _free(port):
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def render(tmp: Path, **overrides) -> Path:
    """Render roles/web/templates/nginx.conf.j2 with ansible-playbook (connection local)."""
    out = tmp / "nginx.conf"
    extra = {
        "public_name": NAME,
        "stage_lab": True,
        "otap_state_dir": str(tmp),
        "web_nginx_version": "1.22.1",
        "web_listen_addresses": ["127.0.0.1"],
        "web_http_port": HTTP,
        "web_https_port": HTTPS,
        "web_tls_dir": str(tmp / "tls"),
        "web_app_socket": str(tmp / "gunicorn.sock"),
        "web_static_root": str(tmp / "static"),
        # nginx's internal port for the app's metrics (MON-10), on loopback here
        "web_metrics_listen_address": "127.0.0.1",
        "web_metrics_port": METRICS,
        # nginx's own counters for the nginx exporter (MON-11), loopback only
        "web_status_port": STATUS,
        **overrides,
    }
    play = [
        {
            "hosts": "localhost",
            "connection": "local",
            "gather_facts": False,
            # the role's defaults and the playbook-level values it reads (group_vars/all)
            "vars_files": [
                str(REPO / "roles/web/defaults/main.yml"),
                str(REPO / "group_vars/all/monitoring.yml"),
            ],
            "tasks": [
                {
                    "ansible.builtin.template": {
                        "src": str(REPO / "roles/web/templates/nginx.conf.j2"),
                        "dest": str(out),
                        "mode": "0644",
                    }
                }
            ],
        }
    ]
    (tmp / "play.yml").write_text(yaml.safe_dump(play))
    (tmp / "extra.yml").write_text(yaml.safe_dump(extra))
    bindir = Path(sys.executable).parent
    subprocess.run(
        [
            str(bindir / "ansible-playbook"),
            "-i",
            "localhost,",
            str(tmp / "play.yml"),
            "-e",
            f"@{tmp / 'extra.yml'}",
        ],
        check=True,
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg")},
    )
    return out


def private_instance(conf: Path, tmp: Path) -> Path:
    """The rendered config with pid, logs and temp paths moved into tmp."""
    text = conf.read_text()
    text = text.replace("pid /run/nginx.pid;", f"pid {tmp}/nginx.pid;")
    # pytest's temporary folders are root's alone: the workers must be able to reach the socket
    text = text.replace("user www-data;", "user root;")
    text = text.replace("/var/log/nginx/", f"{tmp}/")
    text = text.replace(
        "http {\n",
        f"http {{\n    client_body_temp_path {tmp}/body;\n    proxy_temp_path {tmp}/proxy;\n",
    )
    mine = tmp / "nginx.private.conf"
    mine.write_text(text)
    return mine


def make_certificate(tmp: Path) -> Path:
    tls = tmp / "tls"
    tls.mkdir()
    ca_key, ca = tls / "ca.key", tls / "ca.crt"
    run = lambda *a: subprocess.run(a, check=True, capture_output=True)  # noqa: E731
    run(
        "openssl",
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        str(ca_key),
        "-out",
        str(ca),
        "-days",
        "2",
        "-subj",
        "/CN=test CA",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    )
    run(
        "openssl",
        "req",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        str(tls / "privkey.pem"),
        "-out",
        str(tls / "req.csr"),
        "-subj",
        "/CN=localhost",
    )
    (tls / "ext").write_text(
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n"
        "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid,issuer\n"
    )
    run(
        "openssl",
        "x509",
        "-req",
        "-in",
        str(tls / "req.csr"),
        "-CA",
        str(ca),
        "-CAkey",
        str(ca_key),
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        str(tls / "ext"),
        "-out",
        str(tls / "fullchain.pem"),
    )
    return ca


@pytest.mark.control("TLS-03")
def test_rendered_configuration_passes_nginx_t(tmp_path):
    make_certificate(tmp_path)
    conf = private_instance(render(tmp_path), tmp_path)
    proc = subprocess.run(["nginx", "-t", "-c", str(conf)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    text = conf.read_text()
    assert "ssl_protocols TLSv1.2 TLSv1.3;" in text
    assert "DHE-RSA" not in text.replace("ECDHE-RSA", "")
    assert "server_tokens off;" in text


def test_a_broken_configuration_is_refused_by_nginx_t(tmp_path):
    make_certificate(tmp_path)
    conf = private_instance(render(tmp_path, web_tls_protocols=["TLSv9"]), tmp_path)
    proc = subprocess.run(["nginx", "-t", "-c", str(conf)], capture_output=True, text=True)
    assert proc.returncode != 0


@pytest.fixture(scope="module")
def front_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("front")


@pytest.fixture(scope="module")
def front(front_dir):
    """nginx (127.0.0.1 only) in front of gunicorn with the app on a Unix socket."""
    tmp_path = front_dir
    if not all(map(_free, (HTTP, HTTPS, METRICS, STATUS))):
        pytest.skip("ports 18080, 18443, 18180 or 18181 are in use")
    ca = make_certificate(tmp_path)
    (tmp_path / "static").mkdir()
    (tmp_path / "static" / "probe.css").write_text("body{}\n")
    env = {
        **os.environ,
        "SAFECOACH_SECRET_KEY": "x" * 60,
        "SAFECOACH_ALLOWED_HOSTS": NAME,
        "SAFECOACH_DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "SAFECOACH_CLIENT_IP_HEADER": "HTTP_X_REAL_IP",
        "DJANGO_SETTINGS_MODULE": "safecoach.settings",
    }
    gunicorn = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "gunicorn"),
            "safecoach.wsgi:application",
            "--bind",
            f"unix:{tmp_path / 'gunicorn.sock'}",
            "--workers",
            "2",
            "--chdir",
            str(REPO / "app"),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    conf = private_instance(render(tmp_path), tmp_path)
    subprocess.run(["nginx", "-c", str(conf)], check=True)
    context = ssl.create_default_context(cafile=str(ca))
    try:
        deadline = time.monotonic() + 30
        while not (tmp_path / "gunicorn.sock").exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        yield context
    finally:
        pid = int((tmp_path / "nginx.pid").read_text())
        os.kill(pid, signal.SIGQUIT)
        os.killpg(gunicorn.pid, signal.SIGTERM)  # its own session: master and workers
        try:
            gunicorn.wait(timeout=20)
        finally:
            time.sleep(0.5)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(gunicorn.pid, signal.SIGKILL)
        for _ in range(50):
            if not (tmp_path / "nginx.pid").exists():
                break
            time.sleep(0.1)


def get(url, context, **headers):
    request = urllib.request.Request(url, headers=headers)  # noqa: S310 (http/https only)
    opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=context), NoRedirect)
    try:
        with opener.open(request, timeout=10) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


@pytest.mark.control("TLS-04")
def test_front_serves_the_app_over_tls_with_headers_once(front):
    status, headers, body = get(f"https://{NAME}:{HTTPS}/healthz", front)
    assert (status, body) == (200, b"ok\n")
    assert headers.get_all("Strict-Transport-Security") == [
        "max-age=63072000; includeSubDomains; preload"
    ]
    assert headers.get_all("X-Frame-Options") == ["DENY"]
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert "nginx/" not in (headers["Server"] or "")
    status, headers, _ = get(f"https://{NAME}:{HTTPS}/account/login/", front)
    assert status == 200
    assert "default-src 'none'" in headers["Content-Security-Policy"]


@pytest.mark.control("TLS-04")
def test_plain_http_redirects_to_https(front):
    status, headers, _ = get(f"http://{NAME}:{HTTP}/account/login/?next=/", front)
    assert status == 301
    assert headers["Location"] == f"https://{NAME}:{HTTPS}/account/login/?next=/"


@pytest.mark.control("WEB-01")
def test_static_files_come_from_nginx_with_headers(front):
    status, headers, body = get(f"https://{NAME}:{HTTPS}/static/probe.css", front)
    assert (status, body) == (200, b"body{}\n")
    assert headers["Strict-Transport-Security"].startswith("max-age=63072000")


@pytest.mark.control("WEB-02")
def test_sign_in_is_rate_limited(front):
    statuses = [get(f"https://{NAME}:{HTTPS}/account/login/", front)[0] for _ in range(14)]
    assert statuses[0] == 200
    assert 429 in statuses


def test_other_names_get_no_answer(front):
    with pytest.raises((urllib.error.URLError, ConnectionError, ssl.SSLError)):
        get(f"https://127.0.0.1:{HTTPS}/healthz", front)


@pytest.mark.control("TLS-03")
def test_sslyze_finds_the_front_compliant_with_mozilla_intermediate(front, front_dir):
    from tests.tools import mozilla_intermediate

    result = mozilla_intermediate(NAME, "127.0.0.1", HTTPS, front_dir / "tls" / "ca.crt")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "compliant"


@pytest.mark.control("TLS-03")
def test_tls_1_1_is_refused(front):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        context.minimum_version = ssl.TLSVersion.TLSv1
        context.maximum_version = ssl.TLSVersion.TLSv1_1
    with (
        pytest.raises((ssl.SSLError, ConnectionError)),
        socket.create_connection(("127.0.0.1", HTTPS), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname=NAME),
    ):
        pass


@pytest.mark.control("TLS-04")
def test_errors_carry_hsts_too(front, front_dir):
    """Last in the module: it takes the app away."""
    (front_dir / "gunicorn.sock").unlink()  # the app is gone: nginx answers 502 itself
    status, headers, _ = get(f"https://{NAME}:{HTTPS}/healthz", front)
    assert status == 502
    assert headers["Strict-Transport-Security"].startswith("max-age=63072000")


@pytest.mark.control("MON-10")
def test_the_app_metrics_are_refused_on_the_public_site_and_to_other_addresses(front):
    # the public site never passes /metrics to the app
    status, _, _ = get(f"https://{NAME}:{HTTPS}/metrics", front)
    assert status == 404
    # the internal port lets the monitoring hosts alone in: 127.0.0.1 is not one of them
    status, _, _ = get(f"http://127.0.0.1:{METRICS}/metrics", front)
    assert status == 403
    status, _, _ = get(f"http://127.0.0.1:{METRICS}/", front)
    assert status == 404


@pytest.mark.control("MON-11")
def test_nginx_serves_its_own_counters_on_loopback_only(front, front_dir):
    status, _, body = get(f"http://127.0.0.1:{STATUS}/stub_status", front)
    assert status == 200
    assert body.startswith(b"Active connections:")
    status, _, _ = get(f"http://127.0.0.1:{STATUS}/", front)
    assert status == 404
    # nginx listens for it on loopback alone
    conf = (front_dir / "nginx.conf").read_text()
    assert f"listen 127.0.0.1:{STATUS};" in conf
