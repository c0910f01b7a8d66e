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
"""

from __future__ import annotations

import time

from flask import g, has_app_context
from limits import RateLimitItem
from limits.errors import StorageError
from limits.storage import RedisStorage
from limits.strategies import FixedWindowRateLimiter
from limits.util import WindowStats

# limits' incr_expire.lua, returning the seconds left as well (TTL: -1 never, as EXPIRE always follows
# a new key's first INCRBY in the same script; read as 0 like limits' get_expiry)
_INCR_EXPIRE_TTL = """
local amount = tonumber(ARGV[2])
local current = redis.call("incrby", KEYS[1], amount)
if tonumber(current) == amount then
    redis.call("expire", KEYS[1], ARGV[1])
end
return {current, redis.call("ttl", KEYS[1])}
"""

_G_KEY = "rate_windows"


class CountingFixedWindow(FixedWindowRateLimiter):
    def __init__(self, storage) -> None:
        super().__init__(storage)
        self._script = None
        if isinstance(storage, RedisStorage):
            self._script = storage.get_connection().register_script(_INCR_EXPIRE_TTL)

    def hit(self, item: RateLimitItem, *identifiers: str, cost: int = 1) -> bool:
        key = item.key_for(*identifiers)
        if self._script is not None:
            count, reset = self._incr_on_redis(key, item.get_expiry(), cost)
        else:
            count = self.storage.incr(key, item.get_expiry(), amount=cost)
            reset = self.storage.get_expiry(key)
        if has_app_context():
            g.setdefault(_G_KEY, {})[key] = WindowStats(reset, max(0, item.amount - count))
        return count <= item.amount

    def get_window_stats(self, item: RateLimitItem, *identifiers: str) -> WindowStats:
        if has_app_context():
            window = g.get(_G_KEY, {}).get(item.key_for(*identifiers))
            if window is not None:
                return window
        return super().get_window_stats(item, *identifiers)

    def _incr_on_redis(self, key: str, expiry: int, amount: int) -> tuple[int, float]:
        """(count, reset time) from one script; Redis errors raised as limits' storage raises them."""
        storage = self.storage
        try:
            count, ttl = self._script([storage.prefixed_key(key)], [expiry, amount])
        except storage.base_exceptions as exc:
            if storage.wrap_exceptions:
                raise StorageError(exc) from exc
            raise
        return int(count), max(int(ttl), 0) + time.time()
