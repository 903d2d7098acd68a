"""How far the bulk insert is: tqdm's bar on a terminal, nothing in a log or a pipe."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from types import TracebackType
from typing import TextIO

from tqdm import tqdm

PROGRESS_ROWS = 10_000  # rows between progress updates: the bar costs nothing per row


class Progress:
    """The rows sent so far out of `total`, and one line once they all are."""

    def __init__(self, total: int, out: TextIO) -> None:
        self.total = total
        self.done = 0
        self._out = out
        # disable=None is tqdm's own terminal test: redirected output stays free of bar redraws.
        self._bar = tqdm(total=total, file=out, disable=None, unit=" rows", dynamic_ncols=True)
        self._finishing = False

    def __enter__(self) -> Progress:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        # A failed or interrupted run ends the bar's line, so the error is not printed over it.
        self._bar.close()

    def advance(self, rows: int) -> None:
        self.done += rows
        if self._finishing or not self.total:
            return
        self._bar.update(rows)
        if self.done == self.total:
            self._finishing = True
            self._bar.close()
            # Said because the wait is real: PostgreSQL checks a COPY's foreign keys at its end,
            # seconds for a million rows, and the counters are counted then.
            print("All rows sent; the database finishes: reference checks, counters, commit.", file=self._out)


def counted(rows: Iterable[tuple], progress: Progress, every: int = PROGRESS_ROWS) -> Iterator[tuple]:
    """Pass the rows through, telling `progress` every `every` rows (and at the end)."""
    since = 0
    for row in rows:
        yield row
        since += 1
        if since == every:
            progress.advance(since)
            since = 0
    progress.advance(since)
