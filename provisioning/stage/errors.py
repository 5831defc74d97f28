"""The one exception a person sees as a single sentence (no traceback)."""


class OtapError(Exception):
    """An expected failure: the message says what is wrong and what to do."""
