"""Benchmark: the dialogue page with 1,000 messages against a minimal view, same gunicorn.

    .venv/bin/python benchmarks/dialogue_page.py [--seconds 10] [--concurrency 4]
    .venv/bin/python benchmarks/dialogue_page.py --baseline DIR [--rounds 3]

Makes a throwaway SQLite database (or uses SAFECOACH_DATABASE_URL if set: then it must be a
scratch database), a coach with one client and 1,000 messages, starts gunicorn on a free port on
127.0.0.1, signs in as the coach, and requests the dialogue page and /healthz (a minimal Django
view) for a fixed time each. Both are requested with the same signed-in session cookie, so the
baseline does the same middleware work as the page (session, user, sign-in policy, language):
the ratio shows what the page itself costs. The cookie is checked to be signed in first (the
dialogue page answers 200, not a redirect to the sign-in page). Prints requests per second, p95
latency and the gunicorn workers' CPU time per request (from /proc, where there is one) for
both, and their ratio. Traffic goes to 127.0.0.1 only; gunicorn is stopped at the end.

With --baseline DIR (another checkout of the repository, e.g. `git worktree add DIR main` or
`git archive main app | tar -x -C DIR`), both checkouts are measured in one run: each gets its own
gunicorn and database, and the two are measured in turn for --rounds rounds (A B, B A, A B …), so
that a drift of the shared machine's speed falls on both. Printed per checkout: the median of the
rounds; then the ratio of this checkout's dialogue/minimal throughput ratio to the baseline's
(1.00x: the page costs the same, relative to the same minimal view), and the same for the CPU
time per request (there above 1.00x means the page costs more). With SAFECOACH_DATABASE_URL
both checkouts use that scratch database, so their migrations must agree.
"""

import argparse
import http.client
import json
import os
import platform
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


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


def prepare_in(checkout, env, messages):
    """prepare() with the app of `checkout`, in a process of its own: (cookie, page path)."""
    result = subprocess.run(
        [sys.executable, __file__, "--prepare", str(checkout), "--messages", str(messages)],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(f"preparing {checkout} failed:\n{result.stderr[-3000:]}")
    prepared = json.loads(result.stdout.splitlines()[-1])
    return prepared["cookie"], prepared["page"]


class Server:
    """gunicorn serving the app of one checkout, with its database filled and a session."""

    def __init__(self, checkout, env, args):
        self.checkout, self.env = checkout, env
        self.cookie, self.page = prepare_in(checkout, env, args.messages)
        self.port = free_port()
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "safecoach.wsgi",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                str(args.workers),
                "--chdir",
                str(checkout / "app"),
                "--log-level",
                "warning",
            ],
            env={**os.environ, **env},
        )

    def start(self):
        wait_until_up(self.port)
        check_signed_in(self.port, self.page, self.cookie)

    def measure(self, args):
        """{label: (requests per second, p95 latency, CPU seconds per request or None)}."""
        results = {}
        for label, path in (("minimal view (/healthz)", "/healthz"), ("dialogue page", self.page)):
            load(self.port, path, self.cookie, min(2.0, args.seconds), args.concurrency)  # warm up
            cpu_before = workers_cpu_seconds(self.process.pid)
            count, latencies = load(self.port, path, self.cookie, args.seconds, args.concurrency)
            cpu_after = workers_cpu_seconds(self.process.pid)
            cpu_per_request = (
                (cpu_after - cpu_before) / count
                if count and cpu_before is not None and cpu_after is not None
                else None
            )
            results[label] = (count / args.seconds, p95(latencies), cpu_per_request)
        return results

    def stop(self):
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=30)


def median_results(rounds):
    """The median of each figure over the rounds' results."""

    def median(values):
        values = [v for v in values if v is not None]
        return statistics.median(values) if values else None

    return {
        label: tuple(median([r[label][i] for r in rounds]) for i in range(3)) for label in rounds[0]
    }


def page_ratio(results):
    """(throughput, p95, CPU or None) of the dialogue page relative to the minimal view."""
    (base_rps, base_p95, base_cpu), (page_rps, page_p95, page_cpu) = results.values()
    cpu = page_cpu / base_cpu if page_cpu and base_cpu else None
    return page_rps / base_rps, page_p95 / base_p95, cpu


