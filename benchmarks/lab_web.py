"""Benchmark: the deployed app through nginx (TLS) on the lab's web host.

    .venv/bin/python benchmarks/lab_web.py [--seconds 10] [--concurrency 20] [--messages 1000]
                                           [--rounds 5] [--warmup 3]

Needs the development stage up with the app deployed (`otap up`). Makes sure Carla's dialogue
holds --messages extra messages (seed_demo), then runs a load generator ON web1 (as root, to
read Carla's sign-in code from the lab's SMS file; Python's
threads and http.client over TLS to nginx at the host's own address, so the figures are nginx +
gunicorn + PostgreSQL on db1, not the lab's bridge; to 127.0.0.1, which role web exempts from
the general rate limit): signed in as Carla, it asks her dialogue
page (/dialogue/<id>/), /healthz (a minimal Django view through the same middleware, asked with
the same signed-in session, so that both do the same session and user work) and a static file,
each for --seconds with --concurrency clients: after --warmup seconds of each page (not counted,
so that every worker has its database connection and templates), the dialogue page and /healthz
take turns in --rounds rounds, so that a change in the machine's other load meets both alike;
the ratio is of all their answers, and the ratio per round shows the spread. Only answers 200 count as served; any other answer
is reported as an error by status. Prints requests per second and p95 for each, and the ratio
dialogue / minimal. Traffic stays inside the lab (web1 to itself); every loop is bounded in time.
"""

import argparse
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

