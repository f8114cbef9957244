"""A fake LLM provider: a real HTTP server on 127.0.0.1 speaking three chat APIs, with faults.

It serves the OpenAI-compatible ``POST /v1/chat/completions`` (and ``GET /v1/models``), the
Anthropic ``POST /v1/messages`` and the Gemini ``POST /v1beta/models/{model}:generateContent``
and ``:streamGenerateContent`` routes, plain and streaming (SSE). Answers are deterministic
("echo: <last user message>" or a scripted text per model) and every text costs
``fake_tokens(text)`` = ceil(characters / 4) tokens. Faults (an HTTP status, a hang, a trickled
body, malformed JSON, a connection reset, a huge body, no usage) are scripted per model name, in
order or at random with a seed, while the server runs. Needs only the standard library and
uvicorn, so benchmarks can import it too.

Modules: `server` (`FakeProvider`, its thread and lifecycle), `app` (the ASGI routes),
`connections` (sending, trickling and resetting on the socket), `faults`, `state` (scripts and
recorded requests), `parsing` (request bodies), `answers`, `replies` (bodies and SSE framing),
one wire format per API (`openai_api`, `anthropic_api`, `gemini_api`) and `common`.

Example
-------
>>> import httpx
>>> with FakeProvider() as server:
...     server.set_model("m1", text="hello")
...     reply = httpx.post(
...         server.openai_base_url + "/chat/completions",
...         json={"model": "m1", "messages": [{"role": "user", "content": "hi"}]},
...     )
...     reply.json()["choices"][0]["message"]["content"], server.requests("m1")[0].auth_present
('hello', False)
"""

from __future__ import annotations

from .common import fake_tokens
from .faults import Fault, FaultRates
from .server import FakeProvider
from .state import ModelScript, RecordedRequest

__all__ = [
    "FakeProvider",
    "Fault",
    "FaultRates",
    "ModelScript",
    "RecordedRequest",
    "fake_tokens",
]
