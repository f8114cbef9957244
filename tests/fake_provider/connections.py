"""The fake's sockets: track each connection, reset one, send a reply (chunked or trickled).

A reply is sent as its chunks (``chunk_delay_s`` apart) or, for a trickle fault, one byte per
``trickle_s`` seconds, stopping early when the client hangs up. A reset closes the socket with
``SO_LINGER`` 0, so the client sees a TCP reset and no reply.

>>> peer({"client": ("127.0.0.1", 5000)}), peer({})
(('127.0.0.1', 5000), None)
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from collections.abc import Callable, Mapping
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

from .replies import Reply

__all__ = [
    "Conns",
    "Receive",
    "Send",
    "peer",
    "reset",
    "send_reply",
    "tracking_protocol",
]

Send = Callable[[dict[str, Any]], Any]
Receive = Callable[[], Any]
Conns = dict[tuple[str, int], asyncio.Transport]  # open connections by client address


def peer(scope: Mapping[str, Any]) -> tuple[str, int] | None:
    """The client's (host, port) of an ASGI scope, if known."""
    client = scope.get("client")
    return (str(client[0]), int(client[1])) if client else None


def tracking_protocol(conns: Conns) -> type[H11Protocol]:
    """An h11 protocol that keeps each connection's transport, so a fault can reset it."""

    class TrackingH11Protocol(H11Protocol):
        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            sock = transport.get_extra_info("socket")
            if sock is not None:  # no Nagle: a reply's two writes must not wait a delayed ACK
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self.client:
                conns[self.client] = transport

        def connection_lost(self, exc: Exception | None) -> None:
            if self.client and conns.get(self.client) is self.transport:
                del conns[self.client]
            super().connection_lost(exc)

    return TrackingH11Protocol


async def reset(conns: Conns, scope: Mapping[str, Any]) -> None:
    """Close the client's socket with a TCP reset, sending nothing."""
    client = peer(scope)
    transport = conns.get(client) if client else None
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()
    for _ in range(3):  # let uvicorn see the connection lost before we return
        await asyncio.sleep(0)


async def send_reply(
    conns: Conns,
    scope: Mapping[str, Any],
    send: Send,
    reply: Reply,
    chunk_delay_s: float,
    trickle_s: float | None,
) -> None:
    """Send ``reply``: its chunks ``chunk_delay_s`` apart, or one byte per ``trickle_s``."""
    headers = [(b"content-type", reply.content_type.encode())]
    headers += [(k.encode(), v.encode()) for k, v in reply.headers]
    if reply.streamed:
        headers.append((b"cache-control", b"no-cache"))
    else:
        headers.append((b"content-length", str(sum(map(len, reply.chunks))).encode()))
    await send({"type": "http.response.start", "status": reply.status, "headers": headers})
    if trickle_s is not None:
        data = b"".join(reply.chunks)
        for i in range(len(data)):
            if i:
                await asyncio.sleep(trickle_s)
            if peer(scope) not in conns:  # the client gave up
                return
            await send(
                {
                    "type": "http.response.body",
                    "body": data[i : i + 1],
                    "more_body": True,
                }
            )
    else:
        for i, chunk in enumerate(reply.chunks):
            if i and chunk_delay_s > 0:
                await asyncio.sleep(chunk_delay_s)
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
    await send({"type": "http.response.body", "body": b"", "more_body": False})
