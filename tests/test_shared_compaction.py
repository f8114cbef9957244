"""Parts of replicas gone quiet are merged into their model's base (`shared.compaction`).

Against a real ``redis-server`` (`tests.redis_server`): replicas as `SharedSums` + `SumsStore`
pairs (each with its own connection), and whole engines attached with `banditroute.shared.attach`.
A part is made stale by writing an old time into the ``seen`` hash (no sleeping).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
import redis
from hypothesis import given, settings
from hypothesis import strategies as st

from banditroute.errors import InvalidInput
from banditroute.policies import LinearThompsonSampling
from banditroute.policies.tracking import ArmDelta, ArmStatistics, policy_statistics
from banditroute.shared import attach
from banditroute.shared.codec import decode_base, encode_base
from banditroute.shared.compaction import compact
from banditroute.shared.link import RedisLink
from banditroute.shared.sums import Base, SharedSums
from banditroute.shared.sums_store import SumsStore
from tests.redis_server import RedisServer
from tests.test_shared_state import Replicas, assert_same_statistics

DIM = 3
HOUR = 3600.0


@pytest.fixture(scope="module")
def server() -> Iterator[RedisServer]:
    with RedisServer() as running:
        yield running


def prior(dim: int, prior_intercept: float) -> ArmStatistics:
    targets = np.zeros(dim)
    targets[0] = prior_intercept
    return ArmStatistics(np.eye(dim), targets, 0.0, 0.0)


def delta(rng: np.random.Generator, n: int = 1) -> ArmDelta:
    x = rng.normal(size=(n, DIM))
    y = rng.random(n)
    return ArmDelta(n, x.T @ x, x.T @ y, float(n))


class Node:
    """One replica's sums and its own connection to Redis."""

    def __init__(self, url: str, namespace: str, name: str, discount: float = 1.0) -> None:
        self.link = RedisLink(url, namespace)
        self.store = SumsStore(self.link, "p")
        self.sums = SharedSums(name, prior, 1.0, discount)
        self.store.pull(self.sums, join=True)  # as `Share.join`: before anything is pushed

    def push(self) -> None:
        self.store.push(self.sums, None)

    def pull(self) -> None:
        self.store.pull(self.sums)

    def compact(self) -> list[str]:
        return compact(self.store, self.sums, HOUR, 0.0)

    def merged(self, arm: str = "m") -> ArmStatistics:
        return self.sums.compose(arm, 0.0, DIM)

    def age(self, replica: str, arm: str = "m", seconds: float = 2 * HOUR) -> None:
        """Make ``replica``'s part of ``arm`` look last written ``seconds`` ago."""
        now = int(self.link.slow.time()[0])
        self.link.slow.hset(self.store.seen, f"{arm}\x1f{replica}", now - int(seconds))

    def parts(self) -> int:
        return int(self.link.slow.hlen(self.store.parts))

    def close(self) -> None:
        self.link.close()


@pytest.fixture
def nodes(server: RedisServer) -> Iterator[Callable[..., Node]]:
    made: list[Node] = []
    namespace = "c" + secrets.token_hex(4)

    def make(name: str, discount: float = 1.0) -> Node:
        made.append(Node(server.url, namespace, name, discount))
        return made[-1]

    yield make
    for node in made:
        node.close()


def everyone(*nodes: Node) -> None:
    for node in nodes:
        node.push()
    for node in nodes:
        node.pull()


def same(a: ArmStatistics, b: ArmStatistics) -> bool:
    return bool(
        np.allclose(a.gram, b.gram, rtol=1e-9, atol=1e-9)
        and np.allclose(a.targets, b.targets, rtol=1e-9, atol=1e-9)
        and np.isclose(a.counts, b.counts)
        and np.isclose(a.sse, b.sse)
    )


def truth(deltas: list[ArmDelta]) -> ArmStatistics:
    """Without forgetting: the prior plus every delta, once."""
    out = prior(DIM, 0.0)
    for d in deltas:
        out = ArmStatistics(
            out.gram + d.gram, out.targets + d.targets, out.counts + d.counts, out.sse + d.sse
        )
    return out


# -- the merge is unchanged and the hash shrinks ---------------------------------------------------
@pytest.mark.parametrize("discount", [1.0, 0.97])
def test_compaction_keeps_the_merged_posterior_and_shrinks_the_parts(
    nodes: Callable[..., Node], discount: float
) -> None:
    rng = np.random.default_rng(0)
    a, b, gone = (nodes(name, discount) for name in ("a", "b", "gone"))
    for node in (a, b, gone):
        for arm in ("m", "n"):
            for _ in range(3):
                node.sums.add_delta(arm, delta(rng, 2))
    everyone(a, b, gone)
    gone.close()
    before = {arm: a.merged(arm) for arm in ("m", "n")}
    assert same(before["m"], b.merged("m")) and a.parts() == 6
    a.age("gone", "m")
    assert a.compact() == ["m"]  # "n" has no stale part
    assert a.parts() == 3  # m's parts merged into its base; n's kept
    for node in (a, b):
        node.pull()
        assert same(node.merged("m"), before["m"]) and same(node.merged("n"), before["n"])
        assert node.sums.epoch("m") == (1, "a") and node.sums.epoch("n") == (0, "")
    everyone(a, b)  # nothing to carry: a's and b's parts were merged whole
    assert a.parts() == 3 and same(b.merged("m"), before["m"])
    base = decode_base(a.link.slow.hget(a.store.bases, "m"))
    assert base.folded_from == (0, "") and set(base.folded) == {"a", "b", "gone"}
    assert decode_base(encode_base(base)).folded == base.folded  # the codec keeps it


