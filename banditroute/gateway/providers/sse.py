"""Server-sent events: an incremental decoder fed raw bytes as they arrive.

Follows the WHATWG event-stream rules the three APIs use: lines end in ``\\n``, ``\\r\\n`` or
``\\r``; ``data:`` lines of one event are joined with newlines; a blank line ends the event;
lines starting with ``:`` are comments. An event still open when the body ends is delivered by
`SSEDecoder.flush`.

>>> from banditroute.gateway.providers.sse import SSEDecoder
>>> decoder = SSEDecoder()
>>> decoder.feed(b"event: ping\\ndata: {}\\n\\ndata: a\\r\\nda")
[SSEEvent(event='ping', data='{}')]
>>> decoder.feed(b"ta: b\\r\\n\\r\\n")
[SSEEvent(event='message', data='a\\nb')]
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import MalformedResponse

__all__ = ["MAX_EVENT_BYTES", "SSEDecoder", "SSEEvent"]

MAX_EVENT_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True)
class SSEEvent:
    """One event: its type (``message`` unless an ``event:`` line named one) and its data."""

    event: str
    data: str


class SSEDecoder:
    """Turns chunks of bytes into `SSEEvent`; one instance per stream.

    Parameters
    ----------
    max_event_bytes : int
        Largest line or event accepted; beyond it `MalformedResponse` is raised.
    """

    def __init__(self, max_event_bytes: int = MAX_EVENT_BYTES) -> None:
        self._max = max_event_bytes
        self._buffer = bytearray()
        self._event = ""
        self._data: list[str] = []
        self._data_size = 0
        self._has_data = False

    def feed(self, data: bytes) -> list[SSEEvent]:
        """Events completed by ``data``."""
        self._buffer += data
        events: list[SSEEvent] = []
        start = 0
        buffer = self._buffer
        size = len(buffer)
        cr = lf = -1  # position of the next CR / LF at or after start; size when none is left
        while True:
            if cr < start:
                cr = buffer.find(b"\r", start)
                cr = size if cr < 0 else cr
            if lf < start:
                lf = buffer.find(b"\n", start)
                lf = size if lf < 0 else lf
            end = min(cr, lf)
            if end >= size or (end == cr and end + 1 == size):
                break  # no full line left (a CR at the very end may be half of a CRLF)
            step = 2 if end == cr and buffer[end + 1] == 0x0A else 1
            event = self._line(bytes(buffer[start:end]))
            if event is not None:
                events.append(event)
            start = end + step
        del buffer[:start]
        if len(buffer) > self._max:
            raise MalformedResponse(f"server-sent event line longer than {self._max} bytes")
        return events

    def flush(self) -> list[SSEEvent]:
        """Events left when the body ends (a last line or event without its blank line)."""
        events: list[SSEEvent] = []
        if self._buffer:
            line = bytes(self._buffer).rstrip(b"\r")
            self._buffer.clear()
            event = self._line(line)
            if event is not None:
                events.append(event)
        event = self._line(b"")
        if event is not None:
            events.append(event)
        return events

    def _line(self, raw: bytes) -> SSEEvent | None:
        if not raw:
            if not self._has_data:
                self._event = ""
                return None
            event = SSEEvent(event=self._event or "message", data="\n".join(self._data))
            self._event, self._data, self._data_size, self._has_data = "", [], 0, False
            return event
        line = raw.decode("utf-8", errors="replace")
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data_size += len(raw)
            if self._data_size > self._max:
                raise MalformedResponse(f"server-sent event larger than {self._max} bytes")
            self._data.append(value)
            self._has_data = True
        elif name == "event":
            self._event = value
        return None  # "id", "retry" and unknown fields are ignored
