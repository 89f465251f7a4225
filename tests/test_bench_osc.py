"""`bench osc` end to end, short: the latency half sees every change, the flood half keeps the
queue bounded and the show drawing."""

import pytest

from live.bench.osc import CHURN_LOG_30S, bench, churn_ok, format_report


@pytest.mark.slow
def test_bench_osc_short_run():
    r = bench(messages=8, flood_rate=3000, flood_s=1.5, before_s=1.0, churn_rate=500, churn_s=2.0)
    assert len(r.to_frame_ms) == 8 and r.missed == 0
    assert all(-5.0 < ms < 100.0 for ms in r.to_frame_ms)  # generous: a loaded test machine
    assert all(p >= f for p, f in zip(r.to_pixels_ms, r.to_frame_ms))
    assert r.flood_sent > 3000 and 0 < r.flood_received <= r.flood_sent
    assert r.queue_max <= r.queue_capacity == 256
    assert r.fps_before > 30 and r.fps_flood > 20 and r.fps_after > 30
    assert r.errors == 0
    c = r.churn
    assert c is not None and c.sent >= 800 and 0 < c.bytes_out <= c.bytes_in and c.log_per_30s <= CHURN_LOG_30S
    assert churn_ok(c)
    text = format_report(r, 3000, 1.5)
    assert "p99" in text and "target within 10%" in text and "target out <= in ok" in text
