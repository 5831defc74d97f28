"""Tools the tests run in environments of their own (sslyze)."""

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent


def sslyze_python() -> Path:
    """The Python of .venv-sslyze, made from tests/tools/sslyze.lock when missing or stale."""
    venv = REPO / ".venv-sslyze"
    python = venv / "bin" / "python"
    stamp = venv / ".lock-installed"
    lock = HERE / "sslyze.lock"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    if not stamp.exists() or stamp.read_text() != lock.read_text():
        subprocess.run(
            [
                str(python),
                "-m",
                "pip",
                "install",
                "-q",
                "--disable-pip-version-check",
                "--require-hashes",
                "-r",
                str(lock),
            ],
            check=True,
            capture_output=True,
        )
        stamp.write_text(lock.read_text())
    return python


def mozilla_intermediate(name: str, address: str, port: int, ca_file: Path):
    """Run sslyze's Mozilla intermediate check; returns the finished process."""
    return subprocess.run(
        [
            str(sslyze_python()),
            str(HERE / "mozilla_tls.py"),
            name,
            address,
            str(port),
            str(ca_file),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