def report(title, results):
    print(title)
    for label, (rps, latency, cpu_ms) in results.items():
        cpu_text = f"   CPU {cpu_ms * 1000:6.2f} ms/req" if cpu_ms is not None else ""
        print(f"  {label:<26} {rps:8.1f} req/s   p95 {latency * 1000:7.1f} ms{cpu_text}")
    throughput, latency, cpu = page_ratio(results)
    cpu_text = f", CPU {cpu:.2f}x" if cpu else ""
    print(f"  ratio dialogue/minimal: throughput {throughput:.2f}x, p95 {latency:.2f}x{cpu_text}")


def compare(figure, index, rounds, medians):
    """This checkout's dialogue/minimal ratio of `figure` (page_ratio()[index]) relative to the
    baseline's: the medians' and each round's."""
    this, baseline = (page_ratio(results)[index] for results in medians.values())
    if not this or not baseline:
        return
    per_round = [
        page_ratio(mine)[index] / page_ratio(theirs)[index]
        for mine, theirs in zip(*rounds.values(), strict=True)
        if page_ratio(mine)[index] and page_ratio(theirs)[index]
    ]
    print(
        f"this checkout/baseline, dialogue/minimal {figure}: {this / baseline:.2f}x "
        f"(per round: {', '.join(f'{r:.2f}x' for r in per_round)})"
    )


def machine():
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    return f"machine: {os.cpu_count()} cores, {cpu}, Python {platform.python_version()}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="duration per endpoint")
    parser.add_argument("--concurrency", type=int, default=4, help="parallel connections")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument(
        "--baseline", type=Path, help="another checkout to measure in the same run (see above)"
    )
    parser.add_argument(
        "--rounds", type=int, default=3, help="rounds of each checkout with --baseline"
    )
    parser.add_argument("--prepare", type=Path, help=argparse.SUPPRESS)  # see prepare_in()
    args = parser.parse_args()

    if args.prepare:
        sys.path[:0] = [str(args.prepare / "app"), str(args.prepare)]
        cookie, page = prepare(os.environ, args.messages)
        print(json.dumps({"cookie": cookie, "page": page}))
        return

    workdir = Path(tempfile.mkdtemp(prefix="safecoach-bench-"))
    checkouts = {"this checkout": REPO}
    if args.baseline:
        checkouts["baseline"] = args.baseline.resolve()
    env = {
        "DJANGO_SETTINGS_MODULE": "safecoach.settings",
        "SAFECOACH_SECRET_KEY": secrets.token_urlsafe(50),
        "SAFECOACH_SECURE": "0",
        "SAFECOACH_ALLOWED_HOSTS": "localhost,127.0.0.1",
        "SAFECOACH_LOG_LEVEL": "WARNING",
    }
    database = os.environ.get("SAFECOACH_DATABASE_URL")
    print(f"preparing {args.messages} messages in {(database or 'sqlite').split(':')[0]} …")
    servers = {}
    try:
        for number, (name, checkout) in enumerate(checkouts.items()):
            url = database or f"sqlite:///{workdir / f'bench-{number}.sqlite3'}"
            servers[name] = Server(checkout, {**env, "SAFECOACH_DATABASE_URL": url}, args)
        for server in servers.values():
            server.start()
        rounds = {name: [] for name in servers}
        order = list(servers)
        for _round in range(args.rounds if args.baseline else 1):
            for name in order:
                rounds[name].append(servers[name].measure(args))
            order.reverse()
    finally:
        for server in servers.values():
            server.stop()
        shutil.rmtree(workdir, ignore_errors=True)

    print(machine())
    print(
        f"gunicorn {args.workers} workers, {args.concurrency} connections, {args.seconds:.0f} s each"
    )
    print("both requested with the same signed-in session cookie (the same middleware work)")
    medians = {name: median_results(results) for name, results in rounds.items()}
    for name, results in medians.items():
        title = f"{name} ({checkouts[name]})"
        if args.baseline:
            title += f", median of {args.rounds} rounds"
        report(title, results)
    if args.baseline:
        compare("throughput", 0, rounds, medians)
        compare("CPU per request", 2, rounds, medians)


if __name__ == "__main__":
    main()