def gone_quiet(
    nodes: Callable[..., Node], rng: np.random.Generator, steps: int
) -> tuple[Node, Node, Node, list[Any]]:
    """Replicas a, b and gone each learn on "m" and sync; then gone falls silent (aged)."""
    a, b, gone = nodes("a"), nodes("b"), nodes("gone")
    learned = []
    for node in (a, b, gone):
        learned.append(delta(rng, steps))
        node.sums.add_delta("m", learned[-1])
    everyone(a, b, gone)
    a.age("gone")
    return a, b, gone, learned


def test_learning_after_a_compaction_counts_once(nodes: Callable[..., Node]) -> None:
    rng = np.random.default_rng(1)
    a, b, _gone, learned = gone_quiet(nodes, rng, 2)
    # b learns before it sees the compaction: its unmerged learning moves to the new epoch
    learned.append(delta(rng))
    b.sums.add_delta("m", learned[-1])
    assert a.compact() == ["m"]
    for _ in range(2):
        everyone(a, b)
    assert same(a.merged(), truth(learned)) and same(b.merged(), truth(learned))
    assert a.parts() == 1  # b's part of the new epoch (what it learned after the merge)


# -- two compactions at once -----------------------------------------------------------------
def test_two_replicas_compacting_at_once_merge_once(nodes: Callable[..., Node]) -> None:
    rng = np.random.default_rng(2)
    a, b, _gone, learned = gone_quiet(nodes, rng, 3)
    script = a.store.compact_script

    def b_first(keys: list[str], args: list[object]) -> object:
        assert b.compact() == ["m"]  # b read and wrote while a was between its read and write
        return script(keys, args)

    a.store.compact_script = b_first  # type: ignore[assignment]
    assert a.compact() == []  # a's view is stale: it changes nothing
    a.store.compact_script = script
    assert a.compact() == []  # nothing stale any more
    everyone(a, b)
    assert a.sums.epoch("m") == (1, "b") and a.parts() == 0
    assert same(a.merged(), truth(learned)) and same(b.merged(), truth(learned))


def test_a_part_written_meanwhile_makes_the_compaction_wait(nodes: Callable[..., Node]) -> None:
    rng = np.random.default_rng(3)
    a, back = nodes("a"), nodes("back")
    learned = [delta(rng), delta(rng)]
    a.sums.add_delta("m", learned[0])
    back.sums.add_delta("m", learned[1])
    everyone(a, back)
    a.age("back")
    script = a.store.compact_script

    def back_pushes(keys: list[str], args: list[object]) -> object:
        learned.append(delta(rng))
        back.sums.add_delta("m", learned[-1])
        back.push()
        return script(keys, args)

    a.store.compact_script = back_pushes  # type: ignore[assignment]
    assert a.compact() == []
    everyone(a, back)
    assert a.sums.epoch("m") == (0, "") and same(a.merged(), truth(learned))


# -- a retired replica comes back ------------------------------------------------------------
def test_a_retired_replica_that_comes_back_is_not_counted_twice(
    nodes: Callable[..., Node],
) -> None:
    rng = np.random.default_rng(4)
    a, quiet = nodes("a"), nodes("quiet")
    learned = []
    for node in (a, quiet, quiet):
        learned.append(delta(rng, 2))
        node.sums.add_delta("m", learned[-1])
        node.push()  # quiet pushes twice: its first version is superseded
    everyone(a, quiet)
    a.age("quiet")
    assert a.compact() == ["m"] and a.parts() == 0
    # quiet wakes up, learns and pushes before it has pulled: its old-epoch part is refused
    learned.append(delta(rng, 3))
    quiet.sums.add_delta("m", learned[-1])
    quiet.push()
    assert quiet.parts() == 0
    quiet.pull()  # adopts the merged base; keeps only what it learned since
    assert quiet.sums.own["m"].n == 3
    for _ in range(2):
        everyone(a, quiet)
    assert same(a.merged(), truth(learned)) and same(quiet.merged(), truth(learned))
    assert a.parts() == 1


