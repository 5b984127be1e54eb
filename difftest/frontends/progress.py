"""Progress display: in place on a terminal, plain periodic lines when piped.

On a TTY the display is a ``tqdm`` bar (count of total, elapsed, rate,
findings so far) rewritten in place. tqdm is small, has no dependencies, and
computes rates and elapsed time the way users of other tools read them; rich
would add a rendering stack for one line. When stderr is not a terminal (CI logs,
pipes) no carriage returns are written: one plain line every ``every`` seconds
and one at the end, so a log stays readable.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

from tqdm import tqdm


class Progress:
    """One activity's progress: ``update(done, findings=...)`` with absolute counts."""

    def __init__(
        self,
        label: str,
        *,
        total: int | None = None,
        unit: str = "runs",
        every: float = 2.0,
        stream: TextIO | None = None,
        tty: bool | None = None,
    ) -> None:
        self.label = label
        self.total = total
        self.unit = unit
        self.every = every
        self.stream = stream if stream is not None else sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.start = time.monotonic()
        self.last = self.start
        self.done = 0
        self.extra = ""
        self.printed = False
        self.updated = False
        self.bar: tqdm | None = None
        if self.tty:
            self.bar = tqdm(
                total=total,
                desc=f"  {label}",
                unit=f" {unit}",
                file=self.stream,
                dynamic_ncols=True,
                leave=True,
                mininterval=0.2,
            )

    def update(self, done: int, findings: int | None = None, extra: str = "") -> None:
        self.done = done
        self.updated = True
        parts = [f"findings {findings}"] if findings is not None else []
        if extra:
            parts.append(extra)
        self.extra = ", ".join(parts)
        if self.bar is not None:
            self.bar.n = done
            self.bar.set_postfix_str(self.extra, refresh=False)
            self.bar.refresh()
            return
        now = time.monotonic()
        if now - self.last >= self.every:
            self.last = now
            self._line(now)

    def line(self) -> str:
        """The plain form: count, elapsed, rate, findings."""
        elapsed = time.monotonic() - self.start
        of = f"/{self.total:,}" if self.total is not None else ""
        rate = self.done / elapsed if elapsed > 0 else 0.0
        text = f"  {self.label}: {self.done:,}{of} {self.unit}, {elapsed:.1f} s, {rate:,.0f}/s"
        return text + (f", {self.extra}" if self.extra else "")

    def _line(self, now: float) -> None:
        print(self.line(), file=self.stream, flush=True)
        self.printed = True

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        elif self.updated:
            self._line(time.monotonic())

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Status:
    """A free-form status line (the fuzzer's figures): rewritten in place on a
    TTY, printed as its own line otherwise."""

    def __init__(self, stream: TextIO | None = None, tty: bool | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.bar: tqdm | None = None
        if self.tty:
            self.bar = tqdm(file=self.stream, bar_format="{desc}", dynamic_ncols=True)

    def show(self, text: str) -> None:
        if self.bar is not None:
            self.bar.set_description_str(text)
        else:
            print(text, file=self.stream, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