LOAD = r"""
import http.client, json, re, socket, ssl, sys, threading, time, urllib.parse
name, address, seconds, concurrency = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
rounds, warmup = int(sys.argv[5]), float(sys.argv[6])
context = ssl.create_default_context(cafile="/etc/ssl/safecoach-stage-ca.crt")

class Connection(http.client.HTTPSConnection):
    # TLS to `address`, verified for the site's `name` (also when http.client reconnects after
    # nginx closed a kept-alive connection)
    def connect(self):
        self.sock = context.wrap_socket(socket.create_connection((address, 443), timeout=30),
                                        server_hostname=name)

def connect():
    c = Connection(address, 443, context=context, timeout=30)
    c.connect()
    return c

def request(c, method, path, cookies, body=None, headers=None):
    h = {"Host": name, "Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items())}
    h.update(headers or {})
    c.request(method, path, body=body, headers=h)
    r = c.getresponse()
    data = r.read()
    for value in r.headers.get_all("Set-Cookie") or []:
        k, v = value.split(";", 1)[0].split("=", 1)
        cookies[k] = v
    return r.status, r.headers, data

def sign_in(email, password):
    cookies = {}
    c = connect()
    _, _, page = request(c, "GET", "/account/login/", cookies)
    token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1).decode()
    form = urllib.parse.urlencode({"csrfmiddlewaretoken": token, "username": email,
                                   "password": password})
    status, headers, _ = request(c, "POST", "/account/login/", cookies, form,
                                 {"Content-Type": "application/x-www-form-urlencoded",
                                  "Referer": f"https://{name}/account/login/"})
    if status != 302:
        raise SystemExit(f"sign-in failed with {status}")
    if "/login/code/" in headers.get("Location", ""):
        # The demo requires two-step: the SMS code from the lab's file gateway (hence sudo).
        _, _, page = request(c, "GET", "/account/login/code/", cookies)
        token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1).decode()
        with open("/var/lib/safecoach/sms.jsonl") as sent:
            text = json.loads(sent.read().splitlines()[-1])["text"]
        code = re.search(r"\b(\d{6})\b", text).group(1)
        form = urllib.parse.urlencode({"csrfmiddlewaretoken": token, "code": code})
        status, headers, _ = request(c, "POST", "/account/login/code/", cookies, form,
                                     {"Content-Type": "application/x-www-form-urlencoded",
                                      "Referer": f"https://{name}/account/login/code/"})
        if status != 302 or "/account/login" in headers.get("Location", ""):
            raise SystemExit(f"the SMS code step failed with {status}")
    return cookies

def run(path, cookies, seconds):
    # Only answers 200 count as served (rate and p95); every other answer is an error, by status.
    latencies, errors, stop = [], {}, time.monotonic() + seconds
    lock = threading.Lock()
    def worker():
        c = connect()
        mine, failed = [], {}
        while time.monotonic() < stop:
            t = time.perf_counter()
            try:
                status, _, _ = request(c, "GET", path, dict(cookies))
            except (OSError, http.client.HTTPException) as exc:
                failed[type(exc).__name__] = failed.get(type(exc).__name__, 0) + 1
                c = connect()
                continue
            if status != 200:
                failed[str(status)] = failed.get(str(status), 0) + 1
                continue
            mine.append(time.perf_counter() - t)
        with lock:
            latencies.extend(mine)
            for k, v in failed.items():
                errors[k] = errors.get(k, 0) + v
    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    started = time.monotonic()
    for t in threads: t.start()
    for t in threads: t.join(seconds + 60)
    return {"path": path, "latencies": latencies, "errors": errors,
            "elapsed": time.monotonic() - started}

def summary(parts):
    # one figure from several runs of one path: all answers over all the time they took
    latencies = sorted(x for part in parts for x in part["latencies"])
    elapsed = sum(part["elapsed"] for part in parts)
    errors = {}
    for part in parts:
        for k, v in part["errors"].items():
            errors[k] = errors.get(k, 0) + v
    p95 = latencies[int(len(latencies) * 0.95) - 1] if latencies else float("nan")
    return {"path": parts[0]["path"], "requests": len(latencies), "errors": errors,
            "rps": len(latencies) / elapsed, "p95_ms": p95 * 1000,
            "round_rps": [len(part["latencies"]) / part["elapsed"] for part in parts]}

cookies = sign_in("carla@demo.safecoach.test", "Demo-Safecoach-2026")
c = connect()
status, headers, _ = request(c, "GET", "/dialogue/", cookies)  # a client's dialogue is /dialogue/<id>/
page_path = urllib.parse.urlsplit(headers.get("Location", "")).path if status == 302 else "/dialogue/"
status, _, page = request(c, "GET", page_path, cookies)
if status != 200:
    raise SystemExit(f"the dialogue page {page_path} answers {status}")
css = re.search(rb'href="(/static/[^"]+\.css)"', page)
static = css.group(1).decode() if css else "/static/admin/css/base.css"
# Warm every worker up first (connections to the database, templates, catalogues), then ask the
# two pages in alternating rounds, so that a change in the machine's other load meets both.
run(page_path, cookies, warmup)
run("/healthz", cookies, warmup)
parts = {page_path: [], "/healthz": []}
for _ in range(rounds):
    for path in parts:
        parts[path].append(run(path, cookies, seconds / rounds))
results = [summary(parts[page_path]), summary(parts["/healthz"]),
           summary([run(static, {}, seconds)])]
print(json.dumps(results))
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument(
        "--rounds", type=int, default=5, help="alternating rounds of dialogue and /healthz"
    )
    parser.add_argument("--warmup", type=float, default=3, help="seconds per page, not counted")
    args = parser.parse_args()
    if args.rounds < 1 or args.seconds <= 0 or args.concurrency < 1:
        parser.error("--rounds and --concurrency must be at least 1 and --seconds above 0")
    from provisioning.stage import load_stage

    stage = load_stage("development")
    config = str(stage.ssh_config)
    web = stage.hosts[stage.groups["web"][0]]
    name = stage.vars["public_name"]

    def ssh(command: str, stdin: str | None = None) -> str:
        proc = subprocess.run(
            ["ssh", "-F", config, web.name, command],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=600,
        )
        if proc.returncode != 0:
            raise SystemExit(f"ssh {web.name} {command!r} failed: {proc.stderr.strip()}")
        return proc.stdout

    ssh(f"sudo safecoach-manage seed_demo --messages {args.messages}")
    # to nginx at the host's loopback: exempt from the general rate limit, never from sign-in's
    out = ssh(
        f"sudo python3 - {name} 127.0.0.1 {args.seconds} {args.concurrency} {args.rounds} {args.warmup}",
        stdin=LOAD,
    ).strip()
    dialogue, minimal, static = json.loads(out.splitlines()[-1])
    cpus = ssh("nproc").strip()
    print(
        f"machine: {platform.node()}, {os.cpu_count()} CPUs on the controller, web1 sees {cpus}; "
        f"{args.concurrency} clients, {args.seconds:.0f} s each (the two pages in {args.rounds} "
        f"alternating rounds after {args.warmup:.0f} s of warm-up), through nginx (TLS) on "
        f"{web.name}"
    )
    for label, r in (
        ("dialogue page", dialogue),
        ("minimal view", minimal),
        ("static file", static),
    ):
        print(
            f"{label:<14} {r['path']:<40} {r['rps']:8.1f} req/s  p95 {r['p95_ms']:7.1f} ms  "
            f"errors {sum(r['errors'].values())} {r['errors'] or ''}"
        )
    ratio = dialogue["rps"] / minimal["rps"] if minimal["rps"] else float("nan")
    per_round = [
        d / m for d, m in zip(dialogue["round_rps"], minimal["round_rps"], strict=True) if m
    ]
    print(f"dialogue / minimal: {ratio:.2f} (target at least 0.5); dialogue p95 target < 100 ms")
    if len(per_round) > 1:
        print(
            f"ratio per round: {', '.join(f'{r:.2f}' for r in per_round)} "
            f"(lowest {min(per_round):.2f}, highest {max(per_round):.2f})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
