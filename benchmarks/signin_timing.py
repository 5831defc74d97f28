"""Benchmark: sign-in and password-reset time for a known against an unknown e-mail address.

    .venv/bin/python benchmarks/signin_timing.py [--rounds 40]

Runs Django in this process with the production password hasher (Argon2id) on a throwaway
SQLite database and the in-memory mail backend, throttles raised out of the way. Alternates
requests for a known and an unknown address (wrong password at sign-in) and prints the median
time of each and their ratio. A ratio near 1.00 means the answer time does not tell whether an
account exists. Not a test: figures only. Mail is kept in memory here; on a host the relay is a
local MTA that queues at once, so its hand-off adds little to the known-address case.
"""

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "app"), str(REPO)]


def setup(tmp):
    os.environ.update(
        DJANGO_SETTINGS_MODULE="safecoach.settings",
        SAFECOACH_DEBUG="1",
        SAFECOACH_SECURE="0",
        SAFECOACH_DATABASE_URL=f"sqlite:///{tmp}/bench.sqlite3",
        SAFECOACH_EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend",
        SAFECOACH_LOG_LEVEL="ERROR",
    )
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    big = (10**9, 60, 60)
    settings.SAFECOACH_THROTTLE = {scope: big for scope in settings.SAFECOACH_THROTTLE}
    settings.ALLOWED_HOSTS = ["testserver"]
    call_command("migrate", verbosity=0)
    from accounts.models import User

    User.objects.create_user("known@bench.test", "Bench-Password-2026", full_name="Bench")


def measure(post, rounds):
    times = {"known": [], "unknown": []}
    for i in range(rounds * 2):
        which = "known" if i % 2 == 0 else "unknown"
        start = time.perf_counter()
        post(which)
        times[which].append(time.perf_counter() - start)
    return {k: statistics.median(v) for k, v in times.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=40)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        setup(tmp)
        from django.conf import settings
        from django.test import Client

        client = Client()
        emails = {"known": "known@bench.test", "unknown": "nobody@bench.test"}
        flows = {
            "sign-in (wrong password)": lambda w: client.post(
                "/account/login/", {"username": emails[w], "password": "Wrong-Password-1"}
            ),
            "password reset request": lambda w: client.post(
                "/account/password/reset/", {"email": emails[w]}
            ),
        }
        print(f"machine: {platform.platform()}, Python {platform.python_version()}")
        print(f"hasher: {settings.PASSWORD_HASHERS[0].rsplit('.', 1)[1]}, rounds: {args.rounds}")
        for name, post in flows.items():
            post("known"), post("unknown")  # warm up
            medians = measure(post, args.rounds)
            ratio = medians["known"] / medians["unknown"]
            print(
                f"{name:28} known {medians['known'] * 1000:7.1f} ms   "
                f"unknown {medians['unknown'] * 1000:7.1f} ms   ratio {ratio:.2f}"
            )


if __name__ == "__main__":
    main()
