"""Progress output: one line per step, `==> …`, flushed at once (logs and pipes see it live)."""


def say(text: str) -> None:
    print(f"==> {text}", flush=True)
