"""RateLimitedLog: a few lines whatever arrives, with counts of what was held back."""

from __future__ import annotations

import logging
import threading

from live.ratelog import MAX_MESSAGE, RateLimitedLog

LOGGER = logging.getLogger("tests.ratelog")


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == LOGGER.name]


def test_first_of_a_kind_at_once_then_one_line_per_interval_with_the_count(caplog):
    caplog.set_level(logging.WARNING, logger=LOGGER.name)
    clock = FakeClock()
    log = RateLimitedLog(LOGGER, interval=5.0, clock=clock)
    assert log.report("/bpm", "bpm 999 out of range")
    for _ in range(49):
        clock.now += 0.01
        assert not log.report("/bpm", "bpm 999 out of range")
    assert log.report("/preset", "no such preset")  # another kind is not held back by the first
    clock.now += 5.0
    assert log.report("/bpm", "bpm 998 out of range")
    assert lines(caplog) == [
        "bpm 999 out of range",
        "no such preset (49 more problem(s) from this source not logged since its last report)",
        "bpm 998 out of range",
    ]
    assert log.count == 52 and log.lines == 3


def test_many_kinds_are_capped_by_the_burst_then_one_line_per_interval(caplog):
    caplog.set_level(logging.WARNING, logger=LOGGER.name)
    clock = FakeClock()
    log = RateLimitedLog(LOGGER, interval=5.0, every=10.0, burst=5, clock=clock)
    for second in range(60):  # a minute of 1000 new addresses a second
        for i in range(1000):
            log.report(f"/random/{second}/{i}", f"address /random/{second}/{i} is not known")
        clock.now += 1.0
    assert log.count == 60_000
    assert 5 + 60 // 10 - 1 <= log.lines <= 5 + 60 // 10  # the burst, then the refill: one line per 10 s
    assert len(lines(caplog)) == log.lines
    assert "not logged since its last report" in lines(caplog)[-1]


def test_the_key_table_stays_bounded(caplog):
    clock = FakeClock()
    log = RateLimitedLog(LOGGER, interval=5.0, max_keys=16, clock=clock)
    for i in range(10_000):
        log.report(f"/k{i}", "x")
        clock.now += 0.001
    assert len(log._last) <= 17  # 16 kinds and <other>


def test_long_messages_are_cut():
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append
    LOGGER.addHandler(handler)
    try:
        RateLimitedLog(LOGGER).report("k", "x" * 100_000)
    finally:
        LOGGER.removeHandler(handler)
    assert len(records[0].getMessage()) == MAX_MESSAGE


def test_a_traceback_once_then_counts(caplog):
    caplog.set_level(logging.WARNING, logger=LOGGER.name)
    log = RateLimitedLog(LOGGER)
    for _ in range(100):
        try:
            raise RuntimeError("handler bug")
        except RuntimeError:
            log.report("bug", "handler failed", exc_info=True)
    assert caplog.text.count("Traceback") == 1 and "RuntimeError: handler bug" in caplog.text
    log.flush()
    assert lines(caplog)[-1].startswith("99 more problem(s)")


def test_threads_share_one_log_safely(caplog):
    caplog.set_level(logging.WARNING, logger=LOGGER.name)
    log = RateLimitedLog(LOGGER, burst=10)

    def spray(n: int) -> None:
        for i in range(5000):
            log.report(f"/{n}/{i % 300}", "bad")

    threads = [threading.Thread(target=spray, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert log.count == 20_000
    assert log.lines == len(lines(caplog)) <= 11  # the burst, and at most one refilled line


def test_token_bucket_allows_a_burst_then_its_rate():
    from live.ratelog import TokenBucket

    bucket = TokenBucket(rate=2.0, burst=3)
    assert [bucket.take(10.0) for _ in range(4)] == [True, True, True, False]
    assert not bucket.take(10.4)  # 0.8 of a token back
    assert bucket.take(10.5)
    assert [bucket.take(100.0) for _ in range(4)] == [True, True, True, False]  # never more than the burst


def test_keyed_buckets_are_per_key_and_a_spray_of_keys_shares_one():
    from live.ratelog import KeyedBuckets

    buckets = KeyedBuckets(rate=1.0, burst=1, max_keys=4)
    assert buckets.take("a", 0.0) and not buckets.take("a", 0.1)
    assert buckets.take("b", 0.1)  # another sender has its own
    for k in range(100):  # a sender spraying addresses gets one shared allowance past the table's size
        buckets.take(f"spray{k}", 0.2)
    assert len(buckets._buckets) <= 5
    assert not buckets.take("new", 0.3)
    assert buckets.take("new", 5.0)  # quiet buckets are forgotten: a fresh one for the new key


def test_notes_count_events_not_problems(caplog):
    caplog.set_level(logging.INFO, logger=LOGGER.name)
    clock = FakeClock()
    log = RateLimitedLog(LOGGER, level=logging.INFO, noun="event(s)", clock=clock)
    log.report("added", "subscriber added")
    log.report("added", "subscriber added")
    clock.now += 6.0
    log.report("added", "subscriber added")
    assert lines(caplog)[-1] == "subscriber added (1 more event(s) from this source not logged since its last report)"
