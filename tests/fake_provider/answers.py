"""The answer to one call, whatever its API: text or a tool call, finish kind, token counts.

>>> from .parsing import Call
>>> call = Call("openai", "m", False, "hi", "hi", None, max_tokens=1)
>>> ans = make_answer(call, ModelScript(), None)
>>> ans.text, ans.finish, ans.input_tokens, ans.output_tokens
('echo', 'length', 1, 1)
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from .common import ECHO_LIMIT, Finish, fake_tokens
from .faults import Fault
from .parsing import Call
from .state import ModelScript

__all__ = ["Answer", "make_answer"]


@dataclass(frozen=True)
class Answer:
    """What the fake answers, before it is put in an API's wire format."""

    text: str
    tool: tuple[str, str] | None  # (tool name, JSON arguments)
    finish: Finish
    input_tokens: int
    output_tokens: int
    usage: bool


def make_answer(call: Call, script: ModelScript, fault: Fault | None) -> Answer:
    """The answer to ``call`` under ``script`` and ``fault`` (a huge body, no usage)."""
    inputs = fake_tokens(call.prompt)
    kind = fault.kind if fault else None
    usage = script.usage and kind != "no_usage"
    if script.tool_call is not None and call.tool_name:
        args = json.dumps(dict(script.tool_call), sort_keys=True)
        out = fake_tokens(call.tool_name + args)
        return Answer("", (call.tool_name, args), "tool", inputs, out, usage)
    if fault is not None and kind == "huge_body":
        text = "x" * int(fault.mb * 2**20)
    elif script.text is not None:
        text = script.text
    elif call.json_mode:
        text = json.dumps({"echo": call.last_user[:ECHO_LIMIT]})
    else:
        text = "echo: " + call.last_user[:ECHO_LIMIT]
    finish: Finish = "stop"
    if call.max_tokens is not None and kind != "huge_body" and fake_tokens(text) > call.max_tokens:
        text, finish = text[: call.max_tokens * 4], "length"
    return Answer(text, None, finish, inputs, fake_tokens(text), usage)
