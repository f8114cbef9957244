"""The totals of replicas gone quiet fold into a base total (`shared.totals_compaction`).

Against a real ``redis-server`` (`tests.redis_server`): replicas as `PolicyShare` /
`EstimatorShare` objects, each with its own connection, driven by hand (join, push, pull,
compact). Totals are made stale by writing an old time into ``totals_seen`` (no sleeping).
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable, Iterator

import numpy as np
import pytest
import redis
from hypothesis import given, settings
from hypothesis import strategies as st

from banditroute.estimates import CallEstimator
from banditroute.policies import LinearThompsonSampling
from banditroute.registry import ModelProfile
from banditroute.shared.estimator_share import EstimatorShare
from banditroute.shared.link import RedisLink
from banditroute.shared.posterior import PolicyShare
from banditroute.shared.share import Share
from banditroute.shared.totals_compaction import TotalsBase, compact_totals
from tests.redis_server import RedisServer
from tests.test_shared_state import Replicas, assert_same_statistics

HOUR = 3600.0
MODEL = ModelProfile(id="m", provider="p", input_usd_per_mtok=1, output_usd_per_mtok=1)


@pytest.fixture(scope="module")
def server() -> Iterator[RedisServer]:
    with RedisServer() as running:
        yield running


class Node:
    """One replica: a policy share (or an estimator share) with its own connection."""

    def __init__(self, url: str, namespace: str, name: str, estimator: bool = False) -> None:
        self.name = name
        self.link = RedisLink(url, namespace)
        self.share: Share
        if estimator:
            self.estimator = CallEstimator()
            self.share = EstimatorShare(self.estimator, name, self.link)
        else:
            self.policy = LinearThompsonSampling()
            self.share = PolicyShare(self.policy, name, self.link)
        self.share.join(threading.RLock())

    def add(self, quality: float) -> None:
        """Learn one outcome (the policy's quality, or one call with that latency)."""
        if isinstance(self.share, PolicyShare):
            self.policy.update("m", np.array([1.0, 0.5]), quality)
        else:
            self.estimator.observe(MODEL, np.ones(2), 10, latency_ms=100 * quality)
        self.share.collect()

    def push(self) -> None:
        self.share.push()

    def pull(self) -> None:
        self.share.pull()

    def compact(self) -> list[str]:
        return compact_totals(self.share.store, self.share.fold_totals, HOUR)

    def totals(self) -> tuple[float, int]:
        assert isinstance(self.share, PolicyShare)
        total, count, _ = self.share.totals()
        return total, count

    def age(self, replica: str, seconds: float = 2 * HOUR) -> None:
        """Make ``replica``'s totals look last written ``seconds`` ago."""
        now = int(self.link.slow.time()[0])
        self.link.slow.hset(self.share.store.totals_seen, replica, now - int(seconds))

    def fields(self) -> int:
        return int(self.link.slow.hlen(self.share.store.totals))

    def close(self) -> None:
        self.link.close()


@pytest.fixture
def nodes(server: RedisServer) -> Iterator[Callable[..., Node]]:
    made: list[Node] = []
    namespace = "t" + secrets.token_hex(4)

    def make(name: str, estimator: bool = False) -> Node:
        made.append(Node(server.url, namespace, name, estimator))
        return made[-1]

    yield make
    for node in made:
        node.close()


def everyone(*nodes: Node) -> None:
    for node in nodes:
        node.push()
    for node in nodes:
        node.pull()


def counted_once(node: Node, qualities: list[float]) -> bool:
    total, count = node.totals()
    return count == len(qualities) and bool(np.isclose(total, sum(qualities), atol=1e-9))


# -- the merge is unchanged and the hash shrinks ---------------------------------------------------
def test_folding_keeps_the_merged_totals_and_shrinks_the_hash(nodes: Callable[..., Node]) -> None:
    a, b, gone, other = nodes("a"), nodes("b"), nodes("gone"), nodes("other")
    qualities = []
    for i, node in enumerate((a, b, gone, other, gone)):
        qualities.append(0.1 * (i + 1))
        node.add(qualities[-1])
    everyone(a, b, gone, other)
    gone.close()
    other.close()
    before = a.totals()
    assert before == b.totals() and counted_once(a, qualities) and a.fields() == 4
    a.age("gone")
    a.age("other")
    assert a.compact() == ["gone", "other"]
    assert a.fields() == 2  # only a's and b's totals are left
    base = a.share.store.read_totals_base()
    assert base.seq == 1 and set(base.folded) == {"gone", "other"}
    assert a.compact() == []  # nothing stale any more
    for node in (a, b):
        node.pull()
        assert node.share.totals_base.seq == 1 and set(node.share.others) <= {"a", "b"}
        assert np.isclose(node.totals()[0], before[0]) and node.totals()[1] == before[1]
    everyone(a, b)
    assert a.fields() == 2 and counted_once(b, qualities)
    late = nodes("late")  # a replica joining later merges the base too
    assert counted_once(late, qualities)


def test_folding_keeps_the_estimators_merged_calls(nodes: Callable[..., Node]) -> None:
    a, gone = nodes("a", estimator=True), nodes("gone", estimator=True)
    for quality in (1.0, 3.0, 2.0):
        a.add(quality)
    for quality in (5.0, 4.0):
        gone.add(quality)
    everyone(a, gone)
    share = a.share
    assert isinstance(share, EstimatorShare)
    before = share._merged_calls()
    assert before["m"][0] == 5
    a.age("gone")
    assert a.compact() == ["gone"] and a.fields() == 1
    a.pull()
    after = share._merged_calls()
    assert after["m"][:2] == before["m"][:2]
    assert np.isclose(after["m"][2] or 0.0, before["m"][2] or 1.0)


# -- two compactions at once, a write meanwhile ---------------------------------------------------
def test_two_replicas_folding_at_once_fold_once(nodes: Callable[..., Node]) -> None:
    a, b, gone = nodes("a"), nodes("b"), nodes("gone")
    qualities = [0.2, 0.4, 0.9]
    for node, quality in zip((a, b, gone), qualities, strict=True):
        node.add(quality)
    everyone(a, b, gone)
    a.age("gone")
    script = a.share.store.fold_totals_script

    def b_first(keys: list[str], args: list[object]) -> object:
        assert b.compact() == ["gone"]  # b read and wrote while a was between its read and write
        return script(keys, args)

    a.share.store.fold_totals_script = b_first  # type: ignore[assignment]
    assert a.compact() == []  # a's view is stale: it changes nothing
    a.share.store.fold_totals_script = script
    assert a.compact() == []
    assert a.share.store.read_totals_base().seq == 1
    everyone(a, b)
    assert counted_once(a, qualities) and counted_once(b, qualities)


def test_totals_written_meanwhile_make_the_fold_wait(nodes: Callable[..., Node]) -> None:
    a, back = nodes("a"), nodes("back")
    qualities = [0.3, 0.6]
    a.add(qualities[0])
    back.add(qualities[1])
    everyone(a, back)
    a.age("back")
    script = a.share.store.fold_totals_script

    def back_pushes(keys: list[str], args: list[object]) -> object:
        qualities.append(0.8)
        back.add(qualities[-1])
        back.push()
        return script(keys, args)

    a.share.store.fold_totals_script = back_pushes  # type: ignore[assignment]
    assert a.compact() == []
    a.share.store.fold_totals_script = script
    assert a.compact() == []  # back wrote just now: not stale
    everyone(a, back)
    assert a.share.totals_base.seq == 0 and counted_once(a, qualities)


# -- a folded replica comes back -------------------------------------------------------------------
def test_a_returning_replica_counts_once(nodes: Callable[..., Node]) -> None:
    a, quiet = nodes("a"), nodes("quiet")
    qualities = []
    for node in (a, quiet, quiet):
        qualities.append(0.25 * len(qualities) + 0.1)
        node.add(qualities[-1])
        node.push()  # quiet pushes twice: its first version is superseded
    everyone(a, quiet)
    a.age("quiet")
    assert a.compact() == ["quiet"] and a.fields() == 1
    # quiet wakes up, learns and pushes before it has pulled: its push is refused, it reads
    # the fold, keeps only what it added since, and pushes that
    qualities.append(0.7)
    quiet.add(qualities[-1])
    quiet.push()
    assert isinstance(quiet.share, PolicyShare) and quiet.share.quality_count == 1
    assert quiet.share.pending_pushes() == 0 and a.fields() == 2
    assert quiet.link.slow.hget(quiet.share.store.totals, "quiet").endswith(b"|[0.7, 1]")
    everyone(a, quiet)
    assert counted_once(a, qualities) and counted_once(quiet, qualities)


def test_a_new_process_under_a_folded_id_counts_once(nodes: Callable[..., Node]) -> None:
    a, old = nodes("a"), nodes("r1")
    qualities = [0.5, 0.2, 0.4]
    a.add(qualities[0])
    old.add(qualities[1])
    old.add(qualities[2])
    everyone(a, old)
    old.close()
    a.age("r1")
    assert a.compact() == ["r1"]
    new = nodes("r1")  # same replica id: its totals were folded, nothing left to resume
    assert isinstance(new.share, PolicyShare) and new.share.quality_count == 0
    qualities.append(0.9)
    new.add(qualities[-1])
    everyone(a, new)
    assert a.fields() == 2  # the new process's push was accepted (versions above the fold)
    assert counted_once(a, qualities) and counted_once(new, qualities)


@pytest.mark.parametrize("base_first", [True, False])
def test_a_base_is_written_back_after_redis_lost_its_data(
    nodes: Callable[..., Node], base_first: bool
) -> None:
    a, b, gone = nodes("a"), nodes("b"), nodes("gone")
    qualities = [0.1, 0.2, 0.3]
    for node, quality in zip((a, b, gone), qualities, strict=True):
        node.add(quality)
    everyone(a, b, gone)
    gone.close()
    a.age("gone")
    assert a.compact() == ["gone"]
    a.pull()  # b has not pulled since: it still holds gone's totals
    a.link.slow.flushdb()
    for node in (a, b) if base_first else (b, a):  # b writes gone's totals back too
        node.share.push(everything=True)
    for node in (a, b):
        node.pull()
    assert a.share.store.read_totals_base().seq == 1 and a.fields() == 2  # gone's refused
    assert counted_once(a, qualities) and counted_once(b, qualities)


def test_a_totals_base_round_trips_through_its_arguments() -> None:
    base = TotalsBase(3, "[1.0, 2]", {"a": 4, "b": 9})
    raw = {"seq": "3", "payload": "[1.0, 2]", "f:a": "4", "f:b": "9", "junk": "x", "f:c": "?"}
    assert TotalsBase.parse(raw) == base
    assert base.args() == [3, "[1.0, 2]", "a", 4, "b", 9]


# -- any interleaving -----------------------------------------------------------------------
@settings(max_examples=50, deadline=None)
@given(
    steps=st.lists(
        st.tuples(
            st.sampled_from(["add", "push", "pull", "sync", "retire"]),
            st.integers(0, 2),
            st.integers(0, 2),
        ),
        max_size=50,
    )
)
def test_any_interleaving_with_folds_counts_every_total_once(
    server: RedisServer, steps: list[tuple[str, int, int]]
) -> None:
    namespace = "h" + secrets.token_hex(4)
    replicas = [Node(server.url, namespace, name) for name in ("a", "b", "c")]
    qualities: list[float] = []
    try:
        for action, i, j in steps:
            node = replicas[i]
            if action == "add":
                qualities.append(round(0.1 * (j + 1) + 0.01 * len(qualities), 2))
                node.add(qualities[-1])
            elif action in ("push", "sync"):
                node.push()
            if action in ("pull", "sync"):
                node.pull()
            elif action == "retire":  # j's totals look old: i folds them
                node.age("abc"[j])
                node.compact()
        for _ in range(3):
            everyone(*replicas)
        for node in replicas:
            assert counted_once(node, qualities)
            assert node.share.pending_pushes() == 0
    finally:
        for node in replicas:
            node.close()


def test_the_periodic_compaction_folds_totals_too(nodes: Callable[..., Node]) -> None:
    a, gone = nodes("a"), nodes("gone")
    a.add(0.5)
    gone.add(0.25)
    everyone(a, gone)
    a.age("gone")
    assert a.share.compact(HOUR) == []  # `SharedState`'s check: no stale part, stale totals
    assert a.fields() == 1 and a.share.store.read_totals_base().folded == {"gone": 1}
    a.pull()
    assert counted_once(a, [0.5, 0.25])


def test_engines_folding_on_every_sync_agree_with_one_engine(server: RedisServer) -> None:
    replicas = Replicas(server.url)
    client = redis.Redis.from_url(server.url)
    aged = [
        f"{replicas.namespace}:{kind}:{key}" for kind in "pe" for key in ("seen", "totals_seen")
    ]
    try:
        for state in replicas.shared:
            state.retire_after_s = 1.0
        for i in range(40):
            replicas.learn(replicas.a if i % 3 else replicas.b)
            if i % 5 == 0:
                for key in aged:  # every part and every total looks old: each sync compacts
                    for field in client.hkeys(key):
                        client.hset(key, field, 0)
                for state in replicas.shared:
                    state._next_compaction = 0.0
                replicas.shared[i % 2].sync()
        replicas.sync()
        replicas.sync()
        for engine in (replicas.a, replicas.b):
            assert_same_statistics(engine, replicas.single)
        for kind in "pe":  # folds happened
            assert int(client.hget(f"{replicas.namespace}:{kind}:totals_base", "seq") or 0) > 0
    finally:
        replicas.close()
        client.close()
