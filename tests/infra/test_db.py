"""Role postgresql on the hosts of group db: address, TLS, authentication, rights, memory."""

import pytest

pytestmark = pytest.mark.only_on("db")


@pytest.fixture
def db(host, inv_host, role_defaults):
    return role_defaults("postgresql")


def psql(host, sql: str) -> str:
    with host.sudo("postgres"):
        return host.check_output("psql -X -tA -c %s", sql).strip()


@pytest.mark.control("DB-01")
def test_postgresql_runs_and_listens_on_the_internal_address_only(host, inv_host, db, evidence):
    unit = host.service(f"postgresql@{db['postgresql_version']}-{db['postgresql_cluster']}")
    assert unit.is_running and unit.is_enabled
    listening = [
        s for s in host.socket.get_listening_sockets() if s.endswith(f":{db['postgresql_port']}")
    ]
    evidence("listening", listening)
    evidence("version", psql(host, "SHOW server_version"))
    assert listening == [f"tcp://{inv_host.address}:{db['postgresql_port']}"]


@pytest.mark.control("DB-02")
def test_only_web_hosts_over_tls_with_scram(host, stage, db, evidence):
    web = {stage.hosts[name].address for name in stage.groups["web"]}
    rules = psql(
        host,
        "SELECT type, database[1], user_name[1], address, auth_method FROM pg_hba_file_rules "
        "WHERE error IS NULL ORDER BY rule_number",
    ).splitlines()
    evidence("pg_hba_file_rules", rules)
    allowed = [r.split("|") for r in rules if not r.endswith("|reject") and "|peer" not in r]
    assert allowed and all(r[0] == "hostssl" and r[4] == "scram-sha-256" for r in allowed)
    assert {r[3] for r in allowed} == web
    assert {r[1] for r in allowed} == {"safecoach"} and {r[2] for r in allowed} == {"safecoach"}
    settings = {
        name: psql(host, f"SHOW {name}")
        for name in ("ssl", "ssl_min_protocol_version", "password_encryption")
    }
    evidence("settings", settings)
    assert settings["ssl"] == "on"
    assert settings["ssl_min_protocol_version"] == "TLSv1.2"
    assert settings["password_encryption"] == "scram-sha-256"
    assert (
        psql(
            host,
            "SELECT rolpassword LIKE 'SCRAM-SHA-256$%' FROM pg_authid WHERE rolname = 'safecoach'",
        )
        == "t"
    )


@pytest.mark.only_on("web")
@pytest.mark.control("DB-02")
@pytest.mark.control("TLS-01")
def test_web_hosts_reach_postgresql_with_a_verified_certificate(host, inv_host, stage, evidence):
    db = stage.hosts[stage.groups["db"][0]]
    out = host.run(
        f"openssl s_client -starttls postgres -connect {db.address}:5432 "
        f"-CAfile /etc/ssl/safecoach-stage-ca.crt -verify_return_error -brief </dev/null"
    )
    evidence("openssl s_client -brief", out.stderr.strip().splitlines())
    assert out.rc == 0, out.stderr
    assert "Verification: OK" in out.stderr
    assert "TLSv1.3" in out.stderr or "TLSv1.2" in out.stderr


@pytest.mark.control("DB-03")
def test_the_app_role_has_only_the_rights_it_needs(host, db, evidence):
    row = psql(
        host,
        "SELECT rolsuper, rolcreatedb, rolcreaterole, rolreplication, rolbypassrls, rolcanlogin "
        "FROM pg_roles WHERE rolname = 'safecoach'",
    )
    evidence("super|createdb|createrole|replication|bypassrls|login", row)
    assert row == "f|f|f|f|f|t"
    owned = psql(
        host, "SELECT string_agg(datname, ',') FROM pg_database WHERE datdba = 'safecoach'::regrole"
    )
    assert owned == "safecoach"
    public = psql(host, "SELECT has_database_privilege('public', 'safecoach', 'CONNECT')")
    assert public == "f"


@pytest.mark.control("DB-04")
def test_memory_settings_are_sized_for_the_host(host, db, evidence):
    conf = host.file(
        f"/etc/postgresql/{db['postgresql_version']}/{db['postgresql_cluster']}"
        "/conf.d/10-safecoach.conf"
    ).content_string
    wanted = next(line for line in conf.splitlines() if line.startswith("shared_buffers"))
    memory = {
        name: psql(host, f"SHOW {name}") for name in ("shared_buffers", "effective_cache_size")
    }
    evidence("memory", memory)
    assert memory["shared_buffers"] == wanted.split("=")[1].strip()
    assert memory["effective_cache_size"] != "4GB"  # not the built-in default
