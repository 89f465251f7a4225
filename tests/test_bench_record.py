"""`bench record` runs the holding visual through the frame driver with and without --record."""

from live.bench.record import measure


def test_bench_record_measures_both_ways():
    result = measure(size="64x48", fps=30, seconds=0.4, rounds=1)
    assert set(result["fps"]) == {"paced off", "paced record", "unpaced off", "unpaced record"}
    assert all(v > 5 for v in result["fps"].values()), result
    assert result["written"] > 10 and result["capture_ms"] >= 0
    assert set(result["cost"]) == {"paced", "unpaced"}
