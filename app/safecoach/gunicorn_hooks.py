"""Gunicorn hooks for multiprocess metrics: `gunicorn --config python:safecoach.gunicorn_hooks`.

With PROMETHEUS_MULTIPROC_DIR set (safecoach.metrics), a worker that ends (a restart, a reload,
a timeout) must stop counting as alive: its live gauge files are removed, so safecoach_workers
counts the workers that are running. Its counters stay in the folder and keep adding up.
Nothing else is configured here; the unit's command line keeps every other option.
"""

import os


def child_exit(server, worker):
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if path and os.path.isdir(path):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid, path)
