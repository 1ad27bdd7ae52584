"""The state a region's processes share (rate limits, revocations, presence, snapshot cache), in-process or in Redis.

A test that takes `shared_state` runs twice: "memory" (the embedded default) and "redis" (ORBITASK_REDIS_URL
pointing at a real redis-server, one per pytest worker, emptied before each test). Modules import the fixtures
they use (`from tests.sharedstate import fixture_shared_redis, fixture_shared_state`; the functions are named
apart from the fixtures so that tests taking `shared_state` do not shadow an import).

Every Redis-backed helper fails open, so a broken Redis implementation would quietly answer like an empty
one; in the "redis" case a test therefore fails if any Redis call failed, and `assert_in_use` checks that the
app really holds that feature's state in Redis.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import redis

from orbitask.core.cache import MemoryCache, RedisCache, TieredCache
from orbitask.core.observability import REDIS_FAILURES
from orbitask.core.presence import MemoryPresence, RedisPresence
from orbitask.core.ratelimit import MemoryRateLimiter, RedisRateLimiter
from orbitask.core.revocation import MemoryRevocations, RedisRevocations
from tests.redisserver import RedisServer

PREFIX = "orbitask:local:"  # Runtime.from_settings: orbitask:{region}: (the tests' region is "local")
SUBSCRIBE_WAIT_S = 15.0

# feature (the key kind under PREFIX) -> the Runtime attribute and its in-process and Redis implementations
FEATURES: dict[str, tuple[str, type, type]] = {
    "rl": ("limiter", MemoryRateLimiter, RedisRateLimiter),
    "revoked": ("revocations", MemoryRevocations, RedisRevocations),
    "presence": ("presence", MemoryPresence, RedisPresence),
    "cache": ("cache", MemoryCache, TieredCache),
}


def redis_failures() -> float:
    """Redis calls answered fail-open so far in this process, over every operation."""
    return sum(s.value for metric in REDIS_FAILURES.collect() for s in metric.samples if s.name.endswith("_total"))


@dataclass
class SharedState:
    """One case of the parametrisation: no Redis (`server` None), or this worker's redis-server."""

    server: RedisServer | None

    @property
    def redis(self) -> bool:
        """Whether this is the Redis case."""
        return self.server is not None

    @property
    def overrides(self) -> dict[str, Any]:
        """Settings for the app under test."""
        return {"redis_url": self.server.url} if self.server is not None else {}

    def client(self) -> redis.Redis:
        """A client of this worker's redis-server (Redis case only)."""
        assert self.server is not None, "no Redis in the memory case"
        return redis.Redis.from_url(self.server.url)

    def keys(self, feature: str) -> list[str]:
        """The feature's keys in Redis, without the region's prefix; none in the memory case."""
        if self.server is None:
            return []
        prefix = f"{PREFIX}{feature}:"
        with self.client() as r:
            return sorted(name.decode()[len(prefix):] for name in r.scan_iter(prefix + "*"))

    def assert_in_use(self, runtime: Any, feature: str) -> None:
        """The app runs this case's implementation of `feature`; with Redis, its state is in Redis."""
        attribute, in_process, in_redis = FEATURES[feature]
        implementation = getattr(runtime, attribute)
        expected = in_redis if self.redis else in_process
        assert isinstance(implementation, expected), f"{attribute} is {type(implementation).__name__}"
        if self.redis:
            if feature == "cache":
                assert isinstance(implementation.shared, RedisCache)
            assert self.keys(feature), f"nothing under {PREFIX}{feature}: in Redis"

    def forget_cached(self, runtime: Any) -> None:
        """Every cached snapshot body gone: this process's and, with Redis, the region's."""
        if self.server is None:
            runtime.cache = MemoryCache()
            return
        runtime.cache.local = MemoryCache()
        with self.client() as r:
            for name in list(r.scan_iter(f"{PREFIX}cache:*")):
                r.delete(name)

    def wait_subscribed(self, channel: str) -> None:
        """Until the app listens on `channel` (Redis case; in-process delivery needs no wait).

        Redis pub/sub drops what is published before the subscription: a test must not race it.
        """
        if self.server is None:
            return
        deadline = time.monotonic() + SUBSCRIBE_WAIT_S
        with self.client() as r:
            while dict(r.pubsub_numsub(PREFIX + channel)).get((PREFIX + channel).encode(), 0) < 1:
                assert time.monotonic() < deadline, f"nobody subscribed to {PREFIX}{channel}"
                time.sleep(0.02)  # polling the server, bounded by the deadline


@pytest.fixture(scope="session", name="shared_redis")
def fixture_shared_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One redis-server for this pytest worker, started by the first test that runs a Redis case."""
    server = RedisServer(tmp_path_factory.mktemp("shared-redis")).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(params=["memory", "redis"], name="shared_state")
def fixture_shared_state(request: pytest.FixtureRequest) -> Iterator[SharedState]:
    """The implementation of the region's shared state the test runs on; with Redis, an empty server."""
    if request.param == "memory":
        yield SharedState(None)
        return
    state = SharedState(request.getfixturevalue("shared_redis"))
    with state.client() as r:
        r.flushall()
    failures = redis_failures()
    yield state
    # fail open hides a broken implementation: in this case no Redis call may have failed
    assert redis_failures() == failures, "a Redis call failed and was answered fail-open (see the warnings)"
