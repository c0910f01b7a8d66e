"""A fixed-window rate limit that tells its window as it is hit: one Redis round trip a limit, not three.

Flask-Limiter hits a view's limit (limits' fixed window: INCRBY, and EXPIRE on a new window, in one
script) and then reads the same window back for the response's X-RateLimit-* headers (and a 429's
Retry-After): the count (GET) and the seconds left (TTL), two more round trips to Redis on every
limited request, the grab and the redemption included. In a storm of 500 grabs those were a fifth of
the workers' time (bench/README.md, ninth pass).

`CountingFixedWindow` is limits' FixedWindowRateLimiter whose `hit` keeps what it learnt: on Redis a
script of its own increments, sets a new window's expiry (as limits' own script does: the same key,
the same expiry, the same count) and returns the count with the seconds left; on any other storage
(memory: the tests, one worker) the count `incr` returns and the storage's expiry. The window is kept
for the rest of the request (`flask.g`) and `get_window_stats` answers from it: remaining = the limit
less the count this hit made, reset = now + the seconds left, which is what the GET and the TTL read
just after, unless another worker hit the same key between them (then this answer is this request's
own, the better one). A window this request did not hit is read from the storage as before.

`hit_many` hits several windows at once, as one request's limits are ("20/minute;200/day"): on Redis
in one script call, so a request pays one round trip whatever its limits (extensions.Limiter).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from flask import g, has_app_context
from limits import RateLimitItem
from limits.errors import StorageError
from limits.storage import RedisClusterStorage, RedisStorage
from limits.strategies import FixedWindowRateLimiter
from limits.util import WindowStats

# limits' incr_expire.lua over every key given, each returning the seconds left as well (TTL: -1 never,
# as EXPIRE always follows a new key's first INCRBY in the same script; read as 0 like limits'
# get_expiry): ARGV holds each key's expiry and amount in turn; the answer each key's count and TTL
_INCR_EXPIRE_TTL = """
local answer = {}
for i, key in ipairs(KEYS) do
    local amount = tonumber(ARGV[2 * i])
    local current = redis.call("incrby", key, amount)
    if tonumber(current) == amount then
        redis.call("expire", key, ARGV[2 * i - 1])
    end
    answer[2 * i - 1] = current
    answer[2 * i] = redis.call("ttl", key)
end
return answer
"""

_G_KEY = "rate_windows"


class CountingFixedWindow(FixedWindowRateLimiter):
    def __init__(self, storage) -> None:
        super().__init__(storage)
        self._script = None
        if isinstance(storage, RedisStorage):
            self._script = storage.get_connection().register_script(_INCR_EXPIRE_TTL)

    def hit(self, item: RateLimitItem, *identifiers: str, cost: int = 1) -> bool:
        return self.hit_many([(item, identifiers, cost)])[0]

    def hit_many(self, hits: Sequence[tuple[RateLimitItem, Sequence[str], int]]) -> list[bool]:
        """Hit each (limit, identifiers, cost), every one of them (none is skipped for a breach before
        it): whether each is still within its limit. On Redis one round trip for all; each window is
        kept for the request's headers."""
        keys = [item.key_for(*identifiers) for item, identifiers, _cost in hits]
        if self._script is not None:
            windows = self._incr_on_redis(
                [(key, item.get_expiry(), cost) for key, (item, _ids, cost) in zip(keys, hits, strict=True)]
            )
        else:
            windows = []
            for key, (item, _identifiers, cost) in zip(keys, hits, strict=True):
                windows.append(
                    (self.storage.incr(key, item.get_expiry(), amount=cost), self.storage.get_expiry(key))
                )
        allowed = []
        kept = g.setdefault(_G_KEY, {}) if has_app_context() else {}
        for key, (item, _identifiers, _cost), (count, reset) in zip(keys, hits, windows, strict=True):
            kept[key] = WindowStats(reset, max(0, item.amount - count))
            allowed.append(count <= item.amount)
        return allowed

    def get_window_stats(self, item: RateLimitItem, *identifiers: str) -> WindowStats:
        if has_app_context():
            window = g.get(_G_KEY, {}).get(item.key_for(*identifiers))
            if window is not None:
                return window
        return super().get_window_stats(item, *identifiers)

    def _incr_on_redis(self, hits: list[tuple[str, int, int]]) -> list[tuple[int, float]]:
        """(count, reset time) of each (key, expiry, amount), from one script call (one a key on a
        Redis Cluster, whose keys may live on different nodes); Redis errors raised as limits' storage
        raises them."""
        storage = self.storage
        calls = [hits] if not isinstance(storage, RedisClusterStorage) else [[hit] for hit in hits]
        answer: list = []
        try:
            for call in calls:
                args = [value for _key, expiry, amount in call for value in (expiry, amount)]
                answer += self._script([storage.prefixed_key(key) for key, _e, _a in call], args)
        except storage.base_exceptions as exc:
            if storage.wrap_exceptions:
                raise StorageError(exc) from exc
            raise
        now = time.time()
        return [
            (int(count), max(int(ttl), 0) + now) for count, ttl in zip(answer[::2], answer[1::2], strict=True)
        ]
