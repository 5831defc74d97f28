"""Metrics under gunicorn with several workers (prometheus_client's multiprocess mode).

A real gunicorn with two workers, PROMETHEUS_MULTIPROC_DIR set and the hooks module the app role
passes (`--config python:safecoach.gunicorn_hooks`): every scrape, whichever worker answers it,
shows the requests of all workers, and safecoach_workers counts the workers alive, also after one
was killed and replaced. Without a usable folder the app still starts, with metrics per process.
"""

import http.client
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

pytestmark = pytest.mark.app

REPO = Path(__file__).resolve().parents[2]
HEALTHZ = {"view": "healthz", "method": "GET", "status_class": "2xx"}


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def app_environment(tmp_path, **extra):
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("SAFECOACH_", "PROMETHEUS_", "DJANGO_"))
    }
    env.update(
        DJANGO_SETTINGS_MODULE="safecoach.settings",
        PYTHONPATH=str(REPO / "app"),
        SAFECOACH_SECRET_KEY=secrets.token_urlsafe(50),
        SAFECOACH_SECURE="0",
        SAFECOACH_ALLOWED_HOSTS="localhost,127.0.0.1",
        SAFECOACH_DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        SAFECOACH_METRICS_ALLOWED="127.0.0.1",
        SAFECOACH_LOG_LEVEL="WARNING",
    )
    env.update(extra)
    return env


def get(port, path):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path, headers={"Host": "localhost", "Connection": "close"})
        response = conn.getresponse()
        return response.status, response.read().decode()
    finally:
        conn.close()


def sample(text, name, labels=None):
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and (labels is None or s.labels == labels):
                return s.value
    return None


def served_by_one_process(counter_file, tmp_path):
    """The healthz requests one process counted (its file alone, read by the public collector)."""
    alone = tmp_path / f"alone-{counter_file.name}"
    alone.mkdir()
    (alone / counter_file.name).write_bytes(counter_file.read_bytes())
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(alone))
    return sample(generate_latest(registry).decode(), "safecoach_http_requests_total", HEALTHZ)


def worker_pids(master):
    path = Path(f"/proc/{master}/task/{master}/children")
    return set(path.read_text().split()) if path.exists() else set()


def wait_for(predicate, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(0.2)
    raise AssertionError("timed out")


@pytest.fixture
def gunicorn(tmp_path):
    folder = tmp_path / "metrics"
    folder.mkdir()
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "safecoach.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "2",
            "--chdir",
            str(REPO / "app"),
            "--config",
            "python:safecoach.gunicorn_hooks",
            "--log-level",
            "warning",
        ],
        env=app_environment(tmp_path, PROMETHEUS_MULTIPROC_DIR=str(folder)),
    )

    def up():  # both workers have loaded the app
        try:
            return sample(get(port, "/metrics")[1], "safecoach_workers") == 2
        except OSError:
            return False

    try:
        wait_for(up)
        yield process, port, folder
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


def test_every_scrape_adds_up_all_workers(gunicorn, tmp_path):
    _process, port, folder = gunicorn
    _, text = get(port, "/metrics")
    before = sample(text, "safecoach_http_requests_total", HEALTHZ) or 0.0
    answered, lock = [], threading.Lock()

    def client():
        for _ in range(15):
            status, _body = get(port, "/healthz")
            with lock:
                answered.append(status)

    threads = [threading.Thread(target=client) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answered == [200] * 60
    # Both workers served some of them, and wrote their own counts.
    per_worker = [served_by_one_process(f, tmp_path) or 0 for f in folder.glob("counter_*.db")]
    assert len(per_worker) == 2 and min(per_worker) > 0, per_worker
    assert sum(per_worker) == before + 60
    for _ in range(6):  # whichever worker answers the scrape, it shows all of them
        _, text = get(port, "/metrics")
        assert sample(text, "safecoach_http_requests_total", HEALTHZ) == before + 60
        assert sample(text, "safecoach_workers") == 2
        assert (
            sample(text, "safecoach_http_request_duration_seconds_count", {"view": "healthz"})
            >= before + 60
        )


def test_a_killed_worker_stops_counting_as_alive_and_keeps_its_counts(gunicorn):
    process, port, folder = gunicorn
    for _ in range(10):
        get(port, "/healthz")
    _, text = get(port, "/metrics")
    served = sample(text, "safecoach_http_requests_total", HEALTHZ)
    old = worker_pids(process.pid)
    killed = sorted(old)[0]
    os.kill(int(killed), signal.SIGKILL)

    def replaced():
        pids = worker_pids(process.pid)
        return len(pids) == 2 and pids != old

    wait_for(replaced)
    # The new worker counts once it has loaded the app; the killed one never again (or 3).
    wait_for(lambda: sample(get(port, "/metrics")[1], "safecoach_workers") == 2)
    for _ in range(6):
        _, text = get(port, "/metrics")
        assert sample(text, "safecoach_workers") == 2
        # The killed worker's requests still count (its file stays; only live gauges go).
        assert sample(text, "safecoach_http_requests_total", HEALTHZ) == served
    assert (folder / f"counter_{killed}.db").exists()
    assert not (folder / f"gauge_livesum_{killed}.db").exists()


def test_an_unusable_folder_is_logged_and_the_app_still_serves(tmp_path):
    script = """
import django
django.setup()
from django.test import Client
ok = Client(HTTP_HOST="localhost").get("/healthz")
page = Client(HTTP_HOST="localhost").get("/metrics", REMOTE_ADDR="127.0.0.1")
print(ok.status_code, page.status_code, b"safecoach_workers 1.0" in page.content)
"""
    result = subprocess.run(
        [sys.executable, "-c", script],
        env=app_environment(tmp_path, PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "missing")),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["200", "200", "True"]
    assert "PROMETHEUS_MULTIPROC_DIR is set but is not a writable folder" in result.stderr
    assert not (tmp_path / "missing").exists()