def test_a_replica_quiet_through_two_compactions_keeps_what_it_did_not_push(
    nodes: Callable[..., Node],
) -> None:
    rng = np.random.default_rng(7)
    a, b, quiet = nodes("a"), nodes("b"), nodes("quiet")
    learned = []
    for node in (a, b, quiet):
        learned.append(delta(rng, 2))
        node.sums.add_delta("m", learned[-1])
    everyone(a, b, quiet)
    learned.append(delta(rng, 4))
    quiet.sums.add_delta("m", learned[-1])  # not pushed: quiet is cut off from Redis
    a.age("quiet")
    assert a.compact() == ["m"]
    learned.append(delta(rng))
    b.sums.add_delta("m", learned[-1])
    everyone(a, b)
    everyone(a, b)  # b's part of the new epoch, carried over at the first pull
    assert a.parts() == 1
    a.age("b")
    assert a.compact() == ["m"] and a.sums.epoch("m") != quiet.sums.epoch("m")
    quiet.push()  # refused: its epoch is two compactions old
    quiet.pull()
    assert quiet.sums.epoch("m") == (2, "a") and quiet.sums.own["m"].n == 4
    for _ in range(2):
        everyone(a, b, quiet)
    for node in (a, b, quiet):
        assert same(node.merged(), truth(learned))


def test_a_restarted_replica_under_its_old_id_starts_from_the_base(
    nodes: Callable[..., Node],
) -> None:
    rng = np.random.default_rng(5)
    a, old = nodes("a"), nodes("r1")
    learned = [delta(rng), delta(rng)]
    a.sums.add_delta("m", learned[0])
    old.sums.add_delta("m", learned[1])
    everyone(a, old)
    old.close()
    a.age("r1")
    assert a.compact() == ["m"]
    new = nodes("r1")  # a new process, same replica id: nothing of its own left to resume
    new.pull()
    learned.append(delta(rng))
    new.sums.add_delta("m", learned[-1])
    everyone(a, new)
    assert same(a.merged(), truth(learned)) and same(new.merged(), truth(learned))


@settings(max_examples=60, deadline=None)
@given(
    steps=st.lists(
        st.tuples(
            st.sampled_from(["learn", "push", "pull", "sync", "retire"]),
            st.integers(0, 2),
            st.integers(0, 2),
        ),
        max_size=60,
    )
)
def test_any_interleaving_with_compactions_counts_every_observation_once(
    server: RedisServer, steps: list[tuple[str, int, int]]
) -> None:
    namespace = "h" + secrets.token_hex(4)
    replicas = [Node(server.url, namespace, name) for name in ("a", "b", "c")]
    rng = np.random.default_rng(6)
    learned: list[ArmDelta] = []
    try:
        for action, i, j in steps:
            node = replicas[i]
            if action == "learn":
                learned.append(delta(rng, 1 + j))
                node.sums.add_delta("m", learned[-1])
            elif action in ("push", "sync"):
                node.push()
            if action in ("pull", "sync"):
                node.pull()
            elif action == "retire":  # j's part looks old: i compacts
                node.age("abc"[j])
                node.compact()
        for _ in range(3):
            everyone(*replicas)
        for node in replicas:
            assert same(node.merged(), truth(learned))
    finally:
        for node in replicas:
            node.close()


# -- whole engines ---------------------------------------------------------------------------
def test_engines_compacting_on_every_sync_agree_with_one_engine(server: RedisServer) -> None:
    replicas = Replicas(server.url, policy=lambda: LinearThompsonSampling(common_part=False))
    client = redis.Redis.from_url(server.url)
    seen = [f"{replicas.namespace}:{kind}:seen" for kind in ("p", "e")]
    try:
        for state in replicas.shared:
            state.retire_after_s = 1.0
        for i in range(40):
            replicas.learn(replicas.a if i % 3 else replicas.b)
            if i % 5 == 0:
                for key in seen:  # every part looks an hour old: each sync compacts
                    for field in client.hkeys(key):
                        client.hset(key, field, 0)
                for state in replicas.shared:
                    state._next_compaction = 0.0
                replicas.shared[i % 2].sync()
        replicas.sync()  # a part carried over at a pull is pushed by the next sync
        replicas.sync()
        for engine in (replicas.a, replicas.b):
            assert_same_statistics(engine, replicas.single)
        policy_epochs = client.hgetall(f"{replicas.namespace}:p:epochs")
        assert policy_epochs  # compactions happened
        stats = policy_statistics(replicas.a.policy)
        assert sum(row.counts for row in stats.arms.values()) == 40
    finally:
        replicas.close()
        client.close()


def test_attach_checks_retire_after(server: RedisServer) -> None:
    from tests.test_shared_state import make_engine

    with pytest.raises(InvalidInput, match="retire_after_s"):
        attach(make_engine(), None, server.url, "a", sync_interval_s=0, retire_after_s=0)


def test_a_base_without_folded_parts_decodes_as_before() -> None:
    base = Base((2, "x"), prior(DIM, 0.5), 0.5)
    back = decode_base(encode_base(base))
    assert back.folded_from is None and back.folded == {} and back.epoch == (2, "x")
