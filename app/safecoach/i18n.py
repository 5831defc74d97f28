"""Compile the translation catalogues (.po → .mo) without GNU gettext, using polib.

The .po files in app/locale are the source; .mo files are build output (not in git). The test
suite, scripts/up and the release build call `compile_all()`.
"""

from pathlib import Path

LOCALE_DIR = Path(__file__).resolve().parent.parent / "locale"


def compile_all(locale_dir: Path = LOCALE_DIR) -> list[Path]:
    """Compile every .po whose .mo is missing or older; return the .mo files written."""
    import polib

    written = []
    for po_path in sorted(locale_dir.glob("*/LC_MESSAGES/*.po")):
        mo_path = po_path.with_suffix(".mo")
        if mo_path.exists() and mo_path.stat().st_mtime >= po_path.stat().st_mtime:
            continue
        polib.pofile(str(po_path)).save_as_mofile(str(mo_path))
        written.append(mo_path)
    return written
