"""A small progress bar for long management commands: drawn on a terminal, silent otherwise."""

import sys
import time


class Progress:
    def __init__(self, total: int, *, label: str = "", stream=None, min_interval: float = 0.2):
        self.total = max(0, total)
        self.label = label
        stream = stream if stream is not None else sys.stderr
        # A management command's self.stderr adds a newline to every write; draw on the raw stream.
        self.stream = getattr(stream, "_out", stream)
        self.done = 0
        self.min_interval = min_interval
        self._last = 0.0
        self._started = time.monotonic()
        isatty = getattr(self.stream, "isatty", None)
        self.enabled = bool(isatty and isatty())

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.enabled:
            self._draw(force=True)
            self.stream.write("\n")
            self.stream.flush()

    def update(self, done: int | None = None, *, advance: int = 0) -> None:
        self.done = done if done is not None else self.done + advance
        self._draw()

    def _draw(self, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self._last < self.min_interval:
            return
        self._last = now
        width = 30
        fraction = self.done / self.total if self.total else 1.0
        filled = int(width * min(1.0, fraction))
        elapsed = now - self._started
        rate = self.done / elapsed if elapsed > 0 else 0
        eta = (self.total - self.done) / rate if rate > 0 and self.total else 0
        self.stream.write(
            f"\r{self.label} [{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.total} "
            f"{fraction:6.1%} {rate:,.0f}/s eta {eta:4.0f}s"
        )
        self.stream.flush()
