"""The exceptions a person sees as a single sentence (no traceback)."""


class OtapError(Exception):
    """An expected failure: the message says what is wrong and what to do (exit status 1)."""


class UsageError(OtapError):
    """A command asked for something that does not exist: an unknown stage, host, group, release
    or snapshot, or options that do not go together (exit status 2, like argparse's errors)."""
