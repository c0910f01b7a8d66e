"""volunteer_app.ratewindow: the fixed window that tells its count and reset as it is hit, on Redis
in one round trip, and answers the response's headers from that."""

from __future__ import annotations

import time
import uuid

import pytest
from flask import Flask
from limits import RateLimitItemPerMinute
from limits.storage import MemoryStorage, storage_from_string
from limits.strategies import FixedWindowRateLimiter

from tests.auth.conftest import login
from tests.support import PASSWORD, make_user
from volunteer_app.extensions import limiter
from volunteer_app.ratewindow import CountingFixedWindow

REDIS = "redis://127.0.0.1:6379/12"


def _redis_answers() -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(REDIS, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


needs_redis = pytest.mark.skipif(not _redis_answers(), reason="no Redis on 127.0.0.1:6379")


@pytest.fixture
def redis_storage():
    storage = storage_from_string(REDIS, key_prefix=f"test-{uuid.uuid4().hex}")
    yield storage
    storage.reset()


def _commands(storage) -> list[str]:
    """Every command the storage's Redis client sends from now on (names), scripts included."""
    sent: list[str] = []
    client = storage.get_connection()
    original = client.execute_command

    def counting(*args, **kwargs):
        sent.append(str(args[0]).upper())
        return original(*args, **kwargs)

    client.execute_command = counting
    return sent


@needs_redis
def test_on_redis_a_hit_is_one_round_trip_and_its_window_what_the_store_reads(redis_storage):
    item = RateLimitItemPerMinute(3)
    mine, theirs = CountingFixedWindow(redis_storage), FixedWindowRateLimiter(redis_storage)
    with Flask(__name__).app_context():
        # The script's first use on a Redis that has never run it is EVALSHA, NOSCRIPT, SCRIPT LOAD and
        # EVALSHA again (redis-py): once per server, not per request. Seen once here, on another key.
        mine.hit(item, "user", "warm")
    sent = _commands(redis_storage)
    with Flask(__name__).app_context():
        for count in (1, 2, 3, 4):
            del sent[:]
            allowed = mine.hit(item, "user", "1")
            window = mine.get_window_stats(item, "user", "1")
            assert len(sent) == 1 and sent[0].startswith("EVAL"), sent  # the hit; the window from it
            assert allowed is (count <= 3)
            stored = theirs.get_window_stats(item, "user", "1")  # GET and TTL, as before
            assert window.remaining == stored.remaining == max(0, 3 - count)
            assert abs(window.reset_time - stored.reset_time) <= 1
            assert time.time() + 58 <= window.reset_time <= time.time() + 61
        # another key's window, not hit in this context: read from the store
        del sent[:]
        assert mine.get_window_stats(item, "user", "2").remaining == 3
        assert sent == ["GET", "TTL"]
    # the count and the expiry are limits' own: its strategy sees the same window
    assert theirs.hit(item, "user", "1") is False
    assert (
        55 <= redis_storage.get_connection().ttl(redis_storage.prefixed_key(item.key_for("user", "1"))) <= 60
    )


@needs_redis
def test_a_new_window_after_expiry_starts_at_one(redis_storage):
    item = RateLimitItemPerMinute(2)
    mine = CountingFixedWindow(redis_storage)
    with Flask(__name__).app_context():
        assert mine.hit(item, "k") and mine.hit(item, "k") and not mine.hit(item, "k")
    redis_storage.get_connection().delete(redis_storage.prefixed_key(item.key_for("k")))
    with Flask(__name__).app_context():
        assert mine.hit(item, "k")
        assert mine.get_window_stats(item, "k").remaining == 1


@needs_redis
def test_redis_unreachable_raises_as_limits_storage_does():
    storage = storage_from_string("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    item = RateLimitItemPerMinute(2)
    with Flask(__name__).app_context():
        with pytest.raises(Exception) as mine:
            CountingFixedWindow(storage).hit(item, "k")
        with pytest.raises(Exception) as theirs:
            FixedWindowRateLimiter(storage).hit(item, "k")
    assert type(mine.value) is type(theirs.value)


def test_in_memory_the_window_is_the_hits_own():
    storage = MemoryStorage()
    item = RateLimitItemPerMinute(2)
    mine, theirs = CountingFixedWindow(storage), FixedWindowRateLimiter(storage)
    with Flask(__name__).app_context():
        for count in (1, 2, 3):
            assert mine.hit(item, "k") is (count <= 2)
            window, stored = mine.get_window_stats(item, "k"), theirs.get_window_stats(item, "k")
            assert window.remaining == stored.remaining == max(0, 2 - count)
            assert abs(window.reset_time - stored.reset_time) <= 1
    with Flask(__name__).app_context():  # a request that did not hit it reads the store
        assert mine.get_window_stats(item, "k").remaining == 0


def test_the_app_counts_down_in_its_headers_without_reading_the_window_back(client, app, monkeypatch):
    """The app's limiter uses the counting window: a limited request's X-RateLimit-* headers come from
    its hit (no `get` of the counter after it) and count down to the 429."""
    assert type(limiter.limiter) is CountingFixedWindow
    monkeypatch.setitem(app.config["APP"], "login_limit_per_ip", "3/minute")
    monkeypatch.setitem(
        app.config["APP"], "login_limit_per_phone", "1000/day"
    )  # the header names the shortest window
    user = make_user(app)
    reads = []  # windows read back from the store (limits' own get_window_stats)
    original = FixedWindowRateLimiter.get_window_stats
    monkeypatch.setattr(
        FixedWindowRateLimiter,
        "get_window_stats",
        lambda self, item, *ids: reads.append(ids) or original(self, item, *ids),
    )
    remaining = []
    for _ in range(3):
        r = login(client, user.phone, PASSWORD, environ_base={"REMOTE_ADDR": "10.9.9.9"})
        assert r.status_code == 200
        assert r.headers["X-RateLimit-Limit"] == "3"
        assert time.time() < int(r.headers["X-RateLimit-Reset"]) <= time.time() + 62
        remaining.append(int(r.headers["X-RateLimit-Remaining"]))
    assert remaining == [2, 1, 0]
    assert reads == []
    r = login(client, user.phone, PASSWORD, environ_base={"REMOTE_ADDR": "10.9.9.9"})
    assert r.status_code == 429 and 0 < int(r.headers["Retry-After"]) <= 60


@needs_redis
def test_on_redis_several_windows_are_one_round_trip_each_counted_as_alone(redis_storage):
    """A request's limits ("2/minute;3/hour") hit at once: one script call; every window counted, the
    breached one too, as limits' own strategy counts each."""
    from limits import RateLimitItemPerHour

    minute, hour = RateLimitItemPerMinute(2), RateLimitItemPerHour(3)
    mine, theirs = CountingFixedWindow(redis_storage), FixedWindowRateLimiter(redis_storage)
    with Flask(__name__).app_context():
        mine.hit_many([(minute, ("warm",), 1)])  # (the script loaded: once per server)
    sent = _commands(redis_storage)
    answers = []
    with Flask(__name__).app_context():
        for _ in range(4):
            del sent[:]
            answers.append(mine.hit_many([(minute, ("u", "s"), 1), (hour, ("u", "s"), 1)]))
            assert len(sent) == 1 and sent[0].startswith("EVAL"), sent
        assert [mine.get_window_stats(item, "u", "s").remaining for item in (minute, hour)] == [0, 0]
    assert answers == [[True, True], [True, True], [False, True], [False, False]]
    assert [theirs.get_window_stats(item, "u", "s").remaining for item in (minute, hour)] == [0, 0]
    assert redis_storage.get(hour.key_for("u", "s")) == 4


def _limited_answers(client, person, times: int) -> list[tuple]:
    answers = []
    for _ in range(times):
        r = client.post("/api/v1/redemptions", json={"reward_id": 999_999}, headers=person.headers)
        answers.append(
            (
                r.status_code,
                r.headers.get("X-RateLimit-Limit"),
                r.headers.get("X-RateLimit-Remaining"),
                r.headers.get("Retry-After") is not None,
            )
        )
    return answers


def test_a_views_plain_limits_are_checked_as_flask_limiter_checks_them(client, app, world, monkeypatch):
    """extensions.Limiter checks a view's plain limits itself, all in one hit: the same statuses and
    headers, request by request, as Flask-Limiter's own check (forced for a second volunteer), and the
    same counts (what the headers tell)."""
    monkeypatch.setitem(app.config["APP"], "redeem_limit", "3/minute;4/day")
    lean = _limited_answers(client, world.vol_s1, 6)
    monkeypatch.setattr(type(limiter), "_plain_limits", lambda self, name: None)
    library = _limited_answers(client, world.vol_s4, 6)
    assert lean == library
    assert [status for status, *_ in lean] == [404, 404, 404, 429, 429, 429]
    # the first window not shared; once breached, the longest breached window
    assert [answer[1:3] for answer in lean[:5]] == [
        ("3", "2"),
        ("3", "1"),
        ("3", "0"),
        ("3", "0"),
        ("4", "0"),
    ]
