"""Choices decoded from a fuzzer's byte string: one stream drives the scenario and
the schedule, so a fuzzer's mutation of the input explores both at once."""

from __future__ import annotations


class BytesSource:
    """Each draw consumes one byte (two for n > 256); past the end every choice is
    0, the simplest answer (keep the running thread)."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def draw(self, n: int) -> int:
        width = 1 if n <= 256 else 2
        chunk = self.data[self.pos : self.pos + width]
        self.pos += width
        if len(chunk) < width:
            return 0
        return int.from_bytes(chunk, "little") % n
