"""What the gateway tells its engine after a call: the outcome it learns from (a quality score,
or the failure of the decision's own model), and the call's row in the decision log.

A served answer from the decision's own model is its feedback; an answer from a fallback
teaches twice: the chosen model failed, and the fallback's answer is observed off-policy. A
cache hit teaches nothing but is logged as a hit.

>>> from banditroute import Engine, HashingEmbedder, ModelProfile
>>> engine = Engine([ModelProfile(id="m1", provider="p", input_usd_per_mtok=1,
...                               output_usd_per_mtok=1)], embedder=HashingEmbedder(16), seed=0)
>>> Outcomes(engine).score(lambda prompt, text: 0.25, "a prompt", "an answer")
0.25
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Literal

from ..errors import check_number
from ..features import estimate_tokens

if TYPE_CHECKING:
    from ..decision import Decision, Outcome
    from ..engine import Engine
    from .attempts import AttemptPlan, Step
    from .completion import Attempt
    from .request import ReadyRequest

__all__ = ["Outcomes", "Scorer"]

#: quality in [0, 1] of an answer to a prompt
Scorer = Callable[[str, str], float]


class Outcomes:
    """Feeds call outcomes back to ``engine`` and logs finished calls in its decision log.

    Parameters
    ----------
    engine : Engine
        The engine that chose the models (its evaluator scores answers when asked to).
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def learn(
        self,
        ready: ReadyRequest,
        decision: Decision,
        plan: AttemptPlan,
        step: Step,
        text: str,
        cost: float,
        latency_ms: float,
        scorer: Scorer | Literal["evaluator"] | None,
    ) -> Outcome | None:
        """Feed the outcome back: the decision's own model, or its failure then the fallback."""
        engine, served = self.engine, step.profile.id
        out_tokens = float(estimate_tokens(text))
        if served != decision.model:
            self.fail(decision, plan)
            if scorer is not None:
                engine.observe(
                    ready.prompt,
                    served,
                    quality=self.score(scorer, ready.prompt, text),
                    cost_usd=cost,
                    latency_ms=latency_ms,
                    output_tokens=out_tokens,
                )
            return None
        if scorer is None:
            return None
        quality: float | None = None
        response: str | None = text  # the engine's evaluator scores it
        if scorer != "evaluator":
            quality, response = self.score(scorer, ready.prompt, text), None
        return engine.feedback(
            decision,
            quality=quality,
            response=response,
            cost_usd=cost,
            latency_ms=latency_ms,
            output_tokens=out_tokens,
        )

    def score(self, scorer: Scorer | Literal["evaluator"], prompt: str, text: str) -> float:
        """The quality of ``text`` as an answer to ``prompt``."""
        if scorer == "evaluator":
            return self.engine.evaluator.evaluate(prompt, text).total
        return check_number("the scorer's quality", scorer(prompt, text), 0, 1)

    def fail(self, decision: Decision, plan: AttemptPlan) -> None:
        """The decision's own model failed (or was skipped): that is its outcome."""
        own = [a for a in plan.attempts if a.model == decision.model]
        error = own[-1].error if own else "not called"
        latency = sum(a.latency_ms for a in own) or None
        self.engine.feedback(decision, error=error or "failed", latency_ms=latency)

    def log_call(
        self,
        decision: Decision | None,
        attempts: Iterable[Attempt],
        tags: Iterable[str],
        *,
        model: str = "",
        cache: str = "",
        ok: bool = True,
        cost_usd: float = 0.0,
        latency_ms: float = 0.0,
    ) -> None:
        """Write one finished call to the engine's decision log (nothing without a log)."""
        link = self.engine._log
        if link.store is None:
            return
        from ..store.call_record import CallAttempt, CallRecord  # lazy: the store's imports

        rows = tuple(
            CallAttempt(
                a.model,
                "skipped" if a.skipped else "ok" if a.ok else "failed",
                a.latency_ms,
                a.error,
            )
            for a in attempts
        )
        link.call(
            CallRecord(
                call_id=f"call-{secrets.token_hex(8)}",
                ts=time.time(),
                decision_id="" if decision is None else decision.id,
                model=model,
                cache=cache,
                ok=ok,
                cost_usd=float(cost_usd),
                latency_ms=float(latency_ms),
                attempts=rows,
                tags=tuple(sorted(tags)),
            )
        )
