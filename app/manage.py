#!/usr/bin/env python3
"""Django's command-line utility for safecoach."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from safecoach.manage import main  # noqa: E402

if __name__ == "__main__":
    main()
