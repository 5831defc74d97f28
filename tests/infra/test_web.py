"""Role web on the hosts of group web: nginx, TLS, HSTS and headers, limits."""

import ipaddress

import pytest

pytestmark = pytest.mark.only_on("web")


@pytest.fixture
def web(host, inv_host, role_defaults, stage):
    # A converged web host without a release is not a working stage: fail, do not skip.
    assert host.file("/opt/safecoach/current").exists, (
        f"no release deployed on {inv_host.name}: run `otap release deploy {stage.name}`"
    )
    return role_defaults("web")


def _is_address(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def curl(host, stage, path="/healthz", *options):
    name = stage.vars["public_name"]
    return host.run(
        "curl -sS -o /dev/null -D - --max-time 10 --cacert /etc/ssl/safecoach-stage-ca.crt "
        f"--resolve {name}:443:127.0.0.1 --resolve {name}:80:127.0.0.1 {' '.join(options)} "
        f"https://{name}{path}"
        if "http://" not in path
        else "curl -sS -o /dev/null -D - --max-time 10 "
        f"--resolve {name}:80:127.0.0.1 {path.replace('NAME', name)}"
    )


@pytest.mark.control("WEB-01")
def test_nginx_runs_and_serves_the_app(host, web, stage, evidence):
    assert host.service("nginx").is_running and host.service("nginx").is_enabled
    evidence("nginx version", host.package("nginx").version)
    out = curl(host, stage)
    evidence("GET /healthz", out.stdout.splitlines()[:1])
    assert out.rc == 0 and out.stdout.split()[1] == "200", out.stdout + out.stderr
    assert not host.file("/etc/nginx/sites-enabled/default").exists
    with host.sudo():
        assert host.run("nginx -t -q").rc == 0


@pytest.mark.control("WEB-01")
def test_static_files_are_served_by_nginx(host, web, stage):
    css = host.check_output("cd /opt/safecoach/current/static && find . -name '*.css' | head -1")
    out = curl(host, stage, "/static/" + css.lstrip("./"))
    assert out.stdout.split()[1] == "200", out.stdout
    assert out.stdout.lower().count("cache-control:") == 1
    assert "cache-control: public" in out.stdout.lower()


@pytest.mark.control("TLS-02")
def test_certificate_carries_the_public_name(host, web, stage, evidence):
    name = stage.vars["public_name"]
    # the lab's certificate comes from the stage CA; a real stage's from a public CA, checked
    # against the host's own trust store
    trust = "-CAfile /etc/ssl/safecoach-stage-ca.crt" if stage.lab else ""
    # the public name is an address in the lab (no DNS there): its certificate names the address
    match = "-verify_ip" if _is_address(name) else "-verify_hostname"
    out = host.run(
        f"openssl s_client -connect 127.0.0.1:443 -servername {name} {match} {name} "
        f"{trust} -verify_return_error -brief </dev/null"
    )
    evidence("openssl s_client -brief", out.stderr.strip().splitlines())
    served = host.run(
        f"openssl s_client -connect 127.0.0.1:443 -servername {name} </dev/null 2>/dev/null "
        "| openssl x509 -noout -subject -issuer -enddate -ext subjectAltName"
    )
    evidence("certificate", served.stdout.strip().splitlines())
    assert out.rc == 0 and "Verification: OK" in out.stderr, out.stderr


@pytest.mark.control("TLS-03")
def test_only_tls_1_2_and_1_3(host, web, evidence):
    accepted = {}
    for version, ok in (("-tls1_3", True), ("-tls1_2", True), ("-tls1_1", False), ("-tls1", False)):
        out = host.run(f"openssl s_client -connect 127.0.0.1:443 {version} -brief </dev/null")
        accepted[version.lstrip("-")] = out.rc == 0
        assert (out.rc == 0) == ok, (version, out.stderr)
    evidence("handshake accepted", accepted)


@pytest.mark.control("TLS-04")
def test_http_redirects_to_https(host, web, stage, evidence):
    out = curl(host, stage, "http://NAME/account/login/")
    evidence("GET http://…/account/login/", out.stdout.strip().splitlines())
    assert out.stdout.startswith("HTTP/1.1 301")
    assert f"location: https://{stage.vars['public_name']}/account/login/" in out.stdout.lower()


@pytest.mark.control("TLS-04")
def test_hsts_and_security_headers_on_every_answer(host, web, stage, evidence):
    for path in ("/healthz", "/", "/no-such-page/"):
        headers = curl(host, stage, path).stdout.lower()
        assert headers.count("strict-transport-security: max-age=63072000") == 1, path
        assert "x-content-type-options: nosniff" in headers, path
        assert "x-frame-options: deny" in headers, path
        assert "referrer-policy: same-origin" in headers, path
        assert "server: nginx\r" in headers, path  # no version
    page = curl(host, stage, "/").stdout.lower()
    evidence("headers of /", page.strip().splitlines())
    assert "content-security-policy: default-src 'none'" in page


@pytest.mark.control("WEB-02")
def test_large_requests_are_refused(host, web, stage, evidence):
    out = curl(host, stage, "/healthz", "--data", "x", "-H", "'Content-Length: 5000000'")
    evidence("POST of 5 MB", out.stdout.splitlines()[:1])
    assert out.stdout.split()[1] == "413", out.stdout


@pytest.mark.control("WEB-02")
def test_sign_in_pages_are_rate_limited(host, web, stage, inv_host, evidence):
    name = stage.vars["public_name"]
    codes = host.check_output(
        "for i in $(seq 1 25); do curl -s -o /dev/null -w '%{http_code} ' --cacert "
        f"/etc/ssl/safecoach-stage-ca.crt --resolve {name}:443:{inv_host.address} "
        f"https://{name}/account/login/; done"
    ).split()
    evidence("25 quick GETs of /account/login/", codes)
    assert "200" in codes and "429" in codes, codes
