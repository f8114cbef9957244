"""Pairwise agreement of a score with gold labels, over responses to the same prompt.

A pair counts when its two labels differ by more than ``min_gap``; the score agrees when it
orders the pair the same way (a tie in the score counts one half). The length-matched variant
keeps only pairs whose response lengths (characters) are within ``length_tolerance`` of the
longer one, where "longer is better" cannot carry the score.

>>> import numpy as np
>>> from banditroute.evaluation.agreement import agreement
>>> groups = np.array([0, 0, 0, 1, 1])
>>> labels = np.array([0.9, 0.1, 0.5, 0.0, 1.0])
>>> scores = np.array([0.8, 0.2, 0.1, 0.3, 0.7])
>>> lengths = np.array([100, 100, 300, 50, 60])
>>> r = agreement(groups, labels, scores, lengths)
>>> round(r.agreement, 3), r.pairs, round(r.agreement_length_matched, 3), r.pairs_length_matched
(0.75, 4, 1.0, 2)
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..errors import invalid

__all__ = ["AgreementReport", "agreement"]


class AgreementReport(NamedTuple):
    """Agreement over all qualifying pairs and over the length-matched ones."""

    agreement: float
    pairs: int
    agreement_length_matched: float
    pairs_length_matched: int


def agreement(
    groups: np.ndarray,
    labels: np.ndarray,
    scores: np.ndarray,
    lengths: np.ndarray,
    min_gap: float = 0.1,
    length_tolerance: float = 0.25,
) -> AgreementReport:
    """Share of label-ordered pairs (same group) that the scores order the same way."""
    g, y, s, n = (np.asarray(a) for a in (groups, labels, scores, lengths))
    if not (g.shape == y.shape == s.shape == n.shape) or g.ndim != 1:
        raise invalid("groups/labels/scores/lengths", g.shape, "four arrays of one length")
    agree = np.zeros(2)
    count = np.zeros(2, dtype=int)
    order = np.argsort(g, kind="stable")
    sorted_groups = g[order]
    starts = np.r_[0, np.flatnonzero(sorted_groups[1:] != sorted_groups[:-1]) + 1]
    ends = np.r_[starts[1:], len(g)]
    for start, end in zip(starts, ends, strict=True) if len(g) else ():
        rows = order[start:end]
        i, j = np.triu_indices(len(rows), 1)
        i, j = rows[i], rows[j]
        keep = np.abs(y[i] - y[j]) > min_gap
        matched = np.abs(n[i] - n[j]) <= length_tolerance * np.maximum(n[i], n[j])
        hit = np.where(np.sign(s[i] - s[j]) == np.sign(y[i] - y[j]), 1.0, 0.0)
        hit = np.where(s[i] == s[j], 0.5, hit)
        for k, mask in enumerate((keep, keep & matched)):
            agree[k] += hit[mask].sum()
            count[k] += int(mask.sum())
    share = np.divide(agree, count, out=np.full(2, np.nan), where=count > 0)
    return AgreementReport(float(share[0]), int(count[0]), float(share[1]), int(count[1]))
