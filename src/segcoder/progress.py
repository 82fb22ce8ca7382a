"""A progress bar over images and tiles, with a rate and an ETA, on stderr.

On a terminal one line is redrawn in place (at most ten times a second);
elsewhere (a log file, CI) one line is printed per finished image, and every
30 s during a long one.

Example:
    >>> bar = Progress(images=3, tiles=120)
    >>> bar.start("a.png"); bar.tiles(40); bar.finish("done")
    >>> bar.close()
"""

from __future__ import annotations

import sys
import time

LOG_EVERY = 30.0  # seconds between progress lines when not drawing on a terminal


def format_seconds(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class Progress:
    """Counts images (done, skipped, failed) and tiles, and draws them.

    Args:
        images: images to go through.
        tiles: forward passes they need in all (an ETA is the remaining tiles over the rate so far).
        stream: where to draw; stderr by default.
        live: redraw one line in place; None: only when ``stream`` is a terminal.
    """

    def __init__(self, images: int, tiles: int, stream=None, live: bool | None = None):
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty() if live is None else live
        self.images, self.total_tiles = images, tiles
        self.counts = {"done": 0, "skipped": 0, "failed": 0}
        self.done_tiles = 0  # predicted, so counting towards the rate
        self.passed_tiles = 0  # predicted or skipped, so no longer to do
        self.current = ""
        self.begin = time.monotonic()
        self._drawn = self.begin

    @property
    def seen(self) -> int:
        return sum(self.counts.values())

    @property
    def rate(self) -> float:
        elapsed = time.monotonic() - self.begin
        return self.done_tiles / elapsed if elapsed > 0 else 0.0

    def eta(self) -> float | None:
        rate = self.rate
        return (self.total_tiles - self.passed_tiles) / rate if rate > 0 else None

    def line(self) -> str:
        share = self.passed_tiles / self.total_tiles if self.total_tiles else 1.0
        filled = int(share * 20)
        eta = self.eta()
        return (
            f"[{'#' * filled}{'-' * (20 - filled)}] {self.seen}/{self.images} images"
            f" | {self.passed_tiles}/{self.total_tiles} tiles | {self.rate:.1f} tiles/s"
            f" | ETA {format_seconds(eta) if eta is not None else '?'} | {self.current}"
        )

    def _draw(self, force: bool = False) -> None:
        now = time.monotonic()
        if self.live and (force or now - self._drawn >= 0.1):
            self.stream.write("\r\x1b[K" + self.line())
            self.stream.flush()
            self._drawn = now
        elif not self.live and not force and now - self._drawn >= LOG_EVERY:
            # In a log, a long image still shows signs of life, just not ten times a second.
            self.stream.write(self.line() + "\n")
            self.stream.flush()
            self._drawn = now

    def start(self, name: str) -> None:
        self.current = name
        self._draw(force=True)

    def tiles(self, n: int) -> None:
        self.done_tiles += n
        self.passed_tiles += n
        self._draw()

    def finish(self, status: str, tiles_left: int = 0) -> None:
        """End the current image as done, skipped or failed; ``tiles_left`` of its tiles were never predicted."""
        self.counts[status] += 1
        self.passed_tiles += tiles_left
        if self.live:
            self._draw(force=True)
        else:
            self.stream.write(self.line() + f" {status}\n")
            self.stream.flush()

    def message(self, text: str) -> None:
        """Print a line (a failure, say) without breaking the bar."""
        self.stream.write(("\r\x1b[K" if self.live else "") + text + "\n")
        self._draw(force=True)

    def summary(self) -> str:
        c = self.counts
        return (
            f"{c['done']} done, {c['skipped']} skipped, {c['failed']} failed in "
            f"{format_seconds(time.monotonic() - self.begin)} ({self.rate:.1f} tiles/s)"
        )

    def close(self) -> None:
        if self.live:
            self.stream.write("\r\x1b[K")
        self.stream.write(self.summary() + "\n")
        self.stream.flush()
