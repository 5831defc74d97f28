"""Filter `safecoach_htpasswd`: the REST server's users file (bcrypt), stable across converges.

A user whose line in the current file still verifies against the wanted password keeps that line
(a fresh bcrypt salt would change the file, and restart nothing, on every run); any other user
gets a new bcrypt hash. Users not wanted are left out. restic-rest-server accepts bcrypt
($2a$/$2b$/$2y$) and {SHA} lines; only bcrypt is written.
"""

from __future__ import annotations

import re

USER = re.compile(r"^[A-Za-z0-9@._-]+$")


class HtpasswdError(ValueError):
    """One sentence for a person."""


def _bcrypt():
    try:
        import bcrypt
    except ImportError as exc:  # pragma: no cover - paramiko (fabric) brings bcrypt
        raise HtpasswdError(
            "the controller lacks the Python package bcrypt; install requirements.lock."
        ) from exc
    return bcrypt


def parse(text: str) -> dict[str, str]:
    out = {}
    for line in (text or "").splitlines():
        line = line.strip()
        if not line or line.startswith("#") or ":" not in line:
            continue
        user, _, hashed = line.partition(":")
        out[user] = hashed
    return out


def render(users: dict[str, str], existing: str = "", rounds: int = 5) -> str:
    """The file's text for {user: password}, reusing lines of `existing` that still verify."""
    bcrypt = _bcrypt()
    current = parse(existing)
    lines = []
    for user in sorted(users):
        password = users[user]
        if not USER.match(user):
            raise HtpasswdError(
                f"REST user name {user!r} has characters restic-rest-server refuses; use "
                "letters, digits, '.', '_', '-' and '@'."
            )
        if not password:
            raise HtpasswdError(f"REST user {user} has an empty password; fill in the vault.")
        old = current.get(user, "")
        keep = False
        if old.startswith(("$2a$", "$2b$", "$2y$")):
            try:
                keep = bcrypt.checkpw(password.encode(), old.encode())
            except ValueError:
                keep = False
        hashed = old if keep else bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds)).decode()
        lines.append(f"{user}:{hashed}")
    return "".join(f"{line}\n" for line in lines)


def safecoach_htpasswd(users, existing="", rounds=5):
    from ansible.errors import AnsibleFilterError

    try:
        return render(dict(users), existing or "", int(rounds))
    except HtpasswdError as exc:
        raise AnsibleFilterError(str(exc)) from None


class FilterModule:
    def filters(self):
        return {"safecoach_htpasswd": safecoach_htpasswd}
