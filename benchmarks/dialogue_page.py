"""Benchmark: the dialogue page with 1,000 messages against a minimal view, same gunicorn.

    .venv/bin/python benchmarks/dialogue_page.py [--seconds 10] [--concurrency 4]

Makes a throwaway SQLite database (or uses SAFECOACH_DATABASE_URL if set: then it must be a
scratch database), a coach with one client and 1,000 messages, starts gunicorn on a free port on
127.0.0.1, signs in as the coach, and requests the dialogue page and /healthz (a minimal Django
view) for a fixed time each. Both are requested with the same signed-in session cookie, so the
baseline does the same middleware work as the page (session, user, sign-in policy, language):
the ratio shows what the page itself costs. The cookie is checked to be signed in first (the
dialogue page answers 200, not a redirect to the sign-in page). Prints requests per second, p95
latency and the gunicorn workers' CPU time per request (from /proc, where there is one) for
both, and their ratio. Traffic goes to 127.0.0.1 only; gunicorn is stopped at the end.
"""

import argparse
import http.client
import os
import platform
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "app"), str(REPO)]


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def prepare(env, messages):
    """Migrate and fill the database; return the coach's session cookie and the page path."""
    os.environ.update(env)
    import django

    django.setup()
    from django.core.management import call_command
    from django.test import Client

    from accounts.models import Role, User
    from coaching.models import Message
    from organisations.models import Organisation

    call_command("migrate", verbosity=0, interactive=False)
    org = Organisation.objects.create(name="Benchmark")
    coach = User.objects.create_user(
        f"coach-{secrets.token_hex(4)}@bench.test",
        None,
        full_name="Coach",
        organisation=org,
        role=Role.COACH,
    )
    client = User.objects.create_user(
        f"client-{secrets.token_hex(4)}@bench.test",
        None,
        full_name="Client",
        organisation=org,
        role=Role.CLIENT,
        coach=coach,
    )
    Message.objects.bulk_create(
        Message(
            coach=coach, client=client, sender=coach if i % 2 else client, body=f"Bericht {i} " * 8
        )
        for i in range(messages)
    )
    browser = Client()
    browser.force_login(coach)
    return browser.cookies["sessionid"].value, f"/dialogue/{client.pk}/"


def wait_until_up(port, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("gunicorn did not answer on /healthz within 30 s; see its output above.")


def check_signed_in(port, path, cookie):
    """The cookie is a signed-in session: the dialogue page answers 200, not a redirect."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", path, headers={"Cookie": f"sessionid={cookie}", "Host": "localhost"})
    response = conn.getresponse()
    response.read()
    conn.close()
    if response.status != 200:
        raise SystemExit(
            f"the session cookie is not signed in ({path} answered {response.status})."
        )


def workers_cpu_seconds(master_pid):
    """User and system CPU time of gunicorn's workers so far, or None without /proc."""
    try:
        children = Path(f"/proc/{master_pid}/task/{master_pid}/children").read_text().split()
        total_ticks = 0
        for pid in children:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total_ticks += int(fields[11]) + int(fields[12])  # utime, stime
    except (OSError, IndexError, ValueError):
        return None
    return total_ticks / os.sysconf("SC_CLK_TCK")


def load(port, path, cookie, seconds, concurrency):
    """Keep `concurrency` connections busy for `seconds`; return (count, latencies in s)."""
    latencies, lock = [], threading.Lock()
    stop_at = time.monotonic() + seconds
    headers = {"Cookie": f"sessionid={cookie}", "Host": "localhost"}

    def worker():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        mine = []
        while time.monotonic() < stop_at:
            start = time.perf_counter()
            conn.request("GET", path, headers=headers)
            response = conn.getresponse()
            response.read()
            if response.status != 200:
                raise SystemExit(f"{path} answered {response.status}; the benchmark is not valid.")
            mine.append(time.perf_counter() - start)
        conn.close()
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return len(latencies), sorted(latencies)


def p95(values):
    return values[int(len(values) * 0.95) - 1] if values else float("nan")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="duration per endpoint")
    parser.add_argument("--concurrency", type=int, default=4, help="parallel connections")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument("--messages", type=int, default=1000)
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="safecoach-bench-"))
    env = {
        "DJANGO_SETTINGS_MODULE": "safecoach.settings",
        "SAFECOACH_SECRET_KEY": secrets.token_urlsafe(50),
        "SAFECOACH_SECURE": "0",
        "SAFECOACH_ALLOWED_HOSTS": "localhost,127.0.0.1",
        "SAFECOACH_LOG_LEVEL": "WARNING",
    }
    env.setdefault(
        "SAFECOACH_DATABASE_URL",
        os.environ.get("SAFECOACH_DATABASE_URL", f"sqlite:///{workdir / 'bench.sqlite3'}"),
    )
    print(f"preparing {args.messages} messages in {env['SAFECOACH_DATABASE_URL'].split(':')[0]} …")
    cookie, page = prepare(env, args.messages)

    port = free_port()
    gunicorn = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "safecoach.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(args.workers),
            "--chdir",
            str(REPO / "app"),
            "--log-level",
            "warning",
        ],
        env={**os.environ, **env},
    )
    try:
        wait_until_up(port)
        check_signed_in(port, page, cookie)
        results = {}
        for label, path in (("minimal view (/healthz)", "/healthz"), ("dialogue page", page)):
            load(port, path, cookie, min(2.0, args.seconds), args.concurrency)  # warm up
            cpu_before = workers_cpu_seconds(gunicorn.pid)
            count, latencies = load(port, path, cookie, args.seconds, args.concurrency)
            cpu_after = workers_cpu_seconds(gunicorn.pid)
            cpu_per_request = (
                (cpu_after - cpu_before) / count
                if count and cpu_before is not None and cpu_after is not None
                else None
            )
            results[label] = (count / args.seconds, p95(latencies), cpu_per_request)
    finally:
        gunicorn.send_signal(signal.SIGTERM)
        gunicorn.wait(timeout=30)
        shutil.rmtree(workdir, ignore_errors=True)

    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    print(f"machine: {os.cpu_count()} cores, {cpu}, Python {platform.python_version()}")
    print(
        f"gunicorn {args.workers} workers, {args.concurrency} connections, {args.seconds:.0f} s each"
    )
    print("both requested with the same signed-in session cookie (the same middleware work)")
    for label, (rps, latency, cpu_ms) in results.items():
        cpu_text = f"   CPU {cpu_ms * 1000:6.2f} ms/req" if cpu_ms is not None else ""
        print(f"{label:<26} {rps:8.1f} req/s   p95 {latency * 1000:7.1f} ms{cpu_text}")
    (base_rps, base_p95, base_cpu), (page_rps, page_p95, page_cpu) = results.values()
    cpu_ratio = f", CPU {page_cpu / base_cpu:.2f}x" if page_cpu and base_cpu else ""
    print(
        f"ratio dialogue/minimal: throughput {page_rps / base_rps:.2f}x, "
        f"p95 {page_p95 / base_p95:.2f}x{cpu_ratio}"
    )


if __name__ == "__main__":
    main()
